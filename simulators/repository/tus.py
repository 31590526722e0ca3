"""``/uploads``: resumable upload by the tus 1.0.0 protocol, so that existing tus clients work.

Extensions: creation (``Upload-Length`` + ``Upload-Metadata``: ``documentId``,
``contentDigest`` and the optional ``expiresAt``, ``recipient``, ``maxDownloads``), checksum
(``sha256``, ``sha1``; a PATCH whose body does not match answers 460 and is discarded),
expiration (an upload idle for ``upload_expiry`` answers 410 and is purged) and termination.
Bytes of a PATCH cut off without a checksum are kept, so the client resumes from them. When
the last byte arrives, the whole upload is checked against ``contentDigest`` and published.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime

import anyio
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response

from cloudpdi.envelope_base import file_sha256, format_digest
from cloudpdi.repository_wire import (
    META_DIGEST,
    META_DOCUMENT_ID,
    META_EXPIRES,
    META_MAX_DOWNLOADS,
    META_RECIPIENT,
    TUS_CHECKSUMS,
    TUS_CONTENT_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    WireFormatError,
    decode_metadata,
    parse_checksum_field,
    parse_count,
)
from simulators.repository.auth import forbidden, require_facility
from simulators.repository.body import receive_into, too_large
from simulators.repository.documents import declared_digest, parse_policy, repository_of
from simulators.repository.errors import CHECKSUM_MISMATCH, ApiError, bad_request
from simulators.repository.metadata import UploadRecord
from simulators.repository.service import Repository, check_document_id

_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_RESUMABLE = {"Tus-Resumable": TUS_VERSION}


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _check_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise ApiError(
            412,
            "unsupported_tus_version",
            f"send Tus-Resumable: {TUS_VERSION}",
            {"Tus-Version": TUS_VERSION},
        )


def _number(value: str | None, name: str) -> int:
    number = parse_count(value)
    if number is None:
        raise bad_request("invalid_header", f"{name} must be a whole number")
    return number


def _discard(repository: Repository, record: UploadRecord) -> None:
    repository.upload_path(record.upload_id).unlink(missing_ok=True)
    repository.metadata.remove_upload(record.upload_id)
    repository.upload_locks.pop(record.upload_id, None)


class UploadCollection(HTTPEndpoint):
    """``OPTIONS`` tells what the server supports; ``POST`` creates an upload."""

    async def options(self, request: Request) -> Response:
        """Advertise the tus version, extensions, size limit and checksum algorithms."""
        headers = {
            **_RESUMABLE,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(TUS_EXTENSIONS),
            "Tus-Max-Size": str(repository_of(request).config.max_document_size),
            "Tus-Checksum-Algorithm": ",".join(TUS_CHECKSUMS),
        }
        return Response(status_code=204, headers=headers)

    async def post(self, request: Request) -> Response:
        """Create an upload for one document ID; answer its URL."""
        repository = repository_of(request)
        uploader = require_facility(request.state.identity)
        _check_version(request)
        length = _number(request.headers.get("upload-length"), "Upload-Length")
        if length > repository.config.max_document_size:
            raise too_large(repository.config.max_document_size)
        try:
            metadata = decode_metadata(request.headers.get("upload-metadata", ""))
        except WireFormatError as exc:
            raise bad_request("invalid_metadata", str(exc)) from None
        document_id = check_document_id(metadata.get(META_DOCUMENT_ID, ""))
        request.state.document_id = document_id
        digest = declared_digest(metadata.get(META_DIGEST))
        policy = parse_policy(
            repository,
            metadata.get(META_EXPIRES),
            metadata.get(META_RECIPIENT),
            metadata.get(META_MAX_DOWNLOADS),
        )
        if repository.metadata.exists(document_id):
            raise ApiError(409, "document_exists", "this document ID is already used")
        now = repository.now()
        record = UploadRecord(
            upload_id=secrets.token_urlsafe(18),
            document_id=document_id,
            uploader=uploader,
            length=length,
            offset=0,
            digest=digest,
            created_at=now,
            expires_at=now + repository.config.upload_expiry,
            policy=policy,
        )
        repository.upload_path(record.upload_id).touch(exist_ok=False)
        repository.metadata.add_upload(record)
        if length == 0:
            await _finish(repository, record)
        headers = {
            **_RESUMABLE,
            "Location": str(request.url_for("upload", uploadId=record.upload_id)),
            "Upload-Expires": _http_date(record.expires_at),
        }
        return Response(status_code=201, headers=headers)


class Upload(HTTPEndpoint):
    """One upload: ``HEAD`` for its offset, ``PATCH`` to append, ``DELETE`` to terminate."""

    async def head(self, request: Request) -> Response:
        """Answer how many bytes the upload holds."""
        _check_version(request)
        # Under the lock: an offset read while a PATCH is publishing would claim success early.
        async with repository_of(request).upload_lock(_own_upload(request).upload_id):
            record = _own_upload(request)
        headers = {
            **_RESUMABLE,
            "Upload-Offset": str(record.offset),
            "Upload-Length": str(record.length),
            "Upload-Expires": _http_date(record.expires_at),
            "Cache-Control": "no-store",
        }
        return Response(headers=headers)

    async def patch(self, request: Request) -> Response:
        """Append the body at ``Upload-Offset``; publish the document after the last byte."""
        repository = repository_of(request)
        _check_version(request)
        if request.headers.get("content-type") != TUS_CONTENT_TYPE:
            raise ApiError(415, "unsupported_media_type", f"send Content-Type: {TUS_CONTENT_TYPE}")
        offset = _number(request.headers.get("upload-offset"), "Upload-Offset")
        checksum = None
        if "upload-checksum" in request.headers:
            try:
                checksum = parse_checksum_field(request.headers["upload-checksum"])
            except WireFormatError as exc:
                raise bad_request("invalid_checksum", str(exc)) from None
        async with repository.upload_lock(_own_upload(request).upload_id):
            record = _own_upload(request)
            if offset != record.offset:
                raise ApiError(
                    409,
                    "offset_mismatch",
                    f"the upload holds {record.offset} bytes",
                    {**_RESUMABLE, "Upload-Offset": str(record.offset)},
                )
            if record.offset < record.length:
                size = await _append(request, repository, record, checksum)
                record = _advance(repository, record, record.offset + size)
                if record.offset == record.length:
                    await _finish(repository, record)
        headers = {
            **_RESUMABLE,
            "Upload-Offset": str(record.offset),
            "Upload-Expires": _http_date(record.expires_at),
        }
        return Response(status_code=204, headers=headers)

    async def delete(self, request: Request) -> Response:
        """Terminate the upload and delete what it received."""
        _check_version(request)
        record = _own_upload(request)
        repository = repository_of(request)
        async with repository.upload_lock(record.upload_id):
            _discard(repository, record)
        return Response(status_code=204, headers=_RESUMABLE)


def _own_upload(request: Request) -> UploadRecord:
    repository = repository_of(request)
    upload_id = request.path_params["uploadId"]
    record = repository.metadata.upload(upload_id) if _UPLOAD_ID.fullmatch(upload_id) else None
    if record is None:
        raise ApiError(404, "upload_not_found", "no upload has this URL")
    request.state.document_id = record.document_id
    if require_facility(request.state.identity) != record.uploader:
        raise forbidden("this upload belongs to another facility")
    if record.offset < record.length and record.expires_at <= repository.now():
        raise ApiError(410, "upload_expired", "the upload expired; start a new one")
    return record


async def _append(
    request: Request,
    repository: Repository,
    record: UploadRecord,
    checksum: tuple[str, bytes] | None,
) -> int:
    """Write the PATCH body after the upload's bytes; return how many bytes to keep."""
    path = repository.upload_path(record.upload_id)
    hashes = [] if checksum is None else [TUS_CHECKSUMS[checksum[0]]()]
    try:
        with path.open("r+b") as handle:
            handle.truncate(record.offset)
            handle.seek(record.offset)
            received = await receive_into(
                request,
                handle,
                limit=record.length - record.offset,
                timeout=repository.config.request_timeout,
                hashes=hashes,
            )
    except BaseException:
        os.truncate(path, record.offset)
        raise
    if checksum is None:
        return received.size
    if not received.complete:
        os.truncate(path, record.offset)
        return 0
    if not hmac.compare_digest(hashes[0].digest(), checksum[1]):
        os.truncate(path, record.offset)
        raise ApiError(
            CHECKSUM_MISMATCH, "checksum_mismatch", "the body does not match its checksum"
        )
    return received.size


def _advance(repository: Repository, record: UploadRecord, offset: int) -> UploadRecord:
    expires_at = repository.now() + repository.config.upload_expiry
    repository.metadata.advance_upload(record.upload_id, offset, expires_at)
    updated = repository.metadata.upload(record.upload_id)
    assert updated is not None
    return updated


async def _finish(repository: Repository, record: UploadRecord) -> None:
    """Check the whole upload against its declared digest, then publish it as the document."""
    path = repository.upload_path(record.upload_id)
    digest = format_digest(await anyio.to_thread.run_sync(file_sha256, path))
    if digest != record.digest:
        _discard(repository, record)
        raise bad_request("digest_mismatch", "the upload does not match its contentDigest")
    try:
        await repository.publish(
            record.document_id,
            path,
            size=record.length,
            digest=digest,
            uploader=record.uploader,
            policy=record.policy,
        )
    except BaseException:
        _discard(repository, record)
        raise
    # The row stays, offset at the end, so a client that missed this answer can HEAD and see it.
    repository.upload_locks.pop(record.upload_id, None)
