"""The repository's rules, apart from HTTP: publishing, who may download, revocation, purge."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import anyio

from cloudpdi.repository_wire import is_document_id
from simulators.faults import Fault
from simulators.repository.alteration import AlteredDocuments, Reader
from simulators.repository.audit import AuditLog
from simulators.repository.auth import Authenticator, Identity, forbidden, require_facility
from simulators.repository.config import RepositoryConfig
from simulators.repository.errors import ApiError, bad_request
from simulators.repository.metadata import DocumentRecord, MetadataStore, Policy
from simulators.repository.ratelimit import RateLimiter
from simulators.repository.storage import StorageBackend, open_storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeReport:
    """What one purge removed."""

    documents: int
    uploads: int


def not_found() -> ApiError:
    """Return the 404 error for a document ID that was never published here."""
    return ApiError(404, "not_found", "no document has this ID")


def check_document_id(value: str) -> str:
    """Return a well-formed document ID or raise 400."""
    if not is_document_id(value):
        raise bad_request("invalid_document_id", "a document ID is 1-128 of A-Z a-z 0-9 . _ ~ : -")
    return value


class Repository:
    """State and rules of one repository: metadata, bytes, audit log and credentials."""

    def __init__(self, config: RepositoryConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.staging = config.data_dir / "staging"
        self.staging.mkdir(exist_ok=True)
        self.metadata = MetadataStore(config.data_dir / "metadata.sqlite3")
        self.audit = AuditLog(config.data_dir / "audit.sqlite3", export=config.access_log)
        self.storage: StorageBackend = open_storage(config)
        self.authenticator = Authenticator(config.uploader_keys, config.admin_key, config.tls)
        limit = config.rate_limit
        self.rate_limiter = None if limit is None else RateLimiter(limit)
        # One PATCH at a time per upload: a client retrying after a dropped connection may race
        # the request the server is still finishing.
        self.upload_locks: dict[str, anyio.Lock] = {}
        #: Test-only: what the repository does to every document as it serves it (None: nothing).
        self.alteration: AlteredDocuments | None = None

    def now(self) -> datetime:
        """Return the repository's idea of now (tests move it to test expiry)."""
        return self.config.clock()

    def close(self) -> None:
        """Close the databases."""
        self.metadata.close()
        self.audit.close()

    def staging_file(self, prefix: str) -> Path:
        """Create an empty file on the data disk to receive bytes before they are published."""
        handle, name = tempfile.mkstemp(prefix=prefix, dir=self.staging)
        os.close(handle)
        return Path(name)

    def policy(
        self, expires_at: datetime | None, recipient: str | None, max_downloads: int | None
    ) -> Policy:
        """Check what the uploader asked for against the limits; raise 400 when out of bounds."""
        now = self.now()
        if expires_at is None:
            expires_at = now + self.config.default_retention
        if not now < expires_at <= now + self.config.max_retention:
            raise bad_request(
                "invalid_expiry",
                f"the expiry must lie in the future and within {self.config.max_retention}",
            )
        if recipient is not None and not is_document_id(recipient):
            raise bad_request("invalid_recipient", "the recipient must be a facility ID")
        if max_downloads is not None and max_downloads < 1:
            raise bad_request("invalid_max_downloads", "the download limit must be at least 1")
        if Fault.REPOSITORY_SERVES_EXPIRED in self.config.faults:
            expires_at = now + self.config.max_retention
        return Policy(expires_at, recipient, max_downloads)

    async def publish(
        self,
        document_id: str,
        staged: Path,
        *,
        size: int,
        digest: str,
        uploader: str,
        policy: Policy,
    ) -> DocumentRecord:
        """Store verified bytes under a fresh document ID; 409 if the ID was ever used."""
        record = DocumentRecord(document_id, size, digest, uploader, self.now(), policy)
        if not self.metadata.reserve(record):
            raise ApiError(409, "document_exists", "this document ID is already used")
        try:
            await anyio.to_thread.run_sync(self.storage.publish, document_id, staged)
        except BaseException:
            self.metadata.release(document_id)
            raise
        self.metadata.make_available(document_id)
        log.info("published a document of %d bytes from %s", size, uploader)
        return record

    def downloadable(self, document_id: str, identity: Identity) -> DocumentRecord:
        """Return the record if ``identity`` may download it now; else 404, 410, 401 or 403."""
        record = self.existing(document_id)
        recipient = record.policy.recipient
        if recipient is not None and require_facility(identity) != recipient:
            raise forbidden("this document is for another facility")
        return record

    def served(self, record: DocumentRecord) -> tuple[DocumentRecord, Reader]:
        """Return the document as it is served, and how to read its bytes from start to end."""
        if self.alteration is None:
            return record, partial(self.storage.read, record.document_id)
        return self.alteration.serve(
            record, lambda: b"".join(self.storage.read(record.document_id))
        )

    def existing(self, document_id: str) -> DocumentRecord:
        """Return the record of a document that can still be read; else 404 or 410."""
        record = self.metadata.document(check_document_id(document_id))
        if record is None:
            raise not_found()
        reason = record.refusal(self.now())
        if reason is not None:
            raise ApiError(410, reason, f"the document is gone ({reason.replace('_', ' ')})")
        return record

    async def revoke(self, document_id: str, identity: Identity) -> None:
        """Revoke a document for good and delete its bytes; only its uploader may."""
        record = self.existing(document_id)
        if require_facility(identity) != record.uploader:
            raise forbidden("only the uploader may revoke a document")
        now = self.now()
        self.metadata.revoke(document_id, now)
        await anyio.to_thread.run_sync(self._delete_bytes, document_id, now)

    def _delete_bytes(self, document_id: str, now: datetime) -> None:
        self.storage.delete(document_id)
        self.metadata.mark_purged(document_id, now)

    def purge_expired(self, now: datetime | None = None) -> PurgeReport:
        """Delete the bytes of expired, revoked and used-up documents, and stale uploads."""
        now = self.now() if now is None else now
        documents = self.metadata.to_purge(now)
        for document_id in documents:
            self._delete_bytes(document_id, now)
        uploads = self.metadata.expired_uploads(now)
        for upload_id in uploads:
            self.upload_path(upload_id).unlink(missing_ok=True)
            self.metadata.remove_upload(upload_id)
            self.upload_locks.pop(upload_id, None)
        if documents or uploads:
            log.info("purged %d documents and %d uploads", len(documents), len(uploads))
        return PurgeReport(len(documents), len(uploads))

    def upload_lock(self, upload_id: str) -> anyio.Lock:
        """Return the lock that serialises the PATCHes of one upload."""
        return self.upload_locks.setdefault(upload_id, anyio.Lock())

    def upload_path(self, upload_id: str) -> Path:
        """Return the staging file of a resumable upload."""
        return self.staging / f"upload-{upload_id}"
