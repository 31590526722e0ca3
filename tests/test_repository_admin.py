"""The repository's audit log, spy, OpenAPI document, rate limit and admin API, in-process."""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from simulators.repository import (
    RateLimit,
    Recorder,
    S3Config,
    create_app,
    find_in_requests,
    find_in_storage,
)
from simulators.repository.spy import scan
from tests.repository_fixtures import (
    ADMIN_KEY,
    DATA,
    DOC,
    KEYS,
    Clock,
    asgi_client,
    bearer,
    creation_headers,
    digest_of,
    make_config,
    patch_headers,
    put_headers,
    repository_of,
)
from tests.repository_fixtures import anyio_backend as anyio_backend
from tests.repository_fixtures import client as client

pytestmark = pytest.mark.anyio

HTTP_METHODS = ("get", "head", "put", "post", "patch", "delete", "options")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(tmp_path: Path, recorder: Recorder) -> Starlette:
    return create_app(make_config(tmp_path / "repo", recorder=recorder))


async def put(client: httpx.AsyncClient, data: bytes = DATA, document_id: str = DOC) -> None:
    url = f"/documents/{document_id}"
    response = await client.put(url, content=data, headers=put_headers(data))
    assert response.status_code == 201


async def test_every_request_is_audited_with_outcome_and_bytes(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await put(client)
    await client.get(f"/documents/{DOC}", headers={"Range": "bytes=0-99"})
    await client.get("/documents/UNKNOWN")
    await client.put("/documents/X", content=b"x", headers={"Authorization": "Bearer wrong"})
    entries = repository_of(app).audit.entries()
    summary = [(e.method, e.path, e.status, e.error, e.facility) for e in entries]
    assert summary == [
        ("PUT", f"/documents/{DOC}", 201, None, "HOSP-A"),
        ("GET", f"/documents/{DOC}", 206, None, None),
        ("GET", "/documents/UNKNOWN", 404, "not_found", None),
        ("PUT", "/documents/X", 401, "unauthorized", None),
    ]
    assert (entries[0].bytes_in, entries[0].document_id) == (1000, DOC)
    assert entries[1].bytes_out == 100
    assert entries[0].client == "127.0.0.1"
    assert [e.id for e in entries] == [1, 2, 3, 4]


async def test_the_audit_log_redacts_credentials_and_is_append_only(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await put(client)
    await client.get("/audit", headers=bearer("admin"))
    headers = [dict(e.headers) for e in repository_of(app).audit.entries()]
    assert headers[0]["authorization"] == "Bearer ***redacted***"
    database = repository_of(app).config.data_dir / "audit.sqlite3"
    with sqlite3.connect(database) as db:
        stored = "\n".join(row[0] for row in db.execute("SELECT headers FROM audit"))
        assert KEYS["HOSP-A"] not in stored and ADMIN_KEY not in stored
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit SET status = 200")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit")


async def test_the_audit_api_needs_the_admin_key_and_pages(client: httpx.AsyncClient) -> None:
    await put(client)
    await put(client, document_id="DOC-2")
    assert (await client.get("/audit")).status_code == 401
    assert (await client.get("/audit", headers=bearer("HOSP-A"))).status_code == 403
    admin = bearer("admin")
    page = (await client.get("/audit", params={"limit": 1}, headers=admin)).json()["entries"]
    assert [e["document_id"] for e in page] == [DOC]
    after = {"after": page[0]["id"], "limit": 1}
    page = (await client.get("/audit", params=after, headers=admin)).json()["entries"]
    assert [e["document_id"] for e in page] == ["DOC-2"]
    assert page[0]["time"].endswith("Z") and page[0]["headers"]
    only = (await client.get("/audit", params={"documentId": DOC}, headers=admin)).json()
    assert {e["document_id"] for e in only["entries"]} == {DOC}
    bad = await client.get("/audit", params={"limit": 0}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_query"


async def test_the_spy_sees_every_request_whole(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    location = (await client.post("/uploads", headers=creation_headers(DOC, DATA))).headers[
        "location"
    ]
    await client.patch(location, content=DATA, headers=patch_headers(0, DATA))
    await client.get(f"/documents/{DOC}?probe=1")
    requests = recorder.requests
    assert [r.method for r in requests] == ["POST", "PATCH", "GET"]
    assert requests[1].body == DATA and not requests[1].truncated
    assert requests[2].url == f"/documents/{DOC}?probe=1"
    assert ("authorization", f"Bearer {KEYS['HOSP-A']}") in requests[0].headers  # unredacted
    needles = {"needle": DATA[500:540], "absent": b"DICM" + os.urandom(16)}
    assert find_in_requests(recorder, needles) == ["request 1 (PATCH) body: needle"]
    assert find_in_requests(recorder, {"key": KEYS["HOSP-A"].encode()}) == [
        f"request {n} ({m}) headers: key" for n, m in ((0, "POST"), (1, "PATCH"))
    ]


async def test_the_spy_reads_every_stored_byte(app: Starlette, client: httpx.AsyncClient) -> None:
    await put(client)
    await put(client, os.urandom(200_000), "DOC-2")
    storage = repository_of(app).storage
    stored = b"".join(storage.read("DOC-2"))
    needle = stored[65_530:65_550]  # crosses the boundary between two read pieces
    found = find_in_storage(storage, {"needle": needle, "b64": base64.b64encode(DATA[:30])})
    assert found == ["object DOC-2: needle"]


def test_scan_finds_needles_across_piece_boundaries() -> None:
    pieces = [b"xxSEC", b"R", b"ETyyDI", b"CM"]
    assert scan(pieces, {"s": b"SECRET", "d": b"DICM", "n": b"NAME"}) == {"s", "d"}
    assert scan([b"abc"], {"empty": b""}) == set()


async def test_a_sampling_recorder_keeps_size_and_digest(tmp_path: Path) -> None:
    recorder = Recorder(max_body_bytes=10)
    app = create_app(make_config(tmp_path, recorder=recorder))
    async with asgi_client(app) as client:
        await put(client)
    (request,) = recorder.requests
    assert request.body == DATA[:10] and request.truncated
    assert (request.body_size, request.body_digest) == (1000, digest_of(DATA))


async def test_openapi_documents_every_route_and_method(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    served = {}
    for route in app.routes:
        assert isinstance(route, Route)
        if route.methods is None:  # an endpoint class: one method per HTTP method
            served[route.path] = {m for m in HTTP_METHODS if hasattr(route.endpoint, m)}
        else:  # Starlette adds HEAD to every GET function; only the HEAD handlers are documented
            served[route.path] = {m.lower() for m in route.methods} - {"head"}
    documented = {
        path: {m for m in item if m in HTTP_METHODS} for path, item in document["paths"].items()
    }
    assert documented == served


async def test_the_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path, rate_limit=RateLimit(requests=2, per_seconds=60)))
    async with asgi_client(app) as client:
        for _ in range(2):
            assert (await client.get("/documents/X")).status_code == 404
        limited = await client.get("/documents/X")
        other = await client.get("/documents/X", headers=bearer("HOSP-B"))
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert int(limited.headers["retry-after"]) == 30
    assert other.status_code == 404  # another client has its own bucket
    assert repository_of(app).audit.entries()[2].error == "rate_limited"


async def test_the_purge_api(app: Starlette, client: httpx.AsyncClient) -> None:
    await put(client)
    assert (await client.post("/admin/purge", headers=bearer("HOSP-A"))).status_code == 403
    clock = repository_of(app).config.clock
    assert isinstance(clock, Clock)
    clock.advance(days=15)
    purged = await client.post("/admin/purge", headers=bearer("admin"))
    assert purged.json() == {"documents": 1, "uploads": 0}
    assert list(repository_of(app).storage.list_keys()) == []


async def test_a_bug_answers_a_json_500_and_is_audited(
    app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(document_id: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(repository_of(app).metadata, "document", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://repository") as quiet:
        response = await quiet.get(f"/documents/{DOC}")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": "the repository failed to handle the request",
    }
    entry = repository_of(app).audit.entries()[-1]
    assert (entry.status, entry.error) == (500, "internal_error")


def test_configuration_reprs_hide_keys(tmp_path: Path) -> None:
    config = make_config(tmp_path, s3=S3Config(bucket="b", secret_access_key="s3-secret"))
    shown = repr(config)
    assert "HOSP-A" not in shown and KEYS["HOSP-A"] not in shown and ADMIN_KEY not in shown
    assert "s3-secret" not in shown and "bucket='b'" in shown
