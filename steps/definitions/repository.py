"""Steps of the repository: what it stores and serves, whom it serves, what it refuses, and
the account it keeps of every access (CPDI-ID-01, CPDI-REPO-01/02, CPDI-AUTH-01, CPDI-DL-01).

"As it was uploaded" is what the repository was sent (its spy), and every refusal is judged
from the repository's answers, so the steps hold for any repository under test.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from cloudpdi.envelope_base import file_sha256, format_digest
from cloudpdi.errors import CloudPDIError
from cloudpdi.repository import RepositoryClient
from cloudpdi.token import Token
from harness.lab import Lab
from reports import EvidenceKind
from steps.access_log import (
    credential_needles,
    download_sizes_wrong,
    leaks,
    read_access_log,
    unaccounted,
)
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.probing import (
    Answer,
    ask,
    callers,
    document_needles,
    probes_for,
    revealing,
)
from steps.resumption import spy
from steps.searching import listing
from steps.transfer import Outcome, Transfer, download, revoke, upload
from steps.uploading import upload_damaged, write_received

#: The repository's actor name in the evidence.
REPOSITORY = "repository"
#: Bytes of the other upload under a used document ID.
ANOTHER_UPLOAD = 64 * 1024


@given(
    "the sending hospital has uploaded the transfer to the repository", target_fixture="uploaded"
)
def the_sending_hospital_has_uploaded(
    lab: Lab, transfer: Transfer, sending: dict[str, Any]
) -> Outcome:
    uploaded = upload(lab, transfer, sending)
    if uploaded.path is None:
        pytest.skip(uploaded.error)
    return uploaded


@given("the uploading facility is not registered with the community")
def the_uploader_is_not_registered(sending: dict[str, Any], evidence: EvidenceLog) -> None:
    """The sending hospital presents a key the community never gave any of its facilities."""
    key = secrets.token_urlsafe(32)
    evidence.add_secret(key)
    sending["uploader_key"] = key


@given(parsers.parse("the sending hospital limits each document to {limit:d} downloads"))
def the_sending_hospital_limits_downloads(limit: int, sending: dict[str, Any]) -> None:
    sending["max_downloads"] = limit


@pytest.fixture
def uploaded(lab: Lab, token: Token, tmp_path: Path) -> Outcome:
    """The document named in the token as the repository received it (a step that uploads
    gives its own)."""
    return write_received(lab, token.document_id, tmp_path / "received-by-repository.cpdi")


@pytest.fixture
def downloaded(lab: Lab, token: Token, tmp_path: Path) -> Outcome:
    """The document named in the token, downloaded by the receiving hospital after the When
    steps (a step that downloads gives its own)."""
    return download(lab, token, tmp_path / "downloaded-after.cpdi")


@pytest.fixture
def upload_attempt(uploaded: Outcome) -> Outcome:
    """The upload a refusal is judged on: the scenario's upload, unless another one came."""
    return uploaded


@pytest.fixture
def answers(lab: Lab, token: Token) -> list[Answer]:
    """The repository's answers to requests for the document named in the token, by ID, from
    anyone and from each facility (a step that asks for something else gives its own)."""
    path = f"/documents/{token.document_id}"
    return ask(lab, [("GET", path), ("HEAD", path)], callers(lab))


@when(
    parsers.parse("the sending hospital uploads the transfer to the repository, {damage}"),
    target_fixture="uploaded",
)
def the_sending_hospital_uploads_damaged(damage: str, lab: Lab, transfer: Transfer) -> Outcome:
    return upload_damaged(lab, transfer, damage)


@when("another upload arrives under the same document ID", target_fixture="upload_attempt")
def another_upload_arrives(lab: Lab, token: Token, tmp_path: Path) -> Outcome:
    """The sending hospital uploads other bytes under the document ID it used already."""
    other = tmp_path / "another.cpdi"
    other.write_bytes(os.urandom(ANOTHER_UPLOAD))
    try:
        with RepositoryClient(lab.repository_url, uploader_key=lab.uploader_key) as client:
            client.upload(token.document_id, other, format_digest(file_sha256(other)))
    except CloudPDIError as exc:
        return Outcome(error=f"the repository refused the upload: {exc}")
    return Outcome(path=other)


@when(
    "a hospital the repository has never seen downloads the document named in the token",
    target_fixture="downloaded",
)
def a_hospital_never_seen_downloads(lab: Lab, token: Token, tmp_path: Path) -> Outcome:
    """Download with the token alone: no key, no certificate, nothing the repository knows."""
    return download(lab, token, tmp_path / "downloaded-by-stranger.cpdi", anonymous=True)


