"""The directory records of one instance (PS3.3 F.5), encoded from its header.

Key values are copied byte for byte from the instance, so Japanese names keep the exact ISO 2022
escape sequences the sender used; only sequences (and values read from Implicit VR files) go
through pydicom. A record carries Specific Character Set only where one of its keys needs it.

Some keys are Type 1 in their record but Type 2 in the instance's IOD, so valid instances may
leave them empty. Like dcmtk's ``dcmmkdir +I``, the record then gets an invented value, the same
for the same input (``n``: the record's position among its siblings, from 1):

=============== ============================= =====================================
Key             Invented value                Empty allowed in (PS3.3)
=============== ============================= =====================================
Patient ID      ``CLOUDPDI-P`` + n, 6 digits  Patient module C.7.1.1
Study Date      ``19000101``                  General Study C.7.2.1
Study Time      ``000000``                    General Study C.7.2.1
Study ID        ``CLOUDPDI-S`` + n, 6 digits  General Study C.7.2.1
Series Number   n                             General Series C.7.3.1 (IMAGE, PRESENTATION)
Instance Number n                             General Image C.7.6.1 (IMAGE)
=============== ============================= =====================================

The SR, key object, encapsulated document and presentation state IODs make Series Number and
Instance Number Type 1 (PS3.3 C.17.1, C.17.2, C.24.1, C.11.10), so there an empty one is refused,
as is any other empty Type 1 key. Multi-frame images whose Instance Number is Type 1 (PS3.3
C.7.6.16) are not told apart from the others.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag, Tag

from cloudpdi.errors import CloudPDIError

# SOP Class UID roots whose instances get a non-IMAGE leaf record (PS3.4 annex B; PS3.3 F.4).
_SR_ROOT = "1.2.840.10008.5.1.4.1.1.88."
# Spectacle Prescription Report and Macular Grid Thickness and Volume Report are SR documents too.
_SR_OUTSIDE_ROOT = frozenset({"1.2.840.10008.5.1.4.1.1.78.6", "1.2.840.10008.5.1.4.1.1.79.1"})
_KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
_PRESENTATION_ROOT = "1.2.840.10008.5.1.4.1.1.11."
_ENCAPSULATED_ROOT = "1.2.840.10008.5.1.4.1.1.104."

_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_LONG_LENGTH_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_HAS_CONCEPT_MOD = "HAS CONCEPT MOD"

# Type 1 keys must be present with a value, Type 2 present (perhaps empty), Type 1C are copied
# when the instance has them (each one's condition is the same in the instance's IOD).
_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "PATIENT": (("PatientName", "2"), ("PatientID", "1")),
    "STUDY": (
        ("StudyDate", "1"),
        ("StudyTime", "1"),
        ("AccessionNumber", "2"),
        ("StudyDescription", "2"),
        ("StudyInstanceUID", "1"),
        ("StudyID", "1"),
    ),
    "SERIES": (("Modality", "1"), ("SeriesInstanceUID", "1"), ("SeriesNumber", "1")),
    "IMAGE": (("InstanceNumber", "1"),),
    "ENCAP DOC": (
        ("ContentDate", "2"),
        ("ContentTime", "2"),
        ("InstanceNumber", "1"),
        ("DocumentTitle", "2"),
        ("HL7InstanceIdentifier", "1C"),
        ("ConceptNameCodeSequence", "2"),
        ("MIMETypeOfEncapsulatedDocument", "1"),
    ),
    "SR DOCUMENT": (
        ("InstanceNumber", "1"),
        ("CompletionFlag", "1"),
        ("VerificationFlag", "1"),
        ("ContentDate", "1"),
        ("ContentTime", "1"),
        ("ConceptNameCodeSequence", "1"),
    ),
    "KEY OBJECT DOC": (
        ("ContentDate", "1"),
        ("ContentTime", "1"),
        ("InstanceNumber", "1"),
        ("ConceptNameCodeSequence", "1"),
    ),
    "PRESENTATION": (
        ("PresentationCreationDate", "1"),
        ("PresentationCreationTime", "1"),
        ("InstanceNumber", "1"),
        ("ContentLabel", "1"),
        ("ContentDescription", "2"),
        ("ContentCreatorName", "2"),
        ("ReferencedSeriesSequence", "1C"),
        ("BlendingSequence", "1C"),
    ),
}

_LEAF_TYPES = frozenset(_KEYS) - {"PATIENT", "STUDY", "SERIES"}
# Type 1 record keys that are Type 2 in the instance: the invented value ("{n}": the record's
# position among its siblings) and the leaf record types whose IODs allow them empty.
_INVENTED: dict[str, tuple[str, frozenset[str]]] = {
    "PatientID": ("CLOUDPDI-P{n:06d}", _LEAF_TYPES),
    "StudyDate": ("19000101", _LEAF_TYPES),
    "StudyTime": ("000000", _LEAF_TYPES),
    "StudyID": ("CLOUDPDI-S{n:06d}", _LEAF_TYPES),
    "SeriesNumber": ("{n}", frozenset({"IMAGE", "PRESENTATION"})),
    "InstanceNumber": ("{n}", frozenset({"IMAGE"})),
}
#: Record keys a writer may have to invent, because an instance may leave them empty.
INVENTABLE_KEYS: frozenset[str] = frozenset(_INVENTED)
# What tells apart patients without a Patient ID.
_UNIDENTIFIED_PATIENT = ("PatientName", "PatientBirthDate")

#: Every attribute a directory record may need: pass these to :func:`read_header`.
DIRECTORY_TAGS: frozenset[int] = frozenset(
    Tag(tag_for_keyword(keyword))
    for keyword in (
        *(keyword for keys in _KEYS.values() for keyword, _ in keys),
        *_UNIDENTIFIED_PATIENT,
        "SpecificCharacterSet",
        "SOPClassUID",
        "SOPInstanceUID",
        "Rows",
        "VerifyingObserverSequence",
        "ContentSequence",
    )
)

_VERIFICATION_DATETIME = Tag("VerificationDateTime")
_CONTENT_SEQUENCE = Tag("ContentSequence")
_SPECIFIC_CHARACTER_SET = Tag("SpecificCharacterSet")


class DirectoryError(CloudPDIError):
    """A DICOMDIR cannot be built from the given instances."""


class MissingKeyError(DirectoryError):
    """An instance lacks a Type 1 attribute its directory record needs (PS3.3 F.5)."""


class UnsupportedInstanceError(DirectoryError):
    """An instance's SOP Class has no directory record type this writer supports."""


