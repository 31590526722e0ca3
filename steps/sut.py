"""The sending or receiving hospital played by a system under test, driven from outside.

A scenario's steps do not know whether a hospital is simulated: :mod:`steps.exchange` asks this
module when the run configuration puts the sender or the receiver under test. The SUT is told
what to do through its trigger (:mod:`harness.drive`); the harness then waits for its effect:

- a sender under test takes the study from the simulated source PACS, uploads to the run's
  repository and delivers its token to the token inbox the configuration names, where the
  harness waits for it; the token then goes on to the (simulated) receiving hospital. When the
  configuration names a slip folder, it also prints its token slip to file in a fresh folder
  there, and the harness keeps the slip beside the token (:func:`delivered_slip`);
- a receiver under test gets the token file (a hook's last argument), downloads from the run's
  repository and imports into the simulated destination PACS, which the Then steps judge.

What only a simulated actor can show (how it was configured, what it logged) is not asked of a
SUT: :class:`~harness.lab.ActorUnderTest` makes such a case NOT RUN with the reason.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudpdi.config_actors import ReceiverSut, SenderSut
from cloudpdi.config_triggers import Hook, HttpInbox
from harness.drive import (
    Triggered,
    environment,
    poll,
    pull,
    take,
    wait_for_file,
    wait_for_files,
)
from harness.lab import ActorUnderTest, Lab
from reports import EvidenceKind
from simulators.token_dropbox import TokenDropbox
from steps.evidence import EvidenceLog

if TYPE_CHECKING:
    from steps.exchange import Exchange
    from steps.referral import Referral

#: What a scenario may change in how a sending hospital under test works: it is told these.
TOLD_TO_SENDER = frozenset({"lifetime", "documents", "pseudonym_key", "web_content"})
#: What a receiving hospital under test is set up with once, before the run: it reconciles
#: patients by asking its PACS, where the scenarios put the hospital's own patient records.
STANDING_RECEIVER_SETUP = frozenset({"reconciliation"})
SENDER_UNDER_TEST = "sending hospital under test"
RECEIVER_UNDER_TEST = "receiving hospital under test"
#: What a token slip printed to file may be: a PDF document, or an image of the page.
SLIP_SUFFIXES = (".pdf", ".png")
#: The name a sender under test's token slip is kept under, beside the token it delivered.
_SLIP_STEM = "{token}-slip"


def sender_under_test(lab: Lab) -> SenderSut | None:
    """The sender under test of the lab's run, if the sender is one."""
    sender = lab.config.sender
    return sender if isinstance(sender, SenderSut) else None


def receiver_under_test(lab: Lab) -> ReceiverSut | None:
    """The receiver under test of the lab's run, if the receiver is one."""
    receiver = lab.config.receiver
    return receiver if isinstance(receiver, ReceiverSut) else None


def send_by_sut(
    lab: Lab,
    sut: SenderSut,
    referral: Referral,
    exchange: Exchange,
    changes: Mapping[str, Any],
    evidence: EvidenceLog,
) -> Path | None:
    """Make the sender under test send ``referral``; return the token file it delivered."""
    untold = sorted(set(changes) - TOLD_TO_SENDER)
    if untold:
        raise ActorUnderTest(
            "the scenario changes how the sending hospital works "
            f"({', '.join(untold)}), which a sender under test is not told"
        )
    lifetime: timedelta | None = changes.get("lifetime")
    documents = [str(path) for path in changes.get("documents", ())]
    slips = _fresh_slip_folder(sut)
    with ExitStack() as stack:
        if slips is not None:
            stack.callback(shutil.rmtree, slips, ignore_errors=True)
        inbox = sut.token_inbox
        dropbox = None
        if isinstance(inbox, HttpInbox):
            dropbox = stack.enter_context(
                TokenDropbox(lab.root / "sut-token-inbox", host=inbox.host, port=inbox.port)
            )
            where = dropbox.tokens_url
        else:
            where = str(inbox.path)
        variables = environment(
            {
                "STUDY_UID": referral.study_uid,
                "SOURCE_PACS": str(lab.source.peer),
                "REPOSITORY_URL": lab.repository_url,
                "COMMUNITY_ID": lab.community_id,
                "RECIPIENT_ID": lab.recipient.id,
                "RECIPIENT_NAME": lab.recipient.name,
                "RECIPIENT_PUBLIC_KEY": str(lab.receiver_public_key_path),
                "TOKEN_INBOX": where,
                "LIFETIME_SECONDS": str(int(lifetime.total_seconds())) if lifetime else None,
                "DOCUMENTS": os.pathsep.join(documents) or None,
                # The scenario's own key stays the harness's: the sender uses its own.
                "PSEUDONYMS": "1" if changes.get("pseudonym_key") else None,
                "WEB_CONTENT": "1" if changes.get("web_content") else None,
                "SLIP_FOLDER": None if slips is None else str(slips),
            }
        )
        since = time.time()
        printing = "" if slips is None else f", and print its token slip to file in {slips}"
        triggered = pull(
            sut.trigger,
            variables,
            prompt=f"Send study {referral.study_uid} from {lab.source.peer} to the repository "
            f"{lab.repository_url} and deliver its token to {where}{printing}",
            wait=sut.wait_timeout,
        )
        _record(evidence, SENDER_UNDER_TEST, triggered)
        if not triggered.ok:
            exchange.problems.append(f"the sending hospital did not send: {triggered.describe()}")
            return None
        found = (
            dropbox.wait(sut.wait_timeout)
            if dropbox is not None
            else wait_for_file(inbox, since, sut.wait_timeout)  # type: ignore[arg-type]
        )
        if found is None:
            exchange.problems.append(
                f"no token arrived at {where} within {sut.wait_timeout:g} s of the trigger"
            )
            return None
        issued = take(found, lab.root / "issued")
        if slips is not None:
            left = sut.wait_timeout - (time.time() - since)
            for slip in wait_for_files(partial(_printed_slips, slips), left):
                take(slip, issued.parent, stem=_SLIP_STEM.format(token=issued.stem))
    return issued


