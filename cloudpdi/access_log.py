"""A repository's access log exported as JSON Lines: the format a repository under test shows.

One UTF-8 JSON object per line, appended as each request ends: when the request came, what it
asked, how it ended (status, and the reason of a refusal), how many bytes it moved. The JSON
Schema of an entry ships in this package (``cloudpdi/schema/access-log-entry-1.json``). The
reference repository writes it (``cloudpdi serve repository --access-log PATH``); the harness
reads a product's export (``[repository.inspection] access_log``) and judges it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from cloudpdi.errors import CloudPDIError
from cloudpdi.published import read_published
from cloudpdi.repository_wire import WireFormatError, parse_timestamp

SCHEMA_RESOURCE = "schema/access-log-entry-1.json"
#: Longest line read: an entry is a few hundred bytes; a longer line is not an entry.
MAX_LINE = 64 << 10
#: Most bytes read in one go: more than any scenario's entries.
MAX_READ = 64 << 20


class AccessLogError(CloudPDIError):
    """The exported access log cannot be read, or a line of it is not an entry."""


@dataclass(frozen=True)
class AccessEntry:
    """One request as an access log records it."""

    time: datetime
    method: str
    path: str
    status: int
    bytes_in: int
    bytes_out: int
    reason: str | None
    document_id: str | None = None
    caller: str | None = None
    client: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the entry as one line of the export holds it."""
        return {
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "reason": self.reason,
            "document_id": self.document_id,
            "caller": self.caller,
            "client": self.client,
        }

    def to_line(self) -> str:
        """Return the entry as a line of the export, newline included."""
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"


def parse_entry(line: str) -> AccessEntry:
    """Read one line of the export; :class:`AccessLogError` says what breaks the schema."""
    data = read_published(line, SCHEMA_RESOURCE, "the entry", AccessLogError)
    try:
        time = parse_timestamp(data["time"])
    except WireFormatError as exc:
        raise AccessLogError(f"time: {exc}") from None
    # The schema has checked every field's type; the optional ones may be absent.
    return AccessEntry(
        time=time,
        **{
            field.name: data.get(field.name)
            for field in fields(AccessEntry)
            if field.name != "time"
        },
    )


def read_entries(path: Path, offset: int = 0) -> tuple[list[AccessEntry], int]:
    """Read the whole lines written after byte ``offset``; return them and the next offset.

    A line still being written (no newline yet) is left for the next read.
    """
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            data = stream.read(MAX_READ)
    except FileNotFoundError:
        return [], offset
    except OSError as exc:
        raise AccessLogError(f"cannot read {path}: {exc.strerror}") from None
    whole = data[: data.rfind(b"\n") + 1]
    entries = []
    for number, raw in enumerate(whole.splitlines(), 1):
        if len(raw) > MAX_LINE:
            raise AccessLogError(f"entry {number} after byte {offset} is longer than {MAX_LINE}")
        try:
            entries.append(parse_entry(raw.decode("utf-8")))
        except (UnicodeDecodeError, AccessLogError) as exc:
            raise AccessLogError(f"entry {number} after byte {offset}: {exc}") from None
    return entries, offset + len(whole)


def size_of(path: Path) -> int:
    """The export's size now (0 before it exists): where the entries of what follows begin."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
