"""Read a DICOMDIR as untrusted input and say what each directory record claims about its file.

Records are linked by byte offsets (PS3.3 F.3.2.1). A hostile or broken DICOMDIR can point an
offset at nothing, at the middle of a record, or back at an ancestor; the walk here visits each
record at most once and reports such links as findings, so it always ends.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field

from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from cloudpdi.dicomdir import BASIC_DIRECTORY_STORAGE, DICOMDIR_NAME
from cloudpdi.dicomfile import DICM_PREFIX, PREAMBLE_LENGTH
from cloudpdi.pdi_findings import FindingSink, Rule
from cloudpdi.pdi_instances import attribute_text

#: Size above which a DICOMDIR is not read: about a million records, far beyond any medium.
MAX_DICOMDIR_SIZE = 512 * 1024 * 1024

_FIRST_ROOT_RECORD = 0x00041200
_LAST_ROOT_RECORD = 0x00041202
_CONSISTENCY_FLAG = 0x00041212
_NEXT_RECORD = 0x00041400
_IN_USE = 0x00041410
_LOWER_LEVEL = 0x00041420
_INACTIVE = 0x0000
_UNDEFINED_LENGTH = 0xFFFFFFFF
#: File-set Consistency Flag value meaning "known inconsistencies" (PS3.3 F.5).
_INCONSISTENT = 0xFFFF

#: Keys each record type carries that the referenced files must match (PS3.3 F.5).
RECORD_KEYS = {
    "PATIENT": ("PatientID", "PatientName", "PatientBirthDate", "PatientSex"),
    "STUDY": ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber"),
    "SERIES": ("SeriesInstanceUID", "Modality", "SeriesNumber"),
}
_LEAF_KEYS = ("InstanceNumber",)


@dataclass(frozen=True)
class Reference:
    """What one directory record, with its PATIENT, STUDY and SERIES ancestors, says of a file."""

    sop_class: str | None
    sop_instance: str | None
    transfer_syntax: str | None
    #: Keyword -> (record type that holds it, comparable value).
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)


def read_dicomdir(
    data: bytes, sink: FindingSink, path: str = DICOMDIR_NAME
) -> dict[str, Reference] | None:
    """Check the DICOMDIR in ``data`` and return its references by File ID (joined with "/").

    Returns None when the DICOMDIR cannot be used at all.
    """
    if data[PREAMBLE_LENGTH : PREAMBLE_LENGTH + len(DICM_PREFIX)] != DICM_PREFIX:
        sink.error(Rule.DIR_02, path, "DICOMDIR has no 128-byte preamble followed by DICM")
        return None
    try:
        ds = dcmread(io.BytesIO(data))
        # pydicom reads a cut value short without a word: check lengths before values decode.
        truncated = _runs_past(ds, len(data))
        records = list(ds.DirectoryRecordSequence)
        truncated = truncated or any(_runs_past(record, len(data)) for record in records)
    except Exception as exc:  # pydicom raises many types on hostile input
        sink.error(Rule.DIR_02, path, f"DICOMDIR does not parse ({type(exc).__name__})")
        return None
    if truncated:
        sink.error(Rule.DIR_02, path, "DICOMDIR is truncated: an element runs past its end")
    _check_header(ds, sink, path)
    by_offset = {record.seq_item_tell: record for record in records}
    contexts = _walk(ds, by_offset, sink, path)
    unreached = sum(1 for offset, record in by_offset.items() if offset not in contexts)
    if unreached:
        sink.warning(
            Rule.DIR_02, path, f"{unreached} directory records cannot be reached from the root"
        )
    _check_patients(records, sink, path)
    return _references(by_offset, contexts, sink, path)


def _check_header(ds: Dataset, sink: FindingSink, path: str) -> None:
    meta = ds.file_meta
    if str(meta.get("MediaStorageSOPClassUID", "")) != BASIC_DIRECTORY_STORAGE:
        sink.error(Rule.DIR_02, path, "DICOMDIR's SOP Class is not Basic Directory")
    if str(meta.get("TransferSyntaxUID", "")) != ExplicitVRLittleEndian:
        sink.error(Rule.DIR_02, path, "DICOMDIR is not encoded in Explicit VR Little Endian")
    if _int(ds, _CONSISTENCY_FLAG) == _INCONSISTENT:
        sink.error(Rule.DIR_02, path, "File-set Consistency Flag says the file set is inconsistent")


def _walk(
    ds: Dataset, by_offset: dict[int, Dataset], sink: FindingSink, path: str
) -> dict[int, dict[str, tuple[str, str]]]:
    """Follow the offsets from the root; return each reached record's inherited keys."""
    contexts: dict[int, dict[str, tuple[str, str]]] = {}
    # Each pending chain: its first offset, the keys it inherits, its parent (None: the root).
    pending: list[tuple[int | None, dict[str, tuple[str, str]], int | None]] = [
        (_int(ds, _FIRST_ROOT_RECORD), {}, None)
    ]
    root_last: int | None = None
    while pending:
        offset, inherited, parent = pending.pop()
        source = "the root" if parent is None else f"record at offset {parent}"
        while offset:
            record = by_offset.get(offset)
            if record is None:
                sink.error(
                    Rule.DIR_02,
                    path,
                    f"a link from {source} points at offset {offset}, where no record starts",
                )
                break
            if offset in contexts:
                sink.error(
                    Rule.DIR_02,
                    path,
                    f"record at offset {offset} is linked twice: the hierarchy has a loop",
                )
                break
            context = _with_own_keys(record, inherited)
            contexts[offset] = context
            if parent is None:
                root_last = offset
            lower = _int(record, _LOWER_LEVEL)
            if lower:
                pending.append((lower, context, offset))
            source = f"record at offset {offset}"
            offset = _int(record, _NEXT_RECORD)
    if root_last is not None and _int(ds, _LAST_ROOT_RECORD) != root_last:
        sink.error(Rule.DIR_02, path, "the last root record offset does not name the last record")
    return contexts


