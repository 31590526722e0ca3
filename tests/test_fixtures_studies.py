"""Tests of the synthetic study generator: determinism, Part 10 form, IOD validity, names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from fixtures.dataset import IMPLEMENTATION_CLASS_UID, character_set
from fixtures.phantoms import ct_nodule
from fixtures.studies import (
    DEFAULT_PATIENT,
    MODALITIES,
    PatientSpec,
    generate_demo_studies,
    generate_study,
    make_study,
)
from tests.dicom3tools import verifier_errors

# Small images keep the suite fast; real sizes are exercised by the dciodvfy tests (one file each).
SMALL = {"rows": 64, "columns": 48}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = generate_study("CT", 3, tmp_path / "a", seed=7, **SMALL)
    second = generate_study("CT", 3, tmp_path / "b", seed=7, **SMALL)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_different_seed_gives_different_uids(tmp_path: Path) -> None:
    a = pydicom.dcmread(generate_study("MR", 1, tmp_path / "a", seed=1, **SMALL)[0])
    b = pydicom.dcmread(generate_study("MR", 1, tmp_path / "b", seed=2, **SMALL)[0])
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert a[keyword].value != b[keyword].value


@pytest.mark.parametrize("modality", ["CT", "MR", "CR", "DX"])
def test_file_meta_matches_dataset(tmp_path: Path, modality: str) -> None:
    path = generate_study(modality, 2, tmp_path, **SMALL)[1]
    assert path.read_bytes()[128:132] == b"DICM"
    ds = pydicom.dcmread(path)
    meta = ds.file_meta
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert ds.InstanceNumber == 2


@pytest.mark.parametrize("modality", ["CT", "MR", "CR", "DX"])
def test_pixel_data_is_real_image(tmp_path: Path, modality: str) -> None:
    ds = pydicom.dcmread(generate_study(modality, 1, tmp_path, **SMALL)[0])
    pixels = ds.pixel_array
    assert pixels.shape == (64, 48)
    assert np.ptp(pixels) > 100
    assert pixels.max() < 2**ds.BitsStored


def test_default_sizes_are_realistic(tmp_path: Path) -> None:
    ds = pydicom.dcmread(generate_study("CT", 1, tmp_path)[0])
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.PixelRepresentation) == (512, 512, 16, 1)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert hu.min() < -900  # air
    assert hu.max() > 500  # bone


def test_ct_slices_advance(tmp_path: Path) -> None:
    paths = generate_study("CT", 3, tmp_path, **SMALL)
    z = [float(pydicom.dcmread(p).ImagePositionPatient[2]) for p in paths]
    assert z[0] > z[1] > z[2]
    assert z[0] - z[1] == pytest.approx(float(pydicom.dcmread(paths[0]).SliceThickness))


def test_japanese_name_round_trips(tmp_path: Path) -> None:
    path = generate_study("CR", 1, tmp_path, **SMALL)[0]
    ds = pydicom.dcmread(path)
    assert ds.SpecificCharacterSet == ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    assert str(ds.PatientName) == DEFAULT_PATIENT.name
    assert ds.PatientName.ideographic == "山田^太郎"
    # 山田 in JIS X 0208, switched in by an escape sequence (not UTF-8, not Shift_JIS).
    assert b"=\x1b$B;3ED\x1b(B^" in path.read_bytes()


def test_half_width_kana_uses_ir_13(tmp_path: Path) -> None:
    name = "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"
    ds = pydicom.dcmread(generate_study("CR", 1, tmp_path, patient_name=name, **SMALL)[0])
    assert ds.SpecificCharacterSet == ["ISO 2022 IR 13", "ISO 2022 IR 87"]
    assert str(ds.PatientName) == name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SMITH^JOHN", None),
        ("山田^太郎", ("ISO 2022 IR 6", "ISO 2022 IR 87")),
        ("ﾔﾏﾀﾞ", ("ISO 2022 IR 13", "ISO 2022 IR 87")),
        ("MÜLLER^JÜRGEN", "ISO_IR 192"),
    ],
)
def test_character_set_for_text(text: str, expected: object) -> None:
    assert character_set(text) == expected


def test_series_share_one_study(tmp_path: Path) -> None:
    study = make_study(3, PatientSpec("P1", "DOE^JANE", "19800101", "F"))
    ct = pydicom.dcmread(generate_study("CT", 1, tmp_path, study=study, **SMALL)[0])
    mr = pydicom.dcmread(
        generate_study("MR", 1, tmp_path, study=study, series_number=2, **SMALL)[0]
    )
    assert ct.StudyInstanceUID == mr.StudyInstanceUID == study.study_uid
    assert ct.SeriesInstanceUID != mr.SeriesInstanceUID
    assert "SpecificCharacterSet" not in ct


def test_rejects_unknown_modality(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown modality"):
        generate_study("US", 1, tmp_path)


def test_rejects_study_with_patient(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        generate_study("CT", 1, tmp_path, study=make_study(), patient_name="X^Y")


@pytest.mark.external
@pytest.mark.parametrize("modality", MODALITIES)
def test_dciodvfy_finds_no_errors(tmp_path: Path, modality: str) -> None:
    assert verifier_errors("dciodvfy", generate_study(modality, 1, tmp_path)[0]) == []


@pytest.mark.external
@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_odd_sizes_keep_positions_valid(tmp_path: Path, modality: str) -> None:
    # 0.7 mm x 33 / 2 is not exact in binary: unrounded it overflows a 16-character DS.
    path = generate_study(modality, 2, tmp_path, rows=33, columns=47)[1]
    assert verifier_errors("dciodvfy", path) == []


@pytest.mark.external
def test_dcentvfy_finds_study_consistent(tmp_path: Path) -> None:
    study = make_study(5)
    paths = generate_study("CT", 2, tmp_path, study=study, **SMALL)
    paths += generate_study("MR", 2, tmp_path, study=study, series_number=2, **SMALL)
    assert verifier_errors("dcentvfy", *paths) == []


def test_demo_is_one_patient_one_study(tmp_path: Path) -> None:
    demo = generate_demo_studies(tmp_path, seed=2, ct_instances=4, mr_instances=2)
    datasets = [pydicom.dcmread(path) for path in demo.dicom_files]
    assert len(datasets) == 4 + 2 + 1 + 1
    assert {ds.StudyInstanceUID for ds in datasets} == {demo.study.study_uid}
    assert {ds.PatientID for ds in datasets} == {demo.study.patient.patient_id}
    assert sorted({ds.Modality for ds in datasets}) == ["CT", "DOC", "MR", "OT"]
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    assert demo.referral_pdf.read_bytes().startswith(b"%PDF-1.4")
    assert demo.fhir_document.suffix == ".JSON"


def test_demo_support_image_circles_the_ct_nodule(tmp_path: Path) -> None:
    demo = generate_demo_studies(tmp_path, seed=6, ct_instances=8, mr_instances=1)
    support = pydicom.dcmread(demo.support_image)
    source_uid = support.SourceImageSequence[0].ReferencedSOPInstanceUID
    source = next(
        ds for ds in map(pydicom.dcmread, demo.dicom_files) if ds.SOPInstanceUID == source_uid
    )
    index, row, column, radius = ct_nodule(512, 512, 8, seed=6)
    assert source.InstanceNumber == index + 1
    hu = source.pixel_array * float(source.RescaleSlope) + float(source.RescaleIntercept)
    assert hu[row, column] > -200  # the nodule: soft tissue inside the lung
    assert hu[row, column + 3 * radius // 2] < -600  # lung around it
    red, green, blue = (int(v) for v in support.pixel_array[row, column + 2 * radius - 1])
    assert red > 200 and green > 200 and blue < 50


@pytest.mark.external
def test_demo_passes_dciodvfy_and_dcentvfy(tmp_path: Path) -> None:
    demo = generate_demo_studies(tmp_path, ct_instances=2, mr_instances=2)
    for path in demo.dicom_files:
        assert verifier_errors("dciodvfy", path) == [], path.name
    assert verifier_errors("dcentvfy", *demo.dicom_files) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("patient_id", "", "patient_id"),
        ("birth_date", "1965-04-12", "birth_date"),
        ("sex", "male", "sex"),
    ],
)
def test_patient_spec_rejects_bad_fields_without_echoing_them(
    field: str, value: str, message: str
) -> None:
    fields = {"patient_id": "P1", "name": "DOE^JANE", "birth_date": "19800101", "sex": "F"}
    with pytest.raises(ValueError, match=message) as caught:
        PatientSpec(**{**fields, field: value})
    assert not value or value not in str(caught.value)
