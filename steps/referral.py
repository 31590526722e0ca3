"""A referral study on the sending hospital's PACS, made from the words of a scenario.

A scenario names the patient as people write names ("山田 太郎", "YAMADA TARO"): family name,
then given name. DICOM keeps a Japanese name in component groups (PS3.5 6.2.1.2 and Annex H):
single-byte writing (Latin letters, half-width katakana) in the alphabetic group, kanji and
kana in the ideographic group. The study's files are the fixtures' synthetic ones, with that
name and a birth date derived from the scenario's seed (so that a PACS under test, which keeps
every scenario's patients, holds one patient of that name born that day), imported into the
source PACS of the scenario's lab.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from fixtures.studies import DEFAULT_PATIENT, generate_study
from harness.lab import Lab
from harness.pacs_actor import patient_birth_date
from steps.errors import StepError

#: C-STORE status Success (PS3.7 C.4.2.1.4).
_STORED = 0x0000


@dataclass(frozen=True)
class Referral:
    """A study the sending hospital holds for one patient, and how the scenario named them."""

    study_uid: str
    files: tuple[Path, ...]
    patient_id: str
    #: The name as the scenario wrote it.
    written_name: str
    #: The same name as a DICOM Person Name value.
    person_name: str
    birth_date: str


def person_name(written: str) -> str:
    """Return the DICOM PN value of a name written "family given"."""
    components = "^".join(written.split())
    try:
        # In Shift_JIS exactly the single-byte characters (ASCII, half-width katakana) take
        # one byte each.
        single_byte = len(components.encode("shift_jis")) == len(components)
    except UnicodeEncodeError:
        single_byte = False
    return components if single_byte else f"={components}"


def make_referral(
    lab: Lab, written_name: str, count: int, modality: str, *, seed: int, folder: Path
) -> Referral:
    """Write a study of ``count`` ``modality`` images and put it on the sending hospital's PACS."""
    patient = dataclasses.replace(
        DEFAULT_PATIENT, name=person_name(written_name), birth_date=patient_birth_date(seed)
    )
    try:
        files = generate_study(modality, count, folder, seed=seed, patient=patient)
    except ValueError as exc:
        raise StepError(f"cannot make the referral study: {exc}") from None
    refused = [o.detail for o in lab.source.import_files(files) if o.status != _STORED]
    if refused:
        raise StepError(f"the sending hospital's PACS refused the study: {refused[0]}")
    header = dcmread(files[0], stop_before_pixels=True)
    return Referral(
        study_uid=str(header.StudyInstanceUID),
        files=tuple(files),
        patient_id=patient.patient_id,
        written_name=written_name,
        person_name=patient.name,
        birth_date=patient.birth_date,
    )