@dataclass(frozen=True)
class InventedValue:
    """A value invented for a record key that an instance legally leaves empty."""

    #: The instance, as named in error messages (its source path or File ID).
    source: str
    record: str
    keyword: str
    value: str

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.keyword} is empty, "
            f"the DICOMDIR {self.record} record holds the invented value {self.value!r}"
        )


def patient_key(header: Dataset) -> tuple[str, ...]:
    """Return what puts instances under one PATIENT record.

    That is the Patient ID; where it is empty, Patient's Name and Birth Date, so that the
    instances of one patient without an ID share a record (and an invented ID) and those of two
    such patients do not.
    """
    patient_id = str(header.get("PatientID", "") or "").strip()
    if patient_id:
        return (patient_id,)
    name, birth_date = (str(header.get(keyword, "") or "") for keyword in _UNIDENTIFIED_PATIENT)
    return ("", name, birth_date)


def record_type(header: Dataset) -> str:
    """Return the Directory Record Type (0004,1430) of an instance's leaf record."""
    sop_class = str(header.get("SOPClassUID", ""))
    if sop_class == _KEY_OBJECT_SELECTION:
        return "KEY OBJECT DOC"
    if sop_class.startswith(_SR_ROOT) or sop_class in _SR_OUTSIDE_ROOT:
        return "SR DOCUMENT"
    if sop_class.startswith(_PRESENTATION_ROOT):
        return "PRESENTATION"
    if sop_class.startswith(_ENCAPSULATED_ROOT):
        return "ENCAP DOC"
    if "Rows" in header:
        return "IMAGE"
    raise UnsupportedInstanceError(f"no directory record type for SOP Class {sop_class!r}")


