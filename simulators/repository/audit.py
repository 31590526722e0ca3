"""The append-only access log: who asked for what, when, how it ended, and how many bytes moved.

SQLite triggers refuse every UPDATE and DELETE, so an entry, once written, stays as it was.
Credentials are redacted before an entry is written. With an export file, each entry is also
appended there as a line of JSON (:mod:`cloudpdi.access_log`), the vendor-neutral form a
conformance run reads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudpdi.access_log import AccessEntry
from cloudpdi.secret import REDACTED

#: Request headers whose values are credentials.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    client TEXT NOT NULL,
    facility TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    document_id TEXT,
    status INTEGER NOT NULL,
    error TEXT,
    bytes_in INTEGER NOT NULL,
    bytes_out INTEGER NOT NULL,
    duration REAL NOT NULL,
    headers TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True)
class AuditEntry:
    """One request as the audit log keeps it (``id`` is 0 until written)."""

    time: datetime
    client: str
    facility: str | None
    method: str
    path: str
    document_id: str | None
    status: int
    error: str | None
    bytes_in: int
    bytes_out: int
    duration: float
    headers: tuple[tuple[str, str], ...]
    id: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the entry as the admin API shows it."""
        data = asdict(self)
        data["time"] = self.time.isoformat().replace("+00:00", "Z")
        data["headers"] = [list(pair) for pair in self.headers]
        return data

    def access_entry(self) -> AccessEntry:
        """Return the entry in the exported access log's format."""
        return AccessEntry(
            time=self.time,
            method=self.method,
            path=self.path,
            status=self.status,
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            reason=self.error,
            document_id=self.document_id,
            caller=self.facility,
            client=self.client,
        )


def redact_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Return the headers with credential values replaced; the auth scheme stays readable."""
    kept = []
    for name, value in headers:
        if name.lower() in CREDENTIAL_HEADERS:
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {REDACTED}" if rest else REDACTED
        kept.append((name, value))
    return tuple(kept)


class AuditLog:
    """The audit table in its own SQLite file, and its export; safe to share between threads."""

    def __init__(self, path: Path, export: Path | None = None) -> None:
        self._export = None if export is None else export.open("a", encoding="utf-8")
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL survives a crash of the process without an fsync per request.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
            if self._export is not None:
                self._export.close()

    def append(self, entry: AuditEntry) -> None:
        """Write one entry, with its credentials redacted."""
        headers = json.dumps([list(pair) for pair in redact_headers(entry.headers)])
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (time, client, facility, method, path, document_id, status,"
                " error, bytes_in, bytes_out, duration, headers)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.time.timestamp(),
                    entry.client,
                    entry.facility,
                    entry.method,
                    entry.path,
                    entry.document_id,
                    entry.status,
                    entry.error,
                    entry.bytes_in,
                    entry.bytes_out,
                    entry.duration,
                    headers,
                ),
            )
            if self._export is not None:
                # Line by line, flushed: a reader of the export sees each request once it ends.
                self._export.write(entry.access_entry().to_line())
                self._export.flush()

    def entries(
        self, *, after: int = 0, limit: int = 1000, document_id: str | None = None
    ) -> list[AuditEntry]:
        """Return entries with an ID above ``after``, oldest first, optionally of one document."""
        query = "SELECT * FROM audit WHERE id > ?"
        params: list[Any] = [after]
        if document_id is not None:
            query += " AND document_id = ?"
            params.append(document_id)
        query += " ORDER BY id LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [_entry(row) for row in rows]


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        time=datetime.fromtimestamp(row["time"], UTC),
        client=row["client"],
        facility=row["facility"],
        method=row["method"],
        path=row["path"],
        document_id=row["document_id"],
        status=row["status"],
        error=row["error"],
        bytes_in=row["bytes_in"],
        bytes_out=row["bytes_out"],
        duration=row["duration"],
        headers=tuple((name, value) for name, value in json.loads(row["headers"])),
    )
