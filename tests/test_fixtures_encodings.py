"""Tests of re-encoding a study's files in the transfer syntaxes a PACS may hold."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
)

from fixtures.encodings import SYNTAXES, EncodingError, reencode
from fixtures.studies import generate_study
from tests.tools import dcmtk

SMALL = {"rows": 64, "columns": 48}
#: Syntaxes pydicom decodes here, so that the test can compare every pixel.
DECODED_HERE = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
    JPEG2000Lossless,
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return generate_study("CT", 1, tmp_path / "source", seed=3, **SMALL)[0]


@pytest.mark.parametrize("syntax", DECODED_HERE)
def test_lossless_syntaxes_keep_every_pixel_and_uid(
    syntax: str, source: Path, tmp_path: Path
) -> None:
    out = reencode(source, syntax, tmp_path / "out")
    original, encoded = dcmread(source), dcmread(out)
    assert encoded.file_meta.TransferSyntaxUID == syntax
    assert encoded.SOPInstanceUID == original.SOPInstanceUID
    assert encoded.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    assert np.array_equal(encoded.pixel_array, original.pixel_array)


def test_jpeg_lossless_is_decoded_by_dcmtk_to_the_same_pixels(source: Path, tmp_path: Path) -> None:
    out = reencode(source, JPEGLosslessSV1, tmp_path / "jpeg")
    assert dcmread(out).file_meta.TransferSyntaxUID == JPEGLosslessSV1
    decoded = tmp_path / "decoded"
    subprocess.run([dcmtk("dcmdjpeg"), str(out), str(decoded)], check=True)
    assert np.array_equal(dcmread(decoded).pixel_array, dcmread(source).pixel_array)


def test_jpeg_baseline_holds_8_bits_and_says_it_is_lossy(source: Path, tmp_path: Path) -> None:
    dcmtk("dcmcjpeg")
    encoded = dcmread(reencode(source, JPEGBaseline8Bit, tmp_path / "jpeg"))
    assert encoded.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert (encoded.BitsAllocated, encoded.BitsStored) == (8, 8)
    assert encoded.LossyImageCompression == "01"
    assert encoded.SOPInstanceUID == dcmread(source).SOPInstanceUID


def test_every_syntax_a_scenario_names_has_an_encoder() -> None:
    assert {ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEG2000Lossless} <= SYNTAXES


def test_an_unknown_or_compressed_start_is_refused(source: Path, tmp_path: Path) -> None:
    with pytest.raises(EncodingError, match="no encoder"):
        reencode(source, "1.2.840.10008.1.2.4.80", tmp_path / "ls")
    rle = reencode(source, RLELossless, tmp_path / "rle")
    with pytest.raises(EncodingError, match="compressed already"):
        reencode(rle, JPEG2000Lossless, tmp_path / "again")
