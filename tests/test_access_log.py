"""The exported access log (cloudpdi.access_log), the repository's export of it, the judging of
an export against what the spy saw, and the search of a storage folder for a document's bytes."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from cloudpdi.access_log import AccessLogError, parse_entry, read_entries, size_of
from harness.inspection import ExportedAccessLog
from simulators.repository import Recorder, create_app
from simulators.repository.spy import scan
from steps.access_log import AccessLog, leaks, unaccounted
from steps.errors import StepError
from steps.stored_bytes import SAMPLE, search_storage
from tests.repository_fixtures import (
    DATA,
    DOC,
    KEYS,
    START,
    make_config,
    put_headers,
    repository_of,
)
from tests.repository_fixtures import anyio_backend as anyio_backend
from tests.repository_fixtures import client as client

ENTRY = {
    "time": "2026-04-01T09:00:00.5Z",
    "method": "GET",
    "path": "/documents/X",
    "status": 404,
    "bytes_in": 0,
    "bytes_out": 120,
    "reason": "not_found",
}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return tmp_path / "access.jsonl"


@pytest.fixture
def app(tmp_path: Path, recorder: Recorder, export: Path) -> Starlette:
    return create_app(make_config(tmp_path / "repo", recorder=recorder, access_log=export))


async def some_requests(client: httpx.AsyncClient) -> None:
    """An upload, a download, a refused download and a refused upload."""
    await client.put(f"/documents/{DOC}", content=DATA, headers=put_headers(DATA))
    await client.get(f"/documents/{DOC}")
    await client.get("/documents/UNKNOWN")
    await client.put("/documents/X", content=b"x", headers={"Authorization": "Bearer wrong"})


@pytest.mark.anyio
async def test_the_export_holds_every_audit_entry_in_the_published_format_and_no_key(
    app: Starlette, client: httpx.AsyncClient, export: Path
) -> None:
    await some_requests(client)

    exported, end = read_entries(export)

    audited = repository_of(app).audit.entries()
    assert exported == [entry.access_entry() for entry in audited]
    assert [(e.status, e.reason, e.caller) for e in exported] == [
        (201, None, "HOSP-A"),
        (200, None, None),
        (404, "not_found", None),
        (401, "unauthorized", None),
    ]
    assert end == size_of(export)
    needles = {facility: key.encode() for facility, key in KEYS.items()}
    assert not scan([export.read_bytes()], needles | {"wrong": b"Bearer wrong"})


@pytest.mark.anyio
async def test_an_export_that_misses_a_request_or_its_reason_is_found_out(
    client: httpx.AsyncClient, recorder: Recorder, export: Path
) -> None:
    await some_requests(client)
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    complete, _ = read_entries(export)
    assert unaccounted(recorder.requests, complete, START) == []

    no_refusal = export.with_name("missing.jsonl")
    no_refusal.write_text("".join(lines[:2] + lines[3:]), encoding="utf-8")
    missing, _ = read_entries(no_refusal)
    assert unaccounted(recorder.requests, missing, START) == [
        "GET /documents/UNKNOWN (404) has no entry with its outcome"
    ]

    no_reason = export.with_name("no-reason.jsonl")
    no_reason.write_text("".join(lines).replace('"not_found"', "null"), encoding="utf-8")
    unexplained, _ = read_entries(no_reason)
    assert unaccounted(recorder.requests, unexplained, START) == [
        "GET /documents/UNKNOWN (404) is logged refused without a reason"
    ]


def test_a_leaked_key_is_found_in_an_entry_and_in_the_file(tmp_path: Path) -> None:
    export = tmp_path / "access.jsonl"
    leaked = {**ENTRY, "reason": f"bad key {KEYS['HOSP-A']}"}
    export.write_text(json.dumps(leaked) + "\n", encoding="utf-8")
    entries, _ = read_entries(export)

    found = leaks(AccessLog(entries, (export,)), {"the key": KEYS["HOSP-A"].encode()})

    assert found == ["entry 1: the key", "file access.jsonl: the key"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"reason": ...}, "'reason' is a required property"),
        ({"time": "2026-04-01 09:00"}, "time"),
        ({"time": "2026-04-01T09:00:00"}, "time"),
        ({"status": "404"}, 'status: breaks the rule type = "integer"'),
        ({"bytes_out": -1}, "bytes_out"),
        ({"path": "documents/X"}, "path"),
    ],
)
def test_an_entry_off_the_schema_is_refused_naming_the_field(
    change: dict[str, object], problem: str
) -> None:
    entry = {key: value for key, value in {**ENTRY, **change}.items() if value is not ...}

    with pytest.raises(AccessLogError) as caught:
        parse_entry(json.dumps(entry))

    assert problem in str(caught.value)


def test_a_value_off_the_schema_is_not_repeated_in_the_error() -> None:
    # An export may carry anything where a field belongs, a credential included.
    leaked = secrets.token_urlsafe(32)

    for change in ({"status": leaked}, {"path": leaked}, {"time": leaked}):
        with pytest.raises(AccessLogError) as caught:
            parse_entry(json.dumps({**ENTRY, **change}))
        assert leaked not in str(caught.value)


def test_an_export_is_read_from_an_offset_a_whole_line_at_a_time(tmp_path: Path) -> None:
    export = tmp_path / "access.jsonl"
    assert read_entries(export) == ([], 0)
    first = json.dumps(ENTRY) + "\n"
    export.write_text(first + json.dumps(ENTRY)[:20], encoding="utf-8")

    entries, offset = read_entries(export)
    assert (len(entries), offset) == (1, len(first))
    assert read_entries(export, offset) == ([], offset)

    export.write_text(first + "not json\n", encoding="utf-8")
    with pytest.raises(AccessLogError, match=f"entry 1 after byte {offset}: is not JSON"):
        read_entries(export, offset)


def test_a_scenario_reads_the_entries_after_its_start_relative_to_the_base_url(
    tmp_path: Path,
) -> None:
    export = tmp_path / "access.jsonl"
    export.write_text(json.dumps(ENTRY) + "\n", encoding="utf-8")
    log = ExportedAccessLog.from_now(export, "https://repo.example/cpdi/")
    with export.open("a", encoding="utf-8") as stream:
        stream.write(json.dumps({**ENTRY, "path": "/cpdi/documents/Y"}) + "\n")

    assert [entry.path for entry in log.entries()] == ["/documents/Y"]


def test_the_storage_search_finds_the_bytes_in_any_file_but_follows_no_link(
    tmp_path: Path,
) -> None:
    document = os.urandom(10 * SAMPLE)
    samples = {"the start": document[:SAMPLE], "the end": document[-SAMPLE:]}
    storage = tmp_path / "storage"
    (storage / "a" / "b").mkdir(parents=True)
    stored = storage / "a" / "b" / "blob"
    stored.write_bytes(b"header" + document)
    outside = tmp_path / "outside"
    outside.write_bytes(document)
    (storage / "link").symlink_to(outside)

    found = search_storage(storage, samples)
    assert found.places == ("a/b/blob: the end", "a/b/blob: the start")
    assert (found.files, found.file_bytes) == (1, len(document) + 6)

    stored.unlink()
    assert search_storage(storage, samples).places == ()
    with pytest.raises(StepError, match="is not a folder"):
        search_storage(tmp_path / "nowhere", samples)
