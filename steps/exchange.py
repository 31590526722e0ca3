"""The whole exchange of a referral: upload, the token on its route, and the receiving hospital.

The sending hospital sends the study and delivers the token to the receiving hospital's token
inbox (a folder here); the receiving hospital takes the electronic token from that inbox and
receives the transfer into its PACS. What the actors refuse is recorded, not raised: judging it
is the Then steps' job, so a refusal makes a check fail instead of stopping the harness.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudpdi.config_actors import ReceiverSut
from cloudpdi.config_triggers import Hook
from cloudpdi.errors import CloudPDIError
from cloudpdi.receipt import Receipt
from cloudpdi.token import Token
from cloudpdi.token_input import SealKeys, read_token_file
from harness.drive import take
from harness.lab import ActorUnderTest, Lab
from reports import EvidenceKind
from simulators.delivery import FolderDelivery
from simulators.receiver import ReceiveResult, receive
from simulators.receiver_receipt import receipt_of, refusal_receipt
from simulators.sender import SendResult, send
from steps.evidence import EvidenceLog
from steps.receipts import NO_RECEIPT_SETTING, receipt_path, take_receipt
from steps.referral import Referral
from steps.sut import (
    RECEIVER_UNDER_TEST,
    receive_by_sut,
    receiver_under_test,
    send_by_sut,
    sender_under_test,
)

#: The receiving hospital's token inbox, inside the scenario's lab folder.
TOKEN_INBOX = "token-inbox"  # noqa: S105 - a folder name, not a password
#: Where a receiver under test writes its receipts, inside the scenario's lab folder.
RECEIPTS = "receipts"
SENDING = "sending hospital"
RECEIVING = "receiving hospital"
#: Fields of an actor's configuration a scenario changes, by name.
Changes = Mapping[str, Any]
# Token files in the order the receiving hospital prefers them: sealed, plain, text, a QR image.
_ELECTRONIC = ("*.jwe", "*.json", "*.txt", "*.png")


@dataclass
class Exchange:
    """What came of sending a referral, side by side with what each actor refused."""

    inbox: Path
    #: What the simulated sending hospital did (None when the sender is under test).
    sent: SendResult | None = None
    #: The sending hospital's own copy of the token it issued (as delivered, for a SUT), and
    #: the token it holds (None if the harness cannot read it).
    issued: Path | None = None
    issued_token: Token | None = None
    #: The token file the receiving hospital took from its inbox, and the token it read there.
    handed: Path | None = None
    token: Token | None = None
    received: ReceiveResult | None = None
    #: What the receiving hospital's user was told (its receipt, a refusal's reason too), and
    #: why there is none: ``unseen`` when a receiver under test shows none (NOT RUN),
    #: ``missing`` when it should have.
    receipt: Receipt | None = None
    receipt_unseen: str = ""
    receipt_missing: str = ""
    #: Whether a receiving hospital under test took the transfer (None: it is simulated).
    taken_by_sut: bool | None = None
    #: How many requests the repository had answered when the token was handed over.
    requests_before: int = 0
    problems: list[str] = field(default_factory=list)

    def require_token(self) -> Token:
        """Return the token the receiving hospital was handed; fail the check if there is none."""
        if self.token is None:
            raise AssertionError(f"no token reached the receiving hospital: {self._why()}")
        return self.token

    def require_received(self) -> ReceiveResult:
        """Return what the receiving hospital received; fail the check if it received nothing."""
        if self.taken_by_sut is not None:
            raise ActorUnderTest(
                "this check reads the receiving hospital's own report, and the receiving "
                "hospital under test is judged by what reaches its PACS only"
            )
        if self.received is None:
            raise AssertionError(f"the receiving hospital received nothing: {self._why()}")
        return self.received

    def require_receipt(self) -> Receipt:
        """Return the receipt of what the receiving hospital's user was told.

        NOT RUN when a receiver under test shows no receipt; the check fails when there is
        none to judge (it received nothing, or its receipt is missing, unreadable or leaks).
        """
        if self.receipt_unseen:
            raise ActorUnderTest(self.receipt_unseen)
        if self.receipt is None:
            raise AssertionError(
                f"the receiving hospital shows no receipt: {self.receipt_missing or self._why()}"
            )
        return self.receipt

    def _why(self) -> str:
        return "; ".join(self.problems) or "no reason given"


def exchange_study(
    lab: Lab,
    referral: Referral,
    evidence: EvidenceLog,
    sending: Changes | None = None,
    receiving: Changes | None = None,
) -> Exchange:
    """Send ``referral`` to the receiving hospital of ``lab`` and let it receive the transfer.

    ``sending`` and ``receiving`` are what the scenario's Given steps changed in how the
    sending and the receiving hospital work (fields of their configurations).
    """
    exchange = send_study(lab, referral, evidence, sending)
    receive_handed(lab, exchange, evidence, receiving)
    return exchange


def send_study(
    lab: Lab, referral: Referral, evidence: EvidenceLog, changes: Changes | None = None
) -> Exchange:
    """Send ``referral`` and deliver its token to the receiving hospital's token inbox."""
    exchange = Exchange(inbox=lab.root / TOKEN_INBOX)
    sut = sender_under_test(lab)
    if sut is not None:
        exchange.issued = send_by_sut(lab, sut, referral, exchange, changes or {}, evidence)
        if exchange.issued is not None:
            exchange.issued_token = _learn_token(lab, exchange.issued, evidence)
            # Named after the token, as the inbox names every electronic token it is handed.
            token_id = exchange.issued_token.token_id if exchange.issued_token else "delivered"
            delivered = take(exchange.issued, exchange.inbox, stem=token_id)
            evidence.record(
                EvidenceKind.TOKEN_HANDOFF,
                actor=f"{SENDING} -> {RECEIVING}",
                summary=f"the token the sending hospital delivered went to the token inbox as "
                f"{delivered.name}",
            )
        return exchange
    try:
        sender = lab.sender_config(delivery=[FolderDelivery(exchange.inbox)], **(changes or {}))
        exchange.sent = send(sender, referral.study_uid)
    except CloudPDIError as exc:
        exchange.problems.append(f"the sending hospital did not send the study: {exc}")
    if exchange.sent is not None:
        exchange.issued = exchange.sent.token_files.json
        # The issuer's copy names the secret too: it must be redacted even if no hand-off worked.
        exchange.issued_token = _learn_token(lab, exchange.issued, evidence)
        _log_deliveries(exchange.sent, evidence)
    return exchange


