"""What a referral carries besides its images: documents, and AI support images, by their names.

A scenario names a document as people do ("a referral letter", "a lab result"); each name has
a maker that writes that document for the referral's patient, deterministic from the seed.
Documents travel outside the DICOM tree, so a transfer may carry them with no image at all.
AI support images are DICOM instances of the study: they join it on the sending hospital's
PACS, made from its images, and are found again by the marks their maker gives them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from cloudpdi.envelope_base import file_sha256
from cloudpdi.receipt import Receipt
from cloudpdi.sources import is_part10_file
from cloudpdi.support import SupportKind
from fixtures.dataset import DEFAULT_PATIENT, StudySpec, make_study, study_from_dataset
from fixtures.documents import write_fhir_document, write_referral_pdf
from fixtures.lab_result import write_lab_result
from fixtures.prescription import write_prescription
from fixtures.support_images import SUPPORT_SERIES_DESCRIPTION, generate_support_image
from harness.lab import Lab
from harness.pacs_actor import patient_birth_date
from simulators.pacs_store import SUCCESS
from steps.errors import StepError
from steps.referral import Referral, person_name

#: How a scenario names the AI support images a referral carries.
AI_SUPPORT_IMAGES = "AI support images"

#: Writes one document for a study into a folder; returns the file.
Maker = Callable[[Path, StudySpec, int], Path]


def _referral_letter(folder: Path, study: StudySpec, seed: int) -> Path:
    path = folder / "referral-letter.pdf"
    return write_referral_pdf(path, patient=study.patient, date=study.date)


def _lab_result(folder: Path, study: StudySpec, seed: int) -> Path:
    return write_lab_result(folder / "lab-result.hl7", study=study, seed=seed)


def _prescription(folder: Path, study: StudySpec, seed: int) -> Path:
    return write_prescription(folder / "prescription.csv", study=study, seed=seed)


def _fhir_referral(folder: Path, study: StudySpec, seed: int) -> Path:
    return write_fhir_document(folder / "referral-bundle.json", study=study, seed=seed)


#: The documents a scenario may name, and what writes each. The file names are long on purpose:
#: the sending hospital must give each an 8.3 name in the file set.
DOCUMENTS: dict[str, Maker] = {
    "a referral letter": _referral_letter,
    "a lab result": _lab_result,
    "a prescription": _prescription,
    "a FHIR referral document": _fhir_referral,
}


@dataclass(frozen=True)
class Document:
    """A document the referral carries: how the scenario named it, its file, size and digest."""

    written: str
    path: Path
    size: int
    sha256: str


@dataclass
class Carried:
    """Everything the scenario added to the referral, beside the study's own images."""

    documents: dict[str, Document] = field(default_factory=dict)

    def document(self, written: str) -> Document:
        """Return the document the scenario named ``written``; a harness error if it never was."""
        if written not in self.documents:
            raise StepError(f"the referral does not carry {written!r}: no Given step added it")
        return self.documents[written]


def make_document(written: str, folder: Path, study: StudySpec, seed: int) -> Document:
    """Write the document a scenario names ``written`` for ``study``'s patient."""
    maker = DOCUMENTS.get(written)
    if maker is None:
        known = ", ".join(repr(name) for name in [*DOCUMENTS, AI_SUPPORT_IMAGES])
        raise StepError(f"no way to make {written!r} is defined; known: {known}")
    folder.mkdir(parents=True, exist_ok=True)
    path = maker(folder, study, seed)
    content = path.read_bytes()
    return Document(written, path, len(content), hashlib.sha256(content).hexdigest())


def study_of(referral: Referral, seed: int) -> StudySpec:
    """The study attributes documents of ``referral`` describe: its images', or the seed's."""
    if referral.files:
        return study_from_dataset(dcmread(referral.files[0], stop_before_pixels=True))
    patient = dataclasses.replace(
        DEFAULT_PATIENT,
        patient_id=referral.patient_id,
        name=referral.person_name,
        birth_date=referral.birth_date,
    )
    return make_study(seed, patient)


def documents_only(written_name: str, seed: int) -> Referral:
    """A referral of documents alone for the patient ``written_name``: no study, no image."""
    return Referral(
        study_uid="",
        files=(),
        patient_id=DEFAULT_PATIENT.patient_id,
        written_name=written_name,
        person_name=person_name(written_name),
        birth_date=patient_birth_date(seed),
    )


