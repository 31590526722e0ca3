"""What the receiving hospital may be told, and how to judge, on the exchange, that it was.

A scenario says ``the receiving hospital is told "<message>"``; :data:`TOLD` maps each message
to a judge. A judge reads the exchange (and the lab, to compare with what was sent), returns
what the receiving hospital was told in its own words, for the evidence, and raises an
``AssertionError`` when it was not told. The receiving hospital is told something in one of
two ways: it refused the transfer with an error of a given class (:func:`refused_with`), or its
receive report says it (:func:`reported`). Add one entry to :data:`TOLD` per message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cloudpdi.errors import CloudPDIError
from cloudpdi.repository import DigestMismatch, DocumentGone
from cloudpdi.token import TokenExpired
from harness.lab import ActorUnderTest, Lab
from simulators.receiver import ReceiveResult
from steps.documents import listed_support_images
from steps.exchange import Exchange
from steps.patients import needs_matching

#: Judges that the receiving hospital was told something: returns what it was told.
Judge = Callable[[Lab, Exchange], str]
#: Picks, from a receive report, the entries that tell the message (none: not told).
Entries = Callable[[Lab, ReceiveResult], Sequence[str]]


def refused_with(error: type[CloudPDIError]) -> Judge:
    """Judge by the refusal: the receiving hospital refused the transfer with ``error``."""

    def judge(lab: Lab, exchange: Exchange) -> str:
        _not_under_test(exchange)
        refusal = exchange.refusal
        assert isinstance(refusal, error), (
            f"the receiving hospital was not refused with {error.__name__}: "
            + ("it refused nothing" if refusal is None else f"{type(refusal).__name__}: {refusal}")
        )
        return f"refused: {type(refusal).__name__}: {refusal}"

    return judge


def reported(what: str, entries: Entries) -> Judge:
    """Judge by the receive report: it must hold at least one of the entries that tell ``what``."""

    def judge(lab: Lab, exchange: Exchange) -> str:
        _not_under_test(exchange)
        result = exchange.require_received()
        found = entries(lab, result)
        assert found, f"the receive report does not say {what}"
        return f"the receive report says {what}: " + "; ".join(found)

    return judge


def could_not_read(lab: Lab, exchange: Exchange) -> str:
    """Judge that the receive report names, with a reason, every instance sent that did not
    arrive in the receiving PACS."""
    _not_under_test(exchange)
    result = exchange.require_received()
    named = [f"{i.path}: {i.reason}" for i in result.not_imported if i.path and i.reason]
    sent = {record.sop_instance_uid for record in lab.source.instances()}
    arrived = sent & {record.sop_instance_uid for record in lab.destination.instances()}
    assert named, "the receive report names no instance the receiving hospital could not read"
    assert len(named) >= len(sent - arrived), (
        f"{len(sent - arrived)} instances sent did not arrive, and the receive report names "
        f"{len(named)}"
    )
    return "the receive report names " + "; ".join(named)


def _not_under_test(exchange: Exchange) -> None:
    """Refuse to judge a receiving hospital under test: what it is told is not ours to see."""
    if exchange.taken_by_sut is not None:
        raise ActorUnderTest(
            "what a receiving hospital under test is told shows in its own user interface, "
            "which the harness does not see"
        )


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
