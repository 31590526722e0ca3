"""Tests of the lab result (HL7 v2.5 OUL^R22) and the prescription (JAHIS-style CSV) fixtures."""

from __future__ import annotations

from pathlib import Path

from fixtures.dataset import DEFAULT_PATIENT, PatientSpec, make_study
from fixtures.lab_result import PANEL, SEGMENT_END, write_lab_result
from fixtures.prescription import (
    DRUG,
    FORMULARY,
    PATIENT_NAME,
    RECORD_END,
    VERSION_RECORD,
    write_prescription,
)


def _segments(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("iso2022_jp")
    assert text.endswith(SEGMENT_END) and "\n" not in text
    return [segment.split("|") for segment in text.split(SEGMENT_END)[:-1]]


def test_lab_result_is_an_oul_r22_message_for_the_studys_patient(tmp_path: Path) -> None:
    study = make_study(3)
    segments = _segments(write_lab_result(tmp_path / "lab.hl7", study=study, seed=3))
    assert [fields[0] for fields in segments] == ["MSH", "PID", "SPM", "OBR", *["OBX"] * len(PANEL)]
    msh, pid = segments[0], segments[1]
    # MSH-1 is the field separator itself, so MSH-n is at index n - 1.
    assert (msh[8], msh[11], msh[17]) == ("OUL^R22^OUL_R22", "2.5", "~ISO IR87")
    assert pid[3] == f"{DEFAULT_PATIENT.patient_id}^^^^PI"
    assert pid[5].split("~") == [
        "YAMADA^TARO^^^^^L^A",
        "山田^太郎^^^^^L^I",
        "やまだ^たろう^^^^^L^P",
    ]
    assert (pid[7], pid[8]) == (DEFAULT_PATIENT.birth_date, DEFAULT_PATIENT.sex)
    for fields, analyte in zip(segments[4:], PANEL, strict=True):
        assert fields[3].split("^") == [analyte.code, analyte.name, "LN"]
        value = float(fields[5])
        expected = "L" if value < analyte.low else "H" if value > analyte.high else "N"
        assert (fields[6], fields[8], fields[11]) == (analyte.unit, expected, "F")


def test_lab_result_is_the_same_for_the_same_seed_and_differs_for_another(tmp_path: Path) -> None:
    study = make_study(5)
    first = write_lab_result(tmp_path / "a.hl7", study=study, seed=5).read_bytes()
    again = write_lab_result(tmp_path / "b.hl7", study=study, seed=5).read_bytes()
    other = write_lab_result(tmp_path / "c.hl7", study=study, seed=6).read_bytes()
    assert first == again != other


def test_lab_result_escapes_delimiters_in_names(tmp_path: Path) -> None:
    patient = PatientSpec(patient_id="P|1", name="O&NEIL^ANN", birth_date="", sex="F")
    segments = _segments(write_lab_result(tmp_path / "lab.hl7", study=make_study(1, patient)))
    assert segments[1][3] == "P\\F\\1^^^^PI"
    assert segments[1][5] == "O\\T\\NEIL^ANN^^^^^L^A"


def test_prescription_records_name_the_patient_and_drugs_from_the_formulary(
    tmp_path: Path,
) -> None:
    study = make_study(8)
    data = write_prescription(tmp_path / "rx.csv", study=study, seed=8).read_bytes()
    text = data.decode("shift_jis")
    lines = text.split(RECORD_END)
    assert lines[0] == VERSION_RECORD and lines[-1] == ""
    records = [line.split(",") for line in lines[1:-1]]
    by_number = {int(fields[0]): fields for fields in records}
    assert by_number[PATIENT_NAME][1:] == [
        DEFAULT_PATIENT.patient_id,
        "山田　太郎",
        "やまだ　たろう",
    ]
    assert by_number[51][1] == study.date
    drugs = [fields[6] for fields in records if int(fields[0]) == DRUG]
    assert 1 <= len(drugs) <= 3 and len(set(drugs)) == len(drugs)
    assert set(drugs) <= {drug.name for drug in FORMULARY}
    assert write_prescription(tmp_path / "again.csv", study=study, seed=8).read_bytes() == data
