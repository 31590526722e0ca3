"""Fault switches: each makes a real simulated actor break one rule, visibly, and only when on.

Every switch is tried off and on against the actors of a :class:`~harness.lab.Lab`, and the
misbehaviour is looked for the way a conformance step would look: in what the repository's spy
saw or stored, in the token files, in the receiving PACS.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread

from cloudpdi.envelope import decrypt_to_file, encrypt_stream
from cloudpdi.package import UnpackResult, unpack
from cloudpdi.repository import DigestMismatch, RepositoryClient
from cloudpdi.repository_wire import META_DOCUMENT_ID, UPLOADS_PATH, decode_metadata
from cloudpdi.token import Token
from cloudpdi.token_input import decode_qr, read_token_file, read_token_text
from features.catalog import load_catalog
from harness.lab import Lab
from simulators.faults import Fault, FaultError, faults_for, faults_of
from simulators.receiver import receive
from simulators.repository import (
    Recorder,
    RepositoryConfig,
    RepositoryServer,
    find_in_requests,
    find_in_storage,
)
from simulators.sender import SendResult, UploadFailed, send
from tests.repository_fixtures import Clock
from tests.secrecy import secret_needles
from tests.tools import require_tool

LOCAL_ID = "R0001234"
#: A DICOM Part 10 file's magic and the File Meta group after it: plaintext gives itself away.
PART10_START = b"DICM\x02\x00"
SWITCH = pytest.mark.parametrize("on", [False, True], ids=["off", "on"])


@dataclass(frozen=True)
class Study:
    files: list[Path]
    study_uid: str
    patient_id: str


@pytest.fixture(scope="module")
def study(small_study: list[Path]) -> Study:
    header = dcmread(small_study[0], stop_before_pixels=True)
    return Study(small_study, str(header.StudyInstanceUID), str(header.PatientID))


@pytest.fixture
def lab(tmp_path: Path, study: Study) -> Iterator[Lab]:
    """Both hospitals, a repository with its spy, and the study on the source PACS."""
    with Lab(tmp_path, patient_mapping={study.patient_id: LOCAL_ID}, recorder=Recorder()) as lab:
        lab.source.import_files(study.files)
        yield lab


def faults(on: bool, *switches: Fault) -> frozenset[Fault]:
    return frozenset(switches) if on else frozenset()


def send_study(lab: Lab, study: Study, *switches: Fault) -> tuple[SendResult, Token]:
    """Send the study with these faults; return the result and the token the sender issued."""
    result = send(lab.sender_config(faults=frozenset(switches), delivery=[]), study.study_uid)
    return result, read_token_file(result.token_files.json)


def download(lab: Lab, token: Token, dest: Path) -> Path:
    """Download the token's document as a receiver would, checking the token's digest."""
    with RepositoryClient(lab.repository_url, uploader_key=lab.recipient_key) as client:
        return client.download(token.document_id, dest, expected_digest=token.content_digest).path


def spy(lab: Lab) -> Recorder:
    assert lab.recorder is not None
    return lab.recorder


# The switches themselves


def test_every_fault_breaks_requirements_its_actor_must_meet() -> None:
    catalog = load_catalog()
    for fault in Fault:
        assert fault.actor in ("sender", "repository", "receiver")
        assert fault.requirements and fault.description
        for requirement in fault.requirements:
            assert fault.actor in catalog[requirement].actors, (fault, requirement)
    assert {fault.actor for fault in Fault} == {"sender", "repository", "receiver"}
    assert set(faults_of("repository")) == {Fault.REPOSITORY_SERVES_EXPIRED}


def test_faults_are_named_for_their_actor_only() -> None:
    assert faults_for("sender", ["sender-reuses-secret"]) == {Fault.SENDER_REUSES_SECRET}
    with pytest.raises(FaultError, match="fault of the sender, not of the receiver"):
        faults_for("receiver", ["sender-reuses-secret"])
    with pytest.raises(FaultError, match="no fault is named 'lies'"):
        faults_for("sender", ["lies"])


def test_configurations_start_without_faults_and_refuse_another_actors(
    lab: Lab, tmp_path: Path
) -> None:
    assert lab.sender_config().faults == frozenset()
    assert lab.receiver_config().faults == frozenset()
    assert lab.repository.config.faults == frozenset()
    with pytest.raises(FaultError):
        lab.sender_config(faults=frozenset({Fault.RECEIVER_SKIPS_DIGEST_CHECK}))
    with pytest.raises(FaultError):
        lab.receiver_config(faults=frozenset({Fault.REPOSITORY_SERVES_EXPIRED}))
    with pytest.raises(FaultError):
        RepositoryConfig(data_dir=tmp_path, faults=frozenset({Fault.SENDER_REUSES_SECRET}))
    # Given as names, as a command line gives them, faults become members.
    config = lab.sender_config(faults=["sender-uploads-plaintext"])
    assert config.faults == {Fault.SENDER_UPLOADS_PLAINTEXT}


# Repository


@SWITCH
def test_repository_serves_a_document_after_its_expiry(
    on: bool, lab: Lab, study: Study, tmp_path: Path
) -> None:
    clock = Clock(datetime.now(UTC))
    # The lab's repository, keys and all, on a clock the test moves.
    config = replace(
        lab.repository.config,
        data_dir=tmp_path / "clocked-repository",
        purge_interval=0,
        clock=clock,
        faults=faults(on, Fault.REPOSITORY_SERVES_EXPIRED),
    )
    with RepositoryServer(config) as repository:
        expires_at = datetime.now(UTC) + timedelta(hours=1)
        sender = lab.sender_config(
            repository_url=repository.base_url, delivery=[], expires_at=expires_at
        )
        token = read_token_file(send(sender, study.study_uid).token_files.json)
        clock.now = token.expires_at + timedelta(seconds=1)
        answer = httpx.get(
            f"{repository.base_url}/documents/{token.document_id}",
            headers={"Authorization": f"Bearer {lab.recipient_key}"},
            timeout=30,
        )
        purged = repository.repository.purge_expired().documents
    assert answer.status_code == (200 if on else 410)
    assert purged == (0 if on else 1)


# Sender


@SWITCH
def test_sender_reuses_the_previous_secret(on: bool, lab: Lab, study: Study) -> None:
    switches = faults(on, Fault.SENDER_REUSES_SECRET)
    _, first = send_study(lab, study, *switches)
    _, second = send_study(lab, study, *switches)
    assert (first.secret.reveal() == second.secret.reveal()) is on
    assert first.document_id != second.document_id
    # The transfer made with the old secret still opens: only the freshness check can tell.
    assert download(lab, second, lab.root / "second.cpdi").stat().st_size > 0


@SWITCH
def test_sender_reuses_the_previous_document_id(on: bool, lab: Lab, study: Study) -> None:
    switches = faults(on, Fault.SENDER_REUSES_DOCUMENT_ID)
    send_study(lab, study, *switches)
    if on:
        # The repository refuses the ID a second time; the sender still asked for it.
        with pytest.raises(UploadFailed, match="document_exists"):
            send_study(lab, study, *switches)
    else:
        send_study(lab, study, *switches)
    created = [
        decode_metadata(dict(request.headers)["upload-metadata"])[META_DOCUMENT_ID]
        for request in spy(lab).requests
        if request.method == "POST" and request.url.endswith(UPLOADS_PATH)
    ]
    assert len(created) == 2
    assert (created[0] == created[1]) is on


@SWITCH
@pytest.mark.parametrize(
    ("fault", "part"),
    [(Fault.SENDER_LEAKS_SECRET_IN_URL, "url"), (Fault.SENDER_LEAKS_SECRET_IN_HEADER, "headers")],
)
def test_sender_leaks_the_secret_to_the_repository(
    on: bool, fault: Fault, part: str, lab: Lab, study: Study
) -> None:
    result, token = send_study(lab, study, *faults(on, fault))
    found = find_in_requests(spy(lab), secret_needles(token))
    if on:
        assert found and all(f") {part}: " in place for place in found), found
    else:
        assert found == []
    # The upload itself went through either way.
    assert download(lab, token, lab.root / "package.cpdi").stat().st_size == result.ciphertext_size


@SWITCH
def test_sender_uploads_the_plaintext_file_set(on: bool, lab: Lab, study: Study) -> None:
    _, token = send_study(lab, study, *faults(on, Fault.SENDER_UPLOADS_PLAINTEXT))
    storage = lab.repository.repository.storage
    found = find_in_storage(storage, {"Part 10 start": PART10_START})
    assert found == ([f"object {token.document_id}: Part 10 start"] if on else [])
    # The token's digest matches what was uploaded: the download alone does not give it away.
    package = download(lab, token, lab.root / "package.cpdi")
    assert package.read_bytes().startswith(b"PK\x03\x04") is on


@SWITCH
@pytest.mark.parametrize(
    "fault", [Fault.SENDER_FILE_SET_WITHOUT_DICOMDIR, Fault.SENDER_FILE_SET_LOWER_CASE_NAMES]
)
def test_sender_spoils_the_file_set(on: bool, fault: Fault, lab: Lab, study: Study) -> None:
    _, token = send_study(lab, study, *faults(on, fault))
    opened = open_package(lab, token)
    found = {finding.requirement for finding in opened.validation.findings}
    # The validator finds exactly the PDI rules the fault says it breaks, and only when on.
    broken = {requirement for requirement in fault.requirements if requirement.startswith("PDI-")}
    assert broken and found == (broken if on else set())
    assert opened.files >= len(study.files)


def open_package(lab: Lab, token: Token) -> UnpackResult:
    """Download, decrypt and validate the file set, as the file set scenarios judge it."""
    package = download(lab, token, lab.root / "package.cpdi")
    return unpack(package, token, lab.root / "file-set")


@SWITCH
def test_sender_slip_qr_differs_from_the_token(on: bool, lab: Lab, study: Study) -> None:
    result, token = send_study(lab, study, *faults(on, Fault.SENDER_SLIP_QR_DIFFERS))
    scanned = read_token_text(decode_qr(result.token_files.qr))
    assert (scanned.token_id != token.token_id) is on
    assert (scanned.secret.reveal() != token.secret.reveal()) is on


@pytest.mark.external
@SWITCH
def test_sender_slip_pdf_shows_the_other_qr_code(
    on: bool, lab: Lab, study: Study, tmp_path: Path
) -> None:
    pdftoppm = require_tool("pdftoppm")
    result, token = send_study(lab, study, *faults(on, Fault.SENDER_SLIP_QR_DIFFERS))
    subprocess.run(
        [pdftoppm, "-png", "-r", "150", "-singlefile", str(result.token_files.slip), "slip"],
        cwd=tmp_path,
        check=True,
        timeout=60,
    )
    scanned = read_token_text(decode_qr(tmp_path / "slip.png"))
    assert (scanned.token_id != token.token_id) is on


# Receiver


@SWITCH
def test_receiver_imports_a_download_whose_digest_differs(
    on: bool, lab: Lab, study: Study, tmp_path: Path
) -> None:
    result, token = send_study(lab, study)
    replace_with_another_envelope(lab, token, tmp_path)
    config = lab.receiver_config(faults=faults(on, Fault.RECEIVER_SKIPS_DIGEST_CHECK))
    if on:
        received = receive(config, token)
        assert len(received.imported) == result.instances
    else:
        with pytest.raises(DigestMismatch):
            receive(config, token)
    assert lab.destination.count == (result.instances if on else 0)


def replace_with_another_envelope(lab: Lab, token: Token, work: Path) -> None:
    """Store, under the token's document ID, another envelope of the same file set.

    It opens with the token's secret and document ID, but its digest is not the token's: the
    digest alone tells the receiver it is not the transfer the token names.
    """
    stored = lab.repository.config.data_dir / "documents" / token.document_id
    plain = work / "fileset.zip"
    with stored.open("rb") as src:
        decrypt_to_file(src, plain, token.secret, token.document_id)
    with plain.open("rb") as src, stored.open("wb") as sink:
        encrypt_stream(src, sink, token.secret, token.document_id)


@SWITCH
def test_receiver_imports_under_the_original_patient_id(on: bool, lab: Lab, study: Study) -> None:
    _, token = send_study(lab, study)
    receive(lab.receiver_config(faults=faults(on, Fault.RECEIVER_IGNORES_RECONCILIATION)), token)
    destination = lab.destination
    patient_ids = {
        str(dcmread(destination.path_of(record.sop_instance_uid)).PatientID)
        for record in destination.instances()
    }
    assert patient_ids == ({study.patient_id} if on else {LOCAL_ID})
    assert destination.count == len(study.files)
