"""End to end, in-process: a referral of 300 CT + 20 MR instances and its letter, sent and received.

One exchange between the simulated hospitals of a :class:`~harness.lab.Lab`, with full-size
512 x 512 CT slices as a referral carries them: the sender retrieves the study from the source
PACS, packs, encrypts and uploads it and delivers the sealed token; the receiver opens it and
imports into the destination PACS, then receives the same token again in "no PACS" mode. The
repository's spy records every request, and the secrecy test reads what reached it. Expiry and
revocation use a small study and a repository whose clock the test moves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread

from cloudpdi.config_model import DEFAULT_COMMUNITY, DEFAULT_ISSUER
from cloudpdi.repository import DocumentGone, RepositoryAuthError, RepositoryClient
from cloudpdi.token import Token, TokenExpired
from fixtures.studies import DEFAULT_PATIENT, DemoStudies, generate_demo_studies
from harness.commands import read_token_file
from harness.lab import (
    LOCAL_ISSUER,
    RECEIVER_FACILITY,
    Lab,
    compare_pacs,
    content_digest,
    original_patient_ids,
)
from simulators.receiver import AlreadyReceivedError, ReceiveResult, receive
from simulators.receiver_report import InstanceStatus, Outcome
from simulators.repository import (
    Recorder,
    RepositoryConfig,
    RepositoryServer,
    find_in_requests,
    find_in_storage,
)
from simulators.repository.spy import scan
from simulators.sender import SendResult, send
from tests.repository_fixtures import Clock
from tests.secrecy import secret_needles

CT_INSTANCES = 300
MR_INSTANCES = 20
#: The CT and MR series, the AI support image and the letter as Encapsulated PDF.
DICOM_INSTANCES = CT_INSTANCES + MR_INSTANCES + 2
LOCAL_ID = "L-E2E-0001"
#: Magic of a DICOM Part 10 file, and that magic followed by the group of the File Meta
#: Information, which every Part 10 file has right after it.
DICM = b"DICM"
PART10_START = b"DICM\x02\x00"
#: Accepted odds that chance alone puts more ``DICM`` into random ciphertext than allowed.
CHANCE = 1e-9
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Exchange:
    """The exchange, done once for the module: what was sent and what each receive made of it."""

    lab: Lab
    studies: DemoStudies
    sent: SendResult
    token: Token
    imported: ReceiveResult
    written: ReceiveResult
    written_dir: Path


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    root = tmp_path_factory.mktemp("e2e")
    mapping = {DEFAULT_PATIENT.patient_id: LOCAL_ID}
    with Lab(root, patient_mapping=mapping, recorder=Recorder()) as lab:
        studies = generate_demo_studies(
            root / "study", seed=5, ct_instances=CT_INSTANCES, mr_instances=MR_INSTANCES
        )
        lab.source.import_files(studies.dicom_files)
        sender = lab.sender_config(documents=[studies.referral_pdf], description="CT/MR referral")
        sent = send(sender, studies.study.study_uid)
        # What the receiving hospital got: the sealed token in its token folder.
        sealed = root / "token-inbox" / f"{sent.token_id}.jwe"
        imported = receive(lab.receiver_config(), sealed)
        written_dir = root / "received-no-pacs"
        written = receive(
            lab.receiver_config(destination_pacs=None, output_dir=written_dir), sealed
        )
        token = read_token_file(sent.token_files.json)
        yield Exchange(lab, studies, sent, token, imported, written, written_dir)


def test_destination_pacs_holds_every_instance_with_identical_pixel_data(
    exchange: Exchange,
) -> None:
    assert exchange.sent.instances == DICOM_INSTANCES
    assert exchange.imported.outcome is Outcome.COMPLETE
    assert len(exchange.imported.imported) == DICOM_INSTANCES
    comparison = compare_pacs(exchange.lab.source, exchange.lab.destination)
    assert comparison.missing == () and comparison.changed == ()
    assert len(comparison.matched) == DICOM_INSTANCES == exchange.lab.destination.count
    sources = {
        str(dcmread(path, stop_before_pixels=True).SOPInstanceUID): content_digest(path)
        for path in exchange.studies.dicom_files
    }
    destination = exchange.lab.destination
    stored = {uid: content_digest(destination.path_of(uid)) for uid in sources}
    assert stored == sources


def test_patient_is_reconciled_and_the_original_id_kept(exchange: Exchange) -> None:
    (reconciled,) = exchange.imported.reconciliations
    assert (reconciled.original_id, reconciled.local_id) == (DEFAULT_PATIENT.patient_id, LOCAL_ID)
    destination = exchange.lab.destination
    for record in destination.instances():
        path = destination.path_of(record.sop_instance_uid)
        ds = dcmread(path, stop_before_pixels=True)
        assert (ds.PatientID, ds.IssuerOfPatientID) == (LOCAL_ID, LOCAL_ISSUER)
        assert DEFAULT_PATIENT.patient_id in original_patient_ids(path)
    # The source PACS still knows the patient by the sender's ID: only the copy was changed.
    source = exchange.lab.source
    path = source.path_of(source.instances()[0].sop_instance_uid)
    assert dcmread(path, stop_before_pixels=True).PatientID == DEFAULT_PATIENT.patient_id


def test_no_pacs_receive_delivers_the_referral_pdf_byte_identical(exchange: Exchange) -> None:
    written = exchange.written
    assert written.destination is None and written.outcome is Outcome.COMPLETE
    assert {i.status for i in written.instances} == {InstanceStatus.WRITTEN}
    assert len(written.instances) == DICOM_INSTANCES
    assert [(d.path, d.kind) for d in written.documents] == [("DOCUMENT/REFERRAL.PDF", "pdf")]
    letter = written.file_set / "DOCUMENT" / "REFERRAL.PDF"
    assert letter.read_bytes() == exchange.studies.referral_pdf.read_bytes()
    assert written.file_set.parent == exchange.written_dir
    # The folder delivery changed nothing in the destination PACS.
    assert exchange.lab.destination.count == DICOM_INSTANCES


def test_a_token_received_into_the_same_folder_is_refused_before_any_download(
    exchange: Exchange,
) -> None:
    lab = exchange.lab
    recorder = lab.recorder
    assert recorder is not None
    before = len(recorder.requests)
    config = lab.receiver_config(destination_pacs=None, output_dir=exchange.written_dir)
    with pytest.raises(AlreadyReceivedError):
        receive(config, exchange.token)
    assert len(recorder.requests) == before


def test_nothing_reaching_the_repository_holds_the_secret_plaintext_or_patient_name(
    exchange: Exchange,
) -> None:
    lab = exchange.lab
    recorder = lab.recorder
    assert recorder is not None
    requests = recorder.requests
    # The spy saw the whole exchange: upload, then one download per receive.
    downloads = [r for r in requests if r.method == "GET" and exchange.token.document_id in r.url]
    assert len(downloads) == 2 and all(r.status in (200, 206) for r in downloads)
    uploaded = sum(r.body_size for r in requests if r.method in ("PATCH", "PUT"))
    assert uploaded >= exchange.sent.ciphertext_size > 50_000_000

    needles = {
        **secret_needles(exchange.token),
        **name_needles(exchange.studies.dicom_files[0]),
        "Part 10 start": PART10_START,
    }
    # The search finds them where they are: in the plaintext instance.
    plaintext = scan(blocks(exchange.studies.dicom_files[0]), needles)
    assert {"name as written", "ideographic as written", "Part 10 start"} <= plaintext
    assert find_in_requests(recorder, needles) == []
    repository = lab.repository.repository
    assert list(repository.storage.list_keys()) == [exchange.token.document_id]
    assert find_in_storage(repository.storage, needles) == []
    # Every byte on the repository's disk: documents, metadata, audit log, staging.
    on_disk = sorted(p for p in lab.repository.config.data_dir.rglob("*") if p.is_file())
    assert [p for p in on_disk if scan(blocks(p), needles)] == []

    # Ciphertext is random, and random bytes hold a 4-byte pattern about once per 4 GiB: DICM
    # may turn up only as often as chance allows (a Part 10 file would show its start, above).
    for r in requests:
        assert DICM not in b"\n".join(
            [r.url.encode(), *(f"{k}: {v}".encode() for k, v in r.headers)]
        )
    found = sum(occurrences([r.body], DICM) for r in requests)
    assert found <= chance_limit(sum(len(r.body) for r in requests), len(DICM)), found
    found = sum(occurrences(blocks(p), DICM) for p in on_disk)
    assert found <= chance_limit(sum(p.stat().st_size for p in on_disk), len(DICM)), found


def name_needles(instance: Path) -> dict[str, bytes]:
    """The patient's name as the instance holds it (ISO 2022 IR 87) and in other encodings."""
    ds = dcmread(instance, stop_before_pixels=True)
    assert ds.SpecificCharacterSet == ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    written = bytes(ds.get_item("PatientName").value).rstrip(b" ")
    alphabetic, ideographic, phonetic = written.split(b"=")
    assert b"\x1b$B" in ideographic  # JIS X 0208 behind its escape sequence, as written
    name = DEFAULT_PATIENT.name
    needles = {
        "name as written": written,
        "alphabetic": alphabetic,
        "family name": alphabetic.split(b"^")[0],
        "ideographic as written": ideographic,
        "phonetic as written": phonetic,
        "name utf-8": name.encode("utf-8"),
    }
    groups = dict(zip(("ideographic", "phonetic"), name.split("=")[1:], strict=True))
    for group, text in groups.items():
        for encoding in ("utf-8", "utf-16-le", "shift_jis", "euc_jp", "iso2022_jp"):
            needles[f"{group} {encoding}"] = text.encode(encoding)
        needles[f"{group} family name utf-8"] = text.split("^")[0].encode("utf-8")
    return needles


