"""Read what the PDI checks need from one DICOM file: its meta header and a few attributes.

The file is untrusted. Reading stops before group 0028, so pixel data and encapsulated documents
are never read; large values are skipped rather than loaded; and a file whose header would need
more than :data:`MAX_HEADER_BYTES` of reads is refused, so that memory per file stays small
whatever a hostile length field claims.

This is stricter than :func:`cloudpdi.dicomfile.read_header`, which serves files we made or
chose: through pydicom's ``read_partial`` a deflated dataset is inflated whole in memory, and a
length field is trusted for the size of a read. A received file set must not be able to do that.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from pydicom.datadict import dictionary_description, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian
from pydicom.valuerep import PersonName

from cloudpdi.dicomfile import (
    DICM_PREFIX,
    PREAMBLE_LENGTH,
    DicomFileError,
    NotPart10Error,
    is_dicom_part10,
)

#: Bytes a file's header may make us read before we give up on it.
MAX_HEADER_BYTES = 16 * 1024 * 1024

#: File Meta Information elements of Type 1 (PS3.10 Table 7.1-1), by tag.
REQUIRED_META = {
    0x00020000: "File Meta Information Group Length",
    0x00020001: "File Meta Information Version",
    0x00020002: "Media Storage SOP Class UID",
    0x00020003: "Media Storage SOP Instance UID",
    0x00020010: "Transfer Syntax UID",
    0x00020012: "Implementation Class UID",
}

#: Attributes the checks compare, between files and against DICOMDIR records.
ATTRIBUTES = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "Modality",
    "ReferringPhysicianName",
    "StudyDescription",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyID",
    "SeriesNumber",
    "InstanceNumber",
)
_TAGS = [BaseTag(tag_for_keyword(keyword)) for keyword in ATTRIBUTES]
# Every attribute above lies in groups 0008-0020: reading stops at the first later element.
_LAST_GROUP = 0x0020
# Values above this size are skipped, not read: none of the attributes above is that long.
_DEFER_SIZE = 64 * 1024
_CHUNK = 64 * 1024
# Bytes of a deflated dataset inflated to find its header: far more than any real header.
_INFLATE_LIMIT = 1024 * 1024


class HeaderTooLargeError(DicomFileError):
    """Reading the header would take more than :data:`MAX_HEADER_BYTES`."""


@dataclass(frozen=True)
class InstanceHeader:
    """The meta header and compared attributes of one DICOM file."""

    transfer_syntax: str
    meta_sop_class: str
    meta_sop_instance: str
    #: Names of Type 1 meta elements that are missing or empty.
    missing_meta: tuple[str, ...] = ()
    #: Compared attributes by keyword, as :func:`attribute_text` normalises them.
    attributes: Mapping[str, str] = field(default_factory=dict)


def attribute_name(keyword: str) -> str:
    """Return the standard's name of an attribute, for messages."""
    return dictionary_description(tag_for_keyword(keyword))


def attribute_text(ds: Dataset, keyword: str) -> str | None:
    """Return an attribute as comparable text, or None when it is absent, empty or unreadable.

    Person names lose trailing empty components and integer strings their padding, so that
    equal values written differently compare equal.
    """
    try:
        value = ds.get(keyword)
    except Exception:  # a hostile value reads as unreadable
        return None
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue):
        return "\\".join(str(v).strip() for v in value) or None
    if isinstance(value, PersonName):
        groups = [group.rstrip("^ ") for group in str(value).split("=")]
        return "=".join(groups).rstrip("=") or None
    text = str(value).strip(" \x00")
    if keyword in ("SeriesNumber", "InstanceNumber"):
        try:
            return str(int(text))
        except ValueError:
            return text or None
    return text or None


def read_instance(stream: BinaryIO, size: int | None = None) -> InstanceHeader:
    """Read the header of the DICOM file open in ``stream`` (positioned at its start).

    With the file's ``size`` known, an element whose length runs past the end of the file is
    reported as such instead of as a header too large to read.
    """
    if not is_dicom_part10(stream):
        raise NotPart10Error("no 128-byte preamble followed by DICM")
    stream.seek(PREAMBLE_LENGTH + len(DICM_PREFIX), io.SEEK_CUR)
    reader = _BudgetReader(stream, MAX_HEADER_BYTES, size)
    try:
        meta = read_dataset(reader, False, True, stop_when=_not_group_0002)
        missing = tuple(
            name for tag, name in REQUIRED_META.items() if tag not in meta or not meta[tag].value
        )
        syntax = _uid(meta, 0x00020010)
        dataset = _read_dataset(stream, reader, syntax)
    except DicomFileError:
        raise
    except Exception as exc:  # pydicom raises many types on hostile input
        raise DicomFileError(f"header does not parse ({type(exc).__name__})") from None
    return InstanceHeader(
        transfer_syntax=syntax,
        meta_sop_class=_uid(meta, 0x00020002),
        meta_sop_instance=_uid(meta, 0x00020003),
        missing_meta=missing,
        attributes={
            keyword: text
            for keyword in ATTRIBUTES
            if (text := attribute_text(dataset, keyword)) is not None
        },
    )


def _read_dataset(stream: BinaryIO, reader: _BudgetReader, syntax: str) -> Dataset:
    """Read the compared attributes through ``reader``, a budgeted view of ``stream``."""
    if not syntax:
        raise DicomFileError("no Transfer Syntax UID, so the dataset cannot be decoded")
    source: BinaryIO = reader
    implicit, little = False, True
    if syntax == ImplicitVRLittleEndian:
        implicit = True
    elif syntax == ExplicitVRBigEndian:
        little = False
    elif syntax == DeflatedExplicitVRLittleEndian:
        source = _inflate_prefix(stream, _INFLATE_LIMIT)
    return read_dataset(
        source,
        implicit,
        little,
        stop_when=_past_compared_groups,
        defer_size=_DEFER_SIZE,
        specific_tags=list(_TAGS),
    )


def _uid(ds: Dataset, tag: int) -> str:
    try:
        return str(ds[tag].value or "").strip(" \x00") if tag in ds else ""
    except Exception:  # an unreadable UID compares as missing
        return ""


def _not_group_0002(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag >> 16 != 0x0002


def _past_compared_groups(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag >> 16 > _LAST_GROUP


def _inflate_prefix(stream: BinaryIO, limit: int) -> BinaryIO:
    """Inflate at most ``limit`` bytes of a deflated dataset: enough for its header.

    pydicom would inflate the whole dataset in memory; a small deflated file can expand without
    bound, so only the prefix that holds the compared attributes is inflated.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    while len(out) < limit:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        out += inflater.decompress(chunk, limit - len(out))
        if inflater.unconsumed_tail:
            break
    return io.BytesIO(bytes(out))


class _BudgetReader(io.RawIOBase):
    """A read-only view of a stream that refuses to read more than ``budget`` bytes in total.

    Seeking forward (how skipped values are passed over) is free; a read request larger than
    what is left, or (when the stream's ``end`` is known) one that starts inside the file and
    runs past its end, is refused before any buffer is allocated for it.
    """

    def __init__(self, stream: BinaryIO, budget: int, end: int | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._left = budget
        self._end = end

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise HeaderTooLargeError("header reader asked to read to the end of the file")
        if self._end is not None and self._stream.tell() < self._end < self._stream.tell() + size:
            raise DicomFileError("an element's length runs past the end of the file")
        if size > self._left:
            raise HeaderTooLargeError(f"header needs more than {MAX_HEADER_BYTES} bytes of reads")
        data = self._stream.read(size)
        self._left -= len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()
