"""C-MOVE and C-GET from the PACS: every instance arrives with the dataset bytes it was sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from cloudpdi import dimse
from simulators.pacs import PacsConfig, PacsSimulator
from tests.pacs_samples import SampleStudy, file_dataset_bytes, sample_study

__all__ = ["sample_study"]


@pytest.fixture
def source(tmp_path: Path, sample_study: SampleStudy) -> Iterator[PacsSimulator]:
    """A PACS that holds the sample study (C-STOREd, so its files are as received)."""
    with PacsSimulator(PacsConfig(storage_dir=tmp_path / "source")) as pacs:
        assert dimse.store_files(pacs.peer, sample_study.files).ok
        yield pacs


@pytest.fixture
def destination(tmp_path: Path) -> Iterator[PacsSimulator]:
    with PacsSimulator(PacsConfig(storage_dir=tmp_path / "dest", ae_title="DEST")) as pacs:
        yield pacs


def _datasets_by_uid(paths: list[Path]) -> dict[str, bytes]:
    return {
        dcmread(path, stop_before_pixels=True).SOPInstanceUID: file_dataset_bytes(path)
        for path in paths
    }


def test_move_sends_every_instance_unchanged(
    source: PacsSimulator, destination: PacsSimulator, sample_study: SampleStudy
):
    source.config.destinations["DEST"] = destination.address

    result = dimse.move_study(source.peer, sample_study.study.study_uid, "DEST", calling_ae="RCV")

    assert result == dimse.RetrieveResult(completed=len(sample_study.files), failed=0, warning=0)
    sent = _datasets_by_uid(sample_study.files)
    arrived = {
        r.sop_instance_uid: file_dataset_bytes(destination.path_of(r.sop_instance_uid))
        for r in destination.instances()
    }
    # Deflate is re-applied by pynetdicom on the way out: the same dataset, other bytes.
    deflated = dcmread(sample_study.deflated, stop_before_pixels=True).SOPInstanceUID
    assert arrived.keys() == sent.keys()
    assert {uid: data for uid, data in arrived.items() if uid != deflated} == {
        uid: data for uid, data in sent.items() if uid != deflated
    }
    assert (
        dcmread(destination.path_of(deflated)).PixelData == dcmread(sample_study.deflated).PixelData
    )
    syntaxes = {r.sop_instance_uid: r.transfer_syntax_uid for r in destination.instances()}
    assert syntaxes == {r.sop_instance_uid: r.transfer_syntax_uid for r in source.instances()}


def test_move_records_each_suboperation(
    source: PacsSimulator, destination: PacsSimulator, sample_study: SampleStudy
):
    source.config.destinations["DEST"] = destination.address
    dimse.move_study(source.peer, sample_study.study.study_uid, "DEST", calling_ae="RCV")

    events = source.events()
    move = next(e for e in events if e.operation == "C-MOVE")
    assert (move.peer_ae, move.detail) == (
        "RCV",
        f"STUDY root: {len(sample_study.files)} instances to DEST",
    )
    subops = [e for e in events if e.operation == "C-STORE-SUBOP"]
    assert {(e.peer_ae, e.status) for e in subops} == {("DEST", 0)}
    assert sorted(e.sop_instance_uid for e in subops) == sorted(
        _datasets_by_uid(sample_study.files)
    )


def test_move_to_an_unknown_destination_fails_with_a801(source: PacsSimulator, sample_study):
    with pytest.raises(dimse.RetrieveError) as caught:
        dimse.move_study(source.peer, sample_study.study.study_uid, "NOWHERE")

    assert caught.value.status == 0xA801
    assert source.events()[-2].detail == "unknown destination NOWHERE"


def test_move_without_a_study_uid_is_refused(source: PacsSimulator, destination: PacsSimulator):
    source.config.destinations["DEST"] = destination.address

    with pytest.raises(dimse.RetrieveError) as caught:
        dimse.move_study(source.peer, "", "DEST")

    assert caught.value.status == 0xC514
    assert destination.events() == []  # refused before any association with the destination


def test_move_to_a_destination_that_is_down_fails(source: PacsSimulator, sample_study, tmp_path):
    with PacsSimulator(PacsConfig(storage_dir=tmp_path / "gone", ae_title="GONE")) as gone:
        source.config.destinations["GONE"] = gone.address
    with pytest.raises(dimse.RetrieveError) as caught:
        dimse.move_study(source.peer, sample_study.study.study_uid, "GONE")
    assert caught.value.status == 0xA801


def test_get_writes_every_instance_as_received(
    source: PacsSimulator, sample_study: SampleStudy, tmp_path: Path
):
    paths = dimse.get_study(
        source.peer, sample_study.study.study_uid, tmp_path / "got", calling_ae="RCV"
    )

    got = _datasets_by_uid(paths)
    sent = _datasets_by_uid(sample_study.files)
    deflated = dcmread(sample_study.deflated, stop_before_pixels=True).SOPInstanceUID
    assert got.keys() == sent.keys()
    assert {k: v for k, v in got.items() if k != deflated} == {
        k: v for k, v in sent.items() if k != deflated
    }
    jpeg = tmp_path / "got" / f"{dcmread(sample_study.jpeg).SOPInstanceUID}.dcm"
    meta = dcmread(jpeg).file_meta
    assert meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert (meta.SendingApplicationEntityTitle, meta.ReceivingApplicationEntityTitle) == (
        "CPDI_PACS",
        "RCV",
    )
    subops = [e for e in source.events() if e.operation == "C-STORE-SUBOP"]
    assert len(subops) == len(sample_study.files)
    assert {e.peer_ae for e in subops} == {"RCV"}


def test_get_of_an_unknown_study_brings_nothing(source: PacsSimulator, tmp_path: Path):
    assert dimse.get_study(source.peer, "1.2.3.4", tmp_path / "none") == []


def test_get_without_a_study_uid_is_refused(source: PacsSimulator, tmp_path: Path):
    with pytest.raises(dimse.RetrieveError) as caught:
        dimse.get_study(source.peer, "", tmp_path / "none")
    assert caught.value.status == 0xA900
