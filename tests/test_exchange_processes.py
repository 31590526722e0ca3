"""The exchange with every actor its own process (``cloudpdi serve ...``), addressed by endpoint.

Source PACS, destination PACS, repository and receiver (with its HTTP token inbox) run as
``cloudpdi serve`` processes on free loopback ports; ``cloudpdi send`` runs as a process too and
delivers the sealed token to the receiver's inbox. The test knows each actor only by the
address it printed, and checks the result over DICOM (C-FIND) and in the destination's storage
folder. The same token, received by ``cloudpdi receive`` into dcmtk's storescp, shows that an
independent PACS gets the same instances; ``cloudpdi demo`` runs as the README says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread

from cloudpdi.config_model import DEFAULT_COMMUNITY, DEFAULT_ISSUER
from cloudpdi.dimse import DicomPeer, find
from cloudpdi.seal import generate_facility_key, public_key_pem, save_private_key
from fixtures.studies import DEFAULT_PATIENT, DemoStudies, generate_demo_studies
from harness.lab import RECEIVER_FACILITY, content_digest, original_patient_ids
from tests.test_dcmtk_interop import storescp
from tests.tools import stop_process

__all__ = ["storescp"]

#: ``cloudpdi`` as installed beside this Python (the README's command), else the same
#: entry point through the module.
_SCRIPT = Path(sys.executable).with_name("cloudpdi")
CLOUDPDI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "harness.cli"]
ROOT = Path(__file__).resolve().parents[1]
#: Seconds a server may take to say it listens, or to stop.
START_WAIT = 30.0
#: Seconds a send, a receive or the demo may take.
RUN_WAIT = 180.0
CT_INSTANCES = 40
MR_INSTANCES = 10
LOCAL_ID = "L-PROC-0001"
LOCAL_ISSUER = "CPDI-PROCESS-TEST"


def start(argv: Sequence[str], log: Path, marker: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``cloudpdi argv``; return the process and its first output line holding ``marker``.

    Output goes to ``log`` (a pipe nobody reads could fill up and stall the server).
    """
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*CLOUDPDI, *argv], cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + START_WAIT
    while True:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        found = [line for line in lines if marker in line]
        if found:
            return process, found[0]
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process, START_WAIT)
            pytest.fail(f"{argv[:2]} did not print {marker!r}:\n" + "\n".join(lines[-20:]))
        time.sleep(0.05)