def _with_own_keys(
    record: Dataset, inherited: dict[str, tuple[str, str]]
) -> dict[str, tuple[str, str]]:
    record_type = str(record.get("DirectoryRecordType", "")).strip()
    keys = RECORD_KEYS.get(record_type, ())
    own = {
        keyword: (record_type, text)
        for keyword in keys
        if (text := attribute_text(record, keyword)) is not None
    }
    return {**inherited, **own} if own else inherited


def _check_patients(records: list[Dataset], sink: FindingSink, path: str) -> None:
    patient_ids = Counter(
        attribute_text(record, "PatientID")
        for record in records
        if _in_use(record) and str(record.get("DirectoryRecordType", "")).strip() == "PATIENT"
    )
    for count in patient_ids.values():
        if count > 1:
            sink.error(Rule.DIR_04, path, f"{count} PATIENT records share one Patient ID")


def _references(
    by_offset: dict[int, Dataset],
    contexts: dict[int, dict[str, tuple[str, str]]],
    sink: FindingSink,
    path: str,
) -> dict[str, Reference]:
    """Collect every in-use record that references a file, reached from the root or not."""
    references: dict[str, Reference] = {}
    for offset, record in by_offset.items():
        if not _in_use(record) or "ReferencedFileID" not in record:
            continue
        file_id = _file_id(record)
        if file_id is None:
            sink.error(Rule.DIR_02, path, f"record at offset {offset} has an unusable File ID")
            continue
        if file_id in references:
            sink.error(Rule.DIR_03, file_id, "more than one directory record references this file")
            continue
        record_type = str(record.get("DirectoryRecordType", "")).strip()
        keys = dict(contexts.get(offset, {}))
        for keyword in _LEAF_KEYS:
            if (text := attribute_text(record, keyword)) is not None:
                keys[keyword] = (record_type, text)
        references[file_id] = Reference(
            sop_class=attribute_text(record, "ReferencedSOPClassUIDInFile"),
            sop_instance=attribute_text(record, "ReferencedSOPInstanceUIDInFile"),
            transfer_syntax=attribute_text(record, "ReferencedTransferSyntaxUIDInFile"),
            keys=keys,
        )
    return references


def _file_id(record: Dataset) -> str | None:
    try:
        value = record.ReferencedFileID
    except Exception:  # a hostile value reads as unusable
        return None
    components = [value] if isinstance(value, str) else list(value)
    if not components or not all(isinstance(c, str) and c.strip() for c in components):
        return None
    return "/".join(c.strip() for c in components)


def _runs_past(ds: Dataset, size: int) -> bool:
    """Tell whether an element of ``ds`` not yet decoded claims bytes beyond ``size``."""
    for tag in list(ds.keys()):
        element = ds.get_item(tag)
        if (
            isinstance(element, RawDataElement)
            and element.length != _UNDEFINED_LENGTH
            and element.value_tell + element.length > size
        ):
            return True
    return False


def _in_use(record: Dataset) -> bool:
    return _int(record, _IN_USE) != _INACTIVE


def _int(ds: Dataset, tag: int) -> int | None:
    """Return an unsigned integer element, or None when it is absent or unreadable."""
    try:
        value = ds[tag].value if tag in ds else None
    except Exception:  # a hostile value reads as absent
        return None
    return value if isinstance(value, int) else None
