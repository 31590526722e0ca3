"""The receiving hospital's own patients, and how it finds a referred patient among them.

A hospital knows its patients by name and birth date under its own patient IDs. Here the
receiving hospital's record of a patient is an earlier image of that patient in its PACS, filed
under the local patient ID: the receiving hospital finds a referred patient by asking its PACS
for the one patient of that name and birth date (a C-FIND, reconciliation by query), as a PDI
importer does. A patient of the referral it cannot find, or finds twice, is not imported.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from cloudpdi.receipt import Receipt
from cloudpdi.reconcile import ReconcileConfig, ReconcileMode
from fixtures.dataset import DEFAULT_PATIENT, derive_uid
from fixtures.studies import generate_study
from harness.lab import LOCAL_ISSUER, Lab
from simulators.pacs_store import SUCCESS
from steps.errors import StepError
from steps.referral import person_name

#: The earlier image that puts a patient on the receiving hospital's record: a small radiograph
#: (its pixels matter to no check, and a full-size one costs time in every scenario).
RECORD_MODALITY = "CR"
RECORD_SIZE = 64
#: How the receiving hospital reconciles every referred patient: it asks its own PACS.
RECONCILE_BY_QUERY = ReconcileConfig(mode=ReconcileMode.QUERY, local_issuer=LOCAL_ISSUER)
_DICOM_DATE = "%Y%m%d"


@dataclass(frozen=True)
class LocalPatient:
    """A patient the receiving hospital knows: name as written, birth date, sex, local ID."""

    local_id: str
    written_name: str
    birth_date: str
    #: The referral studies are of the fixtures' patient: the same sex.
    sex: str = DEFAULT_PATIENT.sex

    def born_another_day(self) -> LocalPatient:
        """The same name, born the day after: a different person to any careful importer."""
        born = datetime.datetime.strptime(self.birth_date, _DICOM_DATE).date()
        later = (born + datetime.timedelta(days=1)).strftime(_DICOM_DATE)
        return dataclasses.replace(self, birth_date=later)


def put_on_record(lab: Lab, patients: Sequence[LocalPatient], folder: Path, seed: int) -> None:
    """Put each patient on the receiving hospital's record: an earlier image in its PACS."""
    for patient in patients:
        spec = dataclasses.replace(
            DEFAULT_PATIENT,
            patient_id=patient.local_id,
            name=person_name(patient.written_name),
            birth_date=patient.birth_date,
            sex=patient.sex,
        )
        files = generate_study(
            RECORD_MODALITY,
            1,
            folder / patient.local_id,
            seed=seed,
            patient=spec,
            rows=RECORD_SIZE,
            columns=RECORD_SIZE,
            # One earlier study per record, never the study of the referral.
            study_uid=derive_uid("earlier study", patient.local_id, patient.birth_date, seed),
        )
        for path in files:
            # The hospital's own patient IDs are issued by the hospital.
            dataset = dcmread(path)
            dataset.IssuerOfPatientID = LOCAL_ISSUER
            dataset.save_as(path)
        refused = [o.detail for o in lab.destination.import_files(files) if o.status != SUCCESS]
        if refused:
            raise StepError(f"the receiving PACS refused a patient record: {refused[0]}")


def needs_matching(lab: Lab, receipt: Receipt) -> list[str]:
    """The receipt's patients whose images are kept back until someone matches them."""
    return [
        f"patient {patient.patient_id}: {', '.join(patient.instances)}"
        for patient in receipt.patients_to_match
    ]
