"""What the PDI checks compare of one DICOM file: its meta header and a few attributes.

The file is read by :func:`cloudpdi.dicomfile.read_header`, bounded against hostile lengths and
deflate bombs; here the attributes the checks compare are picked out and normalised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from pydicom.datadict import dictionary_description, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from cloudpdi.dicomfile import read_header

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
# A longer value is hostile (none of the attributes above comes near it): it reads as absent,
# so that what is kept per file stays small.
_MAX_VALUE_LENGTH = 64 * 1024


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
    """Read what the checks compare from the DICOM file open in ``stream`` (at its start).

    ``size``, the file's size, lets a length running past its end be reported as such. Raises
    the errors of :func:`cloudpdi.dicomfile.read_header`.
    """
    header = read_header(stream, ATTRIBUTES, size=size)
    meta = header.file_meta
    return InstanceHeader(
        transfer_syntax=_uid(meta, 0x00020010),
        meta_sop_class=_uid(meta, 0x00020002),
        meta_sop_instance=_uid(meta, 0x00020003),
        missing_meta=tuple(name for tag, name in REQUIRED_META.items() if _missing(meta, tag)),
        attributes={
            keyword: text
            for keyword in ATTRIBUTES
            if (text := attribute_text(header, keyword)) is not None
            and len(text) <= _MAX_VALUE_LENGTH
        },
    )


def _uid(ds: Dataset, tag: int) -> str:
    try:
        return str(ds[tag].value or "").strip(" \x00") if tag in ds else ""
    except Exception:  # an unreadable UID compares as missing
        return ""


def _missing(ds: Dataset, tag: int) -> bool:
    try:
        return tag not in ds or not ds[tag].value
    except Exception:  # an unreadable value is as good as none
        return True
