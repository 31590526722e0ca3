"""Reconcile the patient identity of received instances to local values (PDI-IMP-01).

An importer gives instances from another hospital the local Patient ID, found in a configured
mapping or by a C-FIND on the local PACS (everyone born on the patient's Birth Date, whose
names are then compared here), and keeps the original Patient ID and Issuer of Patient ID in
Other Patient IDs Sequence (PS3.3 C.7.1.1).

The instances are then rewritten by :mod:`cloudpdi.patient_header`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydicom.dataset import Dataset

from cloudpdi.dimse import DEFAULT_CALLING_AE, DicomPeer, DimseError, find
from cloudpdi.dimse_query import UTF8_CHARACTER_SET
from cloudpdi.errors import CloudPDIError

#: Patient ID (0010,0020) is LO: at most 64 characters (PS3.5 6.2).
MAX_PATIENT_ID_LENGTH = 64
#: A Date (DA) value is YYYYMMDD (PS3.5 6.2).
DATE_LENGTH = len("YYYYMMDD")
#: Characters of a Person Name key that match as wildcards in C-FIND (PS3.4 C.2.2.2.4).
WILDCARDS = "*?"


class ReconcileError(CloudPDIError):
    """Patient identity cannot be reconciled."""


class UnmatchedPatientError(ReconcileError):
    """No single local patient matches the received one."""


class PatientQueryError(ReconcileError):
    """The local PACS could not be asked for the patient."""


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
