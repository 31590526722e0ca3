"""The HI-TOKEN items, their validation, and the check that a token is valid here and now.

The encodings build on this module; callers import everything from :mod:`cloudpdi.token`.
Error messages name the field and the rule, never a value: the secret and the patient
reference must not leak through a log line.
"""

from __future__ import annotations

import base64
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from cloudpdi.errors import CloudPDIError
from cloudpdi.secret import SECRET_LENGTH, Secret

#: Version of the token item set; the compact prefix and the JSON ``version`` carry it.
TOKEN_VERSION = 1

#: Lifetime of a token when the issuer names none (ASSUMED: HS043 retention is not public).
DEFAULT_LIFETIME = timedelta(days=14)

#: Content digest algorithm of the reference binding (RFC 9530 name) and its size in bytes.
DIGEST_ALGORITHM = "sha-256"
DIGEST_LENGTH = 32

#: Bits of randomness in a generated token or document ID.
ID_RANDOM_BITS = 128

#: Largest count or size a token carries: the largest integer every JSON reader keeps exact.
MAX_COUNT = 2**53 - 1

MAX_ID_LENGTH = 128
MAX_URL_LENGTH = 512
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 4096
MAX_PATIENT_REF_LENGTH = 128
MAX_MODALITIES = 32

#: Upper bound on an encoded token, far above any valid one, so that garbage is refused cheaply.
MAX_ENCODED_LENGTH = 65536

# IDs travel in URL paths and file names: URL-unreserved characters plus ':' (URNs, OIDs),
# starting with a letter or digit so that "." and ".." are impossible.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:-]*")
# DICOM Modality (0008,0060) is a CS value: upper case, digits, underscore, up to 16 chars.
_MODALITY = re.compile(r"[A-Z0-9_]{1,16}")
_SCHEME = re.compile(r"[a-z0-9][a-z0-9.+-]{0,47}(/[0-9]{1,4})?")
_DIGEST = re.compile(rf"{DIGEST_ALGORITHM}:[0-9a-f]{{{DIGEST_LENGTH * 2}}}")


class TokenError(CloudPDIError):
    """A token is invalid, unreadable, or not valid here and now."""


class TokenMalformed(TokenError):
    """A token or one of its encodings breaks the format rules."""


class TokenCheckCodeError(TokenMalformed):
    """The compact text was mistyped: a check character does not match."""


class TokenExpired(TokenError):
    """The token's expiry time has passed."""


class TokenNotYetValid(TokenError):
    """The token's issue time lies in the future."""


class TokenSignatureError(TokenError):
    """The issuer signature does not verify, or the sealed token was altered."""


class TokenRecipientError(TokenError):
    """The token is not for this recipient, or this key cannot open it."""


class TokenTooLarge(TokenError):
    """The token does not fit in the largest QR code."""


def field_error(name: str, rule: str) -> TokenMalformed:
    """Return the error for field ``name`` breaking ``rule``; it names no value, by design."""
    return TokenMalformed(f"token field {name!r} {rule}")


def _check_id(name: str, value: object) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH:
        raise field_error(name, f"must be a string of 1 to {MAX_ID_LENGTH} characters")
    if not _ID.fullmatch(value):
        raise field_error(
            name, "may hold only letters, digits and . _ ~ : - (starting alphanumeric)"
        )


def _check_text(name: str, value: object, max_length: int, *, blank: bool = False) -> None:
    if not isinstance(value, str) or len(value) > max_length:
        raise field_error(name, f"must be a string of at most {max_length} characters")
    if not blank and not value.strip():
        raise field_error(name, "must not be blank")
    # Controls break one-line layouts; surrogates cannot be encoded as UTF-8.
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise field_error(name, "must not contain control characters or lone surrogates")


def _check_count(name: str, value: object) -> None:
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise field_error(name, f"must be an integer from 0 to {MAX_COUNT}")


