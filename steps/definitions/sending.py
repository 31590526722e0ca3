"""Steps of sending: several transfers of one study, and the token each of them issues.

Secrets are compared, never shown: the evidence counts distinct secrets and their lengths.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import parsers, then, when

from cloudpdi.seal import unseal_text
from cloudpdi.token import Token, TokenMalformed, from_json
from harness.lab import Lab
from reports import EvidenceKind
from steps.envelope import Envelopes, open_once
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import SENDING, Exchange, receiver_keys, send_study
from steps.referral import Referral
from steps.transfer import download

#: The shortest secret CPDI-KEY-01 allows, in bits.
MIN_SECRET_BITS = 128


@when(
    parsers.parse("the sending hospital sends the study to the receiving hospital {times:d} times"),
    target_fixture="transfers",
)
def the_sending_hospital_sends_the_study_times(
    times: int, lab: Lab, referral: Referral, evidence: EvidenceLog, sending: dict[str, Any]
) -> list[Exchange]:
    return [send_study(lab, referral, evidence, sending) for _ in range(times)]


def _tokens(transfers: list[Exchange], *, strict: bool = True) -> list[Token]:
    """The token each transfer issued; with ``strict``, fail the check when one did not happen."""
    if strict:
        refused = [problem for transfer in transfers for problem in transfer.problems]
        assert all(transfer.issued_token for transfer in transfers), (
            "; ".join(refused) or "a send failed"
        )
    return [t.issued_token for t in transfers if t.issued_token is not None]


@then("every transfer has its own document ID")
def every_transfer_has_its_own_document_id(
    lab: Lab, transfers: list[Exchange], tmp_path: Path, evidence: EvidenceLog
) -> None:
    tokens = _tokens(transfers)
    ids = [token.document_id for token in tokens]
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=SENDING,
        summary=f"{len(ids)} transfers named {len(set(ids))} distinct document IDs",
        detail={"document IDs": ids},
    )
    assert len(set(ids)) == len(ids), f"{len(ids)} transfers used {len(set(ids))} document IDs"
    # The repository finds each transfer by its document ID alone: each one is its own.
    for token in tokens:
        served = download(lab, token, tmp_path / f"{token.document_id}.cpdi")
        assert served.path is not None, f"document {token.document_id}: {served.error}"


@then("every transfer has its own secret")
def every_transfer_has_its_own_secret(
    lab: Lab,
    transfers: list[Exchange],
    envelopes: Envelopes,
    tmp_path: Path,
    evidence: EvidenceLog,
) -> None:
    tokens = _tokens(transfers, strict=False)
    if len(tokens) < 2:
        pytest.skip(
            f"only {len(tokens)} of {len(transfers)} transfers happened: nothing to compare"
        )
    # Compared by digest, so that no secret is kept or shown outside its token.
    digests = [hashlib.sha256(token.secret.reveal()).digest() for token in tokens]
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=SENDING,
        summary=f"{len(digests)} transfers used {len(set(digests))} distinct secrets",
    )
    assert len(set(digests)) == len(digests), (
        f"{len(digests)} transfers used {len(set(digests))} secrets"
    )
    # Each payload was encrypted with its own secret: its envelope opens with its token.
    for token in tokens:
        open_once(lab, token, envelopes, tmp_path / "envelopes", evidence)


@then("no secret is shorter than 128 bits")
def no_secret_is_shorter_than_128_bits(transfers: list[Exchange], evidence: EvidenceLog) -> None:
    bits = [len(token.secret) * 8 for token in _tokens(transfers)]
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=SENDING,
        summary=f"secret lengths in bits: {', '.join(map(str, bits))}",
    )
    short = [length for length in bits if length < MIN_SECRET_BITS]
    assert not short, f"{len(short)} secrets are shorter than {MIN_SECRET_BITS} bits: {short}"


@then("the token names the community of the repository")
def the_token_names_the_community(lab: Lab, exchange: Exchange, evidence: EvidenceLog) -> None:
    token = exchange.require_token()
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=SENDING,
        summary=f"the token names community {token.community_id!r} and repository "
        f"{token.repository}; the repository serves community {lab.community_id!r}",
    )
    assert token.community_id == lab.community_id, (
        f"the token names community {token.community_id!r}, not {lab.community_id!r}"
    )
    assert token.repository == lab.repository_url, "the token names another repository"


def delivered_json(lab: Lab, exchange: Exchange, token: Token) -> bytes:
    """The token's canonical JSON as the sending hospital delivered it, in either form."""
    plain = exchange.inbox / f"{token.token_id}.json"
    if plain.is_file():
        return plain.read_bytes()
    handed = exchange.handed
    keys = receiver_keys(lab)
    assert handed is not None and handed.suffix == ".jwe" and keys is not None, (
        "neither the token's JSON form nor a sealed token was delivered"
    )
    issuer_key = keys.trusted_issuers.get(token.issuer.id)
    if issuer_key is None:
        raise StepError(f"the harness holds no public key of the issuer {token.issuer.id}")
    return unseal_text(
        handed.read_text(encoding="ascii"),
        recipient_key=keys.recipient_key,
        issuer_public_key=issuer_key,
    )


@then("every item of the token has its defined type")
def every_item_has_its_defined_type(lab: Lab, exchange: Exchange, evidence: EvidenceLog) -> None:
    """Read the token's JSON as delivered (or as signed inside the sealed token delivered):
    the token model refuses any item mistyped."""
    token = exchange.require_token()
    text = delivered_json(lab, exchange, token)
    items = json.loads(text)
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=SENDING,
        summary=f"the token's JSON form holds {len(items)} items",
        detail={"items": {name: type(value).__name__ for name, value in items.items()}},
    )
    try:
        parsed = from_json(text)
    except TokenMalformed as exc:
        raise AssertionError(f"the token has an item of the wrong type: {exc}") from None
    assert parsed == token, "the JSON form differs from the token the receiving hospital read"
