"""Read an HI-TOKEN from whatever a receiver is handed: text, a file, a sealed token, a QR image.

The three text forms are told apart by their shape: canonical JSON starts with ``{``, a sealed
token is a five-part compact JWE, and anything else is read as compact text (which names the
mistyped group, if any). A file holds one of those, or is an image (a photo or scan of the
QR code or of the whole token slip) whose QR code is decoded with zxing-cpp.

A sealed token is opened with the facility's private key and accepted only if a trusted
issuer's key signed it: the key is chosen by the signature's ``kid`` (the key thumbprint) or,
without one, by the issuer the token names, and the issuer the token names must be the
facility that key belongs to. Nothing here echoes token text: errors name the problem only.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import zxingcpp
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from PIL import Image, UnidentifiedImageError

from cloudpdi.seal import (
    CONTENT_ENCRYPTION,
    KEY_AGREEMENT,
    MAX_SEALED_LENGTH,
    load_private_key,
    load_public_key,
    unseal_token,
)
from cloudpdi.token import (
    Token,
    TokenMalformed,
    TokenSignatureError,
    from_compact,
    from_json,
)

#: Largest token file read as text: a sealed token of the largest token.
MAX_TEXT_BYTES = MAX_SEALED_LENGTH
#: Largest image file read: a phone photo of a slip is a few megabytes.
MAX_IMAGE_BYTES = 64 << 20
#: Largest image decoded, in pixels: an A4 scan at 600 dpi has 35 million.
MAX_IMAGE_PIXELS = 60_000_000

# Magic numbers of the image formats a scanner or phone writes.
_IMAGE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF",
)
_PDF_SIGNATURE = b"%PDF-"
_COMPACT_JWE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){4}")


class TokenInputError(TokenMalformed):
    """The token source cannot be read: no such file, too large, no QR code in the image."""


class UntrustedIssuerError(TokenSignatureError):
    """A sealed token is signed by no issuer this facility trusts."""


class TokenForm(StrEnum):
    """The text forms of a token."""

    COMPACT = "compact"
    JSON = "json"
    SEALED = "sealed"


@dataclass(frozen=True)
class SealKeys:
    """What opening a sealed token takes: our private key, and the trusted issuers' keys."""

    recipient_key: ECKey = field(repr=False)
    #: Facility ID -> that facility's public key.
    trusted_issuers: Mapping[str, ECKey] = field(default_factory=dict)

    @classmethod
    def load(cls, key_path: Path, trusted_issuers: Mapping[str, Path]) -> SealKeys:
        """Read the facility's private key and each trusted issuer's public key from PEM files."""
        return cls(
            recipient_key=load_private_key(key_path),
            trusted_issuers={
                facility: load_public_key(path) for facility, path in trusted_issuers.items()
            },
        )


def token_form(text: str) -> TokenForm:
    """Tell which text form ``text`` is in, by its shape alone."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return TokenForm.JSON
    if _COMPACT_JWE.fullmatch(stripped):
        return TokenForm.SEALED
    return TokenForm.COMPACT


def read_token(source: Token | str | Path, *, keys: SealKeys | None = None) -> Token:
    """Return the token in ``source``: a Token, token text (any form), or a file (text or image)."""
    if isinstance(source, Token):
        return source
    if isinstance(source, Path):
        return read_token_file(source, keys=keys)
    if isinstance(source, str):
        return read_token_text(source, keys=keys)
    raise TypeError("a token source is a Token, token text, or a Path")


def read_token_text(
    text: str, *, keys: SealKeys | None = None, form: TokenForm | None = None
) -> Token:
    """Read token text in ``form``, or in the form its shape shows when none is given."""
    if len(text) > MAX_TEXT_BYTES:
        raise TokenInputError(f"token text is longer than {MAX_TEXT_BYTES} characters")
    form = form or token_form(text)
    if form is TokenForm.JSON:
        return from_json(text)
    if form is TokenForm.COMPACT:
        return from_compact(text)
    if keys is None:
        raise TokenInputError("a sealed token needs the facility key and trusted issuer keys")
    return unseal_trusted(text, keys)


def read_token_file(path: Path, *, keys: SealKeys | None = None) -> Token:
    """Read a token file: token text in any form, or an image holding the token's QR code."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise TokenInputError(f"cannot read the token file {path} ({exc.strerror})") from None
    if data.startswith(_PDF_SIGNATURE):
        raise TokenInputError("a PDF slip is read from its QR code: scan it or save it as PNG")
    if data.startswith(_IMAGE_SIGNATURES):
        if len(data) > MAX_IMAGE_BYTES:
            raise TokenInputError(f"the image is larger than {MAX_IMAGE_BYTES} bytes")
        return read_token_text(decode_qr(io.BytesIO(data)), keys=keys)
    if len(data) > MAX_TEXT_BYTES:
        raise TokenInputError(f"the token file is larger than {MAX_TEXT_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TokenInputError("the token file is neither UTF-8 text nor an image") from None
    return read_token_text(text, keys=keys)


def decode_qr(image: Image.Image | Path | io.BytesIO) -> str:
    """Return the text of the one QR code in ``image`` (a file, bytes, or a Pillow image)."""
    if isinstance(image, Image.Image):
        return _decode(image)
    try:
        with Image.open(image) as opened:
            width, height = opened.size
            if width * height > MAX_IMAGE_PIXELS:
                raise TokenInputError(f"the image has more than {MAX_IMAGE_PIXELS} pixels")
            opened.load()
            return _decode(opened)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise TokenInputError("the image cannot be decoded") from None


def _decode(image: Image.Image) -> str:
    # Grey levels are all a QR decoder looks at; converting also drops alpha and palettes.
    grey = image if image.mode == "L" else image.convert("L")
    found = zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode)
    texts = {barcode.text for barcode in found if barcode.valid and barcode.text}
    if not texts:
        raise TokenInputError("no readable QR code in the image")
    if len(texts) > 1:
        raise TokenInputError(f"the image holds {len(texts)} different QR codes; give one")
    return texts.pop()


