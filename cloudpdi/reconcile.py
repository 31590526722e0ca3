"""Reconcile the patient identity of received instances to local values (PDI-IMP-01).

An importer gives instances from another hospital the local Patient ID, found in a configured
mapping or by a C-FIND on the local PACS (everyone born on the patient's Birth Date, whose
names are then compared here), and keeps the original Patient ID and Issuer of Patient ID in
Other Patient IDs Sequence (PS3.3 C.7.1.1).

Only the header is touched: the elements up to group 0010 are decoded and encoded again in
the file's own transfer syntax, and everything after them (study, series and equipment
attributes, and the pixel data) is copied byte for byte, so an image is never decoded, never
re-compressed, and memory does not grow with its size.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from cloudpdi.dicomfile import DICM_PREFIX, MAX_HEADER_BYTES, PREAMBLE_LENGTH
from cloudpdi.dimse import DEFAULT_CALLING_AE, DicomPeer, DimseError, find
from cloudpdi.dimse_query import UTF8_CHARACTER_SET
from cloudpdi.errors import CloudPDIError

#: Patient ID (0010,0020) is LO: at most 64 characters (PS3.5 6.2).
MAX_PATIENT_ID_LENGTH = 64
#: Type of Patient ID (0010,0022) of an ID kept as text (PS3.3 C.7.1.1).
TYPE_OF_PATIENT_ID = "TEXT"
#: The last group read and rewritten: the Patient module lives in group 0010.
PATIENT_GROUP = 0x0010
#: A Date (DA) value is YYYYMMDD (PS3.5 6.2).
DATE_LENGTH = len("YYYYMMDD")
#: Characters of a Person Name key that match as wildcards in C-FIND (PS3.4 C.2.2.2.4).
WILDCARDS = "*?"
#: Bytes read first to find the end of the Patient module; more are read while it is not found.
FIRST_READ = 64 * 1024
# Group length of the patient group: retired, and wrong once the group changes.
_PATIENT_GROUP_LENGTH = 0x00100000
_ISSUER_QUALIFIERS = "IssuerOfPatientIDQualifiersSequence"


class ReconcileError(CloudPDIError):
    """Patient identity cannot be reconciled."""


class UnmatchedPatientError(ReconcileError):
    """No single local patient matches the received one."""


class PatientQueryError(ReconcileError):
    """The local PACS could not be asked for the patient."""


class HeaderRewriteError(ReconcileError):
    """An instance's header cannot be rewritten without decoding more than the header."""


class _ShortRead(Exception):
    """The header goes on past the bytes read so far."""


class ReconcileMode(StrEnum):
    """Where the local Patient ID comes from."""

    OFF = "off"
    MAPPING = "mapping"
    QUERY = "query"


class Unmatched(StrEnum):
    """What happens to instances of a patient with no local match."""

    REFUSE = "refuse"
    KEEP = "keep"


def check_patient_id(value: str, what: str = "a local Patient ID") -> str:
    """Return ``value`` if it can be written as a Patient ID in any character set."""
    # Plain ASCII encodes the same under every Specific Character Set a file may declare.
    if not isinstance(value, str) or not 0 < len(value) <= MAX_PATIENT_ID_LENGTH:
        raise ValueError(f"{what} has 1 to {MAX_PATIENT_ID_LENGTH} characters")
    if not value.isascii() or not value.isprintable() or "\\" in value or not value.strip():
        raise ValueError(f"{what} holds printable ASCII characters and no backslash")
    return value


@dataclass(frozen=True)
class ReconcileConfig:
    """How received patients are matched to local ones.

    ``mapping`` maps an original Patient ID to the local one (mode MAPPING); mode QUERY asks
    the local PACS. ``local_issuer`` is written as Issuer of Patient ID of every local ID
    (without it the original issuer is removed, since it no longer applies).
    """

    mode: ReconcileMode = ReconcileMode.OFF
    mapping: Mapping[str, str] = field(default_factory=dict, repr=False)
    local_issuer: str | None = None
    unmatched: Unmatched = Unmatched.REFUSE

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", ReconcileMode(self.mode))
        object.__setattr__(self, "unmatched", Unmatched(self.unmatched))
        for local in self.mapping.values():
            check_patient_id(local)
        if self.local_issuer is not None:
            check_patient_id(self.local_issuer, "the local Issuer of Patient ID")
        if self.mode is ReconcileMode.MAPPING and not self.mapping:
            raise ValueError("reconciliation by mapping needs a mapping")


@dataclass(frozen=True)
class PatientIdentity:
    """Who the received instances say the patient is; name and birth date are for queries."""

    patient_id: str
    issuer: str | None
    name: str = field(default="", repr=False)
    birth_date: str = field(default="", repr=False)
    sex: str = field(default="", repr=False)

    @classmethod
    def from_dataset(cls, ds: Dataset) -> PatientIdentity:
        """Read the identity from a header."""
        issuer = str(ds.get("IssuerOfPatientID") or "").strip() or None
        return cls(
            patient_id=str(ds.get("PatientID") or "").strip(),
            issuer=issuer,
            name=str(ds.get("PatientName") or "").strip(),
            birth_date=str(ds.get("PatientBirthDate") or "").strip(),
            sex=str(ds.get("PatientSex") or "").strip().upper(),
        )


@dataclass(frozen=True)
class Reconciliation:
    """The local identity given to one received patient, and how it was found."""

    original_id: str
    original_issuer: str | None
    local_id: str
    local_issuer: str | None
    method: ReconcileMode

    @property
    def changed(self) -> bool:
        """Tell whether instances need rewriting at all."""
        return (self.local_id, self.local_issuer) != (self.original_id, self.original_issuer)


