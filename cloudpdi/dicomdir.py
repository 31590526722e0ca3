"""Write a DICOMDIR (Basic Directory, PS3.3 annex F, PS3.10 8.6) from header-only reads.

Each instance adds its PATIENT, STUDY, SERIES and leaf records, encoded once in Explicit VR
Little Endian with the key values copied byte for byte from the instance, so Japanese names
keep the exact ISO 2022 escape sequences the sender used. A key that is Type 1 in its record but
legally empty in the instance gets an invented value, listed in :attr:`DicomDirBuilder.notes`
(see :mod:`cloudpdi.dicomdir_records`). Offsets are only known once every record is there: the
three fixed-size offset elements are written at the end, in a single pass over the encoded
records, which is what makes this as fast as dcmtk's dcmmkdir.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import uuid
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from cloudpdi import __version__
from cloudpdi.dicomdir_records import (
    DIRECTORY_TAGS,
    INVENTABLE_KEYS,
    DirectoryError,
    InventedValue,
    MissingKeyError,
    RecordEncoder,
    UnsupportedInstanceError,
    encode_element,
    encode_uid,
    padded,
    patient_key,
    record_type,
)
from cloudpdi.dicomfile import read_header

__all__ = [
    "BASIC_DIRECTORY_STORAGE",
    "DICOMDIR_NAME",
    "DIRECTORY_TAGS",
    "INVENTABLE_KEYS",
    "DicomDirBuilder",
    "DirectoryError",
    "DuplicateInstanceError",
    "DuplicatePatientIDError",
    "InvalidFileIDError",
    "InventedValue",
    "MissingKeyError",
    "UnsupportedInstanceError",
    "check_file_id",
    "patient_key",
    "record_type",
    "write_dicomdir",
]

#: Media Storage Directory Storage, the SOP Class of a DICOMDIR (PS3.4 annex I).
BASIC_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"
#: File ID of the directory file at the root of every file set (PS3.10 8.6).
DICOMDIR_NAME = "DICOMDIR"
#: A File ID component: 1 to 8 of A-Z, 0-9 and "_" (PS3.10 8.2, PS3.12 F.1.2.1).
FILE_ID_COMPONENT = re.compile(r"[A-Z0-9_]{1,8}")
#: At most 8 components in a File ID (PS3.10 8.2).
MAX_FILE_ID_DEPTH = 8
#: File-set ID (0004,1130) is a CS: up to 16 of A-Z, 0-9, "_" and space.
FILE_SET_ID_PATTERN = re.compile(r"[A-Z0-9_ ]{0,16}")

_Key = TypeVar("_Key", bound=Hashable)

IMPLEMENTATION_CLASS_UID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:cloudpdi').int}"
IMPLEMENTATION_VERSION_NAME = f"CLOUDPDI_{__version__}"[:16]


class InvalidFileIDError(DirectoryError):
    """A File ID breaks the PS3.10 8.2 naming rules."""


class DuplicateInstanceError(DirectoryError):
    """Two files hold the same SOP Instance UID."""


class DuplicatePatientIDError(DirectoryError):
    """A Patient ID invented for a patient without one is a real Patient ID in the same set."""


def check_file_id(file_id: Sequence[str]) -> None:
    """Raise InvalidFileIDError unless ``file_id`` follows PS3.10 8.2 (1-8 components)."""
    if not 1 <= len(file_id) <= MAX_FILE_ID_DEPTH:
        raise InvalidFileIDError(f"File ID {'/'.join(file_id)!r} has {len(file_id)} components")
    for part in file_id:
        if not FILE_ID_COMPONENT.fullmatch(part):
            raise InvalidFileIDError(
                f"File ID component {part!r} is not 1-8 characters of A-Z, 0-9 and _"
            )


@dataclass
class _Record:
    """One encoded directory record (without its offsets) and its lower-level records."""

    body: bytes
    children: dict[str, _Record] = field(default_factory=dict)
    offset: int = 0

    @property
    def size(self) -> int:
        # Item tag and length, then the three offset/flag elements, then the body.
        return 8 + _LINKS_SIZE + len(self.body)


class DicomDirBuilder:
    """Collects directory records instance by instance, then encodes the whole DICOMDIR."""

    def __init__(self, file_set_id: str = "") -> None:
        if not FILE_SET_ID_PATTERN.fullmatch(file_set_id):
            raise DirectoryError("File-set ID must be up to 16 of A-Z, 0-9, _ and space")
        self.file_set_id = file_set_id
        self._patients: dict[tuple[str, ...], _Record] = {}
        # Patient ID of every PATIENT record: an invented one must not be a real one too.
        self._patient_ids: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._notes: list[InventedValue] = []

    def add(self, file_id: Sequence[str], header: Dataset, *, source: str | None = None) -> None:
        """Add the records of one instance, read with ``tags=DIRECTORY_TAGS``.

        ``source`` names the file in error messages (default: its File ID).
        """
        check_file_id(file_id)
        label = source or "/".join(file_id)
        keys = RecordEncoder(header, label)
        uid = keys.text("SOPInstanceUID")
        if uid in self._sources:
            raise DuplicateInstanceError(
                f"{label} and {self._sources[uid]} have the same SOP Instance UID"
            )
        patient = self._child(self._patients, patient_key(header), keys, "PATIENT")
        study = self._child(patient.children, keys.text("StudyInstanceUID"), keys, "STUDY")
        series = self._child(study.children, keys.text("SeriesInstanceUID"), keys, "SERIES")
        invented = self._invent(keys, keys.leaf_type, len(series.children) + 1)
        series.children[uid] = _Record(keys.leaf(file_id, invented))
        self._sources[uid] = label

    @property
    def instances(self) -> int:
        return len(self._sources)

    @property
    def patients(self) -> int:
        """Number of PATIENT records (patients without an ID told apart by name and birth)."""
        return len(self._patients)

    @property
    def notes(self) -> tuple[InventedValue, ...]:
        """Every value invented so far, in the order the records were made."""
        return tuple(self._notes)

    def encode(self) -> bytes:
        """Return the complete DICOMDIR file (preamble, File Meta, Basic Directory)."""
        patients = list(self._patients.values())
        records_size = _layout(patients, 0)
        digest = hashlib.sha256(self.file_set_id.encode("ascii"))
        for body in _bodies(patients):
            digest.update(body)
        # Same records, same UID: the DICOMDIR of a given content is byte-for-byte reproducible.
        instance_uid = f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, digest.hexdigest()).int}"
        meta = _file_meta(instance_uid)
        start = 128 + 4 + len(meta) + len(_head(self.file_set_id, 0, 0, 0))
        for record in _walk(patients):
            record.offset += start
        first = patients[0].offset if patients else 0
        last = patients[-1].offset if patients else 0
        parts = [b"\x00" * 128, b"DICM", meta, _head(self.file_set_id, first, last, records_size)]
        _emit(patients, parts)
        return b"".join(parts)

    def write(self, path: Path) -> Path:
        """Write the DICOMDIR to ``path`` and return it."""
        path.write_bytes(self.encode())
        return path

    def _child(
        self, children: dict[_Key, _Record], key: _Key, keys: RecordEncoder, kind: str
    ) -> _Record:
        """Return the record for ``key``, creating it from this instance when first seen."""
        record = children.get(key)
        if record is None:
            invented = self._invent(keys, kind, len(children) + 1)
            if kind == "PATIENT":
                self._claim_patient_id(invented.get("PatientID") or keys.text("PatientID"), keys)
            record = children[key] = _Record(keys.record(kind, invented=invented))
        return record

    def _invent(self, keys: RecordEncoder, kind: str, position: int) -> dict[str, str]:
        invented = keys.invented(kind, position)
        self._notes.extend(
            InventedValue(keys.label, kind, keyword, value) for keyword, value in invented.items()
        )
        return invented

    def _claim_patient_id(self, patient_id: str, keys: RecordEncoder) -> None:
        """Raise DuplicatePatientIDError if a PATIENT record already has ``patient_id``."""
        if patient_id in self._patient_ids:
            raise DuplicatePatientIDError(
                f"{keys.label} and {self._patient_ids[patient_id]}: a Patient ID invented for "
                "one of them is the real Patient ID of the other"
            )
        self._patient_ids[patient_id] = keys.label


def write_dicomdir(
    root: Path, file_ids: Iterable[Sequence[str]] | None = None, *, file_set_id: str = ""
) -> Path:
    """Write ``root``/DICOMDIR for a laid-out folder and return its path.

    ``file_ids`` are the File IDs (component tuples) to reference, in record order; by default,
    every file below ``root``/DICOM in sorted order.
    """
    builder = DicomDirBuilder(file_set_id)
    if file_ids is None:
        file_ids = _files_below(root, "DICOM")
    for file_id in file_ids:
        path = root.joinpath(*file_id)
        builder.add(file_id, read_header(path, DIRECTORY_TAGS), source=str(path))
    return builder.write(root / DICOMDIR_NAME)


def _files_below(root: Path, folder: str) -> list[tuple[str, ...]]:
    found = []
    for dirpath, _, names in os.walk(root / folder):
        base = Path(dirpath).relative_to(root).parts
        found.extend((*base, name) for name in names)
    return sorted(found)


# (0004,1400) Offset of the Next Directory Record UL, (0004,1410) Record In-use Flag US,
# (0004,1420) Offset of Referenced Lower-Level Directory Entity UL: fixed size, so every record's
# offset is known before any offset is written.
_LINKS = struct.Struct("<HH2sHI HH2sHH HH2sHI".replace(" ", ""))
_LINKS_SIZE = _LINKS.size
_RECORD_IN_USE = 0xFFFF


def _links(next_offset: int, lower_offset: int) -> bytes:
    return _LINKS.pack(
        0x0004, 0x1400, b"UL", 4, next_offset,
        0x0004, 0x1410, b"US", 2, _RECORD_IN_USE,
        0x0004, 0x1420, b"UL", 4, lower_offset,
    )  # fmt: skip


def _walk(records: list[_Record]) -> Iterable[_Record]:
    for record in records:
        yield record
        yield from _walk(list(record.children.values()))


def _bodies(records: list[_Record]) -> Iterable[bytes]:
    return (record.body for record in _walk(records))


def _layout(records: list[_Record], start: int) -> int:
    """Give each record its offset (relative to the first record); return the end offset."""
    for record in _walk(records):
        record.offset = start
        start += record.size
    return start


def _emit(siblings: list[_Record], parts: list[bytes]) -> None:
    for index, record in enumerate(siblings):
        following = siblings[index + 1].offset if index + 1 < len(siblings) else 0
        children = list(record.children.values())
        lower = children[0].offset if children else 0
        parts.append(struct.pack("<HHI", 0xFFFE, 0xE000, _LINKS_SIZE + len(record.body)))
        parts.append(_links(following, lower))
        parts.append(record.body)
        _emit(children, parts)


def _file_meta(instance_uid: str) -> bytes:
    """Encode the File Meta Information group of a DICOMDIR (PS3.10 7.1)."""
    elements = b"".join(
        (
            encode_element(0x00020001, "OB", b"\x00\x01"),
            encode_uid(0x00020002, BASIC_DIRECTORY_STORAGE),
            encode_uid(0x00020003, instance_uid),
            encode_uid(0x00020010, ExplicitVRLittleEndian),
            encode_uid(0x00020012, IMPLEMENTATION_CLASS_UID),
            encode_element(0x00020013, "SH", padded(IMPLEMENTATION_VERSION_NAME.encode(), b" ")),
        )
    )
    return encode_element(0x00020000, "UL", struct.pack("<I", len(elements))) + elements


def _head(file_set_id: str, first: int, last: int, records_size: int) -> bytes:
    """Encode the File-set Identification and Directory Information modules up to the records."""
    return b"".join(
        (
            encode_element(0x00041130, "CS", padded(file_set_id.encode("ascii"), b" ")),
            encode_element(0x00041200, "UL", struct.pack("<I", first)),
            encode_element(0x00041202, "UL", struct.pack("<I", last)),
            encode_element(0x00041212, "US", struct.pack("<H", 0)),
            struct.pack("<HH2s2xI", 0x0004, 0x1220, b"SQ", records_size),
        )
    )