def add_support_images(lab: Lab, referral: Referral, folder: Path, seed: int) -> None:
    """Make one AI support image per image of ``referral`` and put them on the sending PACS.

    They join the study, so the sending hospital sends them with it.
    """
    if not referral.files:
        raise StepError("a referral with no images has nothing to make AI support images from")
    made = [generate_support_image(source, folder, seed=seed) for source in referral.files]
    refused = [o.detail for o in lab.source.import_files(made) if o.status != SUCCESS]
    if refused:
        raise StepError(f"the sending hospital's PACS refused an AI support image: {refused[0]}")


def instances_by_uid(paths: Iterable[Path]) -> dict[str, Path]:
    """Map the SOP Instance UID of every readable DICOM file among ``paths`` to its file."""
    found = {}
    for path in paths:
        if not path.is_file() or not is_part10_file(path):
            continue
        try:
            header = dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError):
            continue
        uid = header.get("SOPInstanceUID")
        if uid:
            found[str(uid)] = path
    return found


def made_support_images(lab: Lab) -> dict[str, Path]:
    """The AI support images on the sending hospital's PACS, by SOP Instance UID.

    They are the harness's own files there, so their maker's series description finds them.
    """
    made = {}
    for record in lab.source.instances():
        path = lab.source.path_of(record.sop_instance_uid)
        if path is None:
            continue
        header = dcmread(path, stop_before_pixels=True)
        if str(header.get("SeriesDescription", "")) == SUPPORT_SERIES_DESCRIPTION:
            made[record.sop_instance_uid] = path
    return made


def same_document(path: Path, document: Document) -> bool:
    """Tell whether ``path`` holds ``document`` byte for byte (by size, then digest)."""
    if path.stat().st_size != document.size:
        return False
    return file_sha256(path) == document.sha256


#: The attributes by which an AI support image says it is no original, as
#: :mod:`fixtures.support_images` marks it; the pixels carry the burned-in banner and marks.
SIGNS = (
    "SOPClassUID",
    "ImageType",
    "Modality",
    "ConversionType",
    "SeriesDescription",
    "DerivationDescription",
    "ImageComments",
    "BurnedInAnnotation",
    "SourceImageSequence",
)
BURNED_IN = "the burned-in banner and marks (pixel data)"


def lost_signs(made: Path, held: Path) -> list[str]:
    """Name the signs of the support image ``made`` that its copy ``held`` lost or changed."""
    original, copy = dcmread(made), dcmread(held)
    lost = [
        keyword
        for keyword in SIGNS
        if keyword in original and (keyword not in copy or copy[keyword] != original[keyword])
    ]
    try:
        same_pixels = np.array_equal(original.pixel_array, copy.pixel_array)
    except (AttributeError, ValueError, RuntimeError, NotImplementedError):
        same_pixels = False  # no pixel data, or none that can be decoded
    return lost if same_pixels else [*lost, BURNED_IN]


def unmarked(made: Mapping[str, Path], held: Mapping[str, Path]) -> list[str]:
    """Say, per support image ``made``, what its copy in ``held`` lacks (nothing: all marked)."""
    problems = []
    for uid, path in made.items():
        if uid not in held:
            problems.append(f"AI support image {uid} is not there")
        elif lost := lost_signs(path, held[uid]):
            problems.append(f"AI support image {uid} lost: {', '.join(lost)}")
    return problems


def listed_support_images(lab: Lab, receipt: Receipt) -> list[str]:
    """The receipt's entries that tell which images are the AI support images sent.

    Every AI support image the sending hospital held must be listed as one, and no other
    image of the study: a report that lists none, misses one or lists an original tells
    nothing the hospital can rely on.
    """
    made = made_support_images(lab)
    if not made:
        raise StepError("the sending hospital held no AI support image to be told about")
    listed = {i.sop_instance_uid: i for i in receipt.support_images if i.kind == SupportKind.AI}
    missing = sorted(set(made) - set(listed))
    assert not missing, (
        f"the receipt does not list {len(missing)} of the {len(made)} AI support "
        f"images as such: {', '.join(missing)}"
    )
    originals = sorted(set(listed) - set(made))
    assert not originals, f"the receipt lists original images as AI support: {originals}"
    return [f"{listed[uid].path}: {', '.join(listed[uid].reasons)}" for uid in made]