def blocks(path: Path) -> Iterator[bytes]:
    """The bytes of a file, a block at a time."""
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            yield block


def occurrences(pieces: Iterable[bytes], needle: bytes) -> int:
    """Count ``needle`` in a stream of pieces, also across piece ends."""
    count, tail = 0, b""
    for piece in pieces:
        window = tail + piece
        count += window.count(needle)
        # Shorter than the needle: no occurrence is counted twice.
        tail = window[len(window) - len(needle) + 1 :]
    return count


def chance_limit(size: int, length: int) -> int:
    """Most chance hits of a ``length``-byte pattern in ``size`` random bytes (Poisson tail)."""
    rate = size / 256**length
    hits, term = 0, math.exp(-rate)
    below = term
    while 1 - below >= CHANCE:
        hits += 1
        term *= rate / hits
        below += term
    return hits


# Expiry and revocation: a small study, and a repository whose clock the test moves.


@dataclass(frozen=True)
class Hospitals:
    """A Lab with a small study on its source PACS."""

    lab: Lab
    study_uid: str


@pytest.fixture(scope="module")
def hospitals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hospitals]:
    root = tmp_path_factory.mktemp("expiry")
    with Lab(root) as lab:
        studies = generate_demo_studies(root / "study", seed=9, ct_instances=2, mr_instances=1)
        lab.source.import_files(studies.dicom_files)
        yield Hospitals(lab, studies.study.study_uid)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