class RecordEncoder:
    """Encodes the directory records of one instance from its header (read with DIRECTORY_TAGS).

    ``label`` names the instance in error messages.
    """

    def __init__(self, header: Dataset, label: str) -> None:
        self.header = header
        self.label = label

    def text(self, keyword: str) -> str:
        """Return a Type 1 text key (a hierarchy key) or raise MissingKeyError."""
        return _required_text(self.header, keyword, self.label)

    @cached_property
    def leaf_type(self) -> str:
        """The Directory Record Type of this instance's leaf record."""
        try:
            return record_type(self.header)
        except UnsupportedInstanceError as exc:
            raise UnsupportedInstanceError(f"{self.label}: {exc}") from None

    def invented(self, kind: str, position: int) -> dict[str, str]:
        """Return the values to invent for a ``kind`` record, the ``position``-th of its level.

        These are the keys this instance leaves empty where its IOD allows it (see the table in
        the module docstring); an empty key that its IOD requires is left for :meth:`record` to
        refuse.
        """
        values = {}
        for keyword, _ in _KEYS[kind]:
            template, leaf_types = _INVENTED.get(keyword, ("", frozenset()))
            tag = Tag(tag_for_keyword(keyword))
            if self.leaf_type in leaf_types and _is_empty(self.header, tag):
                values[keyword] = template.format(n=position)
        return values

    def record(
        self,
        kind: str,
        extra: dict[int, bytes] | None = None,
        invented: Mapping[str, str] | None = None,
    ) -> bytes:
        """Return the elements of a ``kind`` record after its offsets, in tag order.

        ``invented`` (from :meth:`invented`) holds the values of keys the instance leaves empty.
        """
        elements = dict(extra or {})
        elements[0x00041430] = encode_element(0x00041430, "CS", padded(kind.encode(), b" "))
        needs_charset = False
        for keyword, key_type in _KEYS[kind]:
            tag = Tag(tag_for_keyword(keyword))
            if invented and keyword in invented:
                value = padded(invented[keyword].encode("ascii"), b" ")
                elements[tag] = encode_element(tag, dictionary_VR(tag), value)
                continue
            encoded, non_ascii = self._copied(tag, keyword, key_type)
            if encoded is not None:
                elements[tag] = encoded
                needs_charset |= non_ascii
        for tag, (encoded, non_ascii) in self._conditional(kind).items():
            elements[tag] = encoded
            needs_charset |= non_ascii
        # PS3.3 F.5: Specific Character Set only where a key uses a non-default repertoire.
        if needs_charset:
            elements[_SPECIFIC_CHARACTER_SET] = self._copied(
                _SPECIFIC_CHARACTER_SET, "SpecificCharacterSet", "1"
            )[0]
        return b"".join(elements[tag] for tag in sorted(elements))

    def leaf(self, file_id: Sequence[str], invented: Mapping[str, str] | None = None) -> bytes:
        """Return the leaf record's elements, with the references to the file at ``file_id``."""
        meta = self.header.file_meta
        references = {
            0x00041500: encode_element(0x00041500, "CS", padded("\\".join(file_id).encode(), b" ")),
            0x00041510: encode_uid(0x00041510, meta.get("MediaStorageSOPClassUID", "")),
            0x00041511: encode_uid(0x00041511, meta.get("MediaStorageSOPInstanceUID", "")),
            0x00041512: encode_uid(0x00041512, meta.TransferSyntaxUID),
        }
        for tag in (0x00041510, 0x00041511):
            if len(references[tag]) == 8:
                raise MissingKeyError(f"{self.label} has no Media Storage SOP UIDs in File Meta")
        return self.record(self.leaf_type, references, invented)

    def _copied(self, tag: BaseTag, keyword: str, key_type: str) -> tuple[bytes | None, bool]:
        """Return the encoded element and whether its text leaves ASCII; None if absent."""
        elem = self.header.get_item(tag)
        if _is_empty(self.header, tag):
            if key_type == "1":
                raise MissingKeyError(f"{self.label} has no value for {keyword} {tag}")
            if key_type == "1C":
                return None, False
            return encode_element(tag, dictionary_VR(tag), b""), False
        if isinstance(elem, RawDataElement) and _is_plain_raw(elem):
            value = padded(elem.value or b"", b"\x00" if elem.VR == "UI" else b" ")
            non_ascii = elem.VR in _TEXT_VRS and not _is_ascii_text(value)
            return encode_element(tag, str(elem.VR), value), non_ascii
        return _encoded_by_pydicom(self.header, self.header[tag])

    def _conditional(self, kind: str) -> dict[int, tuple[bytes, bool]]:
        """Return the Type 1C keys of SR and key object records (PS3.3 F.5)."""
        found: dict[int, tuple[bytes, bool]] = {}
        if kind not in ("SR DOCUMENT", "KEY OBJECT DOC"):
            return found
        if kind == "SR DOCUMENT" and self.header.get("VerificationFlag") == "VERIFIED":
            # The record carries the latest Verification DateTime of the Verifying Observers.
            times = [
                str(item.VerificationDateTime)
                for item in self.header.get("VerifyingObserverSequence", [])
                if "VerificationDateTime" in item
            ]
            if not times:
                raise MissingKeyError(f"{self.label} is VERIFIED without a Verification DateTime")
            value = padded(max(times).encode("ascii"), b" ")
            found[_VERIFICATION_DATETIME] = (
                encode_element(_VERIFICATION_DATETIME, "DT", value),
                False,
            )
        modifiers = [
            item
            for item in self.header.get("ContentSequence", [])
            if item.get("RelationshipType") == _HAS_CONCEPT_MOD
        ]
        if modifiers:
            elem = DataElement(_CONTENT_SEQUENCE, "SQ", DicomSequence(modifiers))
            found[_CONTENT_SEQUENCE] = _encoded_by_pydicom(self.header, elem)
        return found


