"""The relay in front of the repository: bytes pass unchanged, and a break cuts one connection
after the bytes it lets through, so that a real client has to resume."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository import RepositoryClient
from simulators.relay import Direction, Relay, RelayError
from simulators.repository import Recorder, RepositoryConfig, RepositoryServer
from tests.tools import free_port

KEY = "uploader-key-for-the-relay-test"
DOCUMENT_ID = "DOC-RELAY-1"
SIZE = 1_000_000
CHUNK = 256 * 1024


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[RepositoryServer]:
    config = RepositoryConfig(
        data_dir=tmp_path / "repository", uploader_keys={"HOSP-A": KEY}, recorder=Recorder()
    )
    with RepositoryServer(config) as server:
        yield server


@pytest.fixture
def relay(repository: RepositoryServer) -> Iterator[Relay]:
    with Relay(repository.base_url) as running:
        yield running


@pytest.fixture
def ciphertext(tmp_path: Path) -> Path:
    path = tmp_path / "ciphertext"
    path.write_bytes(os.urandom(SIZE))
    return path


def _digest(path: Path) -> str:
    return format_digest(hashlib.sha256(path.read_bytes()).hexdigest())


def _client(relay: Relay) -> RepositoryClient:
    return RepositoryClient(relay.base_url, uploader_key=KEY, sleep=lambda seconds: None)


def _requests(repository: RepositoryServer, method: str) -> list:
    recorder = repository.config.recorder
    assert recorder is not None
    return [request for request in recorder.requests if request.method == method]


def test_bytes_pass_unchanged_both_ways(
    repository: RepositoryServer, relay: Relay, ciphertext: Path, tmp_path: Path
) -> None:
    assert relay.base_url != repository.base_url
    with _client(relay) as client:
        result = client.upload(DOCUMENT_ID, ciphertext, _digest(ciphertext), chunk_size=CHUNK)
        client.download(DOCUMENT_ID, tmp_path / "back", expected_digest=_digest(ciphertext))
    assert (tmp_path / "back").read_bytes() == ciphertext.read_bytes()
    assert result.retries == 0


def test_an_upload_broken_once_resumes_from_what_the_repository_holds(
    repository: RepositoryServer, relay: Relay, ciphertext: Path, tmp_path: Path
) -> None:
    armed = relay.break_once(Direction.UPLOAD, 600_000)
    with _client(relay) as client:
        result = client.upload(DOCUMENT_ID, ciphertext, _digest(ciphertext), chunk_size=CHUNK)
        client.download(DOCUMENT_ID, tmp_path / "back", expected_digest=_digest(ciphertext))
    assert armed.fired.is_set() and armed.passed == 600_000
    assert result.retries == 1
    patches = _requests(repository, "PATCH")
    cut = [p for p in patches if p.body_size < int(dict(p.headers)["content-length"])]
    assert len(cut) == 1
    offsets = [int(dict(p.headers)["upload-offset"]) for p in patches]
    # The third chunk broke; its bytes failed their checksum and it was sent again, alone.
    assert offsets == [0, CHUNK, 2 * CHUNK, 2 * CHUNK, 3 * CHUNK]
    assert (tmp_path / "back").read_bytes() == ciphertext.read_bytes()


def test_a_download_broken_once_resumes_with_a_range(
    repository: RepositoryServer, relay: Relay, ciphertext: Path, tmp_path: Path
) -> None:
    with _client(relay) as client:
        client.upload(DOCUMENT_ID, ciphertext, _digest(ciphertext), chunk_size=CHUNK)
        armed = relay.break_once(Direction.DOWNLOAD, 300_000)
        result = client.download(
            DOCUMENT_ID, tmp_path / "back", expected_digest=_digest(ciphertext)
        )
    assert armed.fired.is_set()
    assert result.retries == 1 and (tmp_path / "back").read_bytes() == ciphertext.read_bytes()
    ranges = [dict(request.headers).get("range") for request in _requests(repository, "GET")]
    assert ranges[0] is None and len(ranges) == 2
    start = int(ranges[1].removeprefix("bytes=").removesuffix("-"))
    # Everything let through but the answer's head reached the client and was kept.
    assert 300_000 - 1000 < start < 300_000


def test_a_break_fires_once(relay: Relay, ciphertext: Path) -> None:
    armed = relay.break_once(Direction.UPLOAD, 10)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{relay.base_url}/documents/{DOCUMENT_ID}", timeout=5)
    assert armed.fired.is_set()
    assert httpx.get(f"{relay.base_url}/documents/{DOCUMENT_ID}", timeout=5).status_code == 404


def test_an_unreachable_repository_closes_the_connection() -> None:
    with Relay(f"http://127.0.0.1:{free_port()}") as relay, pytest.raises(httpx.TransportError):
        httpx.get(f"{relay.base_url}/documents/{DOCUMENT_ID}", timeout=5)


def test_a_target_without_a_port_is_refused() -> None:
    with pytest.raises(RelayError):
        Relay("http://repository.example/")
