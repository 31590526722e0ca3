"""A reader that takes several General Purpose profiles: the file set must fit one of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom.dataset import FileDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit

from cloudpdi.pdi_findings import Rule, Severity
from cloudpdi.pdi_rules import (
    DEFAULT_PROFILE,
    GENERAL_PURPOSE_PROFILES,
    UnknownProfileError,
    validate_file_set,
)
from fixtures.broken import make_clean_file_set
from fixtures.broken_edits import image_record, rewrite_instance


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clean_file_set(tmp_path_factory.mktemp("clean") / "SET")


def _relabel(root: Path, number: int, syntax: str) -> None:
    """Put the ``number``-th image in ``syntax``: its pixels in one fragment, uncompressed
    (only headers are validated), and say so in its meta and its record."""

    def change(ds: FileDataset) -> None:
        ds.file_meta.TransferSyntaxUID = syntax
        ds.PixelData = encapsulate([bytes(ds.PixelData)])
        ds["PixelData"].VR = "OB"

    directory, index, path = image_record(root, number)
    rewrite_instance(path, change)
    directory.records[index].ReferencedTransferSyntaxUIDInFile = syntax
    directory.save()


def _copy(clean: Path, out: Path) -> Path:
    return Path(shutil.copytree(clean, out))


def test_a_file_set_of_a_general_purpose_profile_fits_the_least_one(clean_root: Path) -> None:
    report = validate_file_set(clean_root, profile=GENERAL_PURPOSE_PROFILES)
    assert report.ok and report.profile == DEFAULT_PROFILE


def test_a_jpeg_image_fits_a_jpeg_profile_and_no_cd(clean_root: Path, tmp_path: Path) -> None:
    jpeg = _copy(clean_root, tmp_path / "JPEG")
    _relabel(jpeg, 0, JPEGBaseline8Bit)
    assert not validate_file_set(jpeg).ok
    report = validate_file_set(jpeg, profile=GENERAL_PURPOSE_PROFILES)
    assert report.ok and report.profile == "STD-GEN-DVD-JPEG"


def test_jpeg_beside_jpeg_2000_fits_no_single_profile(clean_root: Path, tmp_path: Path) -> None:
    mixed = _copy(clean_root, tmp_path / "MIXED")
    _relabel(mixed, 0, JPEGBaseline8Bit)
    _relabel(mixed, 1, JPEG2000Lossless)
    report = validate_file_set(mixed, profile=GENERAL_PURPOSE_PROFILES)
    errors = [(f.requirement, f.severity, f.message) for f in report.findings]
    assert len(errors) == 1
    requirement, severity, message = errors[0]
    assert (requirement, severity) == (Rule.TS_01.value, Severity.ERROR)
    assert JPEGBaseline8Bit in message and JPEG2000Lossless in message


def test_no_profile_is_refused(clean_root: Path) -> None:
    with pytest.raises(UnknownProfileError):
        validate_file_set(clean_root, profile=())
