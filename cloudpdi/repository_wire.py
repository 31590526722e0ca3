"""The wire vocabulary of the reference repository binding ``cpdi-ref/1`` (ASSUMED).

Client (:mod:`cloudpdi.repository`) and reference server (``simulators.repository``) both
speak it, so paths, header names, the document ID rule and the header codecs live here once:

- ``/documents/{documentId}``: ``PUT`` (whole body), ``GET`` (``Range``), ``HEAD``, ``DELETE``;
- ``/uploads``: resumable upload, tus 1.0.0 (core, creation, checksum, expiration, termination);
- digests travel as RFC 9530 ``Content-Digest``/``Repr-Digest`` fields (``sha-256=:<b64>:``);
  inside the library they are ``"sha-256:<hex>"`` strings, as tokens carry them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from cloudpdi.envelope_base import DIGEST_ALGORITHM, format_digest
from cloudpdi.errors import CloudPDIError
from cloudpdi.token_model import MAX_ID_LENGTH

BINDING = "cpdi-ref/1"
DOCUMENTS_PATH = "/documents"
UPLOADS_PATH = "/uploads"

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "checksum", "expiration", "termination")
#: Upload-Checksum algorithms (tus names) and the hash each one means.
TUS_CHECKSUMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}
TUS_CONTENT_TYPE = "application/offset+octet-stream"

#: Request headers of ``PUT`` (and tus creation metadata keys) that set a document's policy.
EXPIRES_HEADER = "Cpdi-Expires-At"
RECIPIENT_HEADER = "Cpdi-Recipient"
MAX_DOWNLOADS_HEADER = "Cpdi-Max-Downloads"

#: tus ``Upload-Metadata`` keys.
META_DOCUMENT_ID = "documentId"
META_DIGEST = "contentDigest"
META_EXPIRES = "expiresAt"
META_RECIPIENT = "recipient"
META_MAX_DOWNLOADS = "maxDownloads"

# The token's document ID rule: safe in one URL path segment, never "." or "..".
_DOCUMENT_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._~:-]{{0,{MAX_ID_LENGTH - 1}}}")
_HEX_DIGEST = re.compile(rf"{DIGEST_ALGORITHM}:([0-9a-f]{{64}})")
_DIGEST_MEMBER = re.compile(r"\s*([a-z0-9_.*-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*")
_METADATA_KEY = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_COUNT = re.compile(r"[0-9]{1,20}")


class WireFormatError(CloudPDIError, ValueError):
    """A header or metadata value does not follow the reference binding."""


def is_document_id(value: str) -> bool:
    """Tell whether ``value`` is a well-formed document ID (1-128 URL-safe characters)."""
    return _DOCUMENT_ID.fullmatch(value) is not None


def parse_count(value: str | None) -> int | None:
    """Return a header's non-negative whole number (ASCII digits only), or ``None``."""
    if value is None or not _COUNT.fullmatch(value.strip()):
        return None
    return int(value)


def digest_field(digest: str) -> str:
    """Turn ``"sha-256:<hex>"`` into the RFC 9530 field value ``"sha-256=:<base64>:"``."""
    match = _HEX_DIGEST.fullmatch(digest)
    if match is None:
        raise WireFormatError(f"a digest must be '{DIGEST_ALGORITHM}:' and 64 lower-case hex")
    raw = bytes.fromhex(match.group(1))
    return f"{DIGEST_ALGORITHM}=:{base64.b64encode(raw).decode('ascii')}:"


def parse_digest_field(value: str) -> str:
    """Return the SHA-256 member of an RFC 9530 digest field as ``"sha-256:<hex>"``.

    Other algorithms may be listed too and are ignored; SHA-256 must be among them.
    """
    for member in value.split(","):
        match = _DIGEST_MEMBER.fullmatch(member)
        if match is None:
            raise WireFormatError("a digest field must be 'algorithm=:base64:' members")
        if match.group(1) != DIGEST_ALGORITHM:
            continue
        raw = _b64decode(match.group(2))
        if len(raw) != hashlib.sha256().digest_size:
            raise WireFormatError("a sha-256 digest holds 32 bytes")
        return format_digest(raw.hex())
    raise WireFormatError(f"the digest field has no {DIGEST_ALGORITHM} member")


def checksum_field(algorithm: str, chunk: bytes | bytearray | memoryview) -> str:
    """Return a tus ``Upload-Checksum`` value (``"sha256 <base64>"``) for one PATCH body."""
    value = TUS_CHECKSUMS[algorithm](chunk).digest()
    return f"{algorithm} {base64.b64encode(value).decode('ascii')}"


def parse_checksum_field(value: str) -> tuple[str, bytes]:
    """Split a tus ``Upload-Checksum`` value into the algorithm name and the raw checksum."""
    algorithm, _, encoded = value.strip().partition(" ")
    if algorithm not in TUS_CHECKSUMS:
        raise WireFormatError("unsupported Upload-Checksum algorithm")
    raw = _b64decode(encoded.strip())
    if len(raw) != TUS_CHECKSUMS[algorithm]().digest_size:
        raise WireFormatError("the Upload-Checksum value has the wrong length")
    return algorithm, raw


def encode_metadata(items: Mapping[str, str]) -> str:
    """Return a tus ``Upload-Metadata`` value: ``key base64(value)`` pairs, comma separated."""
    pairs = []
    for key, value in items.items():
        if not _METADATA_KEY.fullmatch(key):
            raise WireFormatError("an Upload-Metadata key must be a token without spaces or commas")
        pairs.append(f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}")
    return ",".join(pairs)


def decode_metadata(value: str) -> dict[str, str]:
    """Parse a tus ``Upload-Metadata`` value into a dict of UTF-8 strings."""
    items: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in value.split(","))):
        key, _, encoded = pair.partition(" ")
        if not _METADATA_KEY.fullmatch(key) or key in items:
            raise WireFormatError("Upload-Metadata keys must be unique tokens")
        try:
            items[key] = _b64decode(encoded.strip()).decode("utf-8")
        except UnicodeDecodeError:
            raise WireFormatError("an Upload-Metadata value is not UTF-8") from None
    return items


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset (``Z`` or ``+09:00``) into UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise WireFormatError("a timestamp must be RFC 3339, e.g. 2026-01-31T09:00:00Z") from None
    if moment.tzinfo is None:
        raise WireFormatError("a timestamp must carry an offset such as Z")
    return moment.astimezone(UTC)


def _b64decode(encoded: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise WireFormatError("a value is not valid base64") from None
