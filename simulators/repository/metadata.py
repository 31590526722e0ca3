"""Document and upload records in SQLite: what is stored, whose it is, and until when.

A document row is written ``pending`` before its bytes are published and turned ``available``
after, so a reader never finds a row whose bytes are still on their way. Rows are never
deleted: a document ID stays used (and answers 410) after its bytes are purged.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'available')),
    size INTEGER NOT NULL,
    digest TEXT NOT NULL,
    uploader TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    recipient TEXT,
    max_downloads INTEGER,
    download_count INTEGER NOT NULL DEFAULT 0,
    revoked REAL,
    purged REAL
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    uploader TEXT NOT NULL,
    length INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    digest TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    document_expires REAL NOT NULL,
    recipient TEXT,
    max_downloads INTEGER
);
"""


@dataclass(frozen=True)
class Policy:
    """What the uploader decided about a document: lifetime, recipient, download limit."""

    expires_at: datetime
    recipient: str | None = None
    max_downloads: int | None = None


@dataclass(frozen=True)
class DocumentRecord:
    """One stored (or once stored) document."""

    document_id: str
    size: int
    digest: str
    uploader: str
    created_at: datetime
    policy: Policy
    download_count: int = 0
    revoked_at: datetime | None = None
    purged_at: datetime | None = None
    available: bool = False

    def refusal(self, now: datetime) -> str | None:
        """Return why the document may no longer be downloaded, or ``None`` if it may."""
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.policy.expires_at:
            return "expired"
        limit = self.policy.max_downloads
        if limit is not None and self.download_count >= limit:
            return "download_limit_reached"
        if self.purged_at is not None:
            return "purged"
        return None


@dataclass(frozen=True)
class UploadRecord:
    """One resumable upload: how far it got, and the document it will publish."""

    upload_id: str
    document_id: str
    uploader: str
    length: int
    offset: int
    digest: str
    created_at: datetime
    expires_at: datetime
    policy: Policy


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _document(row: sqlite3.Row) -> DocumentRecord:
    policy = Policy(
        datetime.fromtimestamp(row["expires"], UTC), row["recipient"], row["max_downloads"]
    )
    return DocumentRecord(
        document_id=row["document_id"],
        size=row["size"],
        digest=row["digest"],
        uploader=row["uploader"],
        created_at=datetime.fromtimestamp(row["created"], UTC),
        policy=policy,
        download_count=row["download_count"],
        revoked_at=_moment(row["revoked"]),
        purged_at=_moment(row["purged"]),
        available=row["state"] == "available",
    )


def _upload(row: sqlite3.Row) -> UploadRecord:
    policy = Policy(
        datetime.fromtimestamp(row["document_expires"], UTC), row["recipient"], row["max_downloads"]
    )
    return UploadRecord(
        upload_id=row["upload_id"],
        document_id=row["document_id"],
        uploader=row["uploader"],
        length=row["length"],
        offset=row["offset"],
        digest=row["digest"],
        created_at=datetime.fromtimestamp(row["created"], UTC),
        expires_at=datetime.fromtimestamp(row["expires"], UTC),
        policy=policy,
    )


