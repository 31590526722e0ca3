"""Rewrite the Patient module of a received instance to its reconciled identity (PDI-IMP-01).

Only the header is touched: the elements up to group 0010 are decoded and encoded again in
the file's own transfer syntax, and everything after them (study, series and equipment
attributes, and the pixel data) is copied byte for byte, so an image is never decoded, never
re-compressed, and memory does not grow with its size. The original Patient ID and Issuer of
Patient ID are kept in Other Patient IDs Sequence (PS3.3 C.7.1.1).
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from cloudpdi.dicomfile import DICM_PREFIX, MAX_HEADER_BYTES, PREAMBLE_LENGTH
from cloudpdi.reconcile import ReconcileError, Reconciliation

#: Type of Patient ID (0010,0022) of an ID kept as text (PS3.3 C.7.1.1).
TYPE_OF_PATIENT_ID = "TEXT"
#: The last group read and rewritten: the Patient module lives in group 0010.
PATIENT_GROUP = 0x0010
#: Bytes read first to find the end of the Patient module; more are read while it is not found.
FIRST_READ = 64 * 1024
# Group length of the patient group: retired, and wrong once the group changes.
_PATIENT_GROUP_LENGTH = 0x00100000
_ISSUER_QUALIFIERS = "IssuerOfPatientIDQualifiersSequence"


class HeaderRewriteError(ReconcileError):
    """An instance's header cannot be rewritten without decoding more than the header."""


class _ShortRead(Exception):
    """The header goes on past the bytes read so far."""


def rewrite_patient(src: Path, dst: Path, reconciliation: Reconciliation) -> None:
    """Write ``src`` to the new file ``dst`` with the local identity, keeping the original.

    The original Patient ID, Issuer of Patient ID and its qualifiers move into a new item of
    Other Patient IDs Sequence; everything after group 0010 is copied byte for byte.
    """
    with open(src, "rb") as source:
        lead, (start, end, implicit, head) = _read_head(source, src.name)
        _apply(head, reconciliation)
        encoded = DicomBytesIO()
        encoded.is_implicit_VR, encoded.is_little_endian = implicit, True
        try:
            write_dataset(encoded, head)
        except Exception:  # pydicom raises many types, some quoting the value
            raise HeaderRewriteError(f"{src.name}: header cannot be encoded again") from None
        with open(dst, "xb") as out:
            out.write(lead[:start])
            out.write(encoded.getvalue())
            source.seek(end)
            shutil.copyfileobj(source, out)


def _read_head(source: BinaryIO, name: str) -> tuple[bytes, tuple[int, int, bool, Dataset]]:
    """Read the file's start, more while the header does not fit: the bytes and their split."""
    size = min(FIRST_READ, MAX_HEADER_BYTES)
    while True:
        source.seek(0)
        lead = source.read(size)
        try:
            return lead, _split(lead, complete=len(lead) < size, name=name)
        except _ShortRead:
            if size >= MAX_HEADER_BYTES:
                raise HeaderRewriteError(
                    f"{name}: header is larger than {MAX_HEADER_BYTES} bytes"
                ) from None
            size = min(size * 4, MAX_HEADER_BYTES)


def _split(lead: bytes, *, complete: bool, name: str) -> tuple[int, int, bool, Dataset]:
    """Return where the dataset starts, where group 0010 ends, implicit VR, and the head."""
    if lead[PREAMBLE_LENGTH : PREAMBLE_LENGTH + len(DICM_PREFIX)] != DICM_PREFIX:
        raise HeaderRewriteError(f"{name}: not a DICOM Part 10 file")
    stream = io.BytesIO(lead)
    stream.seek(PREAMBLE_LENGTH + len(DICM_PREFIX))
    try:
        meta = _read_until(stream, False, lambda tag: tag.group != 0x0002, complete, name)
        start = stream.tell()
        syntax = UID(str(meta.get("TransferSyntaxUID", "")).strip(" \x00"))
        if not _little_endian_undeflated(syntax):
            raise HeaderRewriteError(f"{name}: only little endian, undeflated files are rewritten")
        implicit = syntax == ImplicitVRLittleEndian
        head = _read_until(stream, implicit, lambda tag: tag.group > PATIENT_GROUP, complete, name)
    except (HeaderRewriteError, _ShortRead):
        raise
    except Exception as exc:  # pydicom raises many types on malformed input
        raise HeaderRewriteError(f"{name}: header does not parse ({type(exc).__name__})") from None
    return start, stream.tell(), implicit, head


def _little_endian_undeflated(syntax: UID) -> bool:
    """Tell whether the dataset after the header can be copied as bytes: no deflate, no BE."""
    if syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian):
        return True
    try:
        # Every encapsulated (compressed) transfer syntax is Explicit VR Little Endian.
        return syntax.is_transfer_syntax and syntax.is_encapsulated
    except ValueError:  # a private UID: nothing says how it is encoded
        return False


def _read_until(
    stream: io.BytesIO,
    implicit: bool,
    stop: Callable[[BaseTag], bool],
    complete: bool,
    name: str,
) -> Dataset:
    """Read elements until ``stop(tag)`` holds for the next one, which must be in ``stream``.

    Every composite instance has attributes after the Patient module (Study Instance UID, at
    least), so a read that meets none ran into the end of what was read: of the file when
    ``complete`` (it is truncated), else of the bytes read so far (:class:`_ShortRead`).
    """
    stopped = False

    def stop_when(tag: BaseTag, vr: str | None, length: int) -> bool:
        nonlocal stopped
        stopped = stop(tag)
        return stopped

    dataset = read_dataset(stream, implicit, True, stop_when=stop_when)
    if not stopped:
        if not complete:
            raise _ShortRead
        raise HeaderRewriteError(f"{name}: the file ends inside its header (truncated)")
    return dataset


def _apply(head: Dataset, reconciliation: Reconciliation) -> None:
    """Set the local identity in ``head`` and keep the original in Other Patient IDs."""
    kept = Dataset()
    kept.PatientID = str(head.get("PatientID") or "")
    if "IssuerOfPatientID" in head:
        kept.IssuerOfPatientID = head.IssuerOfPatientID
    if _ISSUER_QUALIFIERS in head:
        kept.IssuerOfPatientIDQualifiersSequence = head.IssuerOfPatientIDQualifiersSequence
        del head[_ISSUER_QUALIFIERS]
    kept.TypeOfPatientID = TYPE_OF_PATIENT_ID
    others = list(head.get("OtherPatientIDsSequence") or [])
    # Patient ID is Type 1 in the item: an empty original has nothing to keep.
    if kept.PatientID and not any(_same_id(item, kept) for item in others):
        others.append(kept)
    if others:
        head.OtherPatientIDsSequence = others
    head.PatientID = reconciliation.local_id
    if reconciliation.local_issuer is not None:
        head.IssuerOfPatientID = reconciliation.local_issuer
    elif "IssuerOfPatientID" in head:
        del head.IssuerOfPatientID
    if _PATIENT_GROUP_LENGTH in head:
        del head[_PATIENT_GROUP_LENGTH]


def _same_id(item: Dataset, kept: Dataset) -> bool:
    return all(
        str(item.get(keyword) or "") == str(kept.get(keyword) or "")
        for keyword in ("PatientID", "IssuerOfPatientID")
    )
