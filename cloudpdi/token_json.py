"""The canonical JSON form of an HI-TOKEN (reference binding ``cpdi-ref/1``, ASSUMED).

Writing is canonical (sorted keys, no spaces, UTF-8, secret in unpadded base64url, timestamps
as ``YYYY-MM-DDTHH:MM:SSZ``) so that a signature over it is reproducible. Reading accepts any
JSON layout but refuses unknown, missing, repeated or null keys and every value the model
refuses: a reader must never see a token other than the one the issuer signed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cloudpdi.secret import SECRET_LENGTH, Secret
from cloudpdi.token_model import (
    MAX_ENCODED_LENGTH,
    ContentSummary,
    Facility,
    Token,
    TokenMalformed,
    field_error,
    format_timestamp,
)

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _facility_json(facility: Facility) -> dict[str, str]:
    return {"id": facility.id, "name": facility.name}


def to_json(token: Token) -> str:
    """Return the canonical JSON text: sorted keys, no spaces, UTF-8, secret in base64url."""
    summary = token.summary
    document: dict[str, Any] = {
        "version": token.version,
        "token_id": token.token_id,
        "community_id": token.community_id,
        "repository": token.repository,
        "document_id": token.document_id,
        "secret": base64.urlsafe_b64encode(token.secret.reveal()).decode("ascii").rstrip("="),
        "envelope_scheme": token.envelope_scheme,
        "content_digest": token.content_digest,
        "issuer": _facility_json(token.issuer),
        "issued_at": format_timestamp(token.issued_at),
        "expires_at": format_timestamp(token.expires_at),
        "summary": {
            "modalities": list(summary.modalities),
            "study_count": summary.study_count,
            "instance_count": summary.instance_count,
            "document_count": summary.document_count,
            "total_bytes": summary.total_bytes,
            "description": summary.description,
        },
    }
    if token.recipient is not None:
        document["recipient"] = _facility_json(token.recipient)
    if token.patient_ref is not None:
        document["patient_ref"] = token.patient_ref
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_TOKEN_KEYS = {
    "version",
    "token_id",
    "community_id",
    "repository",
    "document_id",
    "secret",
    "envelope_scheme",
    "content_digest",
    "issuer",
    "issued_at",
    "expires_at",
    "summary",
}
_OPTIONAL_KEYS = {"recipient", "patient_ref"}
_SUMMARY_KEYS = {"modalities", "study_count", "instance_count", "document_count", "total_bytes"}


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key would let two readers see two different tokens in one text.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise TokenMalformed(f"token JSON repeats the key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> None:
    raise TokenMalformed(f"token JSON contains {name}, which is not a number")


def _object(name: str, value: object, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise field_error(name, "must be a JSON object")
    missing = sorted(required - value.keys())
    unknown = sorted(value.keys() - required - optional)
    if missing:
        raise field_error(name, f"lacks {', '.join(missing)}")
    if unknown:
        raise field_error(name, f"has unknown keys {', '.join(unknown)}")
    return value


def _parse_timestamp(name: str, value: object) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise field_error(name, "must be a UTC timestamp like 2025-01-31T09:00:00Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise field_error(name, "is not a real date and time") from None


def _parse_secret(value: object) -> Secret:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{43}", value):
        raise field_error("secret", f"must be {SECRET_LENGTH} bytes in unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=")
    except binascii.Error:
        raise field_error("secret", "is not valid base64url") from None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != value:
        raise field_error("secret", "is not in canonical base64url")
    return Secret(raw)


def _parse_facility(name: str, value: object) -> Facility:
    facility = _object(name, value, {"id", "name"}, set())
    try:
        return Facility(id=facility["id"], name=facility["name"])
    except TokenMalformed as exc:
        raise TokenMalformed(f"{exc} (in {name})") from None


def _parse_summary(value: object) -> ContentSummary:
    summary = _object("summary", value, _SUMMARY_KEYS, {"description"})
    if not isinstance(summary["modalities"], list):
        raise field_error("summary.modalities", "must be a JSON array")
    return ContentSummary(
        modalities=tuple(summary["modalities"]),
        study_count=summary["study_count"],
        instance_count=summary["instance_count"],
        document_count=summary["document_count"],
        total_bytes=summary["total_bytes"],
        description=summary.get("description", ""),
    )


def from_json(text: str | bytes) -> Token:
    """Parse a token from its JSON form, refusing anything that is not exactly a valid token."""
    if len(text) > MAX_ENCODED_LENGTH:
        raise TokenMalformed(f"token JSON is longer than {MAX_ENCODED_LENGTH} characters")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise TokenMalformed("token JSON is not valid UTF-8") from None
    try:
        document = json.loads(
            text, object_pairs_hook=_unique_object, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        # The decoder's own message is safe (position only); its .doc attribute is not.
        raise TokenMalformed(f"token is not valid JSON ({exc.msg} at {exc.pos})") from None
    except ValueError:
        raise TokenMalformed("token JSON holds a number too long to convert") from None
    except RecursionError:
        raise TokenMalformed("token JSON is nested too deeply") from None
    fields = _object("token", document, _TOKEN_KEYS, _OPTIONAL_KEYS)
    if fields.get("patient_ref", "") is None:
        raise field_error("patient_ref", "must be a string or absent, not null")
    return Token(
        version=fields["version"],
        token_id=fields["token_id"],
        community_id=fields["community_id"],
        repository=fields["repository"],
        document_id=fields["document_id"],
        secret=_parse_secret(fields["secret"]),
        envelope_scheme=fields["envelope_scheme"],
        content_digest=fields["content_digest"],
        issuer=_parse_facility("issuer", fields["issuer"]),
        issued_at=_parse_timestamp("issued_at", fields["issued_at"]),
        expires_at=_parse_timestamp("expires_at", fields["expires_at"]),
        summary=_parse_summary(fields["summary"]),
        recipient=_parse_facility("recipient", fields["recipient"])
        if "recipient" in fields
        else None,
        patient_ref=fields.get("patient_ref"),
    )
