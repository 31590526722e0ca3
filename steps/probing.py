"""Asking the repository for documents without their ID, and judging what its answers reveal.

The document ID is the one way in (CPDI-ID-01): a list request, a search by patient, an ID
never issued or one character off the real one must all be refused, and no answer may carry
a document ID or any of the ciphertext the repository was sent. Each probe is made without a
credential and with each facility key of the community, since a repository might list more
to a member. Answers are searched for the document's ID and for slices of every upload body
the repository received: it cannot reveal ciphertext it never got.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from cloudpdi.repository_wire import DOCUMENTS_PATH, UPLOADS_PATH
from cloudpdi.token import Token, new_document_id
from harness.lab import Lab
from simulators.repository.spy import scan
from steps.errors import StepError
from steps.resumption import settled, spy
from steps.searching import MIN_NEEDLE, Needles

#: Bytes of each slice of an upload body searched for in answers.
SLICE = 32
#: Seconds a probe may take.
PROBE_TIMEOUT = 10.0
#: Statuses from 400 on refuse; anything lower answers the request.
FIRST_REFUSAL = 400
#: Characters a document ID the sender makes is written in (RFC 4648 base32).
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_PATIENT = re.compile(r"the documents of patient (.+)")


@dataclass(frozen=True)
class Answer:
    """One probe and what the repository answered (status 0: the connection failed)."""

    method: str
    path: str
    #: Whose credential went with it: "anyone", or the facility's role.
    caller: str
    status: int
    body: bytes

    def describe(self) -> str:
        """Say what was asked and answered, for the evidence."""
        return f"{self.method} {self.path} by {self.caller}: {self.status or 'no answer'}"


Probe = tuple[str, str]


def _listings(token: Token) -> list[Probe]:
    paths = (DOCUMENTS_PATH, f"{DOCUMENTS_PATH}/", UPLOADS_PATH, f"{UPLOADS_PATH}/", "/")
    return [("GET", path) for path in paths]


def _never_issued(token: Token) -> list[Probe]:
    path = f"{DOCUMENTS_PATH}/{new_document_id()}"
    return [("GET", path), ("HEAD", path)]


def one_character_off(document_id: str) -> list[str]:
    """The document ID with its first, and then its last, character changed."""
    changed = []
    for at in (0, len(document_id) - 1):
        other = next(c for c in _ID_ALPHABET if c != document_id[at].upper())
        changed.append(document_id[:at] + other + document_id[at + 1 :])
    return changed


def _one_off(token: Token) -> list[Probe]:
    paths = [f"{DOCUMENTS_PATH}/{near}" for near in one_character_off(token.document_id)]
    return [(method, path) for path in paths for method in ("GET", "HEAD")]


def patient_searches(name: str) -> list[Probe]:
    """Searches for a patient's documents, as REST and FHIR repositories spell them."""
    spellings = {name, "^".join(name.split())}
    queries = [
        f"{DOCUMENTS_PATH}?patient={{q}}",
        f"{DOCUMENTS_PATH}/?name={{q}}",
        f"{DOCUMENTS_PATH}?q={{q}}",
        "/DocumentReference?patient.name={q}",
        "/Patient?name={q}",
    ]
    return [
        ("GET", query.format(q=quote(spelling, safe="")))
        for spelling in sorted(spellings)
        for query in queries
    ]


#: What a scenario may say someone asks the repository for, and the requests that ask it.
REQUESTS: dict[str, Callable[[Token], list[Probe]]] = {
    "a list of the documents it holds": _listings,
    "a document ID that was never issued": _never_issued,
    "a document ID one character off the real one": _one_off,
}


def probes_for(request: str, token: Token) -> list[Probe]:
    """The requests that ask the repository for ``request``; StepError if none is defined."""
    if request in REQUESTS:
        return REQUESTS[request](token)
    patient = _PATIENT.fullmatch(request)
    if patient is not None:
        return patient_searches(patient.group(1))
    raise StepError(f"no way to ask the repository for {request!r} is defined")


def callers(lab: Lab) -> dict[str, str | None]:
    """Everyone a probe is made as: no credential, and each facility key of the community."""
    return {
        "anyone": None,
        "the sending hospital": lab.uploader_key,
        "the receiving hospital": lab.recipient_key,
    }


def ask(lab: Lab, probes: list[Probe], who: dict[str, str | None]) -> list[Answer]:
    """Make every probe as every caller; each waits until the repository's spy recorded it."""
    recorder = spy(lab)
    answers = []
    # A redirect is followed: what counts is where it leads.
    with httpx.Client(
        base_url=lab.repository_url, timeout=PROBE_TIMEOUT, follow_redirects=True
    ) as client:
        for caller, key in who.items():
            headers = {} if key is None else {"Authorization": f"Bearer {key}"}
            for method, path in probes:
                before = len(recorder.requests)
                try:
                    response = client.request(method, path, headers=headers)
                    answer = Answer(method, path, caller, response.status_code, response.content)
                except httpx.TransportError:
                    answer = Answer(method, path, caller, 0, b"")
                answers.append(answer)
                settled(recorder, lambda seen, count=before: len(seen) > count)
    return answers


def document_needles(lab: Lab, token: Token) -> Needles:
    """The document's ID, and slices of every upload body the repository received."""
    needles = {"the document ID": token.document_id.encode()}
    for number, request in enumerate(spy(lab).requests):
        body = request.body
        if request.method not in ("PATCH", "PUT", "POST") or len(body) < MIN_NEEDLE:
            continue
        size = min(SLICE, len(body))
        for where, start in (("start", 0), ("middle", (len(body) - size) // 2)):
            needles[f"ciphertext from the {where} of request {number}"] = body[start : start + size]
        needles[f"ciphertext from the end of request {number}"] = body[-size:]
    return needles


def revealing(answers: list[Answer], needles: Needles) -> list[str]:
    """Say which answers reveal something: a status that answers, a document ID, ciphertext."""
    found = []
    for answer in answers:
        if 0 < answer.status < FIRST_REFUSAL:
            found.append(f"{answer.describe()} (an answer, not a refusal)")
        for name in sorted(scan([answer.body], needles)):
            found.append(f"{answer.describe()}: its body holds {name}")
    return found
