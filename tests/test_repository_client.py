"""Unit tests of the repository client's retry, backoff and resume logic, with respx as server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository import (
    DigestMismatch,
    DocumentExists,
    DocumentGone,
    DocumentNotFound,
    RepositoryAuthError,
    RepositoryClient,
    RepositoryError,
    RetriesExhausted,
)
from cloudpdi.repository_wire import (
    decode_metadata,
    digest_field,
    parse_checksum_field,
    parse_digest_field,
)

BASE = "http://repository.test"
DOC = "DOC-1"
DATA = os.urandom(1000)
DIGEST = format_digest(hashlib.sha256(DATA).hexdigest())
ETAG = '"etag-1"'


class Sleeps(list[float]):
    """Records the waits the client asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> Iterator[RepositoryClient]:
    with RepositoryClient(BASE, uploader_key="key-a", retries=3, backoff=0.5, sleep=sleeps) as c:
        yield c


def whole(data: bytes = DATA, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=data, headers={"Content-Length": "1000", "ETag": ETAG})


def part(start: int, data: bytes, total: int = len(DATA)) -> httpx.Response:
    """A 206 announcing bytes ``start``..end but carrying only ``data`` (short when cut)."""
    headers = {"Content-Range": f"bytes {start}-{total - 1}/{total}", "ETag": ETAG}
    return httpx.Response(206, content=data, headers=headers)


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": code, "message": "m"}, headers=headers)


# Downloads


