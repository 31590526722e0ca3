"""The receiver against real actors in-process: the repository under uvicorn, PACS simulators,
packages made by ``cloudpdi.package.pack`` from a generated study."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest

from cloudpdi.container import Institution
from cloudpdi.envelope import SCHEME_ID, encrypt_stream
from cloudpdi.envelope_base import EnvelopeAuthenticationError, EnvelopeFormatError
from cloudpdi.package import pack
from cloudpdi.pdi_rules import validate_file_set
from cloudpdi.receipt import ReceiptOutcome, RefusalReason, parse_receipt
from cloudpdi.reconcile import ReconcileConfig, ReconcileMode
from cloudpdi.repository import DigestMismatch, RepositoryAuthError, RepositoryClient
from cloudpdi.seal import generate_facility_key, public_key_pem, save_private_key, seal_token
from cloudpdi.secret import Secret
from cloudpdi.slip import write_qr
from cloudpdi.token import (
    ContentSummary,
    Facility,
    Token,
    TokenExpired,
    TokenRecipientError,
    issue_token,
    new_document_id,
    to_compact,
)
from cloudpdi.token_input import UntrustedIssuerError
from fixtures.broken import make_broken_file_set, make_clean_file_set
from fixtures.broken_edits import zip_file_set
from fixtures.dataset import PatientSpec
from fixtures.studies import DemoStudies, generate_demo_studies, generate_study
from simulators.pacs import PacsConfig, PacsSimulator
from simulators.receiver import (
    STAGE_DOWNLOAD,
    STAGE_STORE,
    AlreadyReceivedError,
    Outcome,
    ReceiverConfig,
    UnknownCommunityError,
    receive,
)
from simulators.receiver_import import NEEDS_MATCHING
from simulators.receiver_receipt import receipt_of
from simulators.receiver_report import InstanceStatus
from simulators.repository import Recorder, RepositoryConfig, RepositoryServer
from tests.secrecy import secret_forms

SENDER = Facility(id="1310000001", name="sending hospital")
RECEIVER = Facility(id="1310000002", name="receiving hospital")
KEYS = {SENDER.id: "sender-key", RECEIVER.id: "receiver-key"}
COMMUNITY = "jp-cloudpdi-test"
INSTITUTION = Institution(name="sending hospital", contact="radiology@example.org")
LOCAL_ID = "L-000123"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoStudies:
    """The demo referral, small: 3 CT, 2 MR, an AI support image, the letter in 3 forms."""
    return generate_demo_studies(tmp_path_factory.mktemp("demo"), ct_instances=3, mr_instances=2)


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


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[PacsSimulator]:
    """The receiving hospital's PACS, empty."""
    with PacsSimulator(PacsConfig(storage_dir=tmp_path / "pacs", ae_title="DEST_PACS")) as server:
        yield server


def upload(
    repository: RepositoryServer, sources: list[Path], folder: Path, **options: Any
) -> Token:
    """Pack ``sources`` as the sender does, upload the package, return the token."""
    package = folder / f"package-{len(list(folder.glob('package-*')))}"
    result = pack(
        sources,
        package,
        community_id=COMMUNITY,
        repository=repository.base_url,
        issuer=SENDER,
        institution=INSTITUTION,
        **options,
    )
    with RepositoryClient(repository.base_url, uploader_key=KEYS[SENDER.id]) as client:
        client.upload(
            result.token.document_id,
            package,
            result.token.content_digest,
            recipient=None if result.token.recipient is None else result.token.recipient.id,
        )
    return result.token


@pytest.fixture(scope="module")
def token(
    demo: DemoStudies, repository: RepositoryServer, tmp_path_factory: pytest.TempPathFactory
) -> Token:
    """The demo referral uploaded, with the PDF letter and the FHIR document."""
    return upload(
        repository,
        demo.dicom_files,
        tmp_path_factory.mktemp("sent"),
        documents=[demo.referral_pdf, demo.fhir_document],
    )


def receiver_config(
    tmp_path: Path, repository: RepositoryServer, pacs: PacsSimulator | None = None, **options: Any
) -> ReceiverConfig:
    options.setdefault("community_directory", {COMMUNITY: repository.base_url})
    options.setdefault(
        "reconciliation",
        ReconcileConfig(mode=ReconcileMode.MAPPING, mapping={"CPDI0001": LOCAL_ID}),
    )
    return ReceiverConfig(
        facility=RECEIVER,
        output_dir=tmp_path / "received",
        destination_pacs=None if pacs is None else pacs.peer,
        **options,
    )


