"""The S3 storage backend against a real S3-compatible server process (moto_server)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from cloudpdi.repository import DocumentGone, RepositoryClient
from simulators.repository import RepositoryServer, S3Config, find_in_storage
from simulators.repository.storage import S3Storage
from tests.repository_fixtures import KEYS, Clock, digest_of, make_config
from tests.tools import free_port, require_tool, stop_process

START_TIMEOUT = 20.0
PART = 5 << 20  # the smallest part S3 accepts
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto_server process on a free loopback port, stopped after the module's tests."""
    port = free_port()
    process = subprocess.Popen(
        [require_tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start")
                time.sleep(0.1)
        yield url
    finally:
        stop_process(process)


@pytest.fixture
def settings(endpoint: str) -> S3Config:
    bucket = f"cpdi-{secrets.token_hex(6)}"
    return S3Config(
        bucket=bucket, endpoint_url=endpoint, part_size=PART, create_bucket=True, **CREDENTIALS
    )


def _bucket(settings: S3Config) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
    )


def test_documents_go_to_the_bucket_whole_by_multipart_upload(
    tmp_path: Path, settings: S3Config
) -> None:
    data = os.urandom(PART + 123_456)
    source = tmp_path / "ciphertext"
    source.write_bytes(data)
    clock = Clock()
    config = make_config(tmp_path / "repo", backend="s3", s3=settings, clock=clock)
    bucket = _bucket(settings)
    seen_while_uploading: list[list[str]] = []
    with RepositoryServer(config) as server:
        storage = server.repository.storage
        assert isinstance(storage, S3Storage)

        def look(done: int, total: int) -> None:
            if done < total:
                seen_while_uploading.append(list(storage.list_keys()))

        with RepositoryClient(server.base_url, uploader_key=KEYS["HOSP-A"]) as client:
            client.upload("DOC-S3", source, digest_of(data), chunk_size=1 << 20, progress=look)
            head = bucket.head_object(Bucket=settings.bucket, Key="documents/DOC-S3")
            assert head["ContentLength"] == len(data)
            assert head["ETag"].endswith('-2"')  # two parts: a multipart upload
            client.download("DOC-S3", tmp_path / "out", expected_digest=digest_of(data))
            ranged = httpx.get(
                f"{server.base_url}/documents/DOC-S3", headers={"Range": "bytes=5242870-5242889"}
            )
            assert ranged.status_code == 206 and ranged.content == data[5242870:5242890]
            clock.advance(days=15)
            assert server.repository.purge_expired().documents == 1
            with pytest.raises(DocumentGone):
                client.head("DOC-S3")
        assert list(storage.list_keys()) == []
    assert seen_while_uploading and all(keys == [] for keys in seen_while_uploading)
    assert (tmp_path / "out").read_bytes() == data
    assert not bucket.list_multipart_uploads(Bucket=settings.bucket).get("Uploads")


def test_small_and_empty_objects_and_revocation(tmp_path: Path, settings: S3Config) -> None:
    storage = S3Storage(settings)
    for key, data in (("EMPTY", b""), ("SMALL", b"ciphertext")):
        staged = tmp_path / key
        staged.write_bytes(data)
        storage.publish(key, staged)
        assert not staged.exists()
    assert sorted(storage.list_keys()) == ["EMPTY", "SMALL"]
    assert b"".join(storage.read("SMALL", 2, 6)) == b"pher"
    assert b"".join(storage.read("EMPTY", 0, 0)) == b"" == b"".join(storage.read("EMPTY"))
    assert find_in_storage(storage, {"word": b"pher"}) == ["object SMALL: word"]
    storage.delete("SMALL")
    storage.delete("SMALL")  # deleting twice is fine
    assert list(storage.list_keys()) == ["EMPTY"]