def _required_text(header: Dataset, keyword: str, label: str) -> str:
    value = str(header.get(keyword, "") or "").strip()
    if not value:
        raise MissingKeyError(f"{label} has no value for {keyword}")
    return value


def _is_empty(header: Dataset, tag: BaseTag) -> bool:
    elem = header.get_item(tag)
    if elem is None:
        return True
    if isinstance(elem, RawDataElement) and _is_plain_raw(elem):
        return not (elem.value or b"").strip(b" \x00")
    return header[tag].is_empty


def _is_plain_raw(elem: RawDataElement) -> bool:
    """Tell whether a raw element's bytes can be copied as they are into the DICOMDIR."""
    return not elem.is_implicit_VR and elem.is_little_endian and elem.VR not in (None, "SQ")


def _is_ascii_text(value: bytes) -> bool:
    # ESC starts an ISO 2022 code extension even when every byte is below 0x80.
    return value.isascii() and b"\x1b" not in value


def _encoded_by_pydicom(header: Dataset, elem: DataElement) -> tuple[bytes, bool]:
    """Encode a sequence (or a value from an implicit VR file) with the instance's charset."""
    charset = header.get("SpecificCharacterSet")
    out = DicomBytesIO()
    out.is_little_endian = True
    out.is_implicit_VR = False
    write_data_element(out, elem, charset)
    return out.getvalue(), not _is_ascii_text(_text_of(elem).encode("utf-8"))


def _text_of(elem: DataElement) -> str:
    if elem.VR == "SQ":
        return "".join(_text_of(inner) for item in elem.value for inner in item)
    return str(elem.value) if elem.VR in _TEXT_VRS else ""


def padded(value: bytes, pad: bytes) -> bytes:
    """Pad ``value`` to an even length with ``pad`` (PS3.5 6.2)."""
    return value + pad if len(value) % 2 else value


def encode_element(tag: int, vr: str, value: bytes) -> bytes:
    """Encode one element in Explicit VR Little Endian (PS3.5 7.1.2)."""
    if vr in _LONG_LENGTH_VRS:
        return struct.pack("<HH2s2xI", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def encode_uid(tag: int, uid: str) -> bytes:
    """Encode a UI element, padded with NUL (PS3.5 6.2)."""
    return encode_element(tag, "UI", padded(str(uid).encode("ascii"), b"\x00"))
