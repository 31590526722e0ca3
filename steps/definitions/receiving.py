"""Steps of the receiving hospital: the token handed to it, and what it refuses.

The patient hands over the token the sending hospital delivered to the receiving hospital's
token inbox; what the receiving hospital refuses is recorded in the :class:`Exchange` and
judged here, against the repository's spy and the receiving PACS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_bdd import given, parsers, then, when

from cloudpdi.token import Token
from harness.lab import Lab
from harness.pacs_actor import stores_received
from reports import EvidenceKind
from simulators.receiver import Outcome
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import RECEIVING, SENDING, TOKEN_INBOX, Exchange, receive_handed
from steps.token_forms import (
    Handing,
    as_delivered,
    qr_photo,
    sealed_token,
    slip_scan,
    typed_code,
    typed_code_one_wrong,
)
from steps.told import TOLD

#: The forms in which a scenario may say the token is handed over, and how each is made from
#: what the sending hospital delivered to the receiving hospital's token inbox.
FORMS: dict[str, Handing] = {
    "the electronic token": as_delivered,
    "the sealed electronic token": sealed_token,
    "a scan of the printed token slip": slip_scan,
    "a photo of the token slip's QR code": qr_photo,
    "the code typed in by hand": typed_code,
    "the code typed in by hand, with one character wrong": typed_code_one_wrong,
}


@given(
    parsers.parse("the patient's token is one whose validity ended {hours:d} hour ago"),
    target_fixture="token",
)
def the_token_validity_ended(hours: int, lab: Lab, token: Token, evidence: EvidenceLog) -> Token:
    """Put in the inbox the issuer's token for the same document, valid until ``hours`` ago.

    It is issued and sealed as the sending hospital issues every token; only its validity
    lies in the past, because the receiving hospital's clock cannot be moved on.
    """
    ended = datetime.now(UTC) - timedelta(hours=hours)
    expired, sealed = lab.reissued(
        token, issued_at=ended - (token.expires_at - token.issued_at), expires_at=ended
    )
    inbox = lab.root / TOKEN_INBOX
    for path in inbox.glob(f"{token.token_id}*"):
        path.unlink()
    (inbox / f"{expired.token_id}.jwe").write_text(sealed, encoding="utf-8")
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=f"{SENDING} -> {RECEIVING}",
        summary=f"token {expired.token_id} for the same document, valid until {hours} h ago, "
        f"replaced token {token.token_id} in the token inbox",
    )
    return expired


@when(
    parsers.parse('the patient hands the token to the receiving hospital as "{form}"'),
    target_fixture="exchange",
)
def the_patient_hands_the_token(
    form: str, lab: Lab, evidence: EvidenceLog, receiving: dict[str, Any], tmp_path: Path
) -> Exchange:
    if form not in FORMS:
        raise StepError(f"no way to hand over the token as {form!r} is defined")
    exchange = Exchange(inbox=FORMS[form](lab.root / TOKEN_INBOX, tmp_path / "handed"))
    receive_handed(lab, exchange, evidence, receiving)
    return exchange


@then("the receiving hospital refuses the transfer")
def the_receiving_hospital_refuses(exchange: Exchange) -> None:
    # A token handed over but unreadable is one the receiving hospital may well refuse.
    if exchange.handed is None:
        raise StepError(f"the token was not handed over: {'; '.join(exchange.problems)}")
    if exchange.taken_by_sut is not None:
        assert not exchange.taken_by_sut, "the receiving hospital took the transfer"
        return
    received = exchange.received
    # A file set refused whole is kept aside with a report: refused too, though not raised.
    assert received is None or received.outcome is Outcome.REFUSED, (
        f"the receiving hospital received the transfer ({received.outcome}: "
        f"{len(received.imported)} of {len(received.instances)} instances imported)"
    )


@then(parsers.parse('the receiving hospital is told "{message}"'))
def the_receiving_hospital_is_told(
    message: str, lab: Lab, exchange: Exchange, evidence: EvidenceLog
) -> None:
    """Judge, by the entry of :data:`steps.told.TOLD` for ``message``, that it was told."""
    judge = TOLD.get(message)
    if judge is None:
        raise StepError(f"no way to judge that the receiving hospital is told {message!r}")
    told = judge(lab, exchange)
    evidence.record(EvidenceKind.FILE, actor=RECEIVING, summary=f"was told {message!r}: {told}")


@then("the repository was not asked for the document")
def the_repository_was_not_asked(lab: Lab, exchange: Exchange, evidence: EvidenceLog) -> None:
    if lab.recorder is None:
        raise StepError("the repository has no spy to tell what it was asked")
    asked = lab.recorder.requests[exchange.requests_before :]
    evidence.record(
        EvidenceKind.HTTP,
        actor="repository",
        summary=f"received {len(asked)} requests while the receiving hospital had the token",
    )
    assert not asked, f"the repository was asked {len(asked)} times: " + ", ".join(
        f"{request.method} {request.status}" for request in asked
    )


@then("the receiving PACS holds no image of the study")
def the_receiving_pacs_holds_no_image(lab: Lab) -> None:
    sent = {record.sop_instance_uid for record in lab.source.instances()}
    if not sent:
        # A referral of documents alone: no image of it exists, so none may have been stored.
        stored = stores_received(lab.destination)
        assert not stored, f"the receiving PACS was sent {len(stored)} instances"
        return
    arrived = sent & {record.sop_instance_uid for record in lab.destination.instances()}
    assert not arrived, f"the receiving PACS holds {len(arrived)} images of the study"
