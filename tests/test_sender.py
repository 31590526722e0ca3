"""The sender against real actors in-process: a PACS simulator, the repository under uvicorn,
a token inbox and hook commands."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloudpdi.container import Institution
from cloudpdi.dimse import DicomPeer
from cloudpdi.package import unpack
from cloudpdi.pseudonym import MIN_KEY_BYTES, patient_pseudonym
from cloudpdi.repository import (
    DocumentGone,
    RepositoryAuthError,
    RepositoryClient,
    RetriesExhausted,
)
from cloudpdi.seal import generate_facility_key, public_key_pem, save_private_key, unseal_token
from cloudpdi.token import Facility, Token, from_json
from fixtures.dataset import StudySpec, make_study
from fixtures.documents import write_referral_pdf
from fixtures.studies import generate_study
from simulators.delivery import FolderDelivery, HookDelivery, HttpInboxDelivery, deliver_token
from simulators.pacs import PacsConfig, PacsSimulator
from simulators.repository import Recorder, RepositoryConfig, RepositoryServer, find_in_requests
from simulators.sender import (
    DeliveryFailed,
    PackFailed,
    RetrieveFailed,
    SendConfigError,
    SenderConfig,
    SendResult,
    StudyNotFound,
    UploadFailed,
    UploadUnauthorized,
    send,
)
from tests.delivery_fixtures import running_inbox
from tests.pacs_samples import file_dataset_bytes
from tests.secrecy import secret_needles
from tests.tools import free_port

ISSUER = Facility(id="1310000001", name="sending hospital")
RECIPIENT = Facility(id="1310000002", name="receiving hospital")
KEYS = {ISSUER.id: "issuer-key", RECIPIENT.id: "recipient-key"}
INSTITUTION = Institution(name="sending hospital", contact="radiology@example.org")
SENDER_AE = "CPDI_SENDER"

RECORDING_HOOK = """
import pathlib, sys
pathlib.Path(sys.argv[1]).write_text(sys.argv[-1])
"""


@dataclass(frozen=True)
class Study:
    """The study on the source PACS and the referral letter sent with it."""

    spec: StudySpec
    referral: Path

    @property
    def uid(self) -> str:
        return self.spec.study_uid


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    root = tmp_path_factory.mktemp("sender-study")
    spec = make_study(seed=21)
    small = {"study": spec, "rows": 32, "columns": 32, "seed": 21}
    generate_study("CT", 3, root / "dicom" / "ct", series_number=1, **small)
    generate_study("MR", 2, root / "dicom" / "mr", series_number=2, **small)
    referral = write_referral_pdf(root / "REFERRAL.PDF", patient=spec.patient, date=spec.date)
    return Study(spec, referral)


@pytest.fixture(scope="module")
def source_pacs(study: Study, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PacsSimulator]:
    storage = tmp_path_factory.mktemp("source-pacs")
    load = (study.referral.parent / "dicom",)
    with PacsSimulator(PacsConfig(storage_dir=storage, load=load)) as pacs:
        yield pacs


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RepositoryServer]:
    config = RepositoryConfig(
        data_dir=tmp_path_factory.mktemp("repository"),
        uploader_keys=KEYS,
        purge_interval=0,
        recorder=Recorder(),
    )
    with RepositoryServer(config) as server:
        yield server


def make_config(
    source: PacsSimulator, repository_url: str, work: Path, **options: Any
) -> SenderConfig:
    """A sender of ISSUER to RECIPIENT; ``options`` override any setting."""
    settings: dict[str, Any] = {
        "source_pacs": source.peer,
        "repository_url": repository_url,
        "uploader_key": KEYS[ISSUER.id],
        "community_id": "jp.cloudpdi.test",
        "issuer": ISSUER,
        "recipient": RECIPIENT,
        "institution": INSTITUTION,
        "work_dir": work,
        "calling_ae": SENDER_AE,
        "backoff": 0.01,
        "chunk_size": 4096,  # several PATCH requests even for a small study
        **options,
    }
    return SenderConfig(**settings)


def token_of(result: SendResult) -> Token:
    return from_json(result.token_files.json.read_text())


def assert_received_intact(
    result: SendResult, repository: RepositoryServer, source: PacsSimulator, tmp_path: Path
) -> Path:
    """Check the stored ciphertext against the token, then unpack it; return the file set."""
    token = token_of(result)
    (key,) = [k for k in repository.repository.storage.list_keys() if result.document_id in k]
    stored = hashlib.sha256(b"".join(repository.repository.storage.read(key))).hexdigest()
    assert f"sha-256:{stored}" == token.content_digest == result.content_digest
    package = tmp_path / "downloaded.cpdi"
    with RepositoryClient(repository.base_url, uploader_key=KEYS[RECIPIENT.id]) as client:
        download = client.download(token.document_id, package, expected_digest=token.content_digest)
    assert download.size == result.ciphertext_size
    unpacked = unpack(package, token, tmp_path / "received", recipient_id=RECIPIENT.id)
    assert unpacked.validation.ok
    received = [path for path in (unpacked.out / "DICOM").rglob("*") if path.is_file()]
    assert len(received) == result.instances == source.count
    sent = {file_dataset_bytes(source.path_of(r.sop_instance_uid)) for r in source.instances()}
    assert {file_dataset_bytes(path) for path in received} == sent
    return unpacked.out


def test_send_by_c_get_uploads_ciphertext_that_unpacks_to_every_instance(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    work, drop = tmp_path / "work", tmp_path / "drop"
    with running_inbox() as inbox:
        config = make_config(
            source_pacs,
            repository.base_url,
            work,
            documents=[study.referral],
            delivery=[FolderDelivery(drop), HttpInboxDelivery(inbox.url)],
        )
        result = send(config, study.uid)
    assert (result.instances, result.documents) == (5, 1)
    assert result.upload.bytes_sent == result.ciphertext_size and result.upload.retries == 0
    file_set = assert_received_intact(result, repository, source_pacs, tmp_path)
    assert (file_set / "DOCUMENT" / "REFERRAL.PDF").read_bytes() == study.referral.read_bytes()

    token = token_of(result)
    assert token.recipient == RECIPIENT
    # Whole seconds: issuing may fall a second after the expiry was computed.
    assert (
        timedelta(days=14, seconds=-2) <= token.expires_at - token.issued_at <= timedelta(days=14)
    )
    policy = repository.repository.metadata.document(token.document_id).policy
    assert (policy.expires_at, policy.recipient, policy.max_downloads) == (
        token.expires_at,
        None,
        None,
    )
    # A receiving hospital needs nothing but the token: the document ID alone fetches it.
    with RepositoryClient(repository.base_url) as anyone:
        assert anyone.head(token.document_id).size == result.ciphertext_size
    # Only the token's forms remain: the retrieved instances and the ciphertext are gone.
    assert [p.name for p in work.iterdir()] == [result.token_id]
    assert sorted(p.name for p in drop.iterdir()) == sorted(
        p.name for p in result.token_files.paths
    )
    for path in [*result.token_files.paths, *drop.iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert [d.ok for d in result.deliveries] == [True, True]
    ((content_type, body),) = inbox.received
    assert content_type == "application/json" and from_json(body) == token


def test_documents_alone_travel_without_any_image(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    queries = len(source_pacs.events())
    config = make_config(
        source_pacs, repository.base_url, tmp_path / "work", documents=[study.referral]
    )
    result = send(config, None)
    assert (result.study_uid, result.instances, result.documents) == ("", 0, 1)
    assert len(source_pacs.events()) == queries, "the PACS was asked for a study"
    token = token_of(result)
    assert (token.summary.instance_count, token.summary.document_count) == (0, 1)
    package = tmp_path / "downloaded.cpdi"
    with RepositoryClient(repository.base_url, uploader_key=KEYS[RECIPIENT.id]) as client:
        client.download(token.document_id, package, expected_digest=token.content_digest)
    unpacked = unpack(package, token, tmp_path / "received", recipient_id=RECIPIENT.id)
    assert unpacked.validation.ok
    assert sorted(p.name for p in unpacked.out.iterdir()) == ["DICOMDIR", "DOCUMENT", "README.TXT"]
    assert (unpacked.out / "DOCUMENT" / "REFERRAL.PDF").read_bytes() == study.referral.read_bytes()


def test_a_transfer_without_study_or_documents_is_refused_before_any_work(
    source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    with pytest.raises(SendConfigError, match="needs documents"):
        send(make_config(source_pacs, repository.base_url, tmp_path / "work"), "")
    assert not (tmp_path / "work").exists()


def test_result_and_repository_traffic_never_hold_the_secret(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    result = send(make_config(source_pacs, repository.base_url, tmp_path), study.uid)
    forms = secret_needles(token_of(result))
    shown = " ".join([repr(result), str(result), json.dumps(result.to_dict())]).encode()
    assert [name for name, form in forms.items() if form in shown] == []
    recorder = repository.config.recorder
    assert recorder is not None and recorder.requests
    assert find_in_requests(recorder, forms) == []


def test_a_pseudonymising_sender_names_the_patient_by_pseudonym_only(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    key = os.urandom(MIN_KEY_BYTES)
    config = make_config(source_pacs, repository.base_url, tmp_path, pseudonym_key=key)
    first, second = (send(config, study.uid) for _ in range(2))
    patient = study.spec.patient
    pseudonym = patient_pseudonym(patient.patient_id, facility_id=ISSUER.id, key=key)
    assert token_of(first).patient_ref == token_of(second).patient_ref == pseudonym
    issued = first.token_files.json.read_bytes()
    assert pseudonym.encode() in issued
    assert patient.patient_id.encode() not in issued
    plain = make_config(source_pacs, repository.base_url, tmp_path / "plain")
    assert token_of(send(plain, study.uid)).patient_ref is None


def test_each_send_uses_a_fresh_document_id_and_secret(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    config = make_config(source_pacs, repository.base_url, tmp_path)
    first, second = (token_of(send(config, study.uid)) for _ in range(2))
    assert first.document_id != second.document_id
    assert first.token_id != second.token_id
    assert first.secret != second.secret
    assert first.content_digest != second.content_digest


def test_downloads_may_be_restricted_to_the_recipient_and_limited_in_number(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    config = make_config(
        source_pacs, repository.base_url, tmp_path, restrict_to_recipient=True, max_downloads=2
    )
    token = token_of(send(config, study.uid))
    policy = repository.repository.metadata.document(token.document_id).policy
    assert (policy.recipient, policy.max_downloads) == (RECIPIENT.id, 2)
    with RepositoryClient(repository.base_url) as anyone, pytest.raises(RepositoryAuthError):
        anyone.head(token.document_id)
    with RepositoryClient(repository.base_url, uploader_key=KEYS[RECIPIENT.id]) as recipient:
        for attempt in range(2):
            recipient.download(
                token.document_id, tmp_path / f"{attempt}", expected_digest=token.content_digest
            )
        with pytest.raises(DocumentGone):
            recipient.download(
                token.document_id, tmp_path / "third", expected_digest=token.content_digest
            )


def test_a_download_limit_below_one_is_refused(
    source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    with pytest.raises(SendConfigError, match="max_downloads"):
        make_config(source_pacs, repository.base_url, tmp_path, max_downloads=0)


def test_sealed_token_goes_to_the_inbox_when_a_recipient_key_is_configured(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    issuer_key, recipient_key = generate_facility_key(), generate_facility_key()
    save_private_key(issuer_key, tmp_path / "issuer.pem")
    (tmp_path / "recipient.pub.pem").write_text(public_key_pem(recipient_key))
    with running_inbox() as inbox:
        config = make_config(
            source_pacs,
            repository.base_url,
            tmp_path / "work",
            issuer_key_path=tmp_path / "issuer.pem",
            recipient_public_key_path=tmp_path / "recipient.pub.pem",
            delivery=[HttpInboxDelivery(inbox.url)],
        )
        result = send(config, study.uid)
    ((content_type, body),) = inbox.received
    assert content_type == "application/jose"
    opened = unseal_token(body.decode(), recipient_key=recipient_key, issuer_public_key=issuer_key)
    assert opened == token_of(result)
    assert result.token_files.sealed is not None
    assert result.token_files.sealed.read_text().strip() == body.decode()
    assert result.deliveries[0].form == "sealed"


def test_progress_is_reported_while_retrieving_packing_and_uploading(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    seen: dict[str, list[tuple[int, int]]] = {}

    @contextmanager
    def recording(description: str) -> Iterator[Any]:
        calls = seen.setdefault(description, [])
        yield lambda done, total: calls.append((done, total))

    result = send(
        make_config(source_pacs, repository.base_url, tmp_path), study.uid, progress=recording
    )
    assert list(seen) == ["retrieving study", "packing and encrypting", "uploading"]
    assert seen["retrieving study"][-1] == (5, 5)
    assert seen["packing and encrypting"][-1][0] == seen["packing and encrypting"][-1][1] > 0
    size = result.ciphertext_size
    assert seen["uploading"][-1] == (size, size) and len(seen["uploading"]) > 1
    assert set(result.timings) == {"retrieve", "pack", "upload", "deliver"}


def test_send_by_c_move_through_the_senders_own_storage_scp(
    source_pacs: PacsSimulator, study: Study, repository: RepositoryServer, tmp_path: Path
):
    destination = DicomPeer(SENDER_AE, "127.0.0.1", free_port())
    source_pacs.config.destinations[SENDER_AE] = (destination.host, destination.port)
    try:
        config = make_config(
            source_pacs,
            repository.base_url,
            tmp_path / "work",
            retrieve="move",
            move_destination=destination,
        )
        result = send(config, study.uid)
    finally:
        del source_pacs.config.destinations[SENDER_AE]
    assert_received_intact(result, repository, source_pacs, tmp_path)
    moves = [e for e in source_pacs.events() if e.operation == "C-MOVE"]
    assert moves and SENDER_AE in moves[-1].detail


def test_c_move_to_a_destination_unknown_to_the_pacs_says_how_to_fix_it(
    source_pacs: PacsSimulator, study: Study, repository: RepositoryServer, tmp_path: Path
):
    destination = DicomPeer("NOT_KNOWN", "127.0.0.1", free_port())
    config = make_config(
        source_pacs, repository.base_url, tmp_path, retrieve="move", move_destination=destination
    )
    fix = r"add NOT_KNOWN@127\.0\.0\.1:\d+ to its destination table"
    with pytest.raises(RetrieveFailed, match=fix):
        send(config, study.uid)
    assert list(tmp_path.iterdir()) == []


def test_unknown_study_is_named_and_nothing_is_uploaded(
    source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    recorder = repository.config.recorder
    assert recorder is not None
    before = len(recorder.requests)
    missing = "1.2.3.4.5.6.7.8.9"
    with pytest.raises(StudyNotFound, match=f"no study with Study Instance UID {missing}"):
        send(make_config(source_pacs, repository.base_url, tmp_path), missing)
    with pytest.raises(StudyNotFound, match="not a valid UID"):
        send(make_config(source_pacs, repository.base_url, tmp_path), "../1.2")
    assert len(recorder.requests) == before
    assert list(tmp_path.iterdir()) == []


def test_token_too_large_for_a_qr_code_fails_before_the_upload(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    recorder = repository.config.recorder
    assert recorder is not None
    before = len(recorder.requests)
    config = make_config(source_pacs, repository.base_url, tmp_path, description="x " * 2000)
    with pytest.raises(PackFailed, match="QR code holds at most"):
        send(config, study.uid)
    assert len(recorder.requests) == before
    assert list(tmp_path.iterdir()) == []


def test_repository_down_gives_up_after_bounded_retries_and_delivers_nothing(
    study: Study, source_pacs: PacsSimulator, tmp_path: Path
):
    record = tmp_path / "hook-ran"
    script = tmp_path / "hook.py"
    script.write_text(RECORDING_HOOK)
    work, drop = tmp_path / "work", tmp_path / "drop"
    config = make_config(
        source_pacs,
        f"http://127.0.0.1:{free_port()}",
        work,
        retries=2,
        delivery=[FolderDelivery(drop), HookDelivery((sys.executable, str(script), str(record)))],
    )
    with pytest.raises(UploadFailed, match=r"gave up after 3 failed attempts.*no token") as caught:
        send(config, study.uid)
    assert isinstance(caught.value.__cause__, RetriesExhausted)
    assert not drop.exists() and not record.exists()
    assert list(work.iterdir()) == []


def test_wrong_uploader_key_is_refused_clearly(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    config = make_config(
        source_pacs, repository.base_url, tmp_path / "work", uploader_key="not-the-key"
    )
    with pytest.raises(UploadUnauthorized, match="refused the uploader key of facility") as caught:
        send(config, study.uid)
    cause = caught.value.__cause__
    assert isinstance(cause, RepositoryAuthError) and cause.status in (401, 403)
    assert "not-the-key" not in str(caught.value)
    assert list((tmp_path / "work").iterdir()) == []


def test_failed_delivery_after_upload_says_the_document_is_uploaded_and_how_to_retry(
    study: Study, source_pacs: PacsSimulator, repository: RepositoryServer, tmp_path: Path
):
    with running_inbox() as inbox:
        inbox.answers = [400]
        config = make_config(
            source_pacs,
            repository.base_url,
            tmp_path / "work",
            delivery=[HttpInboxDelivery(inbox.url)],
        )
        with pytest.raises(DeliveryFailed, match="is uploaded") as caught:
            send(config, study.uid)
        failure = caught.value
        assert str(failure.token_files.json) in str(failure)
        token = from_json(failure.token_files.json.read_text())
        assert token.document_id == failure.document_id
        with RepositoryClient(repository.base_url, uploader_key=KEYS[RECIPIENT.id]) as client:
            assert client.head(failure.document_id).digest == token.content_digest
        (outcome,) = deliver_token(token, [HttpInboxDelivery(inbox.url)], files=failure.token_files)
    assert outcome.ok
    assert [from_json(body) for _, body in inbox.received] == [token, token]


def test_configuration_mistakes_are_refused_before_any_work(
    source_pacs: PacsSimulator, study: Study, tmp_path: Path
):
    url = "http://127.0.0.1:9"
    with pytest.raises(SendConfigError, match="calling_ae"):
        make_config(source_pacs, url, tmp_path, calling_ae="A\\B")
    with pytest.raises(SendConfigError, match="move_destination"):
        make_config(source_pacs, url, tmp_path, retrieve="move")
    with pytest.raises(SendConfigError, match="issuer's private key"):
        make_config(source_pacs, url, tmp_path, recipient_public_key_path=tmp_path / "r.pem")
    (tmp_path / "bad.pem").write_text("not a key")
    unreadable = make_config(
        source_pacs,
        url,
        tmp_path,
        issuer_key_path=tmp_path / "bad.pem",
        recipient_public_key_path=tmp_path / "bad.pem",
    )
    with pytest.raises(SendConfigError, match="cannot load a sealing key"):
        send(unreadable, study.uid)
    past = make_config(source_pacs, url, tmp_path, expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(SendConfigError, match="has passed already"):
        send(past, study.uid)
