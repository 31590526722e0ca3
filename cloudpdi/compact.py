"""The compact text form of an HI-TOKEN, for QR codes and typing by hand.

Reference binding ``cpdi-ref/1`` (ASSUMED until ISO/TS 22691's serialisation is public).
The text carries every token item and round-trips to an equal token. Every character is in
the QR alphanumeric set (0-9 A-Z space $ % * + - . / :), so the QR code stays small.

Text::

    HT1:GGGGCGGGGC...GGC

``HT1:`` names the format and :data:`~cloudpdi.token.TOKEN_VERSION`. The payload below is
written in RFC 4648 base32 (upper case, no padding) and cut into groups of
:data:`GROUP_DATA` characters (the last may be shorter); each group is followed by one check
character, ISO/IEC 7064 MOD 37-2 over the group number (1-based, mod 37) and the group's
characters, drawn from ``0-9 A-Z *``. A pure MOD 37-2 system detects every single
substitution and every swap of two adjacent characters; a swap across two groups is two
substitutions, so it is caught too, and the group number catches groups typed in the wrong
order or skipped. A reader tells the user which group is wrong.

Payload, in this fixed order (``uvarint`` is unsigned LEB128, minimal length; ``text`` is a
uvarint byte count then UTF-8):

==============  ======================================================================
flags           1 byte: bit 0 recipient present, bit 1 patient reference present
token_id        text
community_id    text
repository      text
document_id     text
secret          32 raw bytes
envelope        text (scheme ID)
content digest  32 raw bytes (SHA-256)
issuer          text ID, text name
issued_at       uvarint, seconds since 1970-01-01T00:00:00Z
lifetime        uvarint, seconds from issued_at to expires_at
modalities      uvarint count, then text each
counts          uvarint studies, instances, documents, total bytes
description     text
recipient       text ID, text name (only if flag bit 0)
patient_ref     text (only if flag bit 1)
==============  ======================================================================

Reading ignores case, white space and hyphens, and applies Unicode NFKC first so that text typed
with a Japanese input method in full-width mode (full-width letters, digits and colon)
reads the same. A text that reads but is not exactly what the writer would produce is
refused: one token, one text.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from datetime import UTC, datetime

from cloudpdi.secret import SECRET_LENGTH, Secret
from cloudpdi.token_model import (
    DIGEST_ALGORITHM,
    DIGEST_LENGTH,
    MAX_ENCODED_LENGTH,
    TOKEN_VERSION,
    ContentSummary,
    Facility,
    Token,
    TokenCheckCodeError,
    TokenMalformed,
    field_error,
)

PREFIX = f"HT{TOKEN_VERSION}:"

#: Payload characters per group; a check character follows each group.
GROUP_DATA = 4
GROUP_LENGTH = GROUP_DATA + 1

#: ISO/IEC 7064 MOD 37-2: character values 0-36, in this order.
CHECK_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
CHECK_MODULUS = 37
_VALUE = {char: value for value, char in enumerate(CHECK_ALPHABET)}

_RECIPIENT = 0x01
_PATIENT_REF = 0x02
_SEPARATORS = str.maketrans("", "", " -\t\r\n")


def check_character(number: int, chars: str) -> str:
    """Return the MOD 37-2 check character of group ``number`` holding ``chars``."""
    total = number % CHECK_MODULUS * 2 % CHECK_MODULUS
    for char in chars:
        total = (total + _VALUE[char]) * 2 % CHECK_MODULUS
    return CHECK_ALPHABET[(1 - total) % CHECK_MODULUS]


def _put_uvarint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def _put_text(out: bytearray, value: str) -> None:
    raw = value.encode("utf-8")
    _put_uvarint(out, len(raw))
    out += raw


def _pack(token: Token) -> bytes:
    out = bytearray()
    has_recipient, has_patient_ref = token.recipient is not None, token.patient_ref is not None
    out.append((_RECIPIENT if has_recipient else 0) | (_PATIENT_REF if has_patient_ref else 0))
    for text in (token.token_id, token.community_id, token.repository, token.document_id):
        _put_text(out, text)
    out += token.secret.reveal()
    _put_text(out, token.envelope_scheme)
    out += bytes.fromhex(token.content_digest.removeprefix(f"{DIGEST_ALGORITHM}:"))
    _put_text(out, token.issuer.id)
    _put_text(out, token.issuer.name)
    issued_at = int(token.issued_at.timestamp())
    _put_uvarint(out, issued_at)
    _put_uvarint(out, int(token.expires_at.timestamp()) - issued_at)
    summary = token.summary
    _put_uvarint(out, len(summary.modalities))
    for modality in summary.modalities:
        _put_text(out, modality)
    for count in (
        summary.study_count,
        summary.instance_count,
        summary.document_count,
        summary.total_bytes,
    ):
        _put_uvarint(out, count)
    _put_text(out, summary.description)
    if token.recipient is not None:
        _put_text(out, token.recipient.id)
        _put_text(out, token.recipient.name)
    if token.patient_ref is not None:
        _put_text(out, token.patient_ref)
    return bytes(out)


class _Reader:
    """Reads payload items in order; every error names the item being read."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def raw(self, name: str, length: int) -> bytes:
        end = self._position + length
        if end > len(self._data):
            raise field_error(name, "is cut short in the compact text")
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def uvarint(self, name: str) -> int:
        value = 0
        for shift in range(0, 70, 7):
            (byte,) = self.raw(name, 1)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise field_error(name, "holds a number too long for the compact text")

    def text(self, name: str) -> str:
        raw = self.raw(name, self.uvarint(name))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise field_error(name, "is not valid UTF-8 in the compact text") from None

    def facility(self, name: str) -> Facility:
        facility_id = self.text(f"{name}.id")
        return Facility(id=facility_id, name=self.text(f"{name}.name"))

    def finish(self) -> None:
        if self._position != len(self._data):
            raise TokenMalformed("the compact text carries bytes after the last token item")


