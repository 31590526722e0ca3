"""Sealed HI-TOKEN: issuer signature, encryption to the recipient, and facility key files."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from joserfc import jwe, jws
from joserfc.jwk import ECKey, RSAKey

from cloudpdi.seal import (
    CONTENT_ENCRYPTION,
    KEY_AGREEMENT,
    SIGNATURE_ALGORITHM,
    FacilityKeyError,
    generate_facility_key,
    load_private_key,
    load_public_key,
    parse_public_key,
    public_key_pem,
    save_private_key,
    seal_signed,
    seal_token,
    sign_token_text,
    unseal_token,
)
from cloudpdi.token import (
    Token,
    TokenError,
    TokenMalformed,
    TokenRecipientError,
    TokenSignatureError,
    to_json,
)
from tests.test_token import assert_no_leak, sample_token, tokens

ISSUER = generate_facility_key()
RECIPIENT = generate_facility_key()
STRANGER = generate_facility_key()


def _seal(token: Token) -> str:
    return seal_token(
        token, issuer_key=ISSUER, recipient_public_key=parse_public_key(public_key_pem(RECIPIENT))
    )


def _unseal(sealed: str, **changes: object) -> Token:
    arguments = {
        "recipient_key": RECIPIENT,
        "issuer_public_key": parse_public_key(public_key_pem(ISSUER)),
    }
    arguments.update(changes)
    return unseal_token(sealed, **arguments)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tokens())
def test_sealed_form_round_trips_any_token(token: Token) -> None:
    assert _unseal(_seal(token)) == token


def test_sealed_form_is_a_compact_jwe_holding_a_signed_jws() -> None:
    token = sample_token()
    sealed = _seal(token)
    assert sealed.count(".") == 4
    opened = jwe.decrypt_compact(sealed, RECIPIENT, algorithms=[KEY_AGREEMENT, CONTENT_ENCRYPTION])
    assert opened.protected["alg"] == KEY_AGREEMENT
    assert opened.protected["enc"] == CONTENT_ENCRYPTION
    assert opened.protected["kid"] == RECIPIENT.thumbprint()
    signed = jws.deserialize_compact(opened.plaintext, ISSUER, algorithms=[SIGNATURE_ALGORITHM])
    assert signed.payload == to_json(token).encode("utf-8")
    for form in (token.secret.reveal().hex(), "東京中央病院", token.patient_ref):
        assert form not in sealed


def test_recipient_id_is_checked_after_opening() -> None:
    token = sample_token()
    sealed = _seal(token)
    assert _unseal(sealed, recipient_id="1498765432") == token
    with pytest.raises(TokenRecipientError, match="another facility"):
        _unseal(sealed, recipient_id="1111111111")
    assert _unseal(_seal(replace(token, recipient=None)), recipient_id="1111111111")


def test_wrong_recipient_key_is_a_recipient_error() -> None:
    token = sample_token()
    with pytest.raises(TokenRecipientError, match="another recipient key") as caught:
        _unseal(_seal(token), recipient_key=STRANGER)
    assert_no_leak(caught.value, token)


def test_wrong_issuer_key_is_a_signature_error() -> None:
    token = sample_token()
    with pytest.raises(TokenSignatureError) as caught:
        _unseal(_seal(token), issuer_public_key=STRANGER)
    assert_no_leak(caught.value, token)


def _foreign_seal(token: Token, signer: ECKey) -> str:
    """Seal like another implementation would: no kid in either header."""
    signed = jws.serialize_compact({"alg": "ES256"}, to_json(token), signer)
    header = {"alg": KEY_AGREEMENT, "enc": CONTENT_ENCRYPTION}
    return jwe.encrypt_compact(header, signed, RECIPIENT, algorithms=[KEY_AGREEMENT, "A256GCM"])


def test_seals_without_key_ids_are_checked_by_the_keys_alone() -> None:
    token = sample_token()
    assert _unseal(_foreign_seal(token, ISSUER)) == token
    with pytest.raises(TokenSignatureError, match="does not verify"):
        _unseal(_foreign_seal(token, STRANGER))
    with pytest.raises(TokenRecipientError, match="cannot open"):
        _unseal(_foreign_seal(token, ISSUER), recipient_key=STRANGER)


def test_every_flipped_character_is_refused_with_a_token_error() -> None:
    token = sample_token()
    sealed = _seal(token)
    outcomes: set[type[TokenError]] = set()
    for position, original in enumerate(sealed):
        flipped = "B" if original == "A" else "A"
        with pytest.raises(TokenError) as caught:
            _unseal(sealed[:position] + flipped + sealed[position + 1 :])
        assert_no_leak(caught.value, token)
        outcomes.add(type(caught.value))
    # The body is authenticated (an altered seal), the header is parsed (malformed).
    assert TokenSignatureError in outcomes
    assert outcomes <= {TokenSignatureError, TokenRecipientError, TokenMalformed}


@pytest.mark.parametrize(
    "sealed",
    ["", "garbage", "a.b.c.d.e", "....", "eyJhbGciOiJub25lIn0.e30.", "é" * 10, "x" * 300_000],
)
def test_garbage_is_malformed(sealed: str) -> None:
    with pytest.raises(TokenMalformed):
        _unseal(sealed)


def test_a_seal_with_other_algorithms_is_malformed() -> None:
    signed = jws.serialize_compact({"alg": "ES256"}, to_json(sample_token()), ISSUER)
    other = jwe.encrypt_compact(
        {"alg": "ECDH-ES", "enc": "A128GCM"}, signed, RECIPIENT, algorithms=["ECDH-ES", "A128GCM"]
    )
    with pytest.raises(TokenMalformed, match="must use alg"):
        _unseal(other)


def test_a_signed_payload_that_is_not_a_token_is_malformed() -> None:
    signed = jws.serialize_compact({"alg": "ES256"}, b'{"version":1}', ISSUER)
    header = {"alg": KEY_AGREEMENT, "enc": CONTENT_ENCRYPTION}
    sealed = jwe.encrypt_compact(header, signed, RECIPIENT, algorithms=[KEY_AGREEMENT, "A256GCM"])
    with pytest.raises(TokenMalformed, match="lacks"):
        _unseal(sealed)


def test_signing_and_sealing_token_text_is_sealing_the_token() -> None:
    token = sample_token()
    recipient = parse_public_key(public_key_pem(RECIPIENT))
    signed = sign_token_text(to_json(token), issuer_key=ISSUER)
    assert _unseal(seal_signed(signed, recipient_public_key=recipient)) == token
    with pytest.raises(FacilityKeyError):
        sign_token_text(to_json(token), issuer_key=recipient)


def test_a_properly_signed_and_sealed_broken_token_is_still_malformed() -> None:
    # What a harness makes to show a receiver checks every item, not just the signature.
    document = json.loads(to_json(sample_token()))
    del document["document_id"]
    signed = sign_token_text(json.dumps(document), issuer_key=ISSUER)
    sealed = seal_signed(signed, recipient_public_key=parse_public_key(public_key_pem(RECIPIENT)))
    with pytest.raises(TokenMalformed, match="lacks document_id"):
        _unseal(sealed)


def test_keys_of_the_wrong_kind_are_refused() -> None:
    token = sample_token()
    public = parse_public_key(public_key_pem(RECIPIENT))
    with pytest.raises(FacilityKeyError):
        seal_token(token, issuer_key=public, recipient_public_key=public)
    with pytest.raises(FacilityKeyError):
        seal_token(token, issuer_key=ECKey.generate_key("P-384"), recipient_public_key=public)
    with pytest.raises(FacilityKeyError):
        _unseal(_seal(token), recipient_key=public)
    with pytest.raises(FacilityKeyError):
        parse_public_key(RSAKey.generate_key(2048).as_pem(private=False))
    with pytest.raises(FacilityKeyError):
        parse_public_key("not a key")


def test_private_key_file_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "facility.key"
    key = generate_facility_key()
    save_private_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_private_key(path).thumbprint() == key.thumbprint()
    with pytest.raises(FileExistsError):
        save_private_key(generate_facility_key(), path)
    assert load_private_key(path).thumbprint() == key.thumbprint()
    with pytest.raises(FacilityKeyError):
        save_private_key(parse_public_key(public_key_pem(key)), tmp_path / "public.key")


def test_public_key_files(tmp_path: Path) -> None:
    key = generate_facility_key()
    path = tmp_path / "facility.pub"
    path.write_text(public_key_pem(key))
    assert public_key_pem(key).startswith("-----BEGIN PUBLIC KEY-----")
    loaded = load_public_key(path)
    assert not loaded.is_private
    assert loaded.thumbprint() == key.thumbprint()
    with pytest.raises(FacilityKeyError, match="private key"):
        load_private_key(path)
    (tmp_path / "empty.pem").write_bytes(b"")
    with pytest.raises(FacilityKeyError):
        load_public_key(tmp_path / "empty.pem")
