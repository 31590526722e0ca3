"""README.TXT of a PDI file set (IHE RAD PDI): who made the media, with what, what it holds.

It names no patient and no identifier: the content list gives counts, study dates and
modalities only, so the file can be read by whoever handles the media without disclosing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydicom.dataset import Dataset

README_NAME = "README.TXT"
# Width of the path column of the content list: DOCUMENT\\ plus an 8.3 name, and a gap.
_COLUMN = 24


@dataclass(frozen=True)
class Institution:
    """The creating institution, as README.TXT names it."""

    name: str
    contact: str = ""
    address: str = ""


@dataclass
class StudyTally:
    """One study as README.TXT lists it."""

    date: str
    modalities: set[str] = field(default_factory=set)
    instances: int = 0


@dataclass
class ContentTally:
    """What the instances of a file set hold, counted header by header."""

    patients: set[str] = field(default_factory=set)
    studies: dict[str, StudyTally] = field(default_factory=dict)
    series: set[str] = field(default_factory=set)
    sop_classes: set[str] = field(default_factory=set)
    transfer_syntaxes: set[str] = field(default_factory=set)

    def add(self, header: Dataset) -> None:
        """Count an instance whose patient, study and series keys are known to be there."""
        uid = str(header.StudyInstanceUID)
        study = self.studies.setdefault(uid, StudyTally(str(header.get("StudyDate", ""))))
        study.modalities.add(str(header.Modality))
        study.instances += 1
        self.patients.add(str(header.PatientID))
        self.series.add(str(header.SeriesInstanceUID))
        self.sop_classes.add(str(header.file_meta.MediaStorageSOPClassUID))
        self.transfer_syntaxes.add(str(header.file_meta.TransferSyntaxUID))

    @property
    def modalities(self) -> set[str]:
        return {m for study in self.studies.values() for m in study.modalities}

    @property
    def instances(self) -> int:
        return sum(study.instances for study in self.studies.values())


@dataclass(frozen=True)
class ReadmeFacts:
    """Everything README.TXT states besides the content tally."""

    institution: Institution
    application: str
    profile: str
    file_set_id: str
    created: datetime
    #: (path in the file set, size in bytes) of each non-DICOM document.
    documents: Sequence[tuple[str, int]] = ()


def render_readme(facts: ReadmeFacts, tally: ContentTally) -> bytes:
    """Return README.TXT as UTF-8 text with CR LF line ends (plain ASCII for ASCII input)."""
    institution = facts.institution
    lines = [
        "IHE Portable Data for Imaging (PDI) file set",
        "",
        f"Institution:          {institution.name}",
        *([f"Address:              {institution.address}"] if institution.address else []),
        *([f"Contact:              {institution.contact}"] if institution.contact else []),
        f"Creating application: {facts.application}",
        f"Created:              {facts.created.isoformat(timespec='seconds')}",
        f"Media profile:        {facts.profile} (DICOM PS3.11)",
        f"File-set ID:          {facts.file_set_id}",
        "",
        "Content",
        "-------",
        f"{'DICOMDIR':<{_COLUMN}}DICOM directory of the DICOM\\ folder (open it in a viewer)",
        f"{_dos('DICOM/'):<{_COLUMN}}{tally.instances} DICOM instances: "
        f"{len(tally.patients)} patient(s), {len(tally.studies)} study(ies), "
        f"{len(tally.series)} series, "
        f"modalities {', '.join(sorted(tally.modalities))}",
        *(
            f"{'':<{_COLUMN}}study of {study.date or 'unknown date'}: "
            f"{'/'.join(sorted(study.modalities))}, {study.instances} instances"
            for study in tally.studies.values()
        ),
        *(f"{_dos(path):<{_COLUMN}}document, {size} bytes" for path, size in facts.documents),
        f"{README_NAME:<{_COLUMN}}this file",
        "",
        "Nothing on this media starts by itself, and it holds no viewer.",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


def _dos(path: str) -> str:
    """Show a file set path the way media users see it: with backslashes."""
    return path.replace("/", "\\")
