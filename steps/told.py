"""What the receiving hospital may be told, and how to judge, on the exchange, that it was.

A scenario says ``the receiving hospital is told "<message>"``; :data:`TOLD` maps each message
to a judge. A judge reads the receiving hospital's receipt (:mod:`cloudpdi.receipt`: the
simulated receiver's, or the one a receiver under test writes), compares it with what was
sent, returns what the receiving hospital was told in its own words, for the evidence, and
raises an ``AssertionError`` when it was not told. The receiving hospital is told something in
one of two ways: it refused the transfer for a reason of the receipt's vocabulary, the one the
reference receiver gives for an error class (:func:`refused_with`), or its receipt lists it
(:func:`reported`). Add one entry to :data:`TOLD` per message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cloudpdi.errors import CloudPDIError
from cloudpdi.receipt import Receipt
from cloudpdi.repository import DigestMismatch, DocumentGone
from cloudpdi.token import TokenExpired
from harness.lab import Lab
from simulators.receiver_receipt import reason_for
from steps.documents import listed_support_images
from steps.exchange import Exchange
from steps.patients import needs_matching

#: Judges that the receiving hospital was told something: returns what it was told.
Judge = Callable[[Lab, Exchange], str]
#: Picks, from a receipt, the entries that tell the message (none: not told).
Entries = Callable[[Lab, Receipt], Sequence[str]]


def refused_with(error: type[CloudPDIError]) -> Judge:
    """Judge by the refusal: the receiving hospital refused the transfer for the reason the
    reference receiver gives for ``error``."""
    reason = reason_for(error)

    def judge(lab: Lab, exchange: Exchange) -> str:
        refusal = exchange.require_receipt().refusal
        assert refusal is not None and refusal.reason is reason, (
            f"the receiving hospital was not told the transfer was refused as {reason}: "
            + ("it refused nothing" if refusal is None else f"{refusal.reason}: {refusal.detail}")
        )
        return f"refused: {refusal.reason}: {refusal.detail}"

    return judge


def reported(what: str, entries: Entries) -> Judge:
    """Judge by the receipt: it must hold at least one of the entries that tell ``what``."""

    def judge(lab: Lab, exchange: Exchange) -> str:
        found = entries(lab, exchange.require_receipt())
        assert found, f"the receipt does not say {what}"
        return f"the receipt says {what}: " + "; ".join(found)

    return judge


def could_not_read(lab: Lab, exchange: Exchange) -> str:
    """Judge that the receipt names, with a reason, every instance sent that did not arrive in
    the receiving PACS."""
    receipt = exchange.require_receipt()
    named = [f"{i.path}: {i.reason}" for i in receipt.not_imported]
    sent = {record.sop_instance_uid for record in lab.source.instances()}
    arrived = sent & {record.sop_instance_uid for record in lab.destination.instances()}
    assert named, "the receipt names no instance the receiving hospital could not read"
    assert len(named) >= len(sent - arrived), (
        f"{len(sent - arrived)} instances sent did not arrive, and the receipt names {len(named)}"
    )
    return "the receipt names " + "; ".join(named)


#: How to judge each message the receiving hospital may be told, by message.
TOLD: dict[str, Judge] = {
    "the token has expired": refused_with(TokenExpired),
    "the document is no longer available": refused_with(DocumentGone),
    # Refused as it was downloaded, by the token's digest: before decrypting any of it.
    "the download is damaged": refused_with(DigestMismatch),
    "which instance it could not read": could_not_read,
    "the patient needs matching": reported("that the patient needs matching", needs_matching),
    "which images are AI support images": reported(
        "which images are AI support images", listed_support_images
    ),
}