def unseal_trusted(sealed: str, keys: SealKeys) -> Token:
    """Open a sealed token with our key and accept it only from a trusted issuer."""
    if not keys.trusted_issuers:
        raise UntrustedIssuerError("no trusted issuer keys are configured")
    sealed = sealed.strip()
    signed = _peek(sealed, keys.recipient_key)
    if signed is None:
        # Not our key, or altered: unseal_token tells which, whatever issuer key it is given.
        any_issuer = next(iter(keys.trusted_issuers.values()))
        unseal_token(sealed, recipient_key=keys.recipient_key, issuer_public_key=any_issuer)
        raise TokenMalformed("the sealed token cannot be opened")
    facility, issuer_key = _trusted_signer(signed, keys.trusted_issuers)
    token = unseal_token(sealed, recipient_key=keys.recipient_key, issuer_public_key=issuer_key)
    if token.issuer.id != facility:
        raise TokenSignatureError("the token names another issuer than the one that signed it")
    return token


def _peek(sealed: str, recipient_key: ECKey) -> str | None:
    """Return the signed token inside ``sealed``, unverified, or None if it does not open."""
    if len(sealed) > MAX_SEALED_LENGTH or not sealed.isascii():
        return None
    try:
        plain = jwe.decrypt_compact(
            sealed, recipient_key, algorithms=[KEY_AGREEMENT, CONTENT_ENCRYPTION]
        ).plaintext
        return plain.decode("ascii")
    except (JoseError, ValueError, TypeError, KeyError):
        return None


def _trusted_signer(signed: str, trusted: Mapping[str, ECKey]) -> tuple[str, ECKey]:
    """Pick the trusted issuer key for ``signed``: by ``kid``, else by the named issuer."""
    segments = signed.split(".")
    if len(segments) != 3:
        raise TokenMalformed("the sealed token does not hold a signed token")
    header = _json_segment(segments[0])
    kid = header.get("kid") if isinstance(header, dict) else None
    if isinstance(kid, str):
        for facility, key in trusted.items():
            if key.thumbprint() == kid:
                return facility, key
        raise UntrustedIssuerError("the token is signed with the key of no trusted issuer")
    # No kid: the (still unverified) token names its issuer; that issuer's key must verify it.
    try:
        payload = base64.urlsafe_b64decode(_padded(segments[1]))
    except (binascii.Error, ValueError):
        raise TokenMalformed("the signed token's payload cannot be read") from None
    issuer = from_json(payload).issuer.id
    if issuer not in trusted:
        raise UntrustedIssuerError("the token's issuer is not a trusted issuer")
    return issuer, trusted[issuer]


def _json_segment(segment: str) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(_padded(segment)))
    except (binascii.Error, ValueError, RecursionError):
        raise TokenMalformed("the signed token's header cannot be read") from None


def _padded(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)