def receive_handed(
    lab: Lab, exchange: Exchange, evidence: EvidenceLog, changes: Changes | None = None
) -> None:
    """Let the receiving hospital take the token from its inbox and receive the transfer."""
    if lab.recorder is not None:
        exchange.requests_before = len(lab.recorder.requests)
    _hand_over(lab, exchange, evidence)
    sut = receiver_under_test(lab)
    if sut is not None:
        if exchange.handed is not None and exchange.token is not None:
            _receive_by_sut(lab, sut, exchange, changes or {}, evidence)
        return
    # Handed over even when the harness cannot read it: refusing it is the receiver's job.
    if exchange.handed is not None:
        try:
            exchange.received = receive(lab.receiver_config(**(changes or {})), exchange.handed)
        except CloudPDIError as exc:
            exchange.problems.append(f"the receiving hospital refused the transfer: {exc}")
            token_id = None if exchange.token is None else exchange.token.token_id
            exchange.receipt = refusal_receipt(exc, token_id)
    if exchange.received is not None:
        evidence.add_validation(exchange.received.validation, RECEIVING, "the received file set")
        exchange.receipt = receipt_of(exchange.received)


def _receive_by_sut(
    lab: Lab, sut: ReceiverSut, exchange: Exchange, changes: Changes, evidence: EvidenceLog
) -> None:
    """Hand the token to the receiver under test, and take its receipt if it writes one."""
    receipt = receipt_path(lab.root / RECEIPTS) if sut.receipt else None
    if receipt is None:
        exchange.receipt_unseen = NO_RECEIPT_SETTING
    since = time.time()
    exchange.taken_by_sut = receive_by_sut(lab, sut, exchange, changes, evidence, receipt)
    if not exchange.taken_by_sut:
        exchange.problems.append("the receiving hospital did not take the transfer")
    if receipt is not None:
        # A hook has written its receipt when it exits; an operator saves it within the wait.
        left = 0.0 if isinstance(sut.token_delivery, Hook) else sut.wait_timeout
        left = max(0.0, left - (time.time() - since))
        exchange.receipt, exchange.receipt_missing = take_receipt(
            receipt, since, left, exchange.token, RECEIVER_UNDER_TEST, evidence
        )


def _learn_token(lab: Lab, token_file: Path, evidence: EvidenceLog) -> Token | None:
    """Read the token a sending hospital issued, and redact its secret, if the harness can."""
    try:
        token = read_token_file(token_file, keys=receiver_keys(lab))
    except CloudPDIError:
        # An unreadable token holds no secret the harness could know; the Then steps judge it.
        return None
    evidence.add_secret(token.secret)
    return token


def receiver_keys(lab: Lab) -> SealKeys | None:
    """The keys the receiving hospital opens sealed tokens with (None: the harness has none)."""
    receiver = lab.receiver_config()
    if receiver.facility_key_path is None:
        return None
    return SealKeys.load(receiver.facility_key_path, receiver.trusted_issuers)


def _log_deliveries(sent: SendResult, evidence: EvidenceLog) -> None:
    for delivery in sent.deliveries:
        outcome = "done" if delivery.ok else "failed"
        evidence.record(
            EvidenceKind.TOKEN_HANDOFF,
            actor=f"{SENDING} -> {RECEIVING}",
            summary=f"token {sent.token_id}, {delivery.form} form, by {delivery.channel}: "
            f"{outcome}",
            detail={"channel detail": delivery.detail},
        )


def _hand_over(lab: Lab, exchange: Exchange, evidence: EvidenceLog) -> None:
    """Let the receiving hospital take the electronic token from its inbox and read it."""
    found = [path for pattern in _ELECTRONIC for path in sorted(exchange.inbox.glob(pattern))]
    if not found:
        exchange.problems.append("no electronic token arrived in its token inbox")
        return
    exchange.handed = found[0]
    keys = receiver_keys(lab)
    if keys is None and exchange.handed.suffix == ".jwe":
        raise ActorUnderTest(
            "the token is sealed to the receiving facility, and the run configuration gives the "
            "harness no private key of that facility ([facilities.recipient] private_key)"
        )
    content = exchange.handed.read_bytes()
    try:
        exchange.token = read_token_file(exchange.handed, keys=keys)
    except CloudPDIError as exc:
        exchange.problems.append(f"the token in its inbox cannot be read: {exc}")
    else:
        evidence.add_secret(exchange.token.secret)
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=f"token inbox -> {RECEIVING}",
        summary=f"took {exchange.handed.name} from its token inbox: "
        + ("read" if exchange.token is not None else "unreadable"),
        sizes={"token file": len(content)},
        digests={"sha-256": hashlib.sha256(content).hexdigest()},
    )
