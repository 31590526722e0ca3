"""The PACS and the DICOM client against dcmtk: storescu, findscu, movescu and storescp.

Each tool is checked to be dcmtk's own (pynetdicom installs apps of the same names), and
every dcmtk process runs with TCP_NODELAY=1 (tests.tools.DCMTK_ENV).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from cloudpdi import dimse
from fixtures.dataset import make_study
from fixtures.studies import generate_study
from simulators.pacs import PacsSimulator
from tests.pacs_samples import SampleStudy, file_dataset_bytes, pacs, sample_study
from tests.tools import DCMTK_ENV, dcmtk, free_port, stop_process

__all__ = ["pacs", "sample_study"]

pytestmark = pytest.mark.external

TIMEOUT = 60


def _run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, env=DCMTK_ENV, cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """A dcmtk storescp in bit-preserving mode: (AE title, port, folder it writes into)."""
    out = tmp_path / "storescp"
    out.mkdir()
    port = free_port()
    command = [dcmtk("storescp"), "+B", "-aet", "STORESCP", "-od", str(out), str(port)]
    process = subprocess.Popen(
        command, env=DCMTK_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "storescp did not start listening"
            time.sleep(0.05)
        yield "STORESCP", port, out
    finally:
        stop_process(process)


def _by_uid(paths: list[Path]) -> dict[str, bytes]:
    return {
        dcmread(path, stop_before_pixels=True).SOPInstanceUID: file_dataset_bytes(path)
        for path in paths
    }


@pytest.fixture(scope="module")
def generated_study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A generated CT and MR study, full-size CT slices as a referral carries."""
    root = tmp_path_factory.mktemp("dcmtk-study")
    study = make_study(21)
    ct = generate_study("CT", 12, root / "ct", study=study, seed=21)
    mr = generate_study("MR", 4, root / "mr", study=study, seed=21, series_number=2)
    return ct + mr


def test_storescu_stores_a_study_byte_for_byte(pacs: PacsSimulator, generated_study: list[Path]):
    host, port = pacs.address
    _run(
        dcmtk("storescu"),
        "-aet",
        "MODALITY",
        "-aec",
        "CPDI_PACS",
        host,
        str(port),
        *map(str, generated_study),
    )

    assert pacs.count == len(generated_study)
    stored = _by_uid([pacs.path_of(r.sop_instance_uid) for r in pacs.instances()])
    assert stored == _by_uid(generated_study)
    assert {event.peer_ae for event in pacs.events() if event.operation == "C-STORE"} == {
        "MODALITY"
    }


@pytest.mark.parametrize(
    ("option", "kind"), [("-xy", "jpeg"), ("-xv", "jpeg2000"), ("-xd", "deflated")]
)
def test_storescu_compressed_and_deflated_kept_as_sent(
    pacs: PacsSimulator, sample_study: SampleStudy, option: str, kind: str
):
    path = getattr(sample_study, kind)
    host, port = pacs.address
    _run(dcmtk("storescu"), option, "-aec", "CPDI_PACS", host, str(port), str(path))

    (record,) = pacs.instances()
    assert record.transfer_syntax_uid == dcmread(path).file_meta.TransferSyntaxUID
    assert file_dataset_bytes(pacs.path_of(record.sop_instance_uid)) == file_dataset_bytes(path)


@pytest.mark.parametrize("model", ["-S", "-P"])
def test_findscu_queries_study_and_patient_root(
    pacs: PacsSimulator, sample_study: SampleStudy, tmp_path: Path, model: str
):
    pacs.import_files(sample_study.files)
    host, port = pacs.address
    _run(
        dcmtk("findscu"), model, "-aec", "CPDI_PACS", "-X", "-od", str(tmp_path),
        "-k", "QueryRetrieveLevel=STUDY",
        "-k", "PatientID=CPDI0001",
        "-k", "PatientName",
        "-k", "StudyInstanceUID",
        "-k", "StudyDate=20240101-20241231",
        "-k", "NumberOfStudyRelatedInstances",
        host, str(port),
    )  # fmt: skip

    (response,) = [dcmread(path) for path in sorted(tmp_path.glob("rsp*.dcm"))]
    assert response.StudyInstanceUID == sample_study.study.study_uid
    assert str(response.PatientName) == sample_study.study.patient.name
    assert int(response.NumberOfStudyRelatedInstances) == len(sample_study.files)


def test_movescu_retrieves_into_storescp(
    pacs: PacsSimulator, generated_study: list[Path], storescp: tuple[str, int, Path]
):
    title, port, out = storescp
    pacs.import_files(generated_study)
    pacs.config.destinations[title] = ("127.0.0.1", port)
    study_uid = dcmread(generated_study[0]).StudyInstanceUID
    host, pacs_port = pacs.address
    _run(
        dcmtk("movescu"), "-S", "-aec", "CPDI_PACS", "-aem", title,
        "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}",
        host, str(pacs_port),
    )  # fmt: skip

    assert _by_uid(sorted(out.iterdir())) == _by_uid(generated_study)
    subops = [e for e in pacs.events() if e.operation == "C-STORE-SUBOP"]
    assert [e.status for e in subops] == [0] * len(generated_study)


def test_store_files_into_storescp_arrive_intact(
    sample_study: SampleStudy, storescp: tuple[str, int, Path]
):
    title, port, out = storescp
    files = [*sample_study.ct, *sample_study.mr, sample_study.pdf, sample_study.support]

    result = dimse.store_files(dimse.DicomPeer(title, "127.0.0.1", port), files)

    assert result.ok
    assert _by_uid(sorted(out.iterdir())) == _by_uid(files)
