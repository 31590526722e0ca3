"""The repository's ``/documents`` routes in-process: upload, download, Range, policy, refusals."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from cloudpdi.repository_wire import digest_field, parse_digest_field
from simulators.repository import create_app
from simulators.repository.storage import FileSystemStorage
from tests.repository_fixtures import (
    DATA,
    DOC,
    Clock,
    asgi_client,
    bearer,
    digest_of,
    make_config,
    put_headers,
    repository_of,
)
from tests.repository_fixtures import anyio_backend as anyio_backend
from tests.repository_fixtures import app as app
from tests.repository_fixtures import client as client
from tests.repository_fixtures import clock as clock

pytestmark = pytest.mark.anyio


async def put(client: httpx.AsyncClient, data: bytes = DATA, **headers: str) -> httpx.Response:
    return await client.put(f"/documents/{DOC}", content=data, headers=put_headers(data, **headers))


def stored_file(app: Starlette) -> Path:
    storage = repository_of(app).storage
    assert isinstance(storage, FileSystemStorage)
    return storage.path(DOC)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]


async def test_put_stores_and_get_returns_the_bytes_with_digests(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    created = await put(client)
    assert created.status_code == 201
    assert created.json()["digest"] == digest_of(DATA)
    assert created.headers["location"] == f"http://repository/documents/{DOC}"
    assert stored_file(app).read_bytes() == DATA
    got = await client.get(f"/documents/{DOC}")
    assert got.status_code == 200 and got.content == DATA
    assert parse_digest_field(got.headers["content-digest"]) == digest_of(DATA)
    assert got.headers["repr-digest"] == got.headers["content-digest"]
    assert got.headers["accept-ranges"] == "bytes"


async def test_head_answers_the_headers_of_a_get_without_a_body(client: httpx.AsyncClient) -> None:
    await put(client)
    head = await client.head(f"/documents/{DOC}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "1000"
    assert parse_digest_field(head.headers["repr-digest"]) == digest_of(DATA)
    assert head.headers["cpdi-expires-at"] == "2026-04-15T09:00:00Z"  # default retention


async def test_default_retention_is_configurable(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, default_retention=timedelta(days=1)))
    async with asgi_client(app) as client:
        created = await put(client)
    assert created.json()["expiresAt"] == "2026-04-02T09:00:00Z"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Content-Digest": None}, "digest_required"),
        ({"Content-Digest": "sha-256=:AAAA:"}, "invalid_digest"),
        ({"Content-Digest": "md5=:1B2M2Y8AsgTpgAmY7PhCfg==:"}, "invalid_digest"),
        ({"Content-Digest": digest_field(digest_of(b"other"))}, "digest_mismatch"),
    ],
)
async def test_a_missing_or_wrong_content_digest_stores_nothing(
    app: Starlette, client: httpx.AsyncClient, headers: dict[str, str | None], code: str
) -> None:
    sent = {**put_headers(DATA), **headers}
    response = await client.put(
        f"/documents/{DOC}",
        content=DATA,
        headers={name: value for name, value in sent.items() if value is not None},
    )
    assert_error(response, 400, code)
    repository = repository_of(app)
    assert list(repository.storage.list_keys()) == []
    assert list(repository.staging.iterdir()) == []
    assert_error(await client.get(f"/documents/{DOC}"), 404, "not_found")


async def test_a_digest_field_with_several_algorithms_uses_sha256(
    client: httpx.AsyncClient,
) -> None:
    field = f"sha-512=:{'A' * 86}==:, {digest_field(digest_of(DATA))}"
    response = await client.put(
        f"/documents/{DOC}", content=DATA, headers={**bearer("HOSP-A"), "Content-Digest": field}
    )
    assert response.status_code == 201


async def test_uploads_need_a_valid_facility_key(client: httpx.AsyncClient) -> None:
    headers = put_headers(DATA)
    del headers["Authorization"]
    anonymous = await client.put(f"/documents/{DOC}", content=DATA, headers=headers)
    assert_error(anonymous, 401, "unauthorized")
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.put(
        f"/documents/{DOC}", content=DATA, headers={**headers, "Authorization": "Bearer nope"}
    )
    assert_error(wrong, 401, "unauthorized")
    basic = await client.put(
        f"/documents/{DOC}", content=DATA, headers={**headers, "Authorization": "Basic a2V5LWE="}
    )
    assert_error(basic, 401, "unauthorized")


async def test_a_document_id_is_never_reused(client: httpx.AsyncClient) -> None:
    assert (await put(client)).status_code == 201
    assert_error(await put(client), 409, "document_exists")
    assert (await client.delete(f"/documents/{DOC}", headers=bearer("HOSP-A"))).status_code == 204
    assert_error(await put(client), 409, "document_exists")


@pytest.mark.parametrize("document_id", [".hidden", "-x", "a" * 129, "bad%20id", "%E3%81%82"])
async def test_malformed_document_ids_are_refused(
    client: httpx.AsyncClient, document_id: str
) -> None:
    assert_error(await client.get(f"/documents/{document_id}"), 400, "invalid_document_id")
    response = await client.put(
        f"/documents/{document_id}", content=DATA, headers=put_headers(DATA)
    )
    assert_error(response, 400, "invalid_document_id")


async def test_unknown_documents_routes_and_methods_answer_json(
    client: httpx.AsyncClient,
) -> None:
    assert_error(await client.get("/documents/UNKNOWN"), 404, "not_found")
    assert_error(await client.get("/nothing-here"), 404, "not_found")
    wrong = await client.post(f"/documents/{DOC}")
    assert_error(wrong, 405, "method_not_allowed")
    assert "PUT" in wrong.headers["allow"]


@pytest.mark.parametrize(
    ("value", "status", "start", "end"),
    [
        ("bytes=10-19", 206, 10, 20),
        ("bytes=990-", 206, 990, 1000),
        ("bytes=990-5000", 206, 990, 1000),
        ("bytes=-10", 206, 990, 1000),
        ("bytes=0-0,5-9", 200, 0, 1000),  # several ranges: the whole document
        ("bytes=9-3", 200, 0, 1000),  # malformed: ignored
        ("items=0-1", 200, 0, 1000),
    ],
)
async def test_range_requests(
    client: httpx.AsyncClient, value: str, status: int, start: int, end: int
) -> None:
    await put(client)
    response = await client.get(f"/documents/{DOC}", headers={"Range": value})
    assert response.status_code == status
    assert response.content == DATA[start:end]
    assert parse_digest_field(response.headers["repr-digest"]) == digest_of(DATA)
    if status == 206:
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/1000"
        assert "content-digest" not in response.headers  # it would describe the part only


@pytest.mark.parametrize("value", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
async def test_unsatisfiable_ranges_answer_416(client: httpx.AsyncClient, value: str) -> None:
    await put(client)
    response = await client.get(f"/documents/{DOC}", headers={"Range": value})
    assert_error(response, 416, "range_not_satisfiable")
    assert response.headers["content-range"] == "bytes */1000"


async def test_if_range_with_another_etag_sends_the_whole_document(
    client: httpx.AsyncClient,
) -> None:
    await put(client)
    etag = (await client.head(f"/documents/{DOC}")).headers["etag"]
    same = await client.get(f"/documents/{DOC}", headers={"Range": "bytes=5-", "If-Range": etag})
    assert same.status_code == 206
    other = await client.get(f"/documents/{DOC}", headers={"Range": "bytes=5-", "If-Range": '"x"'})
    assert other.status_code == 200 and other.content == DATA


async def test_bodies_over_the_size_limit_answer_413(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    big = os.urandom(2001)
    assert_error(await put(client, big), 413, "too_large")

    async def unannounced() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield big[:1000]

    streamed = await client.put(
        f"/documents/{DOC}", content=unannounced(), headers=put_headers(big)
    )
    assert_error(streamed, 413, "too_large")
    assert list(repository_of(app).staging.iterdir()) == []


async def test_a_body_slower_than_the_time_limit_answers_408(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, request_timeout=0.2))

    async def slow() -> AsyncIterator[bytes]:
        yield DATA[:10]
        await anyio.sleep(5)
        yield DATA[10:]

    async with asgi_client(app) as client:
        response = await client.put(f"/documents/{DOC}", content=slow(), headers=put_headers(DATA))
    assert_error(response, 408, "request_timeout")
    assert list(repository_of(app).staging.iterdir()) == []


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [
        ("Cpdi-Expires-At", "2026-03-31T09:00:00Z", "invalid_expiry"),  # the past
        ("Cpdi-Expires-At", "2026-12-31T09:00:00Z", "invalid_expiry"),  # over 90 days
        ("Cpdi-Expires-At", "tomorrow", "invalid_expiry"),
        ("Cpdi-Expires-At", "2026-04-05T09:00:00", "invalid_expiry"),  # no offset
        ("Cpdi-Recipient", "two words", "invalid_recipient"),
        ("Cpdi-Max-Downloads", "0", "invalid_max_downloads"),
        ("Cpdi-Max-Downloads", "-1", "invalid_max_downloads"),
    ],
)
async def test_malformed_policies_are_refused(
    client: httpx.AsyncClient, header: str, value: str, code: str
) -> None:
    assert_error(await put(client, **{header: value}), 400, code)


async def test_after_expiry_410_and_the_purge_removes_the_bytes(
    app: Starlette, client: httpx.AsyncClient, clock: Clock
) -> None:
    created = await put(client, **{"Cpdi-Expires-At": "2026-04-02T09:00:00+09:00"})
    assert created.json()["expiresAt"] == "2026-04-02T00:00:00Z"
    clock.advance(hours=14, minutes=59)
    assert (await client.get(f"/documents/{DOC}")).status_code == 200
    clock.advance(minutes=1)
    assert_error(await client.get(f"/documents/{DOC}"), 410, "expired")
    assert (await client.head(f"/documents/{DOC}")).status_code == 410
    assert stored_file(app).exists()  # until the purge runs
    report = repository_of(app).purge_expired()
    assert (report.documents, report.uploads) == (1, 0)
    assert not stored_file(app).exists()
    assert_error(await client.get(f"/documents/{DOC}"), 410, "expired")
    assert repository_of(app).purge_expired().documents == 0


async def test_revocation_by_the_uploader_deletes_the_bytes_and_answers_410(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await put(client)
    url = f"/documents/{DOC}"
    assert_error(await client.delete(url), 401, "unauthorized")
    assert_error(await client.delete(url, headers=bearer("HOSP-B")), 403, "forbidden")
    assert stored_file(app).exists()
    assert (await client.delete(url, headers=bearer("HOSP-A"))).status_code == 204
    assert not stored_file(app).exists()
    assert_error(await client.get(url), 410, "revoked")
    assert_error(await client.delete(url, headers=bearer("HOSP-A")), 410, "revoked")
    assert_error(await client.delete("/documents/NONE", headers=bearer("HOSP-A")), 404, "not_found")


async def test_the_download_limit_counts_downloads_that_reach_the_last_byte(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await put(client, **{"Cpdi-Max-Downloads": "2"})
    url = f"/documents/{DOC}"
    assert (await client.get(url)).status_code == 200
    # A download cut off and resumed counts once: the part before the cut does not count.
    assert (await client.get(url, headers={"Range": "bytes=0-499"})).status_code == 206
    assert (await client.head(url)).status_code == 200
    assert (await client.get(url, headers={"Range": "bytes=500-"})).status_code == 206
    assert_error(await client.get(url), 410, "download_limit_reached")
    assert repository_of(app).purge_expired().documents == 1
    assert not stored_file(app).exists()


async def test_a_document_for_a_recipient_needs_that_facilitys_key(
    client: httpx.AsyncClient,
) -> None:
    await put(client, **{"Cpdi-Recipient": "HOSP-B"})
    url = f"/documents/{DOC}"
    assert_error(await client.get(url), 401, "unauthorized")
    assert_error(await client.get(url, headers=bearer("HOSP-A")), 403, "forbidden")
    assert_error(await client.get(url, headers=bearer("admin")), 401, "unauthorized")
    allowed = await client.get(url, headers=bearer("HOSP-B"))
    assert allowed.status_code == 200 and allowed.content == DATA


async def test_an_unrestricted_document_needs_only_its_id(client: httpx.AsyncClient) -> None:
    await put(client)
    assert (await client.get(f"/documents/{DOC}", headers=bearer("HOSP-B"))).status_code == 200
    assert (await client.get(f"/documents/{DOC}")).status_code == 200


async def test_an_empty_document(client: httpx.AsyncClient) -> None:
    assert (await put(client, b"")).status_code == 201
    got = await client.get(f"/documents/{DOC}")
    assert got.status_code == 200 and got.content == b""
    assert_error(
        await client.get(f"/documents/{DOC}", headers={"Range": "bytes=0-"}),
        416,
        "range_not_satisfiable",
    )
