"""Client of the reference repository binding ``cpdi-ref/1``: resumable upload and download.

Uploads use tus 1.0.0: create, PATCH chunks with a SHA-256 ``Upload-Checksum``, and after a
failure ask the server (``HEAD``) how far it got and go on from there. Downloads stream to a
temporary file beside the destination, resume with ``Range`` after a dropped connection, and
rename the file into place only when its digest matches the token's. 5xx answers, 429 and
dropped connections are retried with exponential backoff and jitter (or after the server's
``Retry-After``); a transfer that keeps advancing is never given up on.

Only ciphertext and document IDs pass through this module: the secret never does.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

import httpx

from cloudpdi import __version__
from cloudpdi.envelope_base import read_full
from cloudpdi.repository_download import Download, Progress
from cloudpdi.repository_errors import (
    DigestMismatch,
    DocumentExists,
    DocumentGone,
    DocumentNotFound,
    RepositoryAuthError,
    RepositoryError,
    RetriesExhausted,
    error_for,
)
from cloudpdi.repository_retry import RETRY_STATUSES, Backoff, retry_after
from cloudpdi.repository_wire import (
    DOCUMENTS_PATH,
    EXPIRES_HEADER,
    META_DIGEST,
    META_DOCUMENT_ID,
    META_EXPIRES,
    META_MAX_DOWNLOADS,
    META_RECIPIENT,
    TUS_CONTENT_TYPE,
    TUS_VERSION,
    UPLOADS_PATH,
    WireFormatError,
    checksum_field,
    digest_field,
    encode_metadata,
    is_document_id,
    parse_count,
    parse_digest_field,
    parse_timestamp,
)
from cloudpdi.token_model import format_timestamp

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DigestMismatch",
    "DocumentExists",
    "DocumentGone",
    "DocumentInfo",
    "DocumentNotFound",
    "DownloadResult",
    "RepositoryAuthError",
    "RepositoryClient",
    "RepositoryError",
    "RetriesExhausted",
    "UploadResult",
]

#: Bytes per tus PATCH: large enough for throughput, small enough that a failure costs little.
DEFAULT_CHUNK_SIZE = 8 << 20
_PIECE = 1 << 16
#: tus checksum extension: the PATCH body arrived damaged and was discarded.
CHECKSUM_MISMATCH = 460


@dataclass(frozen=True)
class UploadResult:
    """A finished upload; ``bytes_resent`` counts bytes sent more than once after failures."""

    document_id: str
    size: int
    bytes_sent: int
    bytes_resent: int
    retries: int


@dataclass(frozen=True)
class DownloadResult:
    """A verified download; ``bytes_resent`` counts bytes received more than once."""

    path: Path
    size: int
    digest: str
    bytes_received: int
    bytes_resent: int
    retries: int


@dataclass(frozen=True)
class DocumentInfo:
    """What ``HEAD`` says about a stored document."""

    size: int
    digest: str | None
    expires_at: datetime | None


class _Counted:
    """A PATCH body that counts how much of it the transport took."""

    def __init__(self, chunk: memoryview) -> None:
        self.chunk = chunk
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.chunk), _PIECE):
            piece = bytes(self.chunk[start : start + _PIECE])
            self.sent += len(piece)
            yield piece


def _document_path(document_id: str) -> str:
    if not is_document_id(document_id):
        raise WireFormatError("a document ID is 1-128 of A-Z a-z 0-9 . _ ~ : -")
    return f"{DOCUMENTS_PATH}/{document_id}"


class RepositoryClient:
    """Talks to one repository; ``uploader_key`` is the facility's bearer key.

    The key authenticates uploads and revocations, and downloads of documents restricted to
    this facility. ``retries`` bounds failures in a row without progress; ``sleep`` is
    injectable so that tests do not wait.
    """

    def __init__(
        self,
        base_url: str,
        *,
        uploader_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"User-Agent": f"cloudpdi/{__version__}"}
        if uploader_key is not None:
            headers["Authorization"] = f"Bearer {uploader_key}"
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport, verify=verify
        )
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> RepositoryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _new_backoff(self) -> Backoff:
        return Backoff(self._retries, self._backoff, self._max_backoff, self._sleep)

    def _request(
        self, method: str, url: str, backoff: Backoff, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Send a small request, retrying while the answer is worth another try."""
        while True:
            try:
                response = self._http.request(method, url, headers=headers)
            except httpx.TransportError as exc:
                backoff.failed(f"connection failed ({type(exc).__name__})")
                continue
            if response.status_code not in RETRY_STATUSES:
                return response
            backoff.failed(f"HTTP {response.status_code}", retry_after(response))

    def head(self, document_id: str) -> DocumentInfo:
        """Return the size, digest and expiry of a document that may be downloaded."""
        response = self._request("HEAD", _document_path(document_id), self._new_backoff())
        if response.status_code != 200:
            raise error_for(response)
        repr_digest = response.headers.get("repr-digest")
        expires = response.headers.get(EXPIRES_HEADER)
        return DocumentInfo(
            size=int(response.headers.get("content-length", "0")),
            digest=None if repr_digest is None else parse_digest_field(repr_digest),
            expires_at=None if expires is None else parse_timestamp(expires),
        )

    def delete(self, document_id: str) -> None:
        """Revoke a document this facility uploaded."""
        response = self._request("DELETE", _document_path(document_id), self._new_backoff())
        if response.status_code != 204:
            raise error_for(response)

    def upload(
        self,
        document_id: str,
        src: Path,
        digest: str,
        *,
        expires: datetime | None = None,
        recipient: str | None = None,
        max_downloads: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Upload ``src`` (ciphertext whose digest is ``digest``) resumably as ``document_id``."""
        _document_path(document_id)
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        size = Path(src).stat().st_size
        backoff = self._new_backoff()
        location = self._create(document_id, size, digest, expires, recipient, max_downloads)
        offset = sent = 0
        # One buffer for every chunk: fresh multi-MiB reads fragment the heap as they come and go.
        buffer = memoryview(bytearray(min(chunk_size, size)))
        with Path(src).open("rb") as handle:
            while offset < size:
                handle.seek(offset)
                chunk = buffer[: read_full(handle, buffer[: min(chunk_size, size - offset)])]
                answer, cause, count = self._send_chunk(location, offset, chunk)
                sent += count
                if answer is not None and answer.status_code == 204:
                    offset = _new_offset(answer, offset, size)
                    backoff.progressed()
                elif answer is not None and not _worth_retrying(answer):
                    raise error_for(answer)
                else:
                    backoff.failed(cause, retry_after(answer))
                    reached = self._upload_offset(location, backoff)
                    if reached > offset:
                        backoff.progressed()
                    offset = reached
                if progress is not None:
                    progress(offset, size)
        return UploadResult(document_id, size, sent, sent - size, backoff.total)

    def _send_chunk(
        self, location: str, offset: int, chunk: memoryview
    ) -> tuple[httpx.Response | None, str, int]:
        """PATCH one chunk; return the answer (``None`` if the connection failed), what went
        wrong if anything, and how many bytes the transport took."""
        body = _Counted(chunk)
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Content-Type": TUS_CONTENT_TYPE,
            "Content-Length": str(len(chunk)),
            "Upload-Offset": str(offset),
            "Upload-Checksum": checksum_field("sha256", chunk),
        }
        try:
            answer = self._http.patch(location, content=body, headers=headers)
        except httpx.TransportError as exc:
            return None, f"connection failed ({type(exc).__name__})", body.sent
        return answer, f"HTTP {answer.status_code}", body.sent

    def _create(
        self,
        document_id: str,
        size: int,
        digest: str,
        expires: datetime | None,
        recipient: str | None,
        max_downloads: int | None,
    ) -> str:
        """Create the tus upload; return its URL."""
        metadata = {META_DOCUMENT_ID: document_id, META_DIGEST: digest_field(digest)}
        if expires is not None:
            metadata[META_EXPIRES] = format_timestamp(expires)
        if recipient is not None:
            metadata[META_RECIPIENT] = recipient
        if max_downloads is not None:
            metadata[META_MAX_DOWNLOADS] = str(max_downloads)
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Length": str(size),
            "Upload-Metadata": encode_metadata(metadata),
        }
        response = self._request("POST", UPLOADS_PATH, self._new_backoff(), headers)
        if response.status_code != 201 or "location" not in response.headers:
            raise error_for(response)
        return response.headers["location"]

    def _upload_offset(self, location: str, backoff: Backoff) -> int:
        """Ask how many bytes of the upload the server holds."""
        response = self._request("HEAD", location, backoff, {"Tus-Resumable": TUS_VERSION})
        if response.status_code != 200:
            raise error_for(response)
        value = parse_count(response.headers.get("upload-offset"))
        if value is None:
            raise RepositoryError("the repository sent no valid Upload-Offset")
        return value

    def download(
        self,
        document_id: str,
        dest: Path,
        *,
        expected_digest: str,
        progress: Progress | None = None,
    ) -> DownloadResult:
        """Download into ``dest``, which appears only if the bytes match ``expected_digest``."""
        url = _document_path(document_id)
        digest_field(expected_digest)  # refuse a malformed digest before any transfer
        dest = Path(dest)
        handle, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        part = Path(name)
        try:
            with os.fdopen(handle, "wb") as sink:
                transfer = Download(self._http, url, sink, self._new_backoff(), progress)
                transfer.run()
                if transfer.digest != expected_digest:
                    raise DigestMismatch("the download does not match the expected digest")
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(part, dest)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return DownloadResult(
            path=dest,
            size=transfer.offset,
            digest=transfer.digest,
            bytes_received=transfer.received,
            bytes_resent=transfer.received - transfer.offset,
            retries=transfer.backoff.total,
        )


def _worth_retrying(answer: httpx.Response) -> bool:
    """Tell whether a failed PATCH should be resent from the offset the server holds."""
    if answer.status_code in RETRY_STATUSES or answer.status_code == CHECKSUM_MISMATCH:
        return True
    # A stale offset: an earlier, cut-off PATCH still landed some bytes.
    return answer.status_code == 409 and error_for(answer).code == "offset_mismatch"


def _new_offset(answer: httpx.Response, offset: int, size: int) -> int:
    value = parse_count(answer.headers.get("upload-offset"))
    if value is None or not offset <= value <= size:
        raise RepositoryError("the repository sent no valid Upload-Offset")
    return value