def _check_url(name: str, value: object) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_URL_LENGTH:
        raise field_error(name, f"must be a URL of at most {MAX_URL_LENGTH} characters")
    if not value.isascii() or not value.isprintable() or " " in value:
        raise field_error(name, "must be printable ASCII without spaces")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - parsing the port is what validates it
    except ValueError:
        raise field_error(name, "is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise field_error(name, "must be an https or http URL with a host")
    if parts.username is not None or parts.query or parts.fragment:
        raise field_error(name, "must not carry credentials, a query or a fragment")


def _utc_second(name: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise field_error(name, "must be a timezone-aware datetime")
    if value.microsecond:
        raise field_error(name, "must be a whole second")
    moment = value.astimezone(UTC)
    if moment.year < 1970:
        raise field_error(name, "must not lie before 1970")
    return moment


def _replace(instance: object, name: str, value: object) -> None:
    # Normalising a field of a frozen dataclass in __post_init__ is the documented escape hatch.
    object.__setattr__(instance, name, value)


@dataclass(frozen=True)
class Facility:
    """A healthcare facility: an ID (e.g. a 10-digit Japanese institution code) and a name."""

    id: str
    name: str

    def __post_init__(self) -> None:
        _check_id("facility.id", self.id)
        _check_text("facility.name", self.name, MAX_NAME_LENGTH)


@dataclass(frozen=True)
class ContentSummary:
    """What the transfer holds, so that a person can tell tokens apart without opening them."""

    modalities: tuple[str, ...]
    study_count: int
    instance_count: int
    document_count: int
    total_bytes: int
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.modalities, str) or not isinstance(self.modalities, Sequence):
            raise field_error("summary.modalities", "must be a sequence of modality codes")
        _replace(self, "modalities", tuple(self.modalities))
        if len(self.modalities) > MAX_MODALITIES:
            raise field_error("summary.modalities", f"must hold at most {MAX_MODALITIES} codes")
        for code in self.modalities:
            if not isinstance(code, str) or not _MODALITY.fullmatch(code):
                raise field_error("summary.modalities", "must hold DICOM codes of A-Z, 0-9 and _")
        if len(set(self.modalities)) != len(self.modalities):
            raise field_error("summary.modalities", "must not repeat a code")
        for name in ("study_count", "instance_count", "document_count", "total_bytes"):
            _check_count(f"summary.{name}", getattr(self, name))
        _check_text("summary.description", self.description, MAX_DESCRIPTION_LENGTH, blank=True)


@dataclass(frozen=True)
class Token:
    """One HI-TOKEN: where the ciphertext is, how to open it, who issued it and until when."""

    version: int
    token_id: str
    community_id: str
    repository: str
    document_id: str
    secret: Secret
    envelope_scheme: str
    content_digest: str
    issuer: Facility
    issued_at: datetime
    expires_at: datetime
    summary: ContentSummary
    recipient: Facility | None = None
    # Pseudonymised, but still patient data: kept out of repr like the secret.
    patient_ref: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if type(self.version) is not int or self.version != TOKEN_VERSION:
            raise field_error("version", f"must be {TOKEN_VERSION} (this reader knows no other)")
        _check_id("token_id", self.token_id)
        _check_id("community_id", self.community_id)
        _check_url("repository", self.repository)
        _check_id("document_id", self.document_id)
        if not isinstance(self.secret, Secret) or len(self.secret) != SECRET_LENGTH:
            raise field_error("secret", f"must be a Secret of {SECRET_LENGTH} bytes")
        if not isinstance(self.envelope_scheme, str) or not _SCHEME.fullmatch(self.envelope_scheme):
            raise field_error("envelope_scheme", "must be a scheme ID such as 'aes256gcm-stream/1'")
        if not isinstance(self.content_digest, str) or not _DIGEST.fullmatch(self.content_digest):
            raise field_error(
                "content_digest", f"must be '{DIGEST_ALGORITHM}:' and 64 lower-case hex"
            )
        if not isinstance(self.issuer, Facility):
            raise field_error("issuer", "must be a Facility")
        if self.recipient is not None and not isinstance(self.recipient, Facility):
            raise field_error("recipient", "must be a Facility or absent")
        if not isinstance(self.summary, ContentSummary):
            raise field_error("summary", "must be a ContentSummary")
        if self.patient_ref is not None:
            _check_text("patient_ref", self.patient_ref, MAX_PATIENT_REF_LENGTH)
        issued_at = _utc_second("issued_at", self.issued_at)
        expires_at = _utc_second("expires_at", self.expires_at)
        if expires_at <= issued_at:
            raise field_error("expires_at", "must lie after issued_at")
        _replace(self, "issued_at", issued_at)
        _replace(self, "expires_at", expires_at)


def new_document_id() -> str:
    """Return a fresh random ID (128 bits, RFC 4648 base32, upper case, no padding)."""
    raw = secrets.token_bytes(ID_RANDOM_BITS // 8)
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def issue_token(
    *,
    community_id: str,
    repository: str,
    document_id: str,
    secret: Secret,
    envelope_scheme: str,
    content_digest: str,
    issuer: Facility,
    summary: ContentSummary,
    lifetime: timedelta | None = None,
    expires_at: datetime | None = None,
    recipient: Facility | None = None,
    patient_ref: str | None = None,
    now: datetime | None = None,
) -> Token:
    """Issue a token with a fresh ID, valid from now for ``lifetime`` or until ``expires_at``."""
    if lifetime is not None and expires_at is not None:
        raise ValueError("give lifetime or expires_at, not both")
    # A naive time would silently be read as the host's local time.
    if now is not None and now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if expires_at is not None and expires_at.utcoffset() is None:
        raise field_error("expires_at", "must be a timezone-aware datetime")
    issued_at = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    if expires_at is None:
        expires_at = issued_at + (lifetime if lifetime is not None else DEFAULT_LIFETIME)
    return Token(
        version=TOKEN_VERSION,
        token_id=new_document_id(),
        community_id=community_id,
        repository=repository,
        document_id=document_id,
        secret=secret,
        envelope_scheme=envelope_scheme,
        content_digest=content_digest,
        issuer=issuer,
        # A token must not outlive its stated expiry, so a fraction of a second is cut, not rounded.
        issued_at=issued_at,
        expires_at=expires_at.astimezone(UTC).replace(microsecond=0),
        summary=summary,
        recipient=recipient,
        patient_ref=patient_ref,
    )


def check_recipient(token: Token, recipient_id: str | None) -> None:
    """Refuse a token addressed to another facility; a token naming no recipient fits anyone."""
    if (
        recipient_id is not None
        and token.recipient is not None
        and token.recipient.id != recipient_id
    ):
        raise TokenRecipientError("the token is addressed to another facility")


def check_token(
    token: Token,
    *,
    now: datetime | None = None,
    recipient_id: str | None = None,
    clock_skew: timedelta = timedelta(minutes=5),
) -> None:
    """Check that ``token`` is valid at ``now`` (allowing ``clock_skew``) and for this recipient."""
    moment = now or datetime.now(UTC)
    if moment.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if moment + clock_skew < token.issued_at:
        raise TokenNotYetValid(f"the token is valid only from {format_timestamp(token.issued_at)}")
    if moment - clock_skew >= token.expires_at:
        raise TokenExpired(f"the token expired at {format_timestamp(token.expires_at)}")
    check_recipient(token, recipient_id)


def format_timestamp(moment: datetime) -> str:
    """Return ``moment`` as an RFC 3339 UTC timestamp with whole seconds, as tokens carry it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