def delivered_slip(issued: Path) -> Path:
    """The token slip a sender under test printed, kept beside the token file ``issued``.

    A PDF when it printed one (its words can be read), else an image of the page; a path
    that does not exist when it printed none.
    """
    stem = _SLIP_STEM.format(token=issued.stem)
    kept = [issued.with_name(stem + suffix) for suffix in SLIP_SUFFIXES]
    return next((path for path in kept if path.is_file()), kept[0])


def _fresh_slip_folder(sut: SenderSut) -> Path | None:
    """A new empty folder in the configured slip folder, for one send's token slip."""
    if sut.slip_folder is None:
        return None
    sut.slip_folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="send-", dir=sut.slip_folder))


def _printed_slips(folder: Path) -> list[Path]:
    """The token slip files printed into ``folder``; a name starting with a dot is a writer's
    unfinished work, not yet the slip."""
    return [
        path
        for path in folder.iterdir()
        if path.suffix in SLIP_SUFFIXES and not path.name.startswith(".")
    ]


def receive_by_sut(
    lab: Lab,
    sut: ReceiverSut,
    exchange: Exchange,
    changes: Mapping[str, Any],
    evidence: EvidenceLog,
    receipt: Path | None = None,
) -> bool:
    """Hand the token file to the receiver under test; return whether it took the transfer.

    A hook takes it when it exits 0. An operator answers whether the product refused it; when
    it did not, it took the transfer once the destination PACS holds as many instances as the
    token announces, within the wait timeout. With ``receipt``, the receiver is told to write
    its receipt there (``CLOUDPDI_RECEIPT``; an operator is asked to save it there).
    """
    untold = sorted(set(changes) - STANDING_RECEIVER_SETUP)
    if untold:
        raise ActorUnderTest(
            "the scenario changes how the receiving hospital works "
            f"({', '.join(untold)}), which a receiver under test is not told"
        )
    assert exchange.handed is not None
    variables = environment(
        {
            "TOKEN_FILE": str(exchange.handed),
            "DESTINATION_PACS": str(lab.destination.peer),
            "REPOSITORY_URL": lab.repository_url,
            "COMMUNITY_ID": lab.community_id,
            "RECEIPT": None if receipt is None else str(receipt),
        }
    )
    saving = "" if receipt is None else f", and save its receipt to {receipt}"
    # The receiving PACS may hold the hospital's own patient records already.
    held_before = len(lab.destination.instances())
    triggered = pull(
        sut.token_delivery,
        variables,
        arguments=[str(exchange.handed)],
        prompt=f"Receive the token in {exchange.handed}{_printed_forms(exchange)} from the "
        f"repository {lab.repository_url} into {lab.destination.peer}{saving}",
        wait=sut.wait_timeout,
    )
    _record(evidence, RECEIVER_UNDER_TEST, triggered)
    if isinstance(sut.token_delivery, Hook) or not triggered.ok:
        return triggered.ok
    token = exchange.require_token()
    expected = held_before + max(token.summary.instance_count, 1)
    return _wait_for_instances(lab, expected, sut.wait_timeout)


def _printed_forms(exchange: Exchange) -> str:
    """The token's QR code image and slip, as the sending hospital printed them (if known)."""
    if exchange.sent is None:
        return ""
    files = exchange.sent.token_files
    return f" (its QR code: {files.qr}; its slip: {files.slip})"


def _wait_for_instances(lab: Lab, count: int, timeout: float) -> bool:
    held = poll(lambda: len(lab.destination.instances()), lambda held: held >= count, timeout)
    return held >= count


def _record(evidence: EvidenceLog, actor: str, triggered: Triggered) -> None:
    evidence.record(
        EvidenceKind.TRIGGER,
        actor=actor,
        summary=triggered.describe(),
        detail={"standard error (end)": triggered.stderr_tail} if triggered.stderr_tail else {},
    )
