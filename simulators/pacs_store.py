"""The PACS store: instances on disk exactly as received, indexed in SQLite.

Layout under the storage folder: ``index.sqlite3`` and ``instances/<study>/<series>/<sop>.dcm``.
Each file is the File Meta Information we write plus the sender's encoded dataset, unchanged.
Only the header (up to the pixel data) is parsed, to index the instance; nothing is decoded
or re-encoded.
"""

from __future__ import annotations

import datetime
import io
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from cloudpdi.dicomfile import DicomFileError, read_header
from cloudpdi.dimse_files import ReceivedDataset, file_meta, is_safe_uid, write_atomically
from cloudpdi.errors import CloudPDIError
from simulators.pacs_index import LEVEL_KEYS, IndexEntry, InstanceRecord, PacsIndex

#: C-STORE statuses (PS3.4 B.2.3).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
DATASET_DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000

INDEX_NAME = "index.sqlite3"
INSTANCES_FOLDER = "instances"
_INDEX_TAGS = ["SpecificCharacterSet", *(key for keys in LEVEL_KEYS.values() for key in keys)]
_COPY_BLOCK = 1 << 20


class PacsStoreError(CloudPDIError):
    """A file cannot be imported into the PACS store."""


class DuplicatePolicy(StrEnum):
    """What a second instance with a known SOP Instance UID does to the first."""

    #: The latest copy replaces the stored one (what most archives do).
    REPLACE = "replace"
    #: The first copy stays; later ones are acknowledged and dropped.
    KEEP_FIRST = "keep-first"


@dataclass(frozen=True)
class StoreOutcome:
    """What happened to one instance: the C-STORE status to answer and why."""

    status: int
    size: int = 0
    duplicate: bool = False
    detail: str = ""


def _text(value: object) -> str:
    """Return an attribute value as index text: decoded, multiple values joined by "\\"."""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(item) for item in value)
    return str(value)


def _problem(header: Dataset, received: ReceivedDataset | None) -> str:
    """Return why ``header`` cannot be stored, or "" if it can."""
    for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not is_safe_uid(_text(header.get(key))):
            return f"{key} is missing or not a valid UID"
    if received is not None:
        if header.SOPInstanceUID != received.sop_instance_uid:
            return "SOP Instance UID differs between the C-STORE request and the dataset"
        if _text(header.get("SOPClassUID")) != received.sop_class_uid:
            return "SOP Class UID differs between the C-STORE request and the dataset"
    return ""


def _blocks(path: Path) -> Iterator[bytes]:
    """Yield the bytes of ``path`` in fixed-size blocks."""
    with path.open("rb") as stream:
        while block := stream.read(_COPY_BLOCK):
            yield block


class InstanceStore:
    """Instances on disk and their index; safe to use from every association thread."""

    def __init__(self, root: Path, duplicates: DuplicatePolicy = DuplicatePolicy.REPLACE) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.duplicates = duplicates
        self._index = PacsIndex(root / INDEX_NAME)
        # One writer at a time keeps a file and its index row in step when two associations
        # send the same instance; the disk is the bottleneck anyway.
        self._lock = threading.Lock()

    @property
    def index(self) -> PacsIndex:
        """The SQLite index, for queries."""
        return self._index

    def close(self) -> None:
        """Close the index."""
        self._index.close()

    def receive(
        self, received: ReceivedDataset, *, calling_ae: str, receiving_ae: str
    ) -> StoreOutcome:
        """Store one C-STORE dataset as received and return the status to answer."""
        meta = file_meta(received, sending_ae=calling_ae, receiving_ae=receiving_ae)
        try:
            header = read_header(io.BytesIO(meta + received.encoded), _INDEX_TAGS)
        except DicomFileError:
            return StoreOutcome(CANNOT_UNDERSTAND, detail="the dataset cannot be parsed")
        problem = _problem(header, received)
        if problem:
            return StoreOutcome(DATASET_DOES_NOT_MATCH, detail=problem)
        return self._keep(header, [meta, received.encoded], calling_ae)

    def import_file(self, path: Path) -> StoreOutcome:
        """Copy a Part 10 file into the store byte for byte, as if it had been received."""
        try:
            header = read_header(path, _INDEX_TAGS)
        except DicomFileError as exc:
            raise PacsStoreError(str(exc)) from exc
        problem = _problem(header, None)
        if problem:
            raise PacsStoreError(f"{path.name}: {problem}")
        return self._keep(header, _blocks(path), calling_ae="")

    def _keep(
        self, header: Dataset, chunks: Iterable[bytes | memoryview], calling_ae: str
    ) -> StoreOutcome:
        """Write the file for ``header`` and index it, applying the duplicate policy."""
        uid = str(header.SOPInstanceUID)
        study, series = str(header.StudyInstanceUID), str(header.SeriesInstanceUID)
        relative = Path(INSTANCES_FOLDER, study, series, f"{uid}.dcm")
        with self._lock:
            duplicate = self._index.path_of(uid) is not None
            if duplicate and self.duplicates is DuplicatePolicy.KEEP_FIRST:
                return StoreOutcome(SUCCESS, duplicate=True, detail="duplicate: first copy kept")
            target = self.root / relative
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                size = write_atomically(target, chunks)
                previous = self._index.add(
                    IndexEntry(
                        attributes={key: _text(header.get(key)) for key in _INDEX_TAGS[1:]},
                        charset=_text(header.get("SpecificCharacterSet")),
                        transfer_syntax_uid=str(header.file_meta.TransferSyntaxUID),
                        path=relative.as_posix(),
                        size=size,
                        received=datetime.datetime.now(datetime.UTC).isoformat(),
                        calling_ae=calling_ae,
                    )
                )
            except (OSError, sqlite3.Error):
                return StoreOutcome(OUT_OF_RESOURCES, detail="the store cannot write")
            if previous is not None and previous != relative.as_posix():
                (self.root / previous).unlink(missing_ok=True)
        detail = "duplicate: replaced the stored copy" if duplicate else ""
        return StoreOutcome(SUCCESS, size=size, duplicate=duplicate, detail=detail)

    def path_of(self, sop_instance_uid: str) -> Path | None:
        """Return the file of an instance, or None if it is not stored."""
        relative = self._index.path_of(sop_instance_uid)
        return self.root / relative if relative is not None else None

    def instances(self) -> list[InstanceRecord]:
        """Return every stored instance."""
        return self._index.instances()

    def count(self) -> int:
        """Return the number of stored instances."""
        return self._index.count()