@when(
    parsers.parse(
        "the receiving hospital downloads the document named in the token {count:d} times"
    ),
    target_fixture="downloads",
)
def the_receiving_hospital_downloads_times(
    count: int, lab: Lab, token: Token, tmp_path: Path
) -> list[Outcome]:
    return [download(lab, token, tmp_path / f"download-{n}.cpdi") for n in range(1, count + 1)]


@when("another facility of the community revokes the document", target_fixture="revoked")
def another_facility_revokes(lab: Lab, token: Token) -> Outcome:
    """The receiving hospital, a facility of the community with its own key, revokes."""
    return revoke(lab, token, lab.recipient_key)


@when(parsers.parse('someone asks the repository for "{request}"'), target_fixture="answers")
def someone_asks(request: str, lab: Lab, token: Token) -> list[Answer]:
    """Ask as anyone and as each facility of the community, and keep every answer."""
    return ask(lab, probes_for(request, token), callers(lab))


@then("the repository refuses the upload")
def the_repository_refuses_the_upload(upload_attempt: Outcome, evidence: EvidenceLog) -> None:
    evidence.record(
        EvidenceKind.HTTP,
        actor=REPOSITORY,
        summary="the upload was "
        + (f"refused: {upload_attempt.error}" if upload_attempt.path is None else "accepted"),
    )
    assert upload_attempt.path is None, "the repository accepted the upload"


@then("the repository refuses the revocation")
def the_repository_refuses_the_revocation(revoked: Outcome) -> None:
    assert revoked.error, (
        "the repository revoked the document for a facility that did not upload it"
    )


@then("the repository reveals no document")
def the_repository_reveals_no_document(
    lab: Lab, token: Token, answers: list[Answer], evidence: EvidenceLog
) -> None:
    if not answers:
        raise StepError("the repository was asked nothing")
    needles = document_needles(lab, token)
    found = revealing(answers, needles)
    evidence.record(
        EvidenceKind.HTTP,
        actor=REPOSITORY,
        summary=f"searched {len(answers)} answers for a document ID and {len(needles) - 1} "
        f"slices of the ciphertext it was sent: "
        + (f"{len(found)} revealed something" if found else "none revealed anything"),
        sizes={"answer bodies": sum(len(answer.body) for answer in answers)},
        detail={
            "answers": [answer.describe() for answer in answers],
            "revealing": found,
        },
    )
    assert not found, f"the repository revealed a document: {listing(found)}"


@then(parsers.parse("the first {limit:d} downloads succeed and the rest are refused"))
def the_first_downloads_succeed(
    limit: int, downloads: list[Outcome], evidence: EvidenceLog
) -> None:
    if len(downloads) <= limit:
        raise StepError(f"{len(downloads)} downloads cannot show a limit of {limit}")
    verdicts = ["served" if outcome.path else f"refused ({outcome.error})" for outcome in downloads]
    evidence.record(
        EvidenceKind.HTTP,
        actor=REPOSITORY,
        summary=f"{len(downloads)} downloads, limit {limit}: " + "; ".join(verdicts),
    )
    refused = [n for n, outcome in enumerate(downloads[:limit], 1) if outcome.path is None]
    assert not refused, f"download {refused[0]} was refused: {downloads[refused[0] - 1].error}"
    served = [n for n, outcome in enumerate(downloads, 1) if n > limit and outcome.path]
    assert not served, f"download {served[0]} was served past the limit of {limit}"


@then("the access log records every request with its time, its outcome and its size")
def the_access_log_records_every_request(
    lab: Lab, token: Token, downloaded: Outcome, evidence: EvidenceLog
) -> None:
    requests = spy(lab).requests
    if not requests:
        raise StepError("the repository received no request to account for")
    logged = read_access_log(lab, requests).entries
    problems = unaccounted(requests, logged, token.issued_at)
    problems += download_sizes_wrong(logged, token, downloaded)
    evidence.record(
        EvidenceKind.FILE,
        actor=REPOSITORY,
        summary=f"checked its access log ({len(logged)} entries) against the {len(requests)} "
        f"requests it received: {len(problems)} problems",
        sizes={"entries": len(logged), "requests": len(requests)},
        detail={"problems": problems},
    )
    assert not problems, f"the access log does not account for every request: {listing(problems)}"


@then("the access log reveals no secret and no credential")
def the_access_log_reveals_no_secret(lab: Lab, token: Token, evidence: EvidenceLog) -> None:
    needles = credential_needles(lab, token)
    log = read_access_log(lab, spy(lab).requests)
    found = leaks(log, needles)
    evidence.record(
        EvidenceKind.FILE,
        actor=REPOSITORY,
        summary=f"searched its access log ({len(log.entries)} entries and {len(log.files)} files) "
        "for the facility keys it was sent and the secret: "
        + (f"found in {len(found)} places" if found else "not found"),
        detail={"places": found},
    )
    assert not found, f"the access log holds a secret or a credential: {listing(found)}"
