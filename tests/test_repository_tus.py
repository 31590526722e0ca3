"""The repository's tus upload in-process, and tuspy (an independent tus client) against it."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from tusclient.client import TusClient

from cloudpdi.repository_wire import digest_field, encode_metadata
from simulators.repository import RepositoryServer
from tests.repository_fixtures import (
    DATA,
    DOC,
    KEYS,
    TUS,
    Clock,
    bearer,
    creation_headers,
    digest_of,
    make_config,
    patch_headers,
    repository_of,
)
from tests.repository_fixtures import anyio_backend as anyio_backend
from tests.repository_fixtures import app as app
from tests.repository_fixtures import client as client
from tests.repository_fixtures import clock as clock


async def create(client: httpx.AsyncClient, data: bytes = DATA, **metadata: str) -> str:
    response = await client.post("/uploads", headers=creation_headers(DOC, data, **metadata))
    assert response.status_code == 201, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["upload-expires"].endswith(" GMT")
    return response.headers["location"]


async def patch(
    client: httpx.AsyncClient, location: str, offset: int, chunk: bytes, **options: str
) -> httpx.Response:
    return await client.patch(
        location, content=chunk, headers=patch_headers(offset, chunk, **options)
    )


async def offset_of(client: httpx.AsyncClient, location: str) -> int:
    response = await client.head(location, headers={**bearer("HOSP-A"), **TUS})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    return int(response.headers["upload-offset"])


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


@pytest.mark.anyio
async def test_options_advertises_the_protocol(client: httpx.AsyncClient) -> None:
    response = await client.options("/uploads")
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-extension"] == "creation,checksum,expiration,termination"
    assert response.headers["tus-max-size"] == "2000"
    assert response.headers["tus-checksum-algorithm"] == "sha256,sha1"


@pytest.mark.anyio
async def test_a_half_finished_upload_is_not_visible_then_published_whole(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    location = await create(client, expiresAt="2026-04-05T09:00:00Z", maxDownloads="1")
    first = await patch(client, location, 0, DATA[:600])
    assert first.status_code == 204 and first.headers["upload-offset"] == "600"
    assert_error(await client.get(f"/documents/{DOC}"), 404, "not_found")
    assert list(repository_of(app).storage.list_keys()) == []
    assert await offset_of(client, location) == 600
    last = await patch(client, location, 600, DATA[600:], algorithm="sha1")
    assert last.status_code == 204 and last.headers["upload-offset"] == "1000"
    got = await client.get(f"/documents/{DOC}")
    assert got.content == DATA
    assert got.headers["cpdi-expires-at"] == "2026-04-05T09:00:00Z"
    assert_error(await client.get(f"/documents/{DOC}"), 410, "download_limit_reached")
    # A client that lost the last answer asks again and learns the upload is complete.
    assert await offset_of(client, location) == 1000
    assert list(repository_of(app).staging.iterdir()) == []


@pytest.mark.anyio
async def test_a_patch_whose_checksum_fails_is_discarded(client: httpx.AsyncClient) -> None:
    location = await create(client)
    await patch(client, location, 0, DATA[:300])
    headers = patch_headers(300, b"something else")
    damaged = await client.patch(location, content=DATA[300:600], headers=headers)
    assert_error(damaged, 460, "checksum_mismatch")
    assert await offset_of(client, location) == 300
    assert (await patch(client, location, 300, DATA[300:])).status_code == 204
    assert (await client.get(f"/documents/{DOC}")).content == DATA


@pytest.mark.anyio
async def test_patch_refusals(client: httpx.AsyncClient) -> None:
    location = await create(client)
    chunk = DATA[:100]
    stale = await patch(client, location, 50, chunk)
    assert_error(stale, 409, "offset_mismatch")
    assert stale.headers["upload-offset"] == "0"
    plain = {**patch_headers(0, chunk), "Content-Type": "application/octet-stream"}
    assert_error(
        await client.patch(location, content=chunk, headers=plain), 415, "unsupported_media_type"
    )
    md5 = {**patch_headers(0), "Upload-Checksum": "md5 1B2M2Y8AsgTpgAmY7PhCfg=="}
    assert_error(await client.patch(location, content=chunk, headers=md5), 400, "invalid_checksum")
    old = {**patch_headers(0, chunk), "Tus-Resumable": "0.2.2"}
    refused = await client.patch(location, content=chunk, headers=old)
    assert_error(refused, 412, "unsupported_tus_version")
    assert refused.headers["tus-version"] == "1.0.0"
    assert_error(await patch(client, location, 0, chunk, facility="HOSP-B"), 403, "forbidden")
    missing = patch_headers(0, chunk)
    del missing["Upload-Offset"]
    assert_error(
        await client.patch(location, content=chunk, headers=missing), 400, "invalid_header"
    )
    assert_error(await patch(client, location, 0, DATA + DATA), 413, "too_large")
    unknown = await patch(client, "/uploads/unknown", 0, chunk)
    assert_error(unknown, 404, "upload_not_found")
    assert await offset_of(client, location) == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"Tus-Resumable": None}, 412, "unsupported_tus_version"),
        ({"Authorization": None}, 401, "unauthorized"),
        ({"Upload-Length": None}, 400, "invalid_header"),
        ({"Upload-Length": "-1"}, 400, "invalid_header"),
        ({"Upload-Length": "2001"}, 413, "too_large"),
        ({"Upload-Metadata": "documentId !!!"}, 400, "invalid_metadata"),
        ({"Upload-Metadata": encode_metadata({"documentId": DOC})}, 400, "digest_required"),
        ({"Upload-Metadata": encode_metadata({"documentId": "../x"})}, 400, "invalid_document_id"),
    ],
)
async def test_creation_refusals(
    client: httpx.AsyncClient, change: dict[str, str | None], status: int, code: str
) -> None:
    headers = {**creation_headers(DOC, DATA), **change}
    sent = {name: value for name, value in headers.items() if value is not None}
    assert_error(await client.post("/uploads", headers=sent), status, code)


@pytest.mark.anyio
async def test_creation_for_a_used_document_id_is_refused(client: httpx.AsyncClient) -> None:
    location = await create(client)
    await patch(client, location, 0, DATA)
    assert_error(
        await client.post("/uploads", headers=creation_headers(DOC, DATA)), 409, "document_exists"
    )


@pytest.mark.anyio
async def test_an_upload_that_does_not_match_its_digest_is_discarded(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    headers = creation_headers(DOC, DATA)
    headers["Upload-Metadata"] = encode_metadata(
        {"documentId": DOC, "contentDigest": digest_field(digest_of(b"other"))}
    )
    location = (await client.post("/uploads", headers=headers)).headers["location"]
    assert_error(await patch(client, location, 0, DATA), 400, "digest_mismatch")
    assert_error(await client.get(f"/documents/{DOC}"), 404, "not_found")
    head = await client.head(location, headers={**bearer("HOSP-A"), **TUS})
    assert head.status_code == 404
    assert list(repository_of(app).staging.iterdir()) == []
    assert list(repository_of(app).storage.list_keys()) == []


@pytest.mark.anyio
async def test_an_empty_upload_is_published_at_creation(client: httpx.AsyncClient) -> None:
    await create(client, b"")
    got = await client.get(f"/documents/{DOC}")
    assert got.status_code == 200 and got.content == b""


@pytest.mark.anyio
async def test_termination_deletes_what_was_received(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    location = await create(client)
    await patch(client, location, 0, DATA[:500])
    assert (await client.delete(location, headers=bearer("HOSP-B") | TUS)).status_code == 403
    assert (await client.delete(location, headers=bearer("HOSP-A") | TUS)).status_code == 204
    assert (await client.head(location, headers=bearer("HOSP-A") | TUS)).status_code == 404
    assert list(repository_of(app).staging.iterdir()) == []


@pytest.mark.anyio
async def test_an_idle_upload_expires_and_is_purged(
    app: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    location = await create(client)
    await patch(client, location, 0, DATA[:500])
    clock.advance(hours=23)
    await patch(client, location, 500, DATA[500:600])  # activity pushes the expiry back
    clock.advance(hours=23)
    assert await offset_of(client, location) == 600
    clock.advance(hours=2)
    head = await client.head(location, headers={**bearer("HOSP-A"), **TUS})
    assert head.status_code == 410
    assert_error(await patch(client, location, 600, DATA[600:]), 410, "upload_expired")
    assert repository_of(app).purge_expired().uploads == 1
    assert list(repository_of(app).staging.iterdir()) == []


def test_tuspy_uploads_to_the_repository(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    source = tmp_path / "ciphertext"
    source.write_bytes(data)
    with RepositoryServer(make_config(tmp_path / "repo")) as server:
        client = TusClient(
            f"{server.base_url}/uploads", headers={"Authorization": f"Bearer {KEYS['HOSP-A']}"}
        )
        uploader = client.uploader(
            str(source),
            chunk_size=64 * 1024,
            metadata={"documentId": DOC, "contentDigest": digest_field(digest_of(data))},
            upload_checksum=True,
        )
        uploader.upload()
        assert uploader.offset == len(data)
        got = httpx.get(f"{server.base_url}/documents/{DOC}")
        patches = [e for e in server.repository.audit.entries() if e.method == "PATCH"]
    assert got.status_code == 200 and got.content == data
    assert len(patches) == 5 and all(entry.status == 204 for entry in patches)
