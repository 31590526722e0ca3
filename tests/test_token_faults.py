"""The harness's faulty tokens: each has its one fault, and is otherwise signed and sealed well."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwe, jws

from cloudpdi.envelope import get_scheme
from cloudpdi.envelope_base import EnvelopeFormatError
from cloudpdi.seal import (
    CONTENT_ENCRYPTION,
    KEY_AGREEMENT,
    SIGNATURE_ALGORITHM,
    generate_facility_key,
    parse_public_key,
    public_key_pem,
    seal_token,
)
from cloudpdi.token import (
    TokenError,
    TokenMalformed,
    TokenNotYetValid,
    TokenRecipientError,
    TokenSignatureError,
    check_token,
    from_json,
    to_json,
)
from cloudpdi.token_input import SealKeys, UntrustedIssuerError, unseal_trusted
from steps.token_faults import ITEM_FAULTS, SEAL_FAULTS, Issuer, broken_item, faulty_token
from tests.test_token import sample_token

ISSUER_KEY = generate_facility_key()
RECIPIENT_KEY = generate_facility_key()
ISSUER = Issuer(ISSUER_KEY, parse_public_key(public_key_pem(RECIPIENT_KEY)))
NOW = datetime.now(UTC).replace(microsecond=0)
# Valid now: only the fault may make a receiver refuse it.
TOKEN = sample_token(issued_at=NOW, expires_at=NOW + timedelta(days=7))
KEYS = SealKeys(RECIPIENT_KEY, {TOKEN.issuer.id: parse_public_key(public_key_pem(ISSUER_KEY))})


def _signed_payload(sealed: str) -> bytes:
    """Open the seal and verify the issuer's signature; return what the issuer signed."""
    signed = jwe.decrypt_compact(
        sealed, RECIPIENT_KEY, algorithms=[KEY_AGREEMENT, CONTENT_ENCRYPTION]
    ).plaintext
    assert signed is not None
    return jws.deserialize_compact(signed, ISSUER_KEY, algorithms=[SIGNATURE_ALGORITHM]).payload


def test_the_unspoilt_token_is_accepted() -> None:
    assert (
        unseal_trusted(
            seal_token(
                TOKEN, issuer_key=ISSUER_KEY, recipient_public_key=ISSUER.recipient_public_key
            ),
            KEYS,
        )
        == TOKEN
    )


#: The items each fault changes, and nothing else.
CHANGED = {
    "has no document ID": {"document_id"},
    "has no secret": {"secret"},
    "has a secret shorter than 128 bits": {"secret"},
    "names no community": {"community_id"},
    "has an expiry that is not a date and time": {"expires_at"},
    "names an envelope scheme nobody defined": {"envelope_scheme"},
    "names a token version nobody defined": {"version"},
    "was issued a day ahead": {"issued_at", "expires_at"},
}


@pytest.mark.parametrize("fault", sorted(ITEM_FAULTS))
def test_a_broken_item_is_the_only_fault_of_a_well_sealed_token(fault: str) -> None:
    faulty = broken_item(TOKEN, fault, ISSUER)
    assert faulty.sealed
    items = json.loads(_signed_payload(faulty.text))
    issued = json.loads(to_json(TOKEN))
    changed = {key for key in issued.keys() | items.keys() if issued.get(key) != items.get(key)}
    assert changed == CHANGED[fault]
    try:
        token = unseal_trusted(faulty.text, KEYS)
    except TokenMalformed:
        return
    # What reads as a token is refused by the checks a receiver makes before any download.
    with pytest.raises((TokenNotYetValid, EnvelopeFormatError)):
        check_token(token)
        get_scheme(token.envelope_scheme)


def test_a_broken_item_of_a_plain_token_stays_plain() -> None:
    faulty = broken_item(TOKEN, "has no document ID", None)
    assert not faulty.sealed
    with pytest.raises(TokenMalformed, match="lacks document_id"):
        from_json(faulty.text)


def test_a_short_secret_is_new_and_named_for_redaction() -> None:
    faulty = broken_item(TOKEN, "has a secret shorter than 128 bits", ISSUER)
    assert faulty.new_secret is not None and len(faulty.new_secret) * 8 < 128


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("is sealed to another hospital's key", TokenRecipientError),
        ("is signed by a facility the receiving hospital does not trust", UntrustedIssuerError),
        ("was altered on the way", TokenSignatureError),
        ("has lost the sending hospital's signature", TokenError),
    ],
)
def test_each_fault_of_the_seal_is_refused(fault: str, error: type[TokenError]) -> None:
    assert fault in SEAL_FAULTS
    with pytest.raises(error):
        unseal_trusted(faulty_token(TOKEN, fault, ISSUER).text, KEYS)


def test_a_fault_of_the_seal_needs_a_sealed_token() -> None:
    with pytest.raises(ValueError, match="sealed token"):
        faulty_token(TOKEN, "was altered on the way", None)
