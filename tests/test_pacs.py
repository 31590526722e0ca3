"""The PACS simulator's store: instances kept byte for byte, indexed, events recorded."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE, build_context
from pynetdicom.sop_class import Verification

from cloudpdi import dimse
from cloudpdi.dimse_ae import NoDelayAE, configure
from fixtures.dataset import derive_uid
from simulators.pacs import DuplicatePolicy, PacsConfig, PacsError, PacsSimulator
from simulators.pacs_store import CANNOT_UNDERSTAND, DATASET_DOES_NOT_MATCH
from tests.pacs_samples import SampleStudy, file_dataset_bytes, pacs, sample_study

__all__ = ["pacs", "sample_study"]


def _rewrite(source: Path, out: Path, **changes: str) -> Path:
    """Write ``source`` with some attributes changed; the File Meta follows the dataset."""
    ds = dcmread(source)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(out, enforce_file_format=True)
    return out


def test_every_kind_is_stored_byte_for_byte(pacs: PacsSimulator, sample_study: SampleStudy):
    result = dimse.store_files(pacs.peer, sample_study.files, calling_ae="MODALITY")

    assert result.ok, result.failed
    assert pacs.count == len(sample_study.files)
    for path, stored in zip(sample_study.files, result.instances, strict=True):
        kept = pacs.path_of(stored.sop_instance_uid)
        assert kept is not None
        assert file_dataset_bytes(kept) == file_dataset_bytes(path), path.name
        meta, source_meta = dcmread(kept).file_meta, dcmread(path).file_meta
        assert meta.TransferSyntaxUID == source_meta.TransferSyntaxUID
        assert meta.SendingApplicationEntityTitle == "MODALITY"
        assert meta.ReceivingApplicationEntityTitle == "CPDI_PACS"


def test_index_records_uids_syntax_size_and_sender(pacs: PacsSimulator, sample_study: SampleStudy):
    dimse.store_files(pacs.peer, [sample_study.jpeg, sample_study.ct[0]], calling_ae="MODALITY")

    records = {record.sop_instance_uid: record for record in pacs.instances()}
    jpeg = dcmread(sample_study.jpeg, stop_before_pixels=True)
    record = records[jpeg.SOPInstanceUID]
    assert record.transfer_syntax_uid == "1.2.840.10008.1.2.4.50"
    assert record.study_instance_uid == sample_study.study.study_uid
    assert record.series_instance_uid == jpeg.SeriesInstanceUID
    assert record.sop_class_uid == jpeg.SOPClassUID
    assert record.calling_ae == "MODALITY"
    assert record.size == pacs.path_of(record.sop_instance_uid).stat().st_size
    kept = pacs.path_of(record.sop_instance_uid)
    assert pacs.read_bytes(record.sop_instance_uid) == kept.read_bytes()


def test_events_record_association_and_each_store(pacs: PacsSimulator, sample_study: SampleStudy):
    dimse.echo(pacs.peer, calling_ae="ECHOER")
    dimse.store_files(pacs.peer, sample_study.ct, calling_ae="MODALITY")

    events = pacs.events()
    assert [event.operation for event in events] == [
        "ASSOCIATE",
        "C-ECHO",
        "RELEASE",
        "ASSOCIATE",
        "C-STORE",
        "C-STORE",
        "C-STORE",
        "RELEASE",
    ]
    stores = [event for event in events if event.operation == "C-STORE"]
    assert {event.peer_ae for event in stores} == {"MODALITY"}
    assert all(event.status == 0 and event.size > 0 for event in stores)
    assert [event.sop_instance_uid for event in stores] == [
        dcmread(path).SOPInstanceUID for path in sample_study.ct
    ]
    assert events[0].peer_address.startswith("127.0.0.1:")


def test_duplicate_replaces_by_default(pacs: PacsSimulator, sample_study: SampleStudy, tmp_path):
    first = sample_study.ct[0]
    second = _rewrite(first, tmp_path / "again.dcm", SeriesDescription="SECOND COPY")
    dimse.store_files(pacs.peer, [first])
    dimse.store_files(pacs.peer, [second])

    uid = dcmread(first).SOPInstanceUID
    assert pacs.count == 1
    assert file_dataset_bytes(pacs.path_of(uid)) == file_dataset_bytes(second)
    assert pacs.events()[-2].detail == "duplicate: replaced the stored copy"


def test_duplicate_keeps_first_when_configured(sample_study: SampleStudy, tmp_path: Path):
    first = sample_study.ct[0]
    second = _rewrite(first, tmp_path / "again.dcm", SeriesDescription="SECOND COPY")
    config = PacsConfig(storage_dir=tmp_path / "pacs", duplicates=DuplicatePolicy.KEEP_FIRST)
    with PacsSimulator(config) as pacs:
        dimse.store_files(pacs.peer, [first])
        result = dimse.store_files(pacs.peer, [second])

        assert result.ok
        assert file_dataset_bytes(pacs.path_of(dcmread(first).SOPInstanceUID)) == (
            file_dataset_bytes(first)
        )
        assert pacs.events()[-2].detail == "duplicate: first copy kept"


def test_replacement_in_another_series_moves_the_file(
    pacs: PacsSimulator, sample_study: SampleStudy, tmp_path: Path
):
    first = sample_study.ct[0]
    moved = _rewrite(first, tmp_path / "moved.dcm", SeriesInstanceUID=derive_uid("elsewhere"))
    dimse.store_files(pacs.peer, [first])
    old_path = pacs.path_of(dcmread(first).SOPInstanceUID)
    dimse.store_files(pacs.peer, [moved])

    assert not old_path.exists()
    assert pacs.path_of(dcmread(first).SOPInstanceUID).parent.name == derive_uid("elsewhere")
    assert pacs.count == 1


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize(
    "changes",
    [
        {"StudyInstanceUID": "../../escape"},
        {"SeriesInstanceUID": "1.2..3"},
        {"SOPInstanceUID": "1.2.3/4"},
    ],
)
def test_uids_that_could_leave_the_store_are_refused(
    pacs: PacsSimulator, sample_study: SampleStudy, tmp_path: Path, changes: dict[str, str]
):
    hostile = _rewrite(sample_study.ct[0], tmp_path / "hostile.dcm", **changes)

    result = dimse.store_files(pacs.peer, [hostile])

    assert result.instances[0].status in (DATASET_DOES_NOT_MATCH, CANNOT_UNDERSTAND)
    assert pacs.count == 0
    assert sorted(p.name for p in pacs.config.storage_dir.rglob("*.dcm")) == []


def test_dataset_that_contradicts_the_request_is_refused(
    pacs: PacsSimulator, sample_study: SampleStudy, tmp_path: Path
):
    data = sample_study.ct[0].read_bytes()
    uid = dcmread(sample_study.ct[0]).SOPInstanceUID.encode()
    other = uid[:-1] + (b"1" if uid[-1:] != b"1" else b"2")
    meta_end = data.index(uid) + len(uid)  # the File Meta names the instance first
    # The File Meta UID becomes the request's Affected SOP Instance UID; the dataset keeps its own.
    contradicting = data[:meta_end].replace(uid, other) + data[meta_end:]
    (tmp_path / "contradicting.dcm").write_bytes(contradicting)

    result = dimse.store_files(pacs.peer, [tmp_path / "contradicting.dcm"])

    assert result.instances[0].status == DATASET_DOES_NOT_MATCH
    assert pacs.events()[-2].detail.startswith("SOP Instance UID differs")


def test_unparseable_dataset_is_refused(pacs: PacsSimulator, sample_study: SampleStudy, tmp_path):
    data = bytearray(sample_study.ct[0].read_bytes())
    meta_end = 144 + int.from_bytes(data[140:144], "little")
    # A first element whose explicit-VR length runs far past the end of the data.
    data[meta_end:] = b"\x08\x00\x05\x00XX\xff\xff" + bytes(32)
    (tmp_path / "broken.dcm").write_bytes(bytes(data))

    result = dimse.store_files(pacs.peer, [tmp_path / "broken.dcm"])

    assert result.instances[0].status == CANNOT_UNDERSTAND
    assert pacs.count == 0


def test_store_survives_a_restart_and_loads_files_at_start(
    sample_study: SampleStudy, tmp_path: Path
):
    config = PacsConfig(storage_dir=tmp_path / "pacs", load=(sample_study.ct[0].parent,))
    with PacsSimulator(config) as pacs:
        assert pacs.count == len(sample_study.ct)
        dimse.store_files(pacs.peer, sample_study.mr)
    with PacsSimulator(PacsConfig(storage_dir=tmp_path / "pacs")) as again:
        assert again.count == len(sample_study.ct) + len(sample_study.mr)
        uid = dcmread(sample_study.ct[0]).SOPInstanceUID
        assert again.read_bytes(uid) == sample_study.ct[0].read_bytes()


def test_simulator_refuses_misuse(tmp_path: Path):
    pacs = PacsSimulator(PacsConfig(storage_dir=tmp_path / "pacs"))
    with pytest.raises(PacsError, match="not running"):
        pacs.address  # noqa: B018 - reading the address is the misuse
    with pacs:
        with pytest.raises(PacsError, match="already running"):
            pacs.start()
        with pytest.raises(KeyError):
            pacs.read_bytes("1.2.3")
    with pytest.raises(ValueError, match="AE title"):
        PacsConfig(storage_dir=tmp_path, ae_title="A\\B")


def test_called_ae_title_can_be_required(sample_study: SampleStudy, tmp_path: Path):
    config = PacsConfig(storage_dir=tmp_path / "pacs", require_called_ae=True)
    with PacsSimulator(config) as pacs:
        host, port = pacs.address
        with pytest.raises(dimse.AssociationRejectedError, match="Called AE title"):
            dimse.echo(dimse.DicomPeer("SOMEONE_ELSE", host, port))
        dimse.echo(pacs.peer)
        assert pacs.events()[0].operation == "REJECT"


def test_serve_pacs_prints_its_address_and_stops_on_sigterm(tmp_path: Path):
    program = (
        "import sys; from pathlib import Path; from simulators.pacs import PacsConfig, serve_pacs;"
        "serve_pacs(PacsConfig(storage_dir=Path(sys.argv[1]), ae_title='SERVED'))"
    )
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-c", program, str(tmp_path / "pacs")],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()  # type: ignore[union-attr]
        peer = dimse.DicomPeer.parse(first.split()[3])
        dimse.echo(peer)
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert first.startswith("PACS listening on SERVED@127.0.0.1:")
    assert process.returncode == 0
    assert rest == "PACS stopped: 0 instances stored\n"


def _nodelay(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_tcp_nodelay_is_set_on_accepted_and_requesting_sockets(pacs: PacsSimulator):
    host, port = pacs.address
    # A plain pynetdicom requestor: only the PACS's side can have turned Nagle off.
    plain = AE("PLAIN")
    plain_assoc = plain.associate(host, port, [build_context(Verification)], ae_title="CPDI_PACS")
    ours = configure(NoDelayAE("OURS"))
    our_assoc = ours.associate(host, port, [build_context(Verification)], ae_title="CPDI_PACS")
    try:
        acceptors = [
            thread
            for thread in threading.enumerate()
            if thread.name.startswith("AcceptorThread") and thread.acceptor.port == port
        ]
        assert len(acceptors) == 2
        assert all(_nodelay(thread.dul.socket.socket) for thread in acceptors)
        assert _nodelay(our_assoc.dul.socket.socket)
        assert not _nodelay(plain_assoc.dul.socket.socket)
    finally:
        plain_assoc.release()
        our_assoc.release()
