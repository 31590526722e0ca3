"""Header-only reads: what is read, what is refused, and that hostile files stay bounded."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from cloudpdi.dicomdir import DIRECTORY_TAGS
from cloudpdi.dicomfile import (
    MAX_HEADER_BYTES,
    MAX_INFLATED_BYTES,
    DicomFileError,
    HeaderTooLargeError,
    NotPart10Error,
    is_dicom_part10,
    read_header,
)
from fixtures.documents import write_referral_pdf
from tests.dicom_samples import JAPANESE_PATIENT, series_files
from tests.hostile_dicom import IMAGE_TYPE, SPECIFIC_CHARACTER_SET, claim_length, write_deflate_bomb

# Far below what any hostile length in these tests claims.
PEAK_LIMIT = 2 * 1024 * 1024


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return series_files(tmp_path / "src", 1, patient=JAPANESE_PATIENT)[0]


@pytest.fixture
def peak() -> Iterator[Callable[[], int]]:
    """Trace allocations for the test; call the fixture's value for the peak so far."""
    tracemalloc.start()
    try:
        yield lambda: tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_read_header_never_reads_pixel_data(tmp_path: Path) -> None:
    source = series_files(tmp_path / "src", 1)[0]
    size = source.stat().st_size
    truncated = tmp_path / "truncated"
    truncated.write_bytes(source.read_bytes()[: size - 1000])  # cut into the pixel data
    header = read_header(truncated)
    assert header.Rows == 32
    assert "PixelData" not in header
    assert header.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


def test_read_header_keeps_only_requested_tags(source: Path) -> None:
    header = read_header(source, ["PatientID", 0x00200013])
    assert {elem.keyword for elem in header} == {
        "SpecificCharacterSet",
        "PatientID",
        "InstanceNumber",
    }
    assert header.PatientID == JAPANESE_PATIENT.patient_id
    assert header.file_meta.MediaStorageSOPInstanceUID == dcmread(source).SOPInstanceUID


def test_read_header_accepts_a_seekable_stream(source: Path) -> None:
    header = read_header(io.BytesIO(source.read_bytes()), ["Modality"])
    assert header.Modality == "CT"


def test_is_dicom_part10_checks_preamble_and_rewinds(source: Path) -> None:
    data = source.read_bytes()
    stream = io.BytesIO(data)
    assert is_dicom_part10(stream)
    assert stream.tell() == 0
    assert not is_dicom_part10(io.BytesIO(b"%PDF-1.4" + bytes(200)))
    assert not is_dicom_part10(io.BytesIO(data[:131]))


def test_read_header_refuses_what_is_not_part10(tmp_path: Path) -> None:
    pdf = write_referral_pdf(tmp_path / "LETTER.PDF", patient=JAPANESE_PATIENT, date="20240101")
    with pytest.raises(NotPart10Error, match=r"LETTER\.PDF"):
        read_header(pdf)
    no_meta = tmp_path / "NOMETA"
    no_meta.write_bytes(bytes(128) + b"DICM" + b"\x08\x00\x60\x00CS\x02\x00CT")
    with pytest.raises(DicomFileError, match="Transfer Syntax"):
        read_header(no_meta)


# Hostile lengths


def test_a_4_gib_length_is_refused_as_running_past_the_end(
    source: Path, tmp_path: Path, peak: Callable[[], int]
) -> None:
    hostile = tmp_path / "HOSTILE"
    hostile.write_bytes(claim_length(source.read_bytes(), SPECIFIC_CHARACTER_SET, 0xFFFFFFF0))
    with pytest.raises(DicomFileError, match=r"HOSTILE: .*past the end of the file") as caught:
        read_header(hostile, DIRECTORY_TAGS)
    assert caught.value.problem == "an element's length runs past the end of the file"
    assert peak() < PEAK_LIMIT


def test_a_stream_of_unknown_size_is_held_to_the_read_budget(
    source: Path, peak: Callable[[], int]
) -> None:
    data = claim_length(source.read_bytes(), SPECIFIC_CHARACTER_SET, MAX_HEADER_BYTES + 2)
    with pytest.raises(HeaderTooLargeError, match="bytes of reads"):
        read_header(io.BytesIO(data), DIRECTORY_TAGS)
    assert peak() < PEAK_LIMIT
    with pytest.raises(DicomFileError, match="past the end of the file"):
        read_header(io.BytesIO(data), DIRECTORY_TAGS, size=len(data))


def test_a_skipped_value_running_past_the_end_is_refused(source: Path) -> None:
    data = claim_length(source.read_bytes(), IMAGE_TYPE, 0xFFFFFFF0)
    with pytest.raises(DicomFileError, match="past the end of the file"):
        read_header(io.BytesIO(data), DIRECTORY_TAGS, size=len(data))


# Deflate bombs


def test_a_deflate_bomb_is_passed_over_in_bounded_memory(
    source: Path, tmp_path: Path, peak: Callable[[], int]
) -> None:
    bomb = write_deflate_bomb(source, tmp_path / "BOMB", 48 * 1024 * 1024)
    assert bomb.stat().st_size < 1024 * 1024
    header = read_header(bomb, DIRECTORY_TAGS)
    assert peak() < PEAK_LIMIT
    plain = read_header(source, DIRECTORY_TAGS)
    assert [(e.tag, e.value) for e in header] == [(e.tag, e.value) for e in plain]


def test_a_deflate_bomb_past_the_inflate_limit_is_refused(
    source: Path, tmp_path: Path, peak: Callable[[], int]
) -> None:
    bomb = write_deflate_bomb(source, tmp_path / "BOMB", MAX_INFLATED_BYTES)
    with pytest.raises(HeaderTooLargeError, match=rf"BOMB: .*inflates past {MAX_INFLATED_BYTES}"):
        read_header(bomb, DIRECTORY_TAGS)
    assert peak() < PEAK_LIMIT


def test_reading_a_deflated_value_whole_is_held_to_the_read_budget(
    source: Path, tmp_path: Path, peak: Callable[[], int]
) -> None:
    bomb = write_deflate_bomb(source, tmp_path / "BOMB", MAX_HEADER_BYTES + 2)
    with pytest.raises(HeaderTooLargeError, match="bytes of reads"):
        read_header(bomb)  # every tag: the zeros are a value to read, not to pass over
    assert peak() < PEAK_LIMIT