class Reconciler:
    """Finds the local identity of each received patient once, by mapping or by C-FIND."""

    def __init__(
        self,
        config: ReconcileConfig,
        *,
        pacs: DicomPeer | None = None,
        calling_ae: str = DEFAULT_CALLING_AE,
    ) -> None:
        if config.mode is ReconcileMode.QUERY and pacs is None:
            raise ValueError("reconciliation by query needs the local PACS")
        self.config = config
        self._pacs = pacs
        self._calling_ae = calling_ae
        # A patient's outcome, found once: the reconciliation, or the error and its message.
        self._known: dict[PatientIdentity, Reconciliation | tuple[type[ReconcileError], str]] = {}

    def resolve(self, identity: PatientIdentity) -> Reconciliation | None:
        """Return the local identity (None when reconciliation is off).

        Raises :class:`UnmatchedPatientError` when no single local patient matches, and
        :class:`PatientQueryError` when the local PACS cannot be asked; either is remembered,
        so that the instances of one patient cost one query.
        """
        if self.config.mode is ReconcileMode.OFF:
            return None
        if identity not in self._known:
            try:
                self._known[identity] = self._reconciliation(identity)
            except UnmatchedPatientError as exc:
                self._known[identity] = (UnmatchedPatientError, str(exc))
            except DimseError as exc:
                message = f"the local PACS could not be asked for the patient: {exc}"
                self._known[identity] = (PatientQueryError, message)
        known = self._known[identity]
        if isinstance(known, tuple):
            kind, message = known
            raise kind(message)
        return known

    def _reconciliation(self, identity: PatientIdentity) -> Reconciliation:
        if self.config.mode is ReconcileMode.MAPPING:
            local = self.config.mapping.get(identity.patient_id)
            if local is None:
                raise UnmatchedPatientError("the mapping has no entry for the received Patient ID")
        else:
            local = self._query(identity)
        return Reconciliation(
            original_id=identity.patient_id,
            original_issuer=identity.issuer,
            local_id=local,
            local_issuer=self.config.local_issuer,
            method=self.config.mode,
        )

    def _query(self, identity: PatientIdentity) -> str:
        """Ask the local PACS for the one patient with this name, birth date (and sex).

        The PACS is asked for everyone born that day, and the name is compared here, on the
        values pydicom decodes with each answer's own Specific Character Set. A PACS matches
        a name in whatever way it chooses (PS3.4 C.2.2.2 leaves character sets to the SCP): some
        compare bytes in the character set a record was stored in, so a name asked for in
        UTF-8 would never find a record kept in ISO 2022 IR 87.
        """
        name = _components(next((g for g in identity.name.split("=") if g.strip()), ""))
        if not name or not identity.birth_date:
            raise UnmatchedPatientError("no Patient's Name and Birth Date to query with")
        if any(char in identity.name for char in WILDCARDS) or not _is_single_date(
            identity.birth_date
        ):
            raise UnmatchedPatientError("Patient's Name or Birth Date would match as a wildcard")
        keys: dict[str, object] = {
            # Asked for in UTF-8: a PACS that converts answers to the query's character set
            # (dcmqrscp does) can give every name; one that does not says its own.
            "SpecificCharacterSet": UTF8_CHARACTER_SET,
            "PatientID": "",
            "IssuerOfPatientID": "",
            "PatientName": "",
            "PatientBirthDate": identity.birth_date,
            "PatientSex": "",
        }
        assert self._pacs is not None  # checked in __init__
        answers = find(self._pacs, "PATIENT", keys, "PATIENT", calling_ae=self._calling_ae)
        # Only the first component group received is compared, with any group on record: the
        # ideographic and phonetic groups are often absent or written differently locally.
        # A record without sex or issuer may be the patient; one with others is someone else
        # (or, for the issuer, an earlier import kept under a foreign ID).
        found = {
            str(answer.get("PatientID") or "").strip()
            for answer in answers
            if name in _name_groups(answer.get("PatientName"))
            and _agrees(identity.sex, answer.get("PatientSex"))
            and _agrees(self.config.local_issuer, answer.get("IssuerOfPatientID"))
        } - {""}
        if not found:
            raise UnmatchedPatientError("no local patient has this name and birth date")
        if len(found) > 1:
            raise UnmatchedPatientError(
                f"{len(found)} local patients have this name and birth date"
            )
        local = found.pop()
        try:
            return check_patient_id(local, "the local PACS's Patient ID")
        except ValueError as exc:
            raise UnmatchedPatientError(str(exc)) from None


def _components(group: str) -> tuple[str, ...]:
    """The components of one Person Name group, compared as people read them.

    Surrounding spaces and trailing empty components carry no meaning (PS3.5 6.2.1), and
    case is ignored, as PS3.4 C.2.2.2.1 allows for names.
    """
    components = [component.strip().casefold() for component in group.split("^")]
    while components and not components[-1]:
        components.pop()
    return tuple(components)


def _name_groups(value: object) -> set[tuple[str, ...]]:
    """The non-empty component groups of a decoded Person Name."""
    return {_components(group) for group in str(value or "").split("=")} - {()}


def _is_single_date(value: str) -> bool:
    """Tell whether a DA value names one day (no range, list or wildcard)."""
    return len(value) == DATE_LENGTH and value.isdigit()


def _agrees(ours: str | None, theirs: object) -> bool:
    """Tell whether two values may be the same: equal, or one of them unknown."""
    ours, theirs = (ours or "").strip().upper(), str(theirs or "").strip().upper()
    return not ours or not theirs or ours == theirs


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