def repository(tmp_path: Path, hospitals: Hospitals, clock: Clock) -> Iterator[RepositoryServer]:
    """The community's repository, knowing both hospitals, with the test's clock and a spy."""
    lab = hospitals.lab
    config = RepositoryConfig(
        data_dir=tmp_path / "repository",
        uploader_keys={
            DEFAULT_ISSUER.id: lab.uploader_key,
            RECEIVER_FACILITY.id: lab.recipient_key,
        },
        purge_interval=0,
        clock=clock,
        recorder=Recorder(),
    )
    with RepositoryServer(config) as server:
        yield server


def send_small(hospitals: Hospitals, repository: RepositoryServer, tmp_path: Path) -> Token:
    """Send the small study through ``repository``; return the token the sender issued."""
    config = hospitals.lab.sender_config(
        repository_url=repository.base_url, work_dir=tmp_path / "sender", delivery=[]
    )
    return read_token_file(send(config, hospitals.study_uid).token_files.json)


def receive_small(
    hospitals: Hospitals, repository: RepositoryServer, token: Token | str, out: Path
) -> ReceiveResult:
    config = hospitals.lab.receiver_config(
        community_directory={DEFAULT_COMMUNITY: repository.base_url}, output_dir=out
    )
    return receive(config, token)


def direct_get(repository: RepositoryServer, document_id: str, key: str) -> httpx.Response:
    """GET the document as any HTTP client would, with the recipient facility's key."""
    return httpx.get(
        f"{repository.base_url}/documents/{document_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def stored_path(repository: RepositoryServer, document_id: str) -> Path:
    return repository.config.data_dir / "documents" / document_id


def test_receiver_refuses_an_expired_token_before_any_download(
    tmp_path: Path, hospitals: Hospitals, repository: RepositoryServer
) -> None:
    lab = hospitals.lab
    valid = send_small(hospitals, repository, tmp_path)
    # The issuer's token for the same document, issued two hours ago for one hour, sealed
    # and signed as the issuer seals every token: its expires-at lies in the past.
    issued = datetime.now(UTC) - timedelta(hours=2)
    expired, sealed = lab.reissued(valid, issued_at=issued, expires_at=issued + timedelta(hours=1))
    recorder = repository.config.recorder
    assert recorder is not None
    recorder.clear()
    audited = len(repository.repository.audit.entries())
    destination_count = lab.destination.count

    with pytest.raises(TokenExpired):
        receive_small(hospitals, repository, sealed, tmp_path / "received")

    assert recorder.requests == []
    assert len(repository.repository.audit.entries()) == audited
    assert not (tmp_path / "received" / expired.token_id).exists()
    assert lab.destination.count == destination_count
    # The repository would have served it: the refusal was the receiver's own.
    assert direct_get(repository, valid.document_id, lab.recipient_key).status_code == 200


def test_after_expiry_the_repository_answers_410_and_the_purge_removes_the_bytes(
    tmp_path: Path, hospitals: Hospitals, repository: RepositoryServer, clock: Clock
) -> None:
    key = hospitals.lab.recipient_key
    token = send_small(hospitals, repository, tmp_path)
    with RepositoryClient(repository.base_url, uploader_key=key) as client:
        assert client.head(token.document_id).expires_at == token.expires_at
    stored = stored_path(repository, token.document_id)
    assert stored.is_file()

    clock.now = token.expires_at - timedelta(seconds=1)
    assert direct_get(repository, token.document_id, key).status_code == 200
    clock.now = token.expires_at
    gone = direct_get(repository, token.document_id, key)
    assert (gone.status_code, gone.json()["error"]) == (410, "expired")
    assert stored.is_file()  # expired, not yet purged

    assert repository.repository.purge_expired().documents == 1
    assert not stored.exists()
    assert token.document_id not in set(repository.repository.storage.list_keys())
    assert direct_get(repository, token.document_id, key).status_code == 410
    # A receiver whose own clock still accepts the token gets nothing from the repository.
    before = hospitals.lab.destination.count
    with pytest.raises(DocumentGone):
        receive_small(hospitals, repository, token, tmp_path / "received")
    assert hospitals.lab.destination.count == before


def test_after_the_uploader_deletes_the_document_the_repository_answers_410(
    tmp_path: Path, hospitals: Hospitals, repository: RepositoryServer
) -> None:
    lab = hospitals.lab
    token = send_small(hospitals, repository, tmp_path)
    stored = stored_path(repository, token.document_id)
    assert stored.is_file()
    # Only the uploader may revoke: the recipient facility's key is refused.
    with (
        RepositoryClient(repository.base_url, uploader_key=lab.recipient_key) as recipient,
        pytest.raises(RepositoryAuthError),
    ):
        recipient.delete(token.document_id)
    assert direct_get(repository, token.document_id, lab.recipient_key).status_code == 200

    with RepositoryClient(repository.base_url, uploader_key=lab.uploader_key) as uploader:
        uploader.delete(token.document_id)
    gone = direct_get(repository, token.document_id, lab.recipient_key)
    assert (gone.status_code, gone.json()["error"]) == (410, "revoked")
    assert not stored.exists()
    before = lab.destination.count
    with pytest.raises(DocumentGone):
        receive_small(hospitals, repository, token, tmp_path / "received")
    assert lab.destination.count == before
