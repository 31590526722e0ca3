"""The receiver's receipt: its published schema, the refusal vocabulary, and the judges that
read it, shown able to fail when a receipt tells the wrong thing."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from cloudpdi.envelope_base import EnvelopeAuthenticationError
from cloudpdi.package import DigestMismatchError
from cloudpdi.receipt import (
    KeptFile,
    NotImported,
    PatientToMatch,
    Receipt,
    ReceiptError,
    ReceiptOutcome,
    Refusal,
    RefusalReason,
    SupportImage,
    parse_receipt,
    read_receipt,
    receipt_schema,
)
from cloudpdi.repository import DigestMismatch, DocumentGone
from cloudpdi.token import TokenExpired
from harness.lab import ActorUnderTest
from simulators.receiver import UnknownCommunityError
from simulators.receiver_receipt import reason_for, refusal_receipt
from steps.evidence import EvidenceLog
from steps.exchange import Exchange
from steps.receipts import NO_RECEIPT_SETTING, kept_files, receipt_path, take_receipt
from steps.told import TOLD
from tests.test_delivery import make_token

LETTER = b"%PDF-1.4 a referral letter\n"


def full_receipt(folder: Path) -> Receipt:
    """A receipt using every field, its files written to ``folder``."""
    (folder / "DOCS").mkdir(parents=True)
    (folder / "DOCS" / "LETTER.PDF").write_bytes(LETTER)
    (folder / "AUTORUN.INF").write_bytes(b"[autorun]\n")
    return Receipt(
        ReceiptOutcome.IMPORTED,
        token_id="T1",
        folder=str(folder),
        not_imported=(NotImported("DICOM/IM2", "unreadable: no preamble", None),),
        patients_to_match=(PatientToMatch("P1", "HOSP-A", ("DICOM/IM3",)),),
        support_images=(SupportImage("DICOM/IM4", "1.2.3.4", "ai-support", ("AI",)),),
        documents=(
            KeptFile("DOCS/LETTER.PDF", hashlib.sha256(LETTER).hexdigest(), "application/pdf"),
        ),
        kept_files=(KeptFile("AUTORUN.INF", hashlib.sha256(b"[autorun]\n").hexdigest()),),
    )


def test_a_receipt_reads_back_as_written_and_follows_its_schema(tmp_path: Path) -> None:
    receipt = full_receipt(tmp_path / "kept")
    Draft202012Validator.check_schema(receipt_schema())
    Draft202012Validator(receipt_schema()).validate(receipt.to_dict())
    receipt.write(tmp_path / "receipt.json")
    assert read_receipt(tmp_path / "receipt.json")[0] == receipt
    refused = refusal_receipt(TokenExpired("the token expired"), "T2")
    assert parse_receipt(refused.to_json()) == refused


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"outcome": "lost"}, "outcome"),
        ({"refusal": {"reason": "bad luck", "detail": ""}}, "refusal"),
        ({"outcome": "refused"}, "a refusal is given exactly when"),
        ({"folder": None}, "need the folder"),
        ({"kept_files": [{"name": "../etc/passwd", "sha256": "ab" * 32}]}, "kept_files/0/name"),
        ({"documents": [{"name": "L.PDF", "media_type": "pdf", "sha256": "x"}]}, "documents/0"),
        ({"version": 2}, "version"),
    ],
)
def test_a_receipt_against_its_schema_or_rules_is_refused(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    data = {**full_receipt(tmp_path).to_dict(), **change}
    with pytest.raises(ReceiptError, match=problem):
        parse_receipt(json.dumps(data))
    with pytest.raises(ReceiptError, match="not JSON"):
        parse_receipt("{")


def test_each_refusal_has_its_reason_from_the_vocabulary() -> None:
    assert reason_for(TokenExpired) is RefusalReason.TOKEN_EXPIRED
    assert reason_for(DocumentGone) is RefusalReason.DOCUMENT_GONE
    assert reason_for(DigestMismatch) is RefusalReason.DOWNLOAD_DAMAGED
    # Caught only after decrypting: not the download refused by the token's digest.
    assert reason_for(EnvelopeAuthenticationError) is RefusalReason.CONTENT_CANNOT_BE_OPENED
    assert reason_for(DigestMismatchError) is RefusalReason.CONTENT_CANNOT_BE_OPENED
    assert reason_for(UnknownCommunityError) is RefusalReason.COMMUNITY_UNKNOWN
    assert reason_for(KeyError) is RefusalReason.OTHER


def told(message: str, receipt: Receipt) -> str:
    return TOLD[message](None, Exchange(inbox=Path(), receipt=receipt))  # type: ignore[arg-type]


def test_a_refusal_is_judged_on_the_receipt_and_a_wrong_one_fails() -> None:
    expired = refusal_receipt(TokenExpired("the token expired at 09:00"), "T1")
    assert "token-expired" in told("the token has expired", expired)
    with pytest.raises(AssertionError, match="it refused nothing"):
        told("the token has expired", Receipt(ReceiptOutcome.IMPORTED))
    damaged = Receipt(
        ReceiptOutcome.REFUSED, refusal=Refusal(RefusalReason.CONTENT_CANNOT_BE_OPENED, "x")
    )
    with pytest.raises(AssertionError, match="download-damaged"):
        told("the download is damaged", damaged)


def test_patients_to_match_are_judged_on_the_receipt() -> None:
    waiting = Receipt(
        ReceiptOutcome.IMPORTED, patients_to_match=(PatientToMatch("P1", None, ("IM1",)),)
    )
    assert "patient P1: IM1" in told("the patient needs matching", waiting)
    with pytest.raises(AssertionError, match="does not say that the patient needs matching"):
        told("the patient needs matching", Receipt(ReceiptOutcome.IMPORTED))


def test_files_the_receipt_keeps_are_checked_on_disk(tmp_path: Path) -> None:
    receipt = full_receipt(tmp_path)
    assert kept_files(receipt, receipt.kept()) == {
        "DOCS/LETTER.PDF": tmp_path / "DOCS" / "LETTER.PDF",
        "AUTORUN.INF": tmp_path / "AUTORUN.INF",
    }
    (tmp_path / "DOCS" / "LETTER.PDF").write_bytes(LETTER + b"changed")
    with pytest.raises(AssertionError, match="not the file the receipt describes"):
        kept_files(receipt, receipt.documents)
    (tmp_path / "AUTORUN.INF").unlink()
    with pytest.raises(AssertionError, match="which is not in"):
        kept_files(receipt, receipt.kept_files)


def test_a_receipt_is_taken_as_evidence_unless_missing_broken_or_leaking(tmp_path: Path) -> None:
    token = make_token()
    evidence = EvidenceLog()
    since = time.time() - 1
    path = receipt_path(tmp_path)
    assert take_receipt(path, since, 0, token, "receiver", evidence) == (
        None,
        f"it wrote no receipt to {path}",
    )
    receipt = refusal_receipt(TokenExpired("expired"), "T1")
    receipt.write(path)
    assert take_receipt(path, since, 0, token, "receiver", evidence) == (receipt, "")
    recorded = evidence.close()[0]
    assert recorded[-1].digests == {"receipt.json": hashlib.sha256(path.read_bytes()).hexdigest()}
    # As a token's JSON form carries it: base64url without padding.
    leak = base64.urlsafe_b64encode(token.secret.reveal()).decode().rstrip("=")
    path.write_text(receipt.to_json().replace('"T1"', json.dumps(leak)), encoding="utf-8")
    assert take_receipt(path, since, 0, token, "receiver", EvidenceLog())[1].endswith(
        "holds the token's secret"
    )
    path.write_text('{"format": "cloudpdi-receipt"}', encoding="utf-8")
    assert "is a required property" in take_receipt(path, since, 0, token, "r", EvidenceLog())[1]


def test_without_a_receipt_the_receipt_checks_are_not_run_or_fail() -> None:
    with pytest.raises(ActorUnderTest, match=r"\[receiver\] receipt = true"):
        Exchange(inbox=Path(), receipt_unseen=NO_RECEIPT_SETTING).require_receipt()
    with pytest.raises(AssertionError, match="wrote no receipt"):
        Exchange(inbox=Path(), receipt_missing="it wrote no receipt").require_receipt()
