"""The sealed electronic HI-TOKEN: signed by the issuer, encrypted to the recipient.

Reference binding ``cpdi-ref/1`` (ASSUMED: HS043 says an electronic token is encrypted to the
receiver's public key, not how). The issuer signs the canonical JSON as a compact JWS (ES256,
``typ`` :data:`SIGNED_TYPE`), then encrypts that JWS as a compact JWE (ECDH-ES+A256KW with
A256GCM, ``cty`` ``JOSE``) to the recipient's P-256 key. Both headers carry the RFC 7638
thumbprint of the key concerned as ``kid``, so a reader can tell "not my key" from "altered".

Each facility holds one P-256 key pair; the crypto is joserfc's, on top of ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import ECKey

from cloudpdi.errors import CloudPDIError
from cloudpdi.files import write_private
from cloudpdi.token import (
    Token,
    TokenMalformed,
    TokenRecipientError,
    TokenSignatureError,
    check_recipient,
    from_json,
    to_json,
)
from cloudpdi.token_model import MAX_ENCODED_LENGTH

CURVE = "P-256"
SIGNATURE_ALGORITHM = "ES256"
KEY_AGREEMENT = "ECDH-ES+A256KW"
CONTENT_ENCRYPTION = "A256GCM"
#: JWS ``typ`` of a signed token (ASSUMED media type ``application/hi-token+jws``).
SIGNED_TYPE = "hi-token+jws"

#: Upper bound on a sealed token: a maximal token JSON after two rounds of base64url.
MAX_SEALED_LENGTH = 4 * MAX_ENCODED_LENGTH


class FacilityKeyError(CloudPDIError):
    """A facility key is missing, unreadable, or not a P-256 key of the right kind."""


def generate_facility_key() -> ECKey:
    """Return a fresh P-256 private key for a facility."""
    return ECKey.generate_key(CURVE)


def _import_key(data: bytes | str, *, private: bool, source: str) -> ECKey:
    kind = "private" if private else "public"
    try:
        key = ECKey.import_key(data)
    except (JoseError, ValueError, TypeError):
        raise FacilityKeyError(f"{source} is not a {CURVE} {kind} key in PEM") from None
    if key.curve_name != CURVE or (private and not key.is_private):
        raise FacilityKeyError(f"{source} is not a {CURVE} {kind} key in PEM")
    return key if private else _public(key)


def _public(key: ECKey) -> ECKey:
    return ECKey.import_key(key.as_dict(private=False))


def parse_public_key(pem: bytes | str) -> ECKey:
    """Return the P-256 public key in ``pem`` (a private key's public half is taken too)."""
    return _import_key(pem, private=False, source="the given text")


def load_public_key(path: str | os.PathLike[str]) -> ECKey:
    """Read a facility's P-256 public key from a PEM file."""
    return _import_key(Path(path).read_bytes(), private=False, source=str(path))


def load_private_key(path: str | os.PathLike[str]) -> ECKey:
    """Read a facility's P-256 private key from an unencrypted PKCS#8 PEM file."""
    return _import_key(Path(path).read_bytes(), private=True, source=str(path))


def save_private_key(key: ECKey, path: str | os.PathLike[str]) -> None:
    """Write ``key`` as PKCS#8 PEM readable by the owner only; never overwrite a key file."""
    if not key.is_private:
        raise FacilityKeyError("only a private key is saved with save_private_key")
    # Never overwrite: losing a facility key to a slip of the command line orphans its tokens.
    write_private(Path(path), key.as_pem(private=True), overwrite=False)


def public_key_pem(key: ECKey) -> str:
    """Return the public half of ``key`` as SubjectPublicKeyInfo PEM text."""
    return key.as_pem(private=False).decode("ascii")


def seal_token(token: Token, *, issuer_key: ECKey, recipient_public_key: ECKey) -> str:
    """Sign ``token`` with the issuer's key and encrypt it to the recipient: a compact JWE."""
    signed = sign_token_text(to_json(token), issuer_key=issuer_key)
    return seal_signed(signed, recipient_public_key=recipient_public_key)


def sign_token_text(text: str, *, issuer_key: ECKey) -> str:
    """Sign token text with the issuer's key: a compact JWS, its ``kid`` the key's thumbprint.

    :func:`seal_token` signs the canonical JSON of a valid token; signing other text is for a
    harness that must show a receiver refuses a broken token even when it is properly signed.
    """
    if not issuer_key.is_private or issuer_key.curve_name != CURVE:
        raise FacilityKeyError(f"the issuer key must be a {CURVE} private key")
    return jws.serialize_compact(
        {"alg": SIGNATURE_ALGORITHM, "typ": SIGNED_TYPE, "kid": issuer_key.thumbprint()},
        text.encode("utf-8"),
        issuer_key,
        algorithms=[SIGNATURE_ALGORITHM],
    )


def seal_signed(signed: str, *, recipient_public_key: ECKey) -> str:
    """Encrypt a signed token (compact JWS text) to the recipient's key: a compact JWE."""
    if recipient_public_key.curve_name != CURVE:
        raise FacilityKeyError(f"the recipient key must be a {CURVE} key")
    recipient = _public(recipient_public_key)
    header = {
        "alg": KEY_AGREEMENT,
        "enc": CONTENT_ENCRYPTION,
        "cty": "JOSE",
        "kid": recipient.thumbprint(),
    }
    return jwe.encrypt_compact(
        header,
        signed.encode("ascii"),
        recipient,
        algorithms=[KEY_AGREEMENT, CONTENT_ENCRYPTION],
    )


def _b64url(segment: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenMalformed(f"the {what} is not base64url") from None
    # One encoding per value: a character whose change is invisible would also be unsigned.
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != segment:
        raise TokenMalformed(f"the {what} is not in canonical base64url")
    return raw


def _compact_header(text: str, parts: int, what: str, algorithms: dict[str, str]) -> dict[str, Any]:
    segments = text.split(".")
    if len(segments) != parts:
        raise TokenMalformed(f"the {what} must have {parts} dot-separated parts")
    for segment in segments[1:]:
        _b64url(segment, what)
    try:
        header = json.loads(_b64url(segments[0], what))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise TokenMalformed(f"the {what} header is not JSON") from None
    if not isinstance(header, dict):
        raise TokenMalformed(f"the {what} header is not a JSON object")
    for name, expected in algorithms.items():
        if header.get(name) != expected:
            raise TokenMalformed(f"the {what} must use {name} {expected}")
    return header


def _open_envelope(sealed: str, recipient_key: ECKey) -> bytes:
    header = _compact_header(
        sealed, 5, "sealed token", {"alg": KEY_AGREEMENT, "enc": CONTENT_ENCRYPTION}
    )
    ours = header.get("kid") == recipient_key.thumbprint()
    if "kid" in header and not ours:
        raise TokenRecipientError("the token is sealed to another recipient key")
    try:
        return jwe.decrypt_compact(
            sealed, recipient_key, algorithms=[KEY_AGREEMENT, CONTENT_ENCRYPTION]
        ).plaintext
    except (JoseError, ValueError, TypeError, KeyError):
        # With our kid the key is right, so a failure means the ciphertext or header changed.
        if ours:
            raise TokenSignatureError(
                "the sealed token was altered (integrity check failed)"
            ) from None
        raise TokenRecipientError("this key cannot open the sealed token") from None


def _verify_signature(signed: str, issuer_public_key: ECKey) -> bytes:
    header = _compact_header(signed, 3, "signed token", {"alg": SIGNATURE_ALGORITHM})
    if "kid" in header and header["kid"] != issuer_public_key.thumbprint():
        raise TokenSignatureError("the token is signed with another issuer key")
    try:
        return jws.deserialize_compact(
            signed, issuer_public_key, algorithms=[SIGNATURE_ALGORITHM]
        ).payload
    except BadSignatureError:
        raise TokenSignatureError("the issuer signature does not verify") from None
    except (JoseError, ValueError, TypeError, KeyError):
        raise TokenMalformed("the signed token cannot be read") from None


def unseal_token(
    sealed: str,
    *,
    recipient_key: ECKey,
    issuer_public_key: ECKey,
    recipient_id: str | None = None,
) -> Token:
    """Decrypt a sealed token with the recipient's key, verify the issuer, return the token."""
    token = from_json(
        unseal_text(sealed, recipient_key=recipient_key, issuer_public_key=issuer_public_key)
    )
    check_recipient(token, recipient_id)
    return token


def unseal_text(sealed: str, *, recipient_key: ECKey, issuer_public_key: ECKey) -> bytes:
    """Decrypt a sealed token and verify the issuer; return the canonical JSON it signed.

    The bytes are the token as its issuer wrote them, for a judge of how each item is typed;
    :func:`unseal_token` reads them into a token.
    """
    if not recipient_key.is_private or recipient_key.curve_name != CURVE:
        raise FacilityKeyError(f"the recipient key must be a {CURVE} private key")
    if issuer_public_key.curve_name != CURVE:
        raise FacilityKeyError(f"the issuer key must be a {CURVE} key")
    if not isinstance(sealed, str) or len(sealed) > MAX_SEALED_LENGTH:
        raise TokenMalformed(f"a sealed token is a string of at most {MAX_SEALED_LENGTH} chars")
    sealed = sealed.strip()
    if not sealed.isascii():
        raise TokenMalformed("a sealed token holds only ASCII characters")
    signed = _open_envelope(sealed, recipient_key)
    try:
        signed_text = signed.decode("ascii")
    except UnicodeDecodeError:
        raise TokenMalformed("the sealed token does not hold a signed token") from None
    return _verify_signature(signed_text, _public(issuer_public_key))
