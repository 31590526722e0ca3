"""Steps of patient identity: whom the receiving hospital knows, and whom the images name.

The receiving hospital's patients are put on its record (earlier images in its PACS, under its
own patient IDs) and it reconciles every referred patient by asking its PACS. The Then steps
read the headers of the study's images in the receiving PACS, after first reading the same
attribute in the images the sending hospital's PACS held, so that each check is shown to
find what it looks for.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pytest_bdd import given, parsers, then

from harness.lab import Lab
from harness.pacs_actor import patient_birth_date
from reports import EvidenceKind
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.importing import headers, held_under
from steps.patients import RECONCILE_BY_QUERY, LocalPatient, put_on_record
from steps.referral import Referral, person_name

#: Local IDs of the patients a situation puts on the receiving hospital's record.
FIRST_LOCAL_ID = "R0001234"
SECOND_LOCAL_ID = "R0005678"
#: Someone else the receiving hospital knows, with the referred patient's birth date.
SOMEONE_ELSE = "佐藤 花子"
_BORN_ANOTHER_DAY = re.compile(r'patient "(?P<name>[^"]+)" born on another day')


@given(
    parsers.parse('the receiving hospital knows patient "{name}" as local patient ID "{local_id}"')
)
def the_receiving_hospital_knows_patient(
    name: str,
    local_id: str,
    lab: Lab,
    tmp_path: Path,
    conformance_seed: int,
    receiving: dict[str, Any],
    evidence: EvidenceLog,
) -> None:
    # Born on the day of the scenario's referred patient, who may be referred after this.
    known = LocalPatient(local_id, name, patient_birth_date(conformance_seed))
    _on_record([known], lab, tmp_path, conformance_seed, receiving, evidence)


@given(parsers.parse("the receiving hospital has {situation} on record"))
def the_receiving_hospital_has_on_record(
    situation: str,
    referral: Referral,
    lab: Lab,
    tmp_path: Path,
    conformance_seed: int,
    receiving: dict[str, Any],
    evidence: EvidenceLog,
) -> None:
    born = referral.birth_date
    referred = LocalPatient(FIRST_LOCAL_ID, referral.written_name, born)
    born_another_day = _BORN_ANOTHER_DAY.fullmatch(situation)
    if situation == "no patient of that name and birth date":
        patients = [LocalPatient(FIRST_LOCAL_ID, SOMEONE_ELSE, born)]
    elif situation == "two patients of that name and birth date":
        patients = [referred, LocalPatient(SECOND_LOCAL_ID, referral.written_name, born)]
    elif born_another_day is not None:
        patients = [LocalPatient(FIRST_LOCAL_ID, born_another_day["name"], born).born_another_day()]
    else:
        raise StepError(f"no patient record is defined for {situation!r}")
    _on_record(patients, lab, tmp_path, conformance_seed, receiving, evidence)


def _on_record(
    patients: list[LocalPatient],
    lab: Lab,
    tmp_path: Path,
    seed: int,
    receiving: dict[str, Any],
    evidence: EvidenceLog,
) -> None:
    put_on_record(lab, patients, tmp_path / "patient-records", seed)
    receiving["reconciliation"] = RECONCILE_BY_QUERY
    evidence.record(
        EvidenceKind.DICOM_OPERATION,
        actor="the receiving PACS",
        summary="the receiving hospital has on record: "
        + ", ".join(f"{p.local_id} born {p.birth_date}" for p in patients),
    )


@given(parsers.parse('the patient\'s ID at the sending hospital is "{patient_id}"'))
def the_patients_id_at_the_sending_hospital(
    patient_id: str, lab: Lab, referral: Referral, evidence: EvidenceLog
) -> None:
    held = {str(dataset.PatientID) for dataset in headers(lab.source, referral.study_uid)}
    # The referral studies are made for the fixtures' patient, under the fixtures' ID.
    if held != {patient_id}:
        raise StepError(f"the sending hospital holds the study under {sorted(held)}")
    evidence.record(
        EvidenceKind.DICOM_OPERATION,
        actor="the sending hospital's PACS",
        summary=f"holds the study under patient ID {patient_id}",
    )


@then(parsers.parse('every image in the receiving PACS has patient ID "{patient_id}"'))
def every_image_has_patient_id(
    patient_id: str, lab: Lab, referral: Referral, evidence: EvidenceLog
) -> None:
    arrived = _arrived(lab, referral)
    found = [str(dataset.PatientID) for dataset in arrived]
    _record(evidence, f"patient IDs of {len(arrived)} images", found)
    wrong = sorted({value for value in found if value != patient_id})
    assert not wrong, f"images of the study in the receiving PACS have patient ID {wrong}"


@then(
    parsers.parse(
        'every image in the receiving PACS keeps patient ID "{patient_id}" among its other '
        "patient IDs"
    )
)
def every_image_keeps_patient_id(
    patient_id: str, lab: Lab, referral: Referral, evidence: EvidenceLog
) -> None:
    if patient_id not in {str(d.PatientID) for d in headers(lab.source, referral.study_uid)}:
        raise StepError(f"the sending hospital's images do not have patient ID {patient_id}")
    arrived = _arrived(lab, referral)
    kept = [_other_ids(dataset) for dataset in arrived]
    _record(evidence, f"other patient IDs of {len(arrived)} images", [",".join(k) for k in kept])
    lost = sum(patient_id not in ids for ids in kept)
    assert not lost, f"{lost} images do not keep patient ID {patient_id} among their other IDs"


@then(parsers.parse('every image in the receiving PACS names the patient "{name}"'))
def every_image_names_the_patient(
    name: str, lab: Lab, referral: Referral, evidence: EvidenceLog
) -> None:
    expected = person_name(name)
    if {str(d.PatientName) for d in headers(lab.source, referral.study_uid)} != {expected}:
        raise StepError(f"the sending hospital's images do not all name the patient {name}")
    arrived = _arrived(lab, referral)
    found = [str(dataset.PatientName) for dataset in arrived]
    _record(evidence, f"patient names of {len(arrived)} images", found)
    wrong = sorted({value for value in found if value != expected})
    assert not wrong, f"images of the study in the receiving PACS name the patient {wrong}"


@then(parsers.parse('the receiving PACS holds no image under patient ID "{patient_id}"'))
def no_image_under_patient_id(
    patient_id: str, lab: Lab, referral: Referral, evidence: EvidenceLog
) -> None:
    # The same search on the sending hospital's PACS finds the study: it can find images.
    if not held_under(lab.source, patient_id):
        raise StepError(f"the sending hospital's PACS holds no image under {patient_id}")
    under = held_under(lab.destination, patient_id)
    evidence.record(
        EvidenceKind.DICOM_OPERATION,
        actor="the receiving PACS",
        summary=f"holds {len(under)} images under patient ID {patient_id}",
    )
    assert not under, f"the receiving PACS holds {len(under)} images under patient ID {patient_id}"


def _arrived(lab: Lab, referral: Referral) -> list[Dataset]:
    arrived = headers(lab.destination, referral.study_uid)
    assert arrived, "the receiving PACS holds no image of the study"
    return arrived


def _other_ids(dataset: Dataset) -> list[str]:
    return [str(item.get("PatientID") or "") for item in dataset.get("OtherPatientIDsSequence", [])]


def _record(evidence: EvidenceLog, what: str, values: list[str]) -> None:
    evidence.record(
        EvidenceKind.DICOM_OPERATION,
        actor="the receiving PACS",
        summary=f"{what}: " + ", ".join(sorted(set(values))),
    )
