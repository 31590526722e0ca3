"""Steps many features share: the referral study, the whole exchange, and a bare transfer."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pytest_bdd import given, parsers, then, when

from harness.lab import Lab
from reports import EvidenceKind
from steps.evidence import EvidenceLog
from steps.exchange import Exchange, exchange_study
from steps.referral import Referral, make_referral
from steps.transfer import Outcome, Transfer, download, make_transfer, megabytes, same_bytes, upload


@given(
    parsers.parse('a referral study of {count:d} {modality} images for patient "{name}"'),
    target_fixture="referral",
)
def a_referral_study(
    count: int, modality: str, name: str, lab: Lab, tmp_path: Path, conformance_seed: int
) -> Referral:
    return make_referral(
        lab, name, count, modality, seed=conformance_seed, folder=tmp_path / "referral"
    )


@when("the sending hospital sends the study to the receiving hospital", target_fixture="exchange")
def the_sending_hospital_sends_the_study(
    lab: Lab, referral: Referral, evidence: EvidenceLog
) -> Exchange:
    return exchange_study(lab, referral, evidence)


@given(parsers.parse("an encrypted transfer of {size:d} MB"), target_fixture="transfer")
def an_encrypted_transfer(size: int, lab: Lab, tmp_path: Path, evidence: EvidenceLog) -> Transfer:
    transfer = make_transfer(lab, megabytes(size), tmp_path / "transfer")
    evidence.add_secret(transfer.token.secret)
    return transfer


@when("the sending hospital uploads the transfer to the repository", target_fixture="uploaded")
def the_sending_hospital_uploads(lab: Lab, transfer: Transfer) -> Outcome:
    return upload(lab, transfer)


@when(
    "the receiving hospital downloads the document named in the token",
    target_fixture="downloaded",
)
def the_receiving_hospital_downloads(lab: Lab, transfer: Transfer, tmp_path: Path) -> Outcome:
    return download(lab, transfer.token, tmp_path / "downloaded.cpdi")


@then("the download is the ciphertext as it was uploaded, byte for byte")
def the_download_is_the_ciphertext(
    uploaded: Outcome, downloaded: Outcome, evidence: EvidenceLog
) -> None:
    assert uploaded.path is not None, uploaded.error
    assert downloaded.path is not None, downloaded.error
    evidence.record(
        EvidenceKind.FILE,
        actor="harness",
        summary="compared the download with the ciphertext uploaded",
        sizes={
            "uploaded": uploaded.path.stat().st_size,
            "downloaded": downloaded.path.stat().st_size,
        },
        digests={"uploaded": _sha256(uploaded.path), "downloaded": _sha256(downloaded.path)},
    )
    assert same_bytes(uploaded.path, downloaded.path), (
        "the download differs from the ciphertext that was uploaded"
    )


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
