"""The import check of the steps: an image arrived unchanged apart from the patient identity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from fixtures.studies import generate_study
from simulators.pacs import PacsConfig, PacsSimulator
from steps.importing import compare_study, held_under

Change = Callable[[Dataset], None]


@pytest.fixture
def study(tmp_path: Path) -> list[Path]:
    return generate_study("CT", 2, tmp_path / "study", seed=3, rows=16, columns=16)


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[Callable[[str], PacsSimulator]]:
    made: list[PacsSimulator] = []

    def make(name: str) -> PacsSimulator:
        made.append(PacsSimulator(PacsConfig(storage_dir=tmp_path / name)))
        return made[-1]

    yield make
    for each in made:
        each.stop()


def _arrive(pacs: PacsSimulator, files: list[Path], folder: Path, change: Change) -> None:
    """Store in ``pacs`` a copy of ``files`` with ``change`` made to the first one."""
    folder.mkdir()
    copies = []
    for number, path in enumerate(files):
        dataset = dcmread(path)
        if number == 0:
            change(dataset)
        copies.append(folder / path.name)
        dataset.save_as(copies[-1])
    pacs.import_files(copies)


def _reconciled(dataset: Dataset) -> None:
    kept = Dataset()
    kept.PatientID = dataset.PatientID
    dataset.OtherPatientIDsSequence = [kept]
    dataset.PatientID = "R0001234"
    dataset.IssuerOfPatientID = "LOCAL"


def _renamed(dataset: Dataset) -> None:
    dataset.PatientName = "SOMEONE^ELSE"


def _one_pixel_changed(dataset: Dataset) -> None:
    pixels = bytearray(dataset.PixelData)
    pixels[0] ^= 0xFF
    dataset.PixelData = bytes(pixels)


def _attribute_added(dataset: Dataset) -> None:
    dataset.StudyComments = "added on the way"


def test_the_patient_identity_may_change_and_nothing_else(
    study: list[Path], pacs: Callable[[str], PacsSimulator], tmp_path: Path
) -> None:
    source, destination = pacs("source"), pacs("destination")
    source.import_files(study)
    _arrive(destination, study, tmp_path / "arrived", _reconciled)
    uid = str(dcmread(study[0]).StudyInstanceUID)
    comparison = compare_study(source, destination, uid)
    assert (comparison.compared, comparison.missing, comparison.changed) == (2, (), {})
    assert comparison.sent_pixels == comparison.arrived_pixels
    assert len(held_under(destination, "R0001234")) == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_renamed, "PatientName"),
        (_one_pixel_changed, "PixelData"),
        (_attribute_added, "StudyComments"),
    ],
)
def test_any_other_difference_is_named(
    study: list[Path],
    pacs: Callable[[str], PacsSimulator],
    tmp_path: Path,
    change: Change,
    named: str,
) -> None:
    source, destination = pacs("source"), pacs("destination")
    source.import_files(study)
    _arrive(destination, study, tmp_path / "arrived", change)
    comparison = compare_study(source, destination, str(dcmread(study[0]).StudyInstanceUID))
    assert list(comparison.changed.values()) == [(named,)]
    assert named in comparison.listing()


def test_an_image_that_did_not_arrive_is_missing(
    study: list[Path], pacs: Callable[[str], PacsSimulator]
) -> None:
    source, destination = pacs("source"), pacs("destination")
    source.import_files(study)
    destination.import_files(study[1:])
    comparison = compare_study(source, destination, str(dcmread(study[0]).StudyInstanceUID))
    assert comparison.missing == (str(dcmread(study[0]).SOPInstanceUID),)
    assert comparison.compared == 1
