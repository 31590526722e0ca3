"""Steps many features share: the referral study, the whole exchange, and a bare transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when
from pytest_bdd.compat import inject_fixture

from cloudpdi.envelope_base import file_sha256
from cloudpdi.token import Token
from harness.lab import Lab
from reports import EvidenceKind
from steps.evidence import EvidenceLog
from steps.exchange import Exchange, exchange_study, send_study
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


@pytest.fixture
def sending() -> dict[str, Any]:
    """What the scenario's Given steps change in how the sending hospital works.

    Keys are fields of the simulated sender's configuration. Every step that makes the sending
    hospital send applies them, so a Given step states a behaviour once, in one place.
    """
    return {}


@pytest.fixture
def receiving() -> dict[str, Any]:
    """What the scenario's Given steps change in how the receiving hospital works (its fields)."""
    return {}


@given(
    parsers.parse(
        "the sending hospital has sent a referral study of {count:d} {modality} images for "
        'patient "{name}"'
    ),
    target_fixture="token",
)
def the_sending_hospital_has_sent(
    count: int,
    modality: str,
    name: str,
    lab: Lab,
    tmp_path: Path,
    conformance_seed: int,
    evidence: EvidenceLog,
    sending: dict[str, Any],
    request: pytest.FixtureRequest,
) -> Token:
    """Send a referral and deliver its token to the receiving hospital's inbox; return the token."""
    referral = a_referral_study(count, modality, name, lab, tmp_path, conformance_seed)
    # The study is the scenario's referral too: later steps compare what arrives with it.
    inject_fixture(request, "referral", referral)
    exchange = send_study(lab, referral, evidence, sending)
    if exchange.issued_token is None:
        pytest.skip("; ".join(exchange.problems) or "the harness cannot read the token")
    return exchange.issued_token


@when("the sending hospital sends the study to the receiving hospital", target_fixture="exchange")
def the_sending_hospital_sends_the_study(
    lab: Lab,
    referral: Referral,
    evidence: EvidenceLog,
    sending: dict[str, Any],
    receiving: dict[str, Any],
) -> Exchange:
    return exchange_study(lab, referral, evidence, sending, receiving)


@given(parsers.parse("an encrypted transfer of {size:d} MB"), target_fixture="transfer")
def an_encrypted_transfer(size: int, lab: Lab, tmp_path: Path, evidence: EvidenceLog) -> Transfer:
    transfer = make_transfer(lab, megabytes(size), tmp_path / "transfer")
    evidence.add_secret(transfer.token.secret)
    return transfer


@pytest.fixture
def token(transfer: Transfer) -> Token:
    """The token of the scenario's transfer (a step that sends a study gives its own)."""
    return transfer.token


@when("the sending hospital uploads the transfer to the repository", target_fixture="uploaded")
def the_sending_hospital_uploads(lab: Lab, transfer: Transfer, sending: dict[str, Any]) -> Outcome:
    return upload(lab, transfer, sending)


@when(
    "the receiving hospital downloads the document named in the token",
    target_fixture="downloaded",
)
def the_receiving_hospital_downloads(lab: Lab, token: Token, tmp_path: Path) -> Outcome:
    return download(lab, token, tmp_path / "downloaded.cpdi")


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
        digests={
            "uploaded": file_sha256(uploaded.path),
            "downloaded": file_sha256(downloaded.path),
        },
    )
    assert same_bytes(uploaded.path, downloaded.path), (
        "the download differs from the ciphertext that was uploaded"
    )
