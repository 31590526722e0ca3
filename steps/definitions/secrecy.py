"""Steps of token secrecy: what the repository must never learn, and how the token travels.

Every search is first shown to be able to find what it looks for: a needle for plaintext must
occur in the study's own files, or the search would prove nothing and the step is a harness
error. The searches cover every request the repository received and every byte on its disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_bdd import parsers, then

from cloudpdi.readme import README_NAME
from cloudpdi.token import to_compact, to_json
from harness.lab import Lab
from reports import EvidenceKind
from simulators.delivery import TokenFiles
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import Exchange
from steps.referral import Referral
from steps.searching import (
    PART10_START,
    Needles,
    Search,
    found_in_files,
    listing,
    long_enough,
    name_needles,
    search_repository,
    secret_needles,
    stored_digests,
)


def _secret(exchange: Exchange, referral: Referral) -> Needles:
    return secret_needles(exchange.require_token().secret)


def _patient_name(exchange: Exchange, referral: Referral) -> Needles:
    return _in_plaintext(name_needles(referral.files[0], referral.written_name), referral)


def _patient_id(exchange: Exchange, referral: Referral) -> Needles:
    return _in_plaintext(long_enough({"the patient ID": referral.patient_id.encode()}), referral)


def _study_uid(exchange: Exchange, referral: Referral) -> Needles:
    return _in_plaintext({"the study's UID": referral.study_uid.encode()}, referral)


def _dicom_header(exchange: Exchange, referral: Referral) -> Needles:
    return _in_plaintext({"the start of a DICOM file": PART10_START}, referral)


def _readme(exchange: Exchange, referral: Referral) -> Needles:
    readme = exchange.require_received().file_set / README_NAME
    if not readme.is_file():
        pytest.skip("the file set the receiving hospital got holds no README to search for")
    return {"the README": readme.read_bytes()}


def _in_plaintext(needles: Needles, referral: Referral) -> Needles:
    """Return ``needles`` once shown to occur in the study's files (else the search is void)."""
    if not found_in_files(referral.files, needles):
        raise StepError("the study's own files do not hold what is searched for")
    return needles


#: What a scenario may say the repository must not learn, and the needles that find it.
SEARCHES: dict[str, Callable[[Exchange, Referral], Needles]] = {
    "the secret": _secret,
    "the patient's name": _patient_name,
    "the patient ID": _patient_id,
    "the study's UID": _study_uid,
    "the header of any DICOM file": _dicom_header,
    "the text of the README": _readme,
}


@then(parsers.parse("nothing the repository holds or was sent reveals {what}"))
def nothing_the_repository_holds_reveals(
    what: str, lab: Lab, exchange: Exchange, referral: Referral, evidence: EvidenceLog
) -> None:
    if what not in SEARCHES:
        raise StepError(f"no search is defined for {what!r}")
    search = search_repository(lab, SEARCHES[what](exchange, referral))
    _record(evidence, what, search)
    assert not search.places, f"the repository holds or was sent {what}: {listing(search.places)}"


@then("the secret and the document ID reach the receiving hospital only inside the token")
def only_inside_the_token(lab: Lab, exchange: Exchange, evidence: EvidenceLog) -> None:
    token = exchange.require_token()
    stored = stored_digests(lab)
    assert stored.get(token.document_id) == token.content_digest, (
        "the token does not name the document the sending hospital stored, with its digest"
    )
    needles = secret_needles(token.secret)
    search = search_repository(lab, needles)
    _record(evidence, "the secret", search)
    others = [path for path in _inbox_files(exchange) if path not in _token_forms(exchange)]
    handed = found_in_files(others, {**needles, "the document ID": token.document_id.encode()})
    places = [*search.places, *(f"another file in the token inbox: {name}" for name in handed)]
    assert not places, f"the secret or the document ID went outside the token: {listing(places)}"


@then(
    "the token reaches the receiving hospital by a route that does not pass through the repository"
)
def the_token_route_avoids_the_repository(
    lab: Lab, exchange: Exchange, evidence: EvidenceLog
) -> None:
    token = exchange.require_token()
    needles = {
        "the canonical form of the token": to_json(token).encode(),
        "the compact form of the token": to_compact(token).encode(),
    }
    for path in sorted(_token_forms(exchange)):
        if path.is_file():
            needles[f"the token file {path.name}"] = path.read_bytes().strip()
    search = search_repository(lab, long_enough(needles))
    _record(evidence, "the token", search)
    assert not search.places, f"the token passed through the repository: {listing(search.places)}"


def _inbox_files(exchange: Exchange) -> list[Path]:
    return sorted(path for path in exchange.inbox.rglob("*") if path.is_file())


def _token_forms(exchange: Exchange) -> set[Path]:
    """The files in the inbox that hold the handed token in one of its forms."""
    token_id = exchange.require_token().token_id
    return {
        path
        for sealed in (True, False)
        for path in TokenFiles.named(exchange.inbox, token_id, sealed=sealed).paths
    }


def _record(evidence: EvidenceLog, what: str, search: Search) -> None:
    verdict = f"found in {len(search.places)} places" if search.places else "not found"
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor="harness",
        summary=f"searched {search.describe()} for {what}: {verdict}",
        sizes={"request bodies": search.request_bytes, "stored files": search.file_bytes},
        detail={"places": list(search.places)},
    )
