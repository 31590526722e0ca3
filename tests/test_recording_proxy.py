"""The recording proxy in front of a real repository: uploads and downloads pass unchanged,
every request is recorded with its status, and tus resource URLs keep the client on the proxy."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository import DocumentNotFound, RepositoryClient
from simulators.recording_proxy import BAD_GATEWAY, CLIENT_CLOSED_REQUEST, RecordingProxy
from simulators.repository import Recorder, RepositoryConfig, RepositoryServer
from tests.tools import free_port

KEY = "uploader-key-for-the-proxy-test"
DOCUMENT_ID = "DOC-PROXY-1"


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[RepositoryServer]:
    config = RepositoryConfig(
        data_dir=tmp_path / "repository", uploader_keys={"HOSP-A": KEY}, recorder=Recorder()
    )
    with RepositoryServer(config) as server:
        yield server


def test_uploads_and_downloads_pass_unchanged_and_are_recorded(
    repository: RepositoryServer, tmp_path: Path
) -> None:
    recorder = Recorder()
    data = os.urandom(700_000)
    src = tmp_path / "ciphertext"
    src.write_bytes(data)
    digest = format_digest(hashlib.sha256(data).hexdigest())
    with (
        RecordingProxy(repository.base_url, recorder) as proxy,
        RepositoryClient(proxy.base_url, uploader_key=KEY) as client,
    ):
        client.upload(DOCUMENT_ID, src, digest, chunk_size=256 * 1024)
        client.download(DOCUMENT_ID, tmp_path / "download", expected_digest=digest)
        with pytest.raises(DocumentNotFound):
            client.download("DOC-NEVER", tmp_path / "none", expected_digest=digest)
    assert (tmp_path / "download").read_bytes() == data
    requests = recorder.requests
    patches = [request for request in requests if request.method == "PATCH"]
    assert sum(request.body_size for request in patches) == len(data)
    assert all(request.url.startswith("/") for request in requests)
    assert [request.status for request in requests if request.method == "GET"][-1] == 404
    # Every request the client made went through the proxy (tus Location URLs were rewritten).
    behind = repository.config.recorder
    assert behind is not None
    assert [(r.method, r.url, r.body_digest) for r in behind.requests] == [
        (r.method, r.url, r.body_digest) for r in requests
    ]


def test_an_unreachable_repository_is_a_bad_gateway() -> None:
    recorder = Recorder()
    with RecordingProxy(f"http://127.0.0.1:{free_port()}", recorder, timeout=2) as proxy:
        answer = httpx.get(f"{proxy.base_url}/documents/DOC-1", timeout=5)
    assert answer.status_code == BAD_GATEWAY
    assert [request.status for request in recorder.requests] == [BAD_GATEWAY]


def test_a_body_cut_short_by_the_client_is_recorded_as_it_came(
    repository: RepositoryServer,
) -> None:
    recorder = Recorder()
    with RecordingProxy(repository.base_url, recorder) as proxy:
        host, port = proxy.base_url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as client:
            client.sendall(
                b"PATCH /uploads/x HTTP/1.1\r\nHost: proxy\r\nContent-Length: 100000\r\n"
                b"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                b"Content-Type: application/offset+octet-stream\r\n\r\n" + b"a" * 5000
            )
            time.sleep(0.2)
            # The body is not whole: nothing is recorded while the client may still send.
            assert recorder.requests == []
        deadline = time.monotonic() + 10
        while not recorder.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    [request] = recorder.requests
    assert (request.method, request.body_size, request.status) == (
        "PATCH",
        5000,
        CLIENT_CLOSED_REQUEST,
    )
    assert ("content-length", "100000") in request.headers