def downloads_of(repository: RepositoryServer, token: Token) -> int:
    """How many times the repository was asked for the token's document (the spy's view).

    The spy records a request once it is answered, so the client may have read the answer
    before the request is recorded: the count is taken once the spy has been quiet a moment.
    """
    recorder = repository.config.recorder
    assert recorder is not None
    seen = -1
    while (count := len(recorder.requests)) != seen:
        seen = count
        recorder.wait_for(count + 1, timeout=0.3)
    return sum(
        request.method == "GET" and token.document_id in request.url
        for request in recorder.requests
    )


def pixel_hashes(paths: list[Path]) -> dict[str, str]:
    """SOP Instance UID -> SHA-256 of the Pixel Data element value, for image instances."""
    hashes = {}
    for path in paths:
        ds = pydicom.dcmread(path)
        if "PixelData" in ds:
            hashes[str(ds.SOPInstanceUID)] = hashlib.sha256(ds.PixelData).hexdigest()
    return hashes


def stored_files(pacs: PacsSimulator) -> list[Path]:
    paths = [pacs.path_of(record.sop_instance_uid) for record in pacs.instances()]
    return [path for path in paths if path is not None]


def test_every_instance_reaches_the_pacs_with_identical_pixels_and_local_id(
    tmp_path: Path,
    demo: DemoStudies,
    repository: RepositoryServer,
    token: Token,
    pacs: PacsSimulator,
) -> None:
    seen: list[tuple[str, int, int]] = []
    result = receive(
        receiver_config(tmp_path, repository, pacs),
        token,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )

    assert result.outcome is Outcome.COMPLETE and result.ok
    sent = {str(pydicom.dcmread(path).SOPInstanceUID) for path in demo.dicom_files}
    stored = stored_files(pacs)
    assert {i.sop_instance_uid for i in result.instances} == sent
    assert {str(pydicom.dcmread(path).SOPInstanceUID) for path in stored} == sent
    assert {i.status for i in result.instances} == {InstanceStatus.STORED}
    assert pixel_hashes(stored) == pixel_hashes(demo.dicom_files)
    originals = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in demo.dicom_files}
    for path in stored:
        ds = pydicom.dcmread(path)
        original = pydicom.dcmread(originals[str(ds.SOPInstanceUID)])
        assert ds.PatientID == LOCAL_ID
        assert ds.OtherPatientIDsSequence[-1].PatientID == "CPDI0001"
        assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert str(ds.PatientName) == str(original.PatientName)
    (reconciled,) = result.reconciliations
    assert (reconciled.original_id, reconciled.local_id) == ("CPDI0001", LOCAL_ID)

    support = pydicom.dcmread(demo.support_image).SOPInstanceUID
    assert [i.sop_instance_uid for i in result.support_images] == [support]
    assert {(d.path, d.kind) for d in result.documents} == {
        ("DOCUMENT/REFERRAL.PDF", "pdf"),
        ("DOCUMENT/REFERRAL.JSN", "fhir"),
    }
    assert {stage for stage, _, _ in seen} == {STAGE_DOWNLOAD, STAGE_STORE}
    assert seen[-1] == (STAGE_STORE, len(sent), len(sent))

    # The originals are kept as received: the file set in the output folder is unmodified.
    kept = [p for p in result.file_set.rglob("*") if p.is_file() and p.parent.name != "DOCUMENT"]
    kept_ids = {
        str(pydicom.dcmread(p).PatientID) for p in kept if p.name not in ("DICOMDIR", "README.TXT")
    }
    assert kept_ids == {"CPDI0001"}
    assert validate_file_set(result.file_set).ok

    report = json.loads(result.report_path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert report["outcome"] == "complete"
    assert report["counts"]["stored"] == len(sent)
    assert report["support_images"] == [support]
    assert report["reconciliation"][0]["local_id"] == LOCAL_ID


def test_patient_found_in_the_local_pacs_by_cfind(
    tmp_path: Path, repository: RepositoryServer, token: Token
) -> None:
    # The receiving PACS knows the patient under a local ID, with the alphabetic name only.
    known = PatientSpec("LOCAL-77", "YAMADA^TARO", "19650412", "M")
    earlier = generate_study("CR", 1, tmp_path / "earlier", seed=99, patient=known)
    config = PacsConfig(storage_dir=tmp_path / "pacs", load=tuple(earlier))
    with PacsSimulator(config) as pacs:
        query = ReconcileConfig(mode=ReconcileMode.QUERY, local_issuer="RECEIVING")
        result = receive(receiver_config(tmp_path, repository, pacs, reconciliation=query), token)
        assert result.ok
        imported = [pydicom.dcmread(pacs.path_of(i.sop_instance_uid)) for i in result.instances]
    for ds in imported:
        assert (ds.PatientID, ds.IssuerOfPatientID) == ("LOCAL-77", "RECEIVING")
        assert ds.OtherPatientIDsSequence[0].PatientID == "CPDI0001"
    assert result.reconciliations[0].method is ReconcileMode.QUERY


def test_no_pacs_mode_writes_the_validated_file_set_with_the_letter(
    tmp_path: Path, demo: DemoStudies, repository: RepositoryServer, token: Token
) -> None:
    result = receive(receiver_config(tmp_path, repository), token)
    assert result.ok
    assert result.destination is None
    assert {i.status for i in result.instances} == {InstanceStatus.WRITTEN}
    assert result.file_set == tmp_path / "received" / token.token_id
    letter = result.file_set / "DOCUMENT" / "REFERRAL.PDF"
    assert letter.read_bytes() == demo.referral_pdf.read_bytes()
    assert validate_file_set(result.file_set).ok
    assert result.reconciliations == ()
    assert not (tmp_path / "received" / ".work" / token.token_id).exists()
    # Its receipt hands the letter over by its digest and keeps the file set's other files.
    receipt = parse_receipt(receipt_of(result).to_json())
    assert receipt.outcome is ReceiptOutcome.IMPORTED
    assert receipt.folder == str(result.file_set)
    documents = {d.name: d for d in receipt.documents}
    assert {name: d.media_type for name, d in documents.items()} == {
        "DOCUMENT/REFERRAL.JSN": "application/fhir+json",
        "DOCUMENT/REFERRAL.PDF": "application/pdf",
    }
    assert documents["DOCUMENT/REFERRAL.PDF"].sha256 == sha256(demo.referral_pdf)
    assert "DICOMDIR" in {kept.name for kept in receipt.kept_files}
    assert not {kept.name for kept in receipt.kept_files} & {i.path for i in result.instances}


def test_an_expired_token_is_refused_before_any_download(
    tmp_path: Path, repository: RepositoryServer, token: Token, pacs: PacsSimulator
) -> None:
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    expired = replace(token, issued_at=past, expires_at=past + timedelta(days=14))
    before = downloads_of(repository, token)
    with pytest.raises(TokenExpired):
        receive(receiver_config(tmp_path, repository, pacs), expired)
    assert downloads_of(repository, token) == before
    assert pacs.count == 0
    assert not (tmp_path / "received" / token.token_id).exists()


def test_a_token_for_another_facility_is_refused_before_any_download(
    tmp_path: Path, demo: DemoStudies, repository: RepositoryServer, pacs: PacsSimulator
) -> None:
    other = Facility(id="1319999999", name="another hospital")
    foreign = upload(repository, demo.dicom_files[:1], tmp_path, recipient=other)
    with pytest.raises(TokenRecipientError):
        receive(receiver_config(tmp_path, repository, pacs), foreign)
    assert downloads_of(repository, foreign) == 0
    assert pacs.count == 0


def test_a_token_naming_an_unknown_envelope_scheme_is_refused_before_any_download(
    tmp_path: Path, repository: RepositoryServer, token: Token, pacs: PacsSimulator
) -> None:
    unknown = replace(token, envelope_scheme="cpdi-undefined/9")
    before = downloads_of(repository, token)
    with pytest.raises(EnvelopeFormatError, match="unknown envelope scheme"):
        receive(receiver_config(tmp_path, repository, pacs), unknown)
    assert downloads_of(repository, token) == before
    assert pacs.count == 0


def test_a_restricted_document_needs_the_recipient_key(
    tmp_path: Path, demo: DemoStudies, repository: RepositoryServer
) -> None:
    restricted = upload(repository, demo.dicom_files[:1], tmp_path, recipient=RECEIVER)
    with pytest.raises(RepositoryAuthError):
        receive(receiver_config(tmp_path / "a", repository), restricted)
    config = receiver_config(tmp_path / "b", repository, recipient_key=KEYS[RECEIVER.id])
    assert receive(config, restricted).ok


def flip_a_byte(path: Path) -> None:
    """Change one bit in the middle of a file: inside an encrypted chunk of a package."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("where", "error"),
    [
        # The stored bytes change after upload: the token's digest catches it.
        ("in storage", DigestMismatch),
        # The sender's package is altered and the token carries the altered digest: only the
        # envelope's authentication (with the secret) can catch it.
        ("before upload", EnvelopeAuthenticationError),
    ],
)
def test_tampered_ciphertext_imports_nothing(
    tmp_path: Path,
    demo: DemoStudies,
    repository: RepositoryServer,
    pacs: PacsSimulator,
    where: str,
    error: type[Exception],
) -> None:
    package = tmp_path / "package"
    packed = pack(
        demo.dicom_files,
        package,
        community_id=COMMUNITY,
        repository=repository.base_url,
        issuer=SENDER,
        institution=INSTITUTION,
    )
    token = packed.token
    if where == "before upload":
        flip_a_byte(package)
        token = replace(token, content_digest=f"sha-256:{sha256(package)}")
    with RepositoryClient(repository.base_url, uploader_key=KEYS[SENDER.id]) as client:
        client.upload(token.document_id, package, token.content_digest)
    if where == "in storage":
        flip_a_byte(repository.repository.storage.path(token.document_id))  # type: ignore[attr-defined]
    config = receiver_config(tmp_path, repository, pacs)
    with pytest.raises(error):
        receive(config, token)
    assert downloads_of(repository, token) == 1
    assert pacs.count == 0
    assert not (config.output_dir / token.token_id).exists()
    assert list(config.work_folder.rglob("*")) == []


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encrypted_file_set(repository: RepositoryServer, file_set_zip: Path, folder: Path) -> Token:
    """Encrypt and upload a ZIP file set made by hand, and issue its token."""
    secret, document_id = Secret.generate(), new_document_id()
    package = folder / "package"
    with file_set_zip.open("rb") as src, package.open("wb") as sink:
        encrypted = encrypt_stream(src, sink, secret, document_id)
    with RepositoryClient(repository.base_url, uploader_key=KEYS[SENDER.id]) as client:
        client.upload(document_id, package, encrypted.digest)
    return issue_token(
        community_id=COMMUNITY,
        repository=repository.base_url,
        document_id=document_id,
        secret=secret,
        envelope_scheme=SCHEME_ID,
        content_digest=encrypted.digest,
        issuer=SENDER,
        summary=ContentSummary(("CT",), 1, 4, 1, file_set_zip.stat().st_size),
    )


@pytest.fixture
def broken_token(tmp_path: Path, repository: RepositoryServer) -> Token:
    """A package whose file set has a DICOM file no DICOMDIR record references (PDI-DIR-03)."""
    clean = make_clean_file_set(tmp_path / "clean")
    broken = make_broken_file_set("unreferenced-file", clean, tmp_path / "broken")
    return encrypted_file_set(repository, zip_file_set(broken, tmp_path / "broken.zip"), tmp_path)


def test_validation_errors_refuse_the_import_and_report_the_findings(
    tmp_path: Path, repository: RepositoryServer, pacs: PacsSimulator, broken_token: Token
) -> None:
    config = receiver_config(tmp_path, repository, pacs, reconciliation=ReconcileConfig())
    result = receive(config, broken_token)
    assert result.outcome is Outcome.REFUSED
    assert pacs.count == 0
    assert not result.validation.ok
    assert "PDI-DIR-03" in {finding.requirement for finding in result.validation.errors}
    assert result.instances and {i.status for i in result.instances} == {InstanceStatus.REFUSED}
    assert all("validation" in i.reason for i in result.instances)
    # Kept aside for inspection, not delivered.
    assert not (config.output_dir / broken_token.token_id).exists()
    assert result.file_set == config.work_folder / "refused" / broken_token.token_id
    assert (result.file_set / "DICOMDIR").is_file()
    summary = result.summary()
    assert summary["outcome"] == "refused"
    receipt = receipt_of(result)
    assert receipt.refusal is not None
    assert receipt.refusal.reason is RefusalReason.FILE_SET_INVALID
    assert receipt.documents == ()
    assert summary["validation"]["errors"][0]["requirement"] == "PDI-DIR-03"


def test_validation_errors_can_be_imported_when_configured(
    tmp_path: Path, repository: RepositoryServer, pacs: PacsSimulator, broken_token: Token
) -> None:
    config = receiver_config(
        tmp_path,
        repository,
        pacs,
        reconciliation=ReconcileConfig(),
        import_on_validation_errors=True,
    )
    result = receive(config, broken_token)
    assert not result.validation.ok
    assert result.ok
    assert pacs.count == len(result.instances) == 5


def test_an_unreadable_instance_is_reported_and_the_rest_imported(
    tmp_path: Path, repository: RepositoryServer, pacs: PacsSimulator
) -> None:
    clean = make_clean_file_set(tmp_path / "clean")
    images = sorted(p for p in (clean / "DICOM").rglob("*") if p.is_file())
    images[0].write_bytes(images[0].read_bytes()[:400])
    token = encrypted_file_set(repository, zip_file_set(clean, tmp_path / "set.zip"), tmp_path)
    config = receiver_config(
        tmp_path,
        repository,
        pacs,
        reconciliation=ReconcileConfig(),
        import_on_validation_errors=True,
    )
    result = receive(config, token)
    assert result.outcome is Outcome.PARTIAL
    (unreadable,) = result.not_imported
    assert unreadable.path == images[0].relative_to(clean).as_posix()
    assert unreadable.reason.startswith("unreadable: ")
    assert pacs.count == len(images) - 1 == len(result.imported)


def test_a_qr_image_of_the_token(
    tmp_path: Path, repository: RepositoryServer, token: Token, pacs: PacsSimulator
) -> None:
    write_qr(token, tmp_path / "token-qr.png")
    result = receive(receiver_config(tmp_path, repository, pacs), tmp_path / "token-qr.png")
    assert result.ok and result.token_id == token.token_id


def test_compact_text_as_typed(tmp_path: Path, repository: RepositoryServer, token: Token) -> None:
    typed = " ".join(to_compact(token)[i : i + 5] for i in range(0, 400, 5)).lower()
    text = typed + to_compact(token)[400:]
    assert receive(receiver_config(tmp_path, repository), text).ok


@pytest.fixture(scope="module")
def facility_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The receiver's private key file, and the sender's key and public key file."""
    folder = tmp_path_factory.mktemp("keys")
    receiver, sender = generate_facility_key(), generate_facility_key()
    save_private_key(receiver, folder / "receiver.pem")
    (folder / "sender.pub.pem").write_text(public_key_pem(sender))
    (folder / "stranger.pub.pem").write_text(public_key_pem(generate_facility_key()))
    return {"folder": folder, "receiver": receiver, "sender": sender}


@pytest.mark.parametrize("trusted", ["sender.pub.pem", "stranger.pub.pem"])
def test_sealed_token_from_a_trusted_issuer_only(
    tmp_path: Path,
    repository: RepositoryServer,
    token: Token,
    facility_keys: dict[str, Any],
    trusted: str,
) -> None:
    sealed = seal_token(
        token, issuer_key=facility_keys["sender"], recipient_public_key=facility_keys["receiver"]
    )
    (tmp_path / "token.jwe").write_text(sealed)
    config = receiver_config(
        tmp_path,
        repository,
        facility_key_path=facility_keys["folder"] / "receiver.pem",
        trusted_issuers={SENDER.id: facility_keys["folder"] / trusted},
    )
    before = downloads_of(repository, token)
    if trusted == "sender.pub.pem":
        assert receive(config, tmp_path / "token.jwe").ok
    else:
        with pytest.raises(UntrustedIssuerError):
            receive(config, tmp_path / "token.jwe")
        assert downloads_of(repository, token) == before


def test_the_secret_never_appears_in_result_report_or_logs(
    tmp_path: Path,
    repository: RepositoryServer,
    token: Token,
    pacs: PacsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    result = receive(receiver_config(tmp_path, repository, pacs), to_compact(token))
    ours = "\n".join(
        [
            repr(result),
            result.to_json(),
            json.dumps(result.summary(), ensure_ascii=False),
            result.report_path.read_text(encoding="utf-8"),  # type: ignore[union-attr]
        ]
    )
    for form in [*secret_forms(token), to_compact(token)[4:40]]:
        assert form not in ours
        assert form not in caplog.text
    # The document ID is the capability to fetch the ciphertext: our report leaves it out
    # (the HTTP client's own log lines name the URL they fetch).
    assert token.document_id not in ours
    assert token.token_id in ours


def test_an_unknown_community_is_refused_unless_the_token_repository_is_trusted(
    tmp_path: Path, repository: RepositoryServer, token: Token
) -> None:
    config = receiver_config(tmp_path, repository, community_directory={})
    with pytest.raises(UnknownCommunityError, match=COMMUNITY):
        receive(config, token)
    config = replace(config, trust_token_repository=True)
    assert receive(config, token).repository == token.repository


def test_a_token_is_received_once(
    tmp_path: Path, repository: RepositoryServer, token: Token
) -> None:
    config = receiver_config(tmp_path, repository)
    receive(config, token)
    with pytest.raises(AlreadyReceivedError):
        receive(config, token)


def test_an_unmatched_patient_is_refused_and_the_others_imported(
    tmp_path: Path, demo: DemoStudies, repository: RepositoryServer, pacs: PacsSimulator
) -> None:
    stranger = PatientSpec("EXT-42", "DOE^JANE", "19800101", "F")
    other = generate_study(
        "CT", 2, tmp_path / "other", seed=5, patient=stranger, rows=32, columns=32
    )
    mixed = upload(repository, [*demo.dicom_files, *other], tmp_path)
    result = receive(receiver_config(tmp_path, repository, pacs), mixed)
    assert result.outcome is Outcome.PARTIAL
    refused = {str(pydicom.dcmread(p).SOPInstanceUID) for p in other}
    assert {i.sop_instance_uid for i in result.not_imported} == refused
    assert all(i.status is InstanceStatus.REFUSED for i in result.not_imported)
    assert all(i.reason.startswith(NEEDS_MATCHING) for i in result.not_imported)
    assert "EXT-42" not in json.dumps([i.reason for i in result.not_imported])
    assert pacs.count == len(demo.dicom_files)
    (waiting,) = receipt_of(result).patients_to_match
    assert waiting.patient_id == "EXT-42"
    assert set(waiting.instances) == {i.path for i in result.not_imported}


def test_unmatched_patients_may_be_kept_under_their_original_id(
    tmp_path: Path, demo: DemoStudies, repository: RepositoryServer, pacs: PacsSimulator
) -> None:
    stranger = PatientSpec("EXT-43", "DOE^JANE", "19800101", "F")
    other = generate_study("CT", 1, tmp_path / "other", seed=6, patient=stranger, rows=32)
    mixed = upload(repository, [*demo.dicom_files, *other], tmp_path)
    keep = ReconcileConfig(
        mode=ReconcileMode.MAPPING, mapping={"CPDI0001": LOCAL_ID}, unmatched="keep"
    )
    result = receive(receiver_config(tmp_path, repository, pacs, reconciliation=keep), mixed)
    assert result.ok
    kept = pydicom.dcmread(pacs.path_of(str(pydicom.dcmread(other[0]).SOPInstanceUID)))
    assert kept.PatientID == "EXT-43"
    assert "OtherPatientIDsSequence" not in kept
    assert [r.original_id for r in result.reconciliations] == ["CPDI0001"]


def test_an_unreachable_pacs_is_reported_per_instance(
    tmp_path: Path, repository: RepositoryServer, token: Token
) -> None:
    with PacsSimulator(PacsConfig(storage_dir=tmp_path / "gone")) as gone:
        peer = gone.peer
    config = receiver_config(tmp_path, repository, reconciliation=ReconcileConfig())
    result = receive(replace(config, destination_pacs=peer), token)
    assert result.outcome is Outcome.REFUSED
    assert {i.status for i in result.instances} == {InstanceStatus.FAILED}
    assert all("not confirmed by the PACS" in i.reason for i in result.instances)
    # The received file set stays in the output folder for another try.
    assert (result.file_set / "DICOMDIR").is_file()
    shutil.rmtree(result.file_set)
