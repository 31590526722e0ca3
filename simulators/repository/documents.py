"""``/documents/{documentId}``: whole-body upload, ranged download, metadata, revocation."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository_wire import (
    EXPIRES_HEADER,
    MAX_DOWNLOADS_HEADER,
    RECIPIENT_HEADER,
    WireFormatError,
    digest_field,
    parse_count,
    parse_digest_field,
    parse_timestamp,
)
from cloudpdi.token_model import format_timestamp
from simulators.repository.auth import require_facility
from simulators.repository.body import receive_into, too_large
from simulators.repository.errors import ApiError, bad_request
from simulators.repository.metadata import DocumentRecord, Policy
from simulators.repository.service import Repository, check_document_id

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def repository_of(request: Request) -> Repository:
    """Return the repository serving this request."""
    repository: Repository = request.app.state.repository
    return repository


def document_json(record: DocumentRecord) -> dict[str, object]:
    """Describe a document in a JSON answer."""
    return {
        "documentId": record.document_id,
        "size": record.size,
        "digest": record.digest,
        "expiresAt": format_timestamp(record.policy.expires_at),
    }


def declared_digest(value: str | None) -> str:
    """Return the ``"sha-256:<hex>"`` digest of a required RFC 9530 field; else raise 400."""
    if value is None:
        raise bad_request("digest_required", "send Content-Digest: sha-256=:<base64>:")
    try:
        return parse_digest_field(value)
    except WireFormatError as exc:
        raise bad_request("invalid_digest", str(exc)) from None


def parse_policy(
    repository: Repository, expires: str | None, recipient: str | None, limit: str | None
) -> Policy:
    """Read the uploader's expiry, recipient and download limit; raise 400 when malformed."""
    try:
        expires_at = None if expires is None else parse_timestamp(expires)
    except WireFormatError as exc:
        raise bad_request("invalid_expiry", str(exc)) from None
    count = parse_count(limit)
    if limit is not None and count is None:
        raise bad_request("invalid_max_downloads", "the download limit must be a whole number")
    return repository.policy(expires_at, recipient, count)


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """Return the ``[start, end)`` of a single byte range, ``None`` to send everything.

    Malformed and multi-range headers are ignored (RFC 9110 allows it); a range that starts
    past the end raises 416.
    """
    match = None if value is None else _RANGE.fullmatch(value.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        suffix = int(last)
        # "bytes=-0" asks for no byte at all: unsatisfiable, like a start past the end.
        start, end = (size - min(suffix, size) if suffix else size), size
    else:
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
        if last != "" and int(last) < start:
            return None
    if start >= size:
        raise ApiError(
            416,
            "range_not_satisfiable",
            "the range lies past the end",
            {"Content-Range": f"bytes */{size}"},
        )
    return start, end


class Document(HTTPEndpoint):
    """One document: ``PUT`` to store it, ``GET``/``HEAD`` to read it, ``DELETE`` to revoke."""

    async def put(self, request: Request) -> Response:
        """Store the whole body as the document, if its Content-Digest matches."""
        repository = repository_of(request)
        document_id = check_document_id(request.path_params["documentId"])
        request.state.document_id = document_id
        uploader = require_facility(request.state.identity)
        digest = declared_digest(request.headers.get("content-digest"))
        policy = parse_policy(
            repository,
            request.headers.get(EXPIRES_HEADER),
            request.headers.get(RECIPIENT_HEADER),
            request.headers.get(MAX_DOWNLOADS_HEADER),
        )
        limit = repository.config.max_document_size
        length = parse_count(request.headers.get("content-length"))
        if length is not None and length > limit:
            raise too_large(limit)
        if repository.metadata.exists(document_id):
            raise ApiError(409, "document_exists", "this document ID is already used")
        staged = repository.staging_file("put-")
        try:
            hash_ = hashlib.sha256()
            with staged.open("wb") as handle:
                received = await receive_into(
                    request,
                    handle,
                    limit=limit,
                    timeout=repository.config.request_timeout,
                    hashes=[hash_],
                )
            if not received.complete:
                raise bad_request("incomplete_body", "the body ended early")
            if format_digest(hash_.hexdigest()) != digest:
                raise bad_request("digest_mismatch", "the body does not match its Content-Digest")
            record = await repository.publish(
                document_id,
                staged,
                size=received.size,
                digest=digest,
                uploader=uploader,
                policy=policy,
            )
        finally:
            staged.unlink(missing_ok=True)
        location = str(request.url_for("document", documentId=document_id))
        return JSONResponse(document_json(record), status_code=201, headers={"Location": location})

    async def get(self, request: Request) -> Response:
        """Stream the document, or the one byte range asked for."""
        repository = repository_of(request)
        record, read = repository.served(self._readable(request))
        span = parse_range(request.headers.get("range"), record.size)
        if span is not None and request.headers.get("if-range", _etag(record)) != _etag(record):
            span = None
        start, end = (0, record.size) if span is None else span
        headers = _representation_headers(record)
        headers["Content-Length"] = str(end - start)
        if span is None:
            headers["Content-Digest"] = digest_field(record.digest)
        else:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{record.size}"

        def pieces() -> Iterator[bytes]:
            if end > start:
                yield from read(start, end)
            # A download counts once the document's last byte went out (a resumed one counts once).
            if end == record.size:
                repository.metadata.count_download(record.document_id)

        status = 200 if span is None else 206
        return StreamingResponse(
            pieces(), status_code=status, headers=headers, media_type="application/octet-stream"
        )

    async def head(self, request: Request) -> Response:
        """Answer what a GET would, without the body."""
        record, _ = repository_of(request).served(self._readable(request))
        headers = _representation_headers(record)
        headers["Content-Length"] = str(record.size)
        headers["Content-Digest"] = digest_field(record.digest)
        return Response(headers=headers, media_type="application/octet-stream")

    async def delete(self, request: Request) -> Response:
        """Revoke the document: its bytes go now, and it answers 410 from then on."""
        document_id = check_document_id(request.path_params["documentId"])
        request.state.document_id = document_id
        await repository_of(request).revoke(document_id, request.state.identity)
        return Response(status_code=204)

    def _readable(self, request: Request) -> DocumentRecord:
        document_id = check_document_id(request.path_params["documentId"])
        request.state.document_id = document_id
        return repository_of(request).downloadable(document_id, request.state.identity)


def _etag(record: DocumentRecord) -> str:
    return f'"{record.digest.partition(":")[2]}"'


def _representation_headers(record: DocumentRecord) -> dict[str, str]:
    return {
        "Accept-Ranges": "bytes",
        "ETag": _etag(record),
        "Repr-Digest": digest_field(record.digest),
        "Cache-Control": "no-store",
        EXPIRES_HEADER: format_timestamp(record.policy.expires_at),
    }