def run(argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``cloudpdi argv`` to its end (bounded) and return what it printed."""
    return subprocess.run(
        [*CLOUDPDI, *argv], cwd=cwd, capture_output=True, text=True, timeout=RUN_WAIT, check=False
    )


def facility_key(folder: Path, name: str) -> tuple[Path, Path]:
    """Write a P-256 facility key pair; return the private and the public key files."""
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    key = generate_facility_key()
    save_private_key(key, private)
    public.write_text(public_key_pem(key), encoding="utf-8")
    return private, public


def toml(value: str) -> str:
    """A TOML basic string (JSON's escaping is TOML's for these values)."""
    return json.dumps(value)


def write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
    return path


@dataclass(frozen=True)
class Exchange:
    """The actors' endpoints and what the processes did, as the test saw it from outside."""

    root: Path
    studies: DemoStudies
    source: DicomPeer
    repository: str
    destination: DicomPeer
    destination_storage: Path
    keys_toml: Path
    issuer_key: Path
    receiver_public: Path
    receiver_toml: Path
    sent: dict[str, Any]
    status: dict[str, Any]

    def send_args(self, work_dir: Path) -> list[str]:
        """``cloudpdi send`` of the study to the repository, sealed to the receiver."""
        return [
            *("send", self.studies.study.study_uid, "--source", str(self.source)),
            *("--repository", self.repository, "--uploader-key-file", str(self.keys_toml)),
            *("--issuer-key", str(self.issuer_key), "--recipient-key", str(self.receiver_public)),
            *("--recipient-id", RECEIVER_FACILITY.id, "--document", str(self.studies.referral_pdf)),
            *("--work-dir", str(work_dir), "--json"),
        ]


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    root = tmp_path_factory.mktemp("processes")
    keys = root / "keys"
    keys.mkdir()
    issuer_key, issuer_public = facility_key(keys, "issuer")
    receiver_key, receiver_public = facility_key(keys, "receiver")
    recipient_bearer = "recipient-" + os.urandom(16).hex()
    keys_toml = write_private(
        keys / "keys.toml",
        f"admin_key = {toml('admin-' + os.urandom(16).hex())}\n\n[uploaders]\n"
        f"{toml(DEFAULT_ISSUER.id)} = {toml('uploader-' + os.urandom(16).hex())}\n"
        f"{toml(RECEIVER_FACILITY.id)} = {toml(recipient_bearer)}\n",
    )
    studies = generate_demo_studies(
        root / "study", seed=11, ct_instances=CT_INSTANCES, mr_instances=MR_INSTANCES
    )
    destination_storage = root / "destination-pacs"

    with ExitStack() as servers:

        def serve(name: str, argv: list[str], marker: str) -> list[str]:
            """Start ``cloudpdi serve argv``; return the words of its listening line."""
            process, line = start(["serve", *argv, "--port", "0"], root / f"{name}.log", marker)
            servers.callback(stop_process, process, START_WAIT)
            return line.split()

        listening = "PACS listening on"
        loaded = ["--load", str(root / "study" / "DICOM")]
        source_pacs = ["--storage", str(root / "source-pacs"), *loaded]
        words = serve("source", ["pacs", "--ae-title", "SOURCE_PACS", *source_pacs], listening)
        source = DicomPeer.parse(words[3])
        destination_pacs = ["--storage", str(destination_storage)]
        words = serve(
            "destination", ["pacs", "--ae-title", "DEST_PACS", *destination_pacs], listening
        )
        destination = DicomPeer.parse(words[3])
        data = ["--data", str(root / "repository"), "--keys", str(keys_toml)]
        words = serve("repository", ["repository", *data], "repository listening on")
        repository = words[3]
        receiver_toml = write_private(
            root / "receiver.toml",
            f'output_dir = "received"\n'
            f"destination_pacs = {toml(str(destination))}\n"
            f"facility_key = {toml(str(receiver_key))}\n"
            f"recipient_key = {toml(recipient_bearer)}\n\n"
            f"[facility]\nid = {toml(RECEIVER_FACILITY.id)}\n"
            f"name = {toml(RECEIVER_FACILITY.name)}\n\n"
            f"[communities]\n{toml(DEFAULT_COMMUNITY)} = {toml(repository)}\n\n"
            f"[trusted_issuers]\n{toml(DEFAULT_ISSUER.id)} = {toml(str(issuer_public))}\n\n"
            f'[reconciliation]\nmode = "mapping"\nlocal_issuer = {toml(LOCAL_ISSUER)}\n'
            f"[reconciliation.mapping]\n{toml(DEFAULT_PATIENT.patient_id)} = {toml(LOCAL_ID)}\n",
        )
        words = serve(
            "receiver",
            ["receiver", "--config", str(receiver_toml)],
            "receiver token inbox listening on",
        )
        inbox = words[5]
        exchange = Exchange(
            root=root,
            studies=studies,
            source=source,
            repository=repository,
            destination=destination,
            destination_storage=destination_storage,
            keys_toml=keys_toml,
            issuer_key=issuer_key,
            receiver_public=receiver_public,
            receiver_toml=receiver_toml,
            sent={},
            status={},
        )
        recipient = ["--recipient-name", RECEIVER_FACILITY.name, "--deliver-inbox", inbox]
        sent = run([*exchange.send_args(root / "sender"), *recipient], cwd=root)
        assert sent.returncode == 0, sent.stderr
        summary = json.loads(sent.stdout)
        status = wait_for_receive(f"{inbox}/{summary['token_id']}")
        yield replace(exchange, sent=summary, status=status)


def wait_for_receive(url: str) -> dict[str, Any]:
    """Poll the inbox's status of one token until its receive has ended (bounded)."""
    deadline = time.monotonic() + RUN_WAIT
    while (status := httpx.get(url, timeout=10).json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"the receive did not end in time: {status}"
        time.sleep(0.1)
    return status


def source_digests(studies: DemoStudies) -> dict[str, str]:
    """SOP Instance UID -> digest of the pixel data (or encapsulated document) of the sources."""
    return {
        str(dcmread(path, stop_before_pixels=True).SOPInstanceUID): content_digest(path)
        for path in studies.dicom_files
    }


def check_received(files: list[Path], studies: DemoStudies) -> None:
    """Every source instance, identical in content, under the local patient ID."""
    received = {}
    for path in files:
        ds = dcmread(path, stop_before_pixels=True)
        assert ds.PatientID == LOCAL_ID
        assert DEFAULT_PATIENT.patient_id in original_patient_ids(path)
        received[str(ds.SOPInstanceUID)] = content_digest(path)
    assert received == source_digests(studies)


def test_every_actor_as_its_own_process_exchanges_the_whole_study(exchange: Exchange) -> None:
    instances = len(exchange.studies.dicom_files)
    assert instances == CT_INSTANCES + MR_INSTANCES + 2
    assert exchange.sent["instances"] == instances and exchange.sent["documents"] == 1
    (delivery,) = exchange.sent["deliveries"]
    assert delivery["ok"] and delivery["form"] == "sealed"
    assert exchange.status["status"] == "done", exchange.status
    assert exchange.status["form"] == "sealed"
    result = exchange.status["result"]
    assert result["outcome"] == "complete" and result["counts"]["stored"] == instances

    # Over DICOM: the destination PACS has every instance, filed under the local patient ID.
    study_uid = exchange.studies.study.study_uid
    (study,) = find(exchange.destination, "STUDY", {"PatientID": LOCAL_ID, "StudyInstanceUID": ""})
    assert study.StudyInstanceUID == study_uid
    assert find(exchange.destination, "STUDY", {"PatientID": DEFAULT_PATIENT.patient_id}) == []
    series = find(
        exchange.destination, "SERIES", {"StudyInstanceUID": study_uid, "SeriesInstanceUID": ""}
    )
    found = [
        str(image.SOPInstanceUID)
        for one in series
        for image in find(
            exchange.destination,
            "IMAGE",
            {
                "StudyInstanceUID": study_uid,
                "SeriesInstanceUID": one.SeriesInstanceUID,
                "SOPInstanceUID": "",
            },
        )
    ]
    assert sorted(found) == sorted(source_digests(exchange.studies))

    # On its disk: the same pixels (and letter), the original patient ID kept.
    stored = sorted((exchange.destination_storage / "instances").rglob("*.dcm"))
    assert len(stored) == instances
    check_received(stored, exchange.studies)


def test_send_naming_the_recipient_by_id_alone_works_or_is_a_usage_error(
    tmp_path: Path, exchange: Exchange
) -> None:
    # --recipient-name looks optional (its default is empty): a send without it must either
    # work or be bad usage naming the option (exit 2), not "a check failed" (exit 1).
    sent = run([*exchange.send_args(tmp_path / "sender"), "--deliver-folder", "tokens"], tmp_path)
    assert sent.returncode in (0, 2), sent.stderr
    if sent.returncode == 2:
        assert "--recipient-name" in sent.stderr
    else:
        assert json.loads(sent.stdout)["instances"] == len(exchange.studies.dicom_files)


@pytest.mark.external
def test_cloudpdi_receive_stores_into_dcmtk_storescp(
    tmp_path: Path, exchange: Exchange, storescp: tuple[str, int, Path]
) -> None:
    title, port, out = storescp
    sealed = exchange.sent["token_files"]["sealed"]
    received = run(
        [
            "receive",
            sealed,
            "--config",
            str(exchange.receiver_toml),
            "--pacs",
            f"{title}@127.0.0.1:{port}",
            "--out",
            str(tmp_path / "received"),
            "--json",
        ],
        cwd=tmp_path,
    )
    assert received.returncode == 0, received.stderr
    report = json.loads(received.stdout)
    assert report["outcome"] == "complete" and report["destination"] == f"{title}@127.0.0.1:{port}"
    check_received(sorted(p for p in out.rglob("*") if p.is_file()), exchange.studies)


def test_cloudpdi_demo_prints_where_its_passing_report_is(tmp_path: Path) -> None:
    demo = run(["demo"], cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    last = demo.stdout.splitlines()[-1]
    assert last.startswith("report: ")
    report_path = Path(last.removeprefix("report: "))
    assert report_path == (tmp_path / "cloudpdi-demo" / "report.json").resolve()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["verdict"] == "PASSED"
    compared = report["steps"][-1]
    assert compared["matched"] == report["steps"][1]["instances"] > 0
    assert (compared["missing"], compared["changed"]) == ([], [])