def test_download_retries_a_503_then_succeeds(
    router: respx.MockRouter, client: RepositoryClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    route = router.get(f"/documents/{DOC}").mock(side_effect=[httpx.Response(503), whole()])
    result = client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert (tmp_path / "out").read_bytes() == DATA
    assert route.call_count == 2
    assert result.retries == 1 and result.bytes_resent == 0
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5


def test_429_retry_after_is_honoured_exactly(
    router: respx.MockRouter, client: RepositoryClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    limited = error(429, "rate_limited", {"Retry-After": "7"})
    router.get(f"/documents/{DOC}").mock(side_effect=[limited, whole()])
    client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert sleeps == [7.0]


def test_503_retry_after_as_http_date_is_honoured(
    router: respx.MockRouter, client: RepositoryClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    busy = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    router.get(f"/documents/{DOC}").mock(side_effect=[busy, whole()])
    client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert sleeps == [0.0]  # a date in the past: no wait, but no jitter either


def test_short_bodies_resume_with_range_from_the_offset_reached(
    router: respx.MockRouter, client: RepositoryClient, tmp_path: Path
) -> None:
    route = router.get(
        f"/documents/{DOC}"
    ).mock(
        side_effect=[
            whole(DATA[:400]),  # says 1000 bytes, delivers 400
            part(400, DATA[400:700]),  # a 206 that is cut short as well
            part(700, DATA[700:]),
        ]
    )
    progress: list[tuple[int, int]] = []
    result = client.download(
        DOC, tmp_path / "out", expected_digest=DIGEST, progress=lambda *a: progress.append(a)
    )
    ranges = [call.request.headers.get("range") for call in route.calls]
    assert ranges == [None, "bytes=400-", "bytes=700-"]
    assert all(call.request.headers.get("if-range") == ETAG for call in route.calls[1:])
    assert (tmp_path / "out").read_bytes() == DATA
    assert result.bytes_received == len(DATA) and result.bytes_resent == 0
    assert result.retries == 2
    assert progress[-1] == (1000, 1000)


def test_a_server_that_ignores_range_restarts_and_counts_resent_bytes(
    router: respx.MockRouter, client: RepositoryClient, tmp_path: Path
) -> None:
    router.get(f"/documents/{DOC}").mock(side_effect=[whole(DATA[:400]), whole()])
    result = client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert (tmp_path / "out").read_bytes() == DATA
    assert result.bytes_received == 1400 and result.bytes_resent == 400


def test_a_206_for_another_range_is_refused(
    router: respx.MockRouter, client: RepositoryClient, tmp_path: Path
) -> None:
    router.get(f"/documents/{DOC}").mock(side_effect=[whole(DATA[:400]), part(300, DATA[300:])])
    with pytest.raises(RepositoryError, match="range"):
        client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert list(tmp_path.iterdir()) == []


def test_a_dropped_connection_is_retried(
    router: respx.MockRouter, client: RepositoryClient, tmp_path: Path
) -> None:
    router.get(f"/documents/{DOC}").mock(side_effect=[httpx.ConnectError("refused"), whole()])
    result = client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert result.retries == 1


def test_a_wrong_digest_discards_the_file(
    router: respx.MockRouter, client: RepositoryClient, tmp_path: Path
) -> None:
    router.get(f"/documents/{DOC}").mock(return_value=whole(bytes(1000)))
    with pytest.raises(DigestMismatch):
        client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert list(tmp_path.iterdir()) == []  # neither the destination nor a temporary file


def test_an_existing_destination_survives_a_failed_download(
    router: respx.MockRouter, client: RepositoryClient, tmp_path: Path
) -> None:
    (tmp_path / "out").write_bytes(b"earlier")
    router.get(f"/documents/{DOC}").mock(return_value=whole(bytes(1000)))
    with pytest.raises(DigestMismatch):
        client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert (tmp_path / "out").read_bytes() == b"earlier"


def test_retries_are_exhausted_with_growing_jittered_waits(
    router: respx.MockRouter, client: RepositoryClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    route = router.get(f"/documents/{DOC}").mock(return_value=httpx.Response(502))
    with pytest.raises(RetriesExhausted, match="4 failed attempts: HTTP 502"):
        client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert route.call_count == 4  # the first try and three retries
    assert len(sleeps) == 3
    assert all(0 <= wait <= 0.5 * 2**number for number, wait in enumerate(sleeps))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "not_found", DocumentNotFound),
        (410, "expired", DocumentGone),
        (410, "revoked", DocumentGone),
        (403, "forbidden", RepositoryAuthError),
        (400, "invalid_document_id", RepositoryError),
    ],
)
def test_refusals_raise_specific_errors_without_retrying(
    router: respx.MockRouter,
    client: RepositoryClient,
    tmp_path: Path,
    status: int,
    code: str,
    kind: type[RepositoryError],
) -> None:
    route = router.get(f"/documents/{DOC}").mock(return_value=error(status, code))
    with pytest.raises(kind) as caught:
        client.download(DOC, tmp_path / "out", expected_digest=DIGEST)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert route.call_count == 1


def test_malformed_document_ids_and_digests_are_refused_before_any_request(
    router: respx.MockRouter, client: RepositoryClient, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="document ID"):
        client.download("../etc", tmp_path / "out", expected_digest=DIGEST)
    with pytest.raises(ValueError, match="digest"):
        client.download(DOC, tmp_path / "out", expected_digest="md5:00")
    assert not router.calls


# HEAD and DELETE


def test_head_reads_size_digest_and_expiry(
    router: respx.MockRouter, client: RepositoryClient
) -> None:
    headers = {
        "Content-Length": "1000",
        "Repr-Digest": digest_field(DIGEST),
        "Cpdi-Expires-At": "2030-01-02T03:04:05Z",
    }
    router.head(f"/documents/{DOC}").mock(return_value=httpx.Response(200, headers=headers))
    info = client.head(DOC)
    assert (info.size, info.digest) == (1000, DIGEST)
    assert info.expires_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_delete_sends_the_facility_key_and_maps_refusals(
    router: respx.MockRouter, client: RepositoryClient
) -> None:
    route = router.delete(f"/documents/{DOC}").mock(
        side_effect=[httpx.Response(204), error(410, "revoked")]
    )
    client.delete(DOC)
    assert route.calls[0].request.headers["authorization"] == "Bearer key-a"
    with pytest.raises(DocumentGone):
        client.delete(DOC)


# Uploads (tus)


class TusServer:
    """A scripted tus server: PATCH answers come from a list, the offset from real bytes."""

    def __init__(self, router: respx.MockRouter, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.received = bytearray()
        self.checksums_ok = True
        self.creation = router.post("/uploads").mock(
            return_value=httpx.Response(201, headers={"Location": f"{BASE}/uploads/u1"})
        )
        self.patches = router.patch("/uploads/u1").mock(side_effect=self.patch)
        self.heads = router.head("/uploads/u1").mock(side_effect=self.head)

    def patch(self, request: httpx.Request) -> httpx.Response:
        answer = self.answers.pop(0) if self.answers else 204
        if isinstance(answer, Exception):
            raise answer
        body = request.read()
        algorithm, checksum = parse_checksum_field(request.headers["upload-checksum"])
        self.checksums_ok &= algorithm == "sha256" and hashlib.sha256(body).digest() == checksum
        if answer != 204:
            return error(answer, "offset_mismatch" if answer == 409 else "failure")
        assert int(request.headers["upload-offset"]) == len(self.received)
        self.received += body
        return httpx.Response(204, headers={"Upload-Offset": str(len(self.received))})

    def head(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["tus-resumable"] == "1.0.0"
        return httpx.Response(200, headers={"Upload-Offset": str(len(self.received))})


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "ciphertext"
    path.write_bytes(DATA)
    return path


def test_upload_creates_then_patches_chunks_with_checksums(
    router: respx.MockRouter, client: RepositoryClient, source: Path
) -> None:
    server = TusServer(router, [])
    progress: list[tuple[int, int]] = []
    result = client.upload(
        DOC,
        source,
        DIGEST,
        recipient="HOSP-B",
        max_downloads=2,
        chunk_size=300,
        progress=lambda *a: progress.append(a),
    )
    created = server.creation.calls[0].request
    assert created.headers["upload-length"] == "1000"
    metadata = decode_metadata(created.headers["upload-metadata"])
    assert metadata["documentId"] == DOC
    assert parse_digest_field(metadata["contentDigest"]) == DIGEST
    assert (metadata["recipient"], metadata["maxDownloads"]) == ("HOSP-B", "2")
    assert bytes(server.received) == DATA and server.checksums_ok
    assert server.patches.call_count == 4 and not server.heads.called
    assert progress == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]
    assert (result.bytes_sent, result.bytes_resent, result.retries) == (1000, 0, 0)


@pytest.mark.parametrize("failure", [503, 460, 409, httpx.WriteError("connection reset")])
def test_upload_asks_for_the_offset_after_a_failure_and_resumes(
    router: respx.MockRouter,
    client: RepositoryClient,
    sleeps: Sleeps,
    source: Path,
    failure: int | Exception,
) -> None:
    server = TusServer(router, [204, failure])
    result = client.upload(DOC, source, DIGEST, chunk_size=400)
    assert bytes(server.received) == DATA
    assert server.heads.call_count == 1
    offsets = [call.request.headers["upload-offset"] for call in server.patches.calls]
    assert offsets == ["0", "400", "400", "800"]
    assert result.retries == 1 and len(sleeps) == 1
    # respx takes the whole body before it answers, so the failed chunk counts as sent twice.
    assert (result.bytes_sent, result.bytes_resent) == (1400, 400)


def test_upload_gives_up_after_the_retry_budget(
    router: respx.MockRouter, client: RepositoryClient, sleeps: Sleeps, source: Path
) -> None:
    TusServer(router, [503] * 10)
    with pytest.raises(RetriesExhausted):
        client.upload(DOC, source, DIGEST, chunk_size=400)
    assert len(sleeps) == 3


def test_upload_creation_honours_retry_after(
    router: respx.MockRouter, client: RepositoryClient, sleeps: Sleeps, source: Path
) -> None:
    server = TusServer(router, [])
    server.creation.side_effect = [
        error(429, "rate_limited", {"Retry-After": "3"}),
        httpx.Response(201, headers={"Location": f"{BASE}/uploads/u1"}),
    ]
    client.upload(DOC, source, DIGEST)
    assert sleeps == [3.0] and bytes(server.received) == DATA


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (409, "document_exists", DocumentExists),
        (401, "unauthorized", RepositoryAuthError),
        (413, "too_large", RepositoryError),
    ],
)
def test_upload_creation_refusals(
    router: respx.MockRouter,
    client: RepositoryClient,
    source: Path,
    status: int,
    code: str,
    kind: type[RepositoryError],
) -> None:
    router.post("/uploads").mock(return_value=error(status, code))
    with pytest.raises(kind):
        client.upload(DOC, source, DIGEST)


def test_a_rejected_final_digest_is_a_digest_mismatch(
    router: respx.MockRouter, client: RepositoryClient, source: Path
) -> None:
    server = TusServer(router, [])
    server.patches.side_effect = [error(400, "digest_mismatch")]
    with pytest.raises(DigestMismatch):
        client.upload(DOC, source, DIGEST)


def test_a_document_published_meanwhile_is_not_retried(
    router: respx.MockRouter, client: RepositoryClient, source: Path
) -> None:
    server = TusServer(router, [])
    server.patches.side_effect = [error(409, "document_exists")]
    with pytest.raises(DocumentExists):
        client.upload(DOC, source, DIGEST)
    assert not server.heads.called


def test_an_empty_file_is_created_and_needs_no_patch(
    router: respx.MockRouter, client: RepositoryClient, tmp_path: Path
) -> None:
    server = TusServer(router, [])
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    result = client.upload(DOC, empty, format_digest(hashlib.sha256().hexdigest()))
    assert server.creation.calls[0].request.headers["upload-length"] == "0"
    assert not server.patches.called and result.size == 0