class MetadataStore:
    """The SQLite database of documents and uploads; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL survives a crash of the process without an fsync per request.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.executescript(_SCHEMA)

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._db.cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def reserve(self, record: DocumentRecord) -> bool:
        """Insert a ``pending`` row; return ``False`` if the document ID was ever used."""
        policy = record.policy
        with self._cursor() as cursor:
            cursor.execute(
                "INSERT OR IGNORE INTO documents (document_id, state, size, digest, uploader,"
                " created, expires, recipient, max_downloads) VALUES (?, 'pending', ?, ?, ?, ?,"
                " ?, ?, ?)",
                (
                    record.document_id,
                    record.size,
                    record.digest,
                    record.uploader,
                    _epoch(record.created_at),
                    _epoch(policy.expires_at),
                    policy.recipient,
                    policy.max_downloads,
                ),
            )
            return cursor.rowcount == 1

    def make_available(self, document_id: str) -> None:
        """Turn a reserved row visible, once its bytes are published."""
        with self._cursor() as cursor:
            cursor.execute(
                "UPDATE documents SET state = 'available' WHERE document_id = ?", (document_id,)
            )

    def release(self, document_id: str) -> None:
        """Drop a reserved row whose bytes could not be published."""
        with self._cursor() as cursor:
            cursor.execute(
                "DELETE FROM documents WHERE document_id = ? AND state = 'pending'", (document_id,)
            )

    def exists(self, document_id: str) -> bool:
        """Tell whether the document ID was ever used (pending, stored or gone)."""
        with self._cursor() as cursor:
            cursor.execute("SELECT 1 FROM documents WHERE document_id = ?", (document_id,))
            return cursor.fetchone() is not None

    def document(self, document_id: str) -> DocumentRecord | None:
        """Return the record of an available (or once available) document."""
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT * FROM documents WHERE document_id = ? AND state = 'available'",
                (document_id,),
            )
            row = cursor.fetchone()
        return None if row is None else _document(row)

    def count_download(self, document_id: str) -> None:
        """Add one completed download."""
        with self._cursor() as cursor:
            cursor.execute(
                "UPDATE documents SET download_count = download_count + 1 WHERE document_id = ?",
                (document_id,),
            )

    def revoke(self, document_id: str, now: datetime) -> None:
        """Mark the document revoked by its uploader."""
        with self._cursor() as cursor:
            cursor.execute(
                "UPDATE documents SET revoked = ? WHERE document_id = ? AND revoked IS NULL",
                (_epoch(now), document_id),
            )

    def to_purge(self, now: datetime) -> list[str]:
        """Return the IDs of documents whose bytes should go: expired, revoked or used up."""
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT document_id FROM documents WHERE state = 'available' AND purged IS NULL"
                " AND (revoked IS NOT NULL OR expires <= ?"
                " OR (max_downloads IS NOT NULL AND download_count >= max_downloads))",
                (_epoch(now),),
            )
            return [row[0] for row in cursor.fetchall()]

    def mark_purged(self, document_id: str, now: datetime) -> None:
        """Record that the document's bytes were deleted."""
        with self._cursor() as cursor:
            cursor.execute(
                "UPDATE documents SET purged = ? WHERE document_id = ?", (_epoch(now), document_id)
            )

    def add_upload(self, record: UploadRecord) -> None:
        """Insert a new resumable upload."""
        policy = record.policy
        with self._cursor() as cursor:
            cursor.execute(
                'INSERT INTO uploads (upload_id, document_id, uploader, length, "offset", digest,'
                " created, expires, document_expires, recipient, max_downloads)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.upload_id,
                    record.document_id,
                    record.uploader,
                    record.length,
                    record.offset,
                    record.digest,
                    _epoch(record.created_at),
                    _epoch(record.expires_at),
                    _epoch(policy.expires_at),
                    policy.recipient,
                    policy.max_downloads,
                ),
            )

    def upload(self, upload_id: str) -> UploadRecord | None:
        """Return an upload's record."""
        with self._cursor() as cursor:
            cursor.execute("SELECT * FROM uploads WHERE upload_id = ?", (upload_id,))
            row = cursor.fetchone()
        return None if row is None else _upload(row)

    def advance_upload(self, upload_id: str, offset: int, expires_at: datetime) -> None:
        """Record the bytes an upload has received and push its expiry back."""
        with self._cursor() as cursor:
            cursor.execute(
                'UPDATE uploads SET "offset" = ?, expires = ? WHERE upload_id = ?',
                (offset, _epoch(expires_at), upload_id),
            )

    def remove_upload(self, upload_id: str) -> None:
        """Forget an upload (terminated, failed or expired)."""
        with self._cursor() as cursor:
            cursor.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))

    def expired_uploads(self, now: datetime) -> list[str]:
        """Return the IDs of uploads that saw no PATCH for too long."""
        with self._cursor() as cursor:
            cursor.execute("SELECT upload_id FROM uploads WHERE expires <= ?", (_epoch(now),))
            return [row[0] for row in cursor.fetchall()]
