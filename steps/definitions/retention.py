"""Steps of expiry and revocation: time passing at the repository, and the uploader withdrawing.

The repository's clock is real time plus the time a scenario lets pass, so that a document
expires without the scenario waiting for it; the repository reads its clock on every request.
Whether its bytes are deleted is judged from the repository's storage folder
(:mod:`steps.stored_bytes`), searched once while the document is still served, so that not
finding them afterwards means they went.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from cloudpdi.token import Token
from harness.lab import ActorUnderTest, Lab
from reports import EvidenceKind
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import SENDING
from steps.searching import listing
from steps.stored_bytes import StoredBytes, ciphertext_samples, search_storage, search_until_gone
from steps.transfer import Outcome, revoke


class RepositoryClock:
    """Real time, moved on by the time a scenario lets pass."""

    def __init__(self) -> None:
        self.passed = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.passed


@pytest.fixture
def stored_before() -> dict[str, StoredBytes]:
    """Where each document's bytes were found in the repository's storage while it still held
    them: without that, not finding them later proves nothing."""
    return {}


def search_before_deletion(
    lab: Lab, token: Token, stored_before: dict[str, StoredBytes], evidence: EvidenceLog
) -> None:
    """Search the storage for the document's bytes before they are to go, if the repository
    shows its storage (if not, a check of their deletion is NOT RUN with the reason)."""
    try:
        folder = lab.repository_storage
    except ActorUnderTest:
        return
    found = search_storage(folder, ciphertext_samples(lab, token.document_id))
    stored_before[token.document_id] = found
    evidence.record(
        EvidenceKind.FILE,
        actor="repository",
        summary=f"searched its storage for the document's bytes while it held them: "
        f"{found.describe()}",
        detail={"places": list(found.places)},
    )


@pytest.fixture
def repository_clock(lab: Lab) -> RepositoryClock:
    """The clock of the scenario's repository, which the scenario moves on."""
    clock = RepositoryClock()
    lab.repository.config.clock = clock
    return clock


@given(parsers.parse("transfers expire {seconds:d} seconds after they are sent"))
def transfers_expire(seconds: int, sending: dict[str, Any]) -> None:
    sending["lifetime"] = timedelta(seconds=seconds)


@when(parsers.parse("{seconds:d} seconds pass"))
def seconds_pass(
    seconds: int,
    lab: Lab,
    token: Token,
    stored_before: dict[str, StoredBytes],
    request: pytest.FixtureRequest,
    evidence: EvidenceLog,
) -> None:
    """Move the repository's clock on, and run its purge as its periodic purge would run.

    A repository under test keeps its own clock: then the time really passes.
    """
    search_before_deletion(lab, token, stored_before, evidence)
    if lab.repository_under_test:
        time.sleep(seconds)
        evidence.record(
            EvidenceKind.FILE, actor="harness", summary=f"waited {seconds} s for the repository"
        )
        return
    repository_clock: RepositoryClock = request.getfixturevalue("repository_clock")
    repository_clock.passed += timedelta(seconds=seconds)
    purged = lab.repository.repository.purge_expired()
    evidence.record(
        EvidenceKind.FILE,
        actor="repository",
        summary=f"its clock moved on {seconds} s; its purge deleted {purged.documents} documents",
        sizes={"documents purged": purged.documents, "uploads purged": purged.uploads},
    )


@when("the sending hospital revokes the document", target_fixture="revoked")
def the_sending_hospital_revokes(
    lab: Lab, token: Token, stored_before: dict[str, StoredBytes], evidence: EvidenceLog
) -> Outcome:
    search_before_deletion(lab, token, stored_before, evidence)
    return revoke(lab, token, lab.uploader_key)


@given("the sending hospital has revoked the document", target_fixture="revoked")
def the_sending_hospital_has_revoked(lab: Lab, token: Token) -> Outcome:
    revoked = revoke(lab, token, lab.uploader_key)
    if revoked.error:
        pytest.skip(f"{SENDING} could not revoke the document: {revoked.error}")
    return revoked


@then("the repository refuses the download because the document is gone")
def the_repository_refuses_the_download(downloaded: Outcome) -> None:
    assert downloaded.path is None, "the repository served the document"
    assert downloaded.status == GONE, f"the repository refused otherwise: {downloaded.error}"


@then("the repository no longer holds the bytes of the document")
def the_repository_no_longer_holds_the_bytes(
    lab: Lab, token: Token, stored_before: dict[str, StoredBytes], evidence: EvidenceLog
) -> None:
    """Search its storage until the bytes are gone or its wait is over (it may purge later)."""
    folder = lab.repository_storage
    before = stored_before.get(token.document_id)
    if before is None:
        raise StepError("the repository's storage was not searched while it held the document")
    after = search_until_gone(
        folder, ciphertext_samples(lab, token.document_id), lab.repository_wait
    )
    evidence.record(
        EvidenceKind.FILE,
        actor="repository",
        summary=f"searched its storage for the document's bytes: {after.describe()}",
        detail={"places": list(after.places), "waited up to seconds": lab.repository_wait},
    )
    assert before.places, (
        "the document's bytes were not found in the repository's storage even while it held "
        "the document: this search cannot show their deletion (is it the folder where the "
        "repository keeps documents, unencrypted?)"
    )
    assert not after.places, (
        f"the repository still holds the document's bytes: {listing(after.places)}"
    )


#: HTTP 410 Gone (RFC 9110 15.5.11): the repository's answer for an expired or revoked document.
GONE = 410