def _timestamp(name: str, seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise field_error(name, "is out of range") from None


def _unpack(data: bytes) -> Token:
    reader = _Reader(data)
    (flags,) = reader.raw("flags", 1)
    if flags & ~(_RECIPIENT | _PATIENT_REF):
        raise field_error("flags", "has bits this reader does not know")
    token_id = reader.text("token_id")
    community_id = reader.text("community_id")
    repository = reader.text("repository")
    document_id = reader.text("document_id")
    secret = Secret(reader.raw("secret", SECRET_LENGTH))
    envelope_scheme = reader.text("envelope_scheme")
    digest = reader.raw("content_digest", DIGEST_LENGTH)
    issuer = reader.facility("issuer")
    issued_at = reader.uvarint("issued_at")
    expires_at = issued_at + reader.uvarint("expires_at")
    modalities = tuple(
        reader.text("summary.modalities") for _ in range(reader.uvarint("summary.modalities"))
    )
    study_count, instance_count, document_count, total_bytes = (
        reader.uvarint(f"summary.{name}")
        for name in ("study_count", "instance_count", "document_count", "total_bytes")
    )
    summary = ContentSummary(
        modalities=modalities,
        study_count=study_count,
        instance_count=instance_count,
        document_count=document_count,
        total_bytes=total_bytes,
        description=reader.text("summary.description"),
    )
    recipient = reader.facility("recipient") if flags & _RECIPIENT else None
    patient_ref = reader.text("patient_ref") if flags & _PATIENT_REF else None
    reader.finish()
    return Token(
        version=TOKEN_VERSION,
        token_id=token_id,
        community_id=community_id,
        repository=repository,
        document_id=document_id,
        secret=secret,
        envelope_scheme=envelope_scheme,
        content_digest=f"{DIGEST_ALGORITHM}:{digest.hex()}",
        issuer=issuer,
        issued_at=_timestamp("issued_at", issued_at),
        expires_at=_timestamp("expires_at", expires_at),
        summary=summary,
        recipient=recipient,
        patient_ref=patient_ref,
    )


def to_compact(token: Token) -> str:
    """Return the canonical compact text of ``token``: what the QR code holds."""
    data = base64.b32encode(_pack(token)).decode("ascii").rstrip("=")
    groups = (data[start : start + GROUP_DATA] for start in range(0, len(data), GROUP_DATA))
    return PREFIX + "".join(
        chars + check_character(number, chars) for number, chars in enumerate(groups, 1)
    )


def normalise_compact(text: str) -> str:
    """Return ``text`` as the writer would: NFKC, upper case, no spaces or hyphens."""
    return unicodedata.normalize("NFKC", text).translate(_SEPARATORS).upper()


def _split_groups(body: str) -> list[str]:
    return [body[start : start + GROUP_LENGTH] for start in range(0, len(body), GROUP_LENGTH)]


def _group_is_valid(number: int, group: str) -> bool:
    if len(group) < 2 or any(char not in _VALUE for char in group):
        return False
    return check_character(number, group[:-1]) == group[-1]


def _describe(wrong: list[int], total: int) -> str:
    # After a lost or extra character every later group is shifted, so nearly all fail.
    if len(wrong) >= 3 and len(wrong) * 4 >= (total - wrong[0] + 1) * 3:
        return (
            f"the compact text is mistyped from group {wrong[0]} of {total} on: "
            f"a character is probably missing or extra in group {wrong[0]}"
        )
    shown = ", ".join(str(number) for number in wrong[:5])
    more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
    noun = "group" if len(wrong) == 1 else "groups"
    return f"the compact text is mistyped in {noun} {shown}{more} (of {total}, after '{PREFIX}')"


def _one_typo_away(typed: str, expected: str) -> bool:
    """Tell whether ``typed`` is ``expected`` with one substitution or one adjacent swap."""
    differences = [i for i, (a, b) in enumerate(zip(typed, expected, strict=True)) if a != b]
    if len(differences) == 1:
        return True
    if len(differences) != 2 or differences[1] != differences[0] + 1:
        return False
    first, second = differences
    return typed[first] == expected[second] and typed[second] == expected[first]


def _check_prefix(prefix: str) -> None:
    if prefix == PREFIX:
        return
    # One typo away is a mistyped prefix (or a format version this reader does not know).
    if _one_typo_away(prefix.ljust(len(PREFIX)), PREFIX):
        raise TokenCheckCodeError(
            f"the compact text should start with '{PREFIX}': the start is mistyped, "
            "or the token uses a version this reader does not know"
        )
    raise TokenMalformed(f"this is not an HI-TOKEN compact text (it should start '{PREFIX}')")


def from_compact(text: str) -> Token:
    """Read a token from its compact text, telling which group is mistyped if any."""
    if not isinstance(text, str) or len(text) > MAX_ENCODED_LENGTH:
        raise TokenMalformed(f"a compact text is a string of at most {MAX_ENCODED_LENGTH} chars")
    normal = normalise_compact(text)
    _check_prefix(normal[: len(PREFIX)])
    groups = _split_groups(normal[len(PREFIX) :])
    if not groups:
        raise TokenMalformed("the compact text holds nothing after its prefix")
    wrong = [n for n, group in enumerate(groups, 1) if not _group_is_valid(n, group)]
    if wrong:
        raise TokenCheckCodeError(_describe(wrong, len(groups)))
    data = "".join(group[:-1] for group in groups)
    try:
        payload = base64.b32decode(data + "=" * (-len(data) % 8))
    except binascii.Error:
        raise TokenMalformed("the compact text is not valid base32") from None
    token = _unpack(payload)
    if to_compact(token) != normal:
        raise TokenMalformed("the compact text is not in canonical form")
    return token


def group_compact(text: str, per_line: int | None = None) -> str:
    """Return compact text spaced into its check groups, ``per_line`` groups to a line."""
    if per_line is not None and per_line < 1:
        raise ValueError("per_line must be at least 1")
    normal = normalise_compact(text)
    if not normal.startswith(PREFIX):
        raise TokenMalformed(f"this is not an HI-TOKEN compact text (no '{PREFIX}' prefix)")
    groups = _split_groups(normal[len(PREFIX) :])
    if per_line is None:
        return " ".join([PREFIX, *groups])
    lines = [
        " ".join(groups[start : start + per_line]) for start in range(0, len(groups), per_line)
    ]
    return "\n".join([PREFIX, *lines])
