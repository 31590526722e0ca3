"""Tests of AI support images: marking conventions, references, burned-in marks, IOD validity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import SecondaryCaptureImageStorage

from fixtures.studies import generate_study
from fixtures.support_images import (
    SUPPORT_MODALITY,
    SUPPORT_SERIES_DESCRIPTION,
    SUPPORT_SERIES_NUMBER_BASE,
    Mark,
    generate_support_image,
)
from tests.dicom3tools import verifier_errors

SMALL = {"rows": 128, "columns": 128}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return generate_study("CT", 1, tmp_path / "src", seed=3, **SMALL)[0]


def test_support_image_is_marked_as_such(tmp_path: Path, source: Path) -> None:
    ds = pydicom.dcmread(generate_support_image(source, tmp_path))
    assert ds.SOPClassUID == SecondaryCaptureImageStorage
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.SeriesDescription == SUPPORT_SERIES_DESCRIPTION
    assert ds.Modality == SUPPORT_MODALITY
    assert ds.BurnedInAnnotation == "YES"
    assert ds.SeriesNumber == SUPPORT_SERIES_NUMBER_BASE + 1


def test_support_image_joins_source_study_in_own_series(tmp_path: Path, source: Path) -> None:
    src = pydicom.dcmread(source)
    ds = pydicom.dcmread(generate_support_image(source, tmp_path))
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "AccessionNumber", "StudyID"):
        assert ds[keyword].value == src[keyword].value
    assert ds.SpecificCharacterSet == src.SpecificCharacterSet
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert ds.SOPInstanceUID != src.SOPInstanceUID
    for reference in (ds.SourceImageSequence[0], ds.ReferencedImageSequence[0]):
        assert reference.ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert reference.ReferencedSOPClassUID == src.SOPClassUID
    assert ds.SourceImageSequence[0].PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    assert list(ds.PatientOrientation) == ["L", "P"]  # axial CT: rows to the left, columns back


def test_marks_are_burned_into_pixels(tmp_path: Path, source: Path) -> None:
    mark = Mark(row=70, column=60, radius=20)
    pixels = pydicom.dcmread(generate_support_image(source, tmp_path, marks=[mark])).pixel_array
    assert pixels.shape == (128, 128, 3)
    red, green, blue = (int(v) for v in pixels[mark.row, mark.column + mark.radius - 1])
    assert red > 200 and green > 200 and blue < 50  # yellow circle
    centre = pixels[mark.row, mark.column]
    assert centre[0] == centre[1] == centre[2]  # grey image inside the circle
    assert np.ptp(pixels[..., 2]) > 100  # the source image shows through


def test_same_seed_same_bytes_other_seed_other_marks(tmp_path: Path, source: Path) -> None:
    first = generate_support_image(source, tmp_path / "a", seed=1)
    again = generate_support_image(source, tmp_path / "b", seed=1)
    other = generate_support_image(source, tmp_path / "c", seed=2)
    assert first.read_bytes() == again.read_bytes()
    one, two = pydicom.dcmread(first), pydicom.dcmread(other)
    assert one.SeriesInstanceUID != two.SeriesInstanceUID
    assert not np.array_equal(one.pixel_array, two.pixel_array)


@pytest.mark.external
@pytest.mark.parametrize("modality", ["CT", "MR", "CR", "DX"])
def test_dciodvfy_finds_no_errors(tmp_path: Path, modality: str) -> None:
    src = generate_study(modality, 1, tmp_path / "src", **SMALL)[0]
    assert verifier_errors("dciodvfy", generate_support_image(src, tmp_path)) == []
