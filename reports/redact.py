"""Remove secrets from text and data before they enter a report.

Evidence is captured from live traffic, where a secret may travel raw, in hex, in base64 (also
URL-safe and percent-encoded, as in a leaked query string) or in base32, and where credentials
ride in ``Authorization`` headers. :func:`redact` replaces every such spelling, so that the
results model, and therefore every renderer, never holds a secret.
"""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias
from urllib.parse import quote

from cloudpdi.errors import CloudPDIError
from cloudpdi.secret import REDACTED, Secret

#: Headers whose values are credentials; their values are redacted whatever they hold.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

# "Authorization: Bearer abc" inside free text (a logged request, a curl command line).
_HEADER_IN_TEXT = re.compile(
    r"(?im)\b(" + "|".join(sorted(CREDENTIAL_HEADERS)) + r")(\s*[:=]\s*)([^\r\n]+)"
)

SecretLike: TypeAlias = bytes | str | Secret


class RedactionError(CloudPDIError):
    """A secret given for redaction is unusable (empty)."""


def redact(value: Any, secrets: Iterable[SecretLike]) -> Any:
    """Return ``value`` (text, bytes, mapping or sequence) with every spelling of secrets removed.

    Mappings and sequences are copied recursively; keys are redacted too, and the values of
    credential headers (a mapping key or the first item of a pair) are replaced whole.
    """
    return _Redactor(secrets).apply(value)


def secret_spellings(secret: SecretLike) -> list[bytes]:
    """Return the encodings of one secret that a leak would plausibly use, longest first."""
    raw = _raw(secret)
    if not raw:
        raise RedactionError("a secret to redact is empty")
    texts = {
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b32encode(raw).decode(),
    }
    texts |= {text.rstrip("=") for text in texts}
    texts |= {quote(text, safe="") for text in texts}
    spellings = {raw} | {text.encode("ascii") for text in texts}
    return sorted(spellings, key=len, reverse=True)


def _raw(secret: SecretLike) -> bytes:
    if isinstance(secret, Secret):
        return secret.reveal()
    if isinstance(secret, str):
        return secret.encode("utf-8")
    return bytes(secret)


class _Redactor:
    """The compiled patterns of one set of secrets, applied to any JSON-like value."""

    def __init__(self, secrets: Iterable[SecretLike]) -> None:
        spellings: set[bytes] = set()
        for secret in secrets:
            spellings.update(secret_spellings(secret))
        ordered = sorted(spellings, key=len, reverse=True)
        self._empty = not ordered
        # Hex and base32 leak in either case; matching base64 without case as well can only
        # redact a case-variant of a secret's spelling, which is harmless.
        self._bytes = re.compile(b"|".join(re.escape(s) for s in ordered), re.IGNORECASE)
        text_forms = sorted({form for s in ordered for form in _as_text(s)}, key=len, reverse=True)
        self._text = re.compile("|".join(re.escape(s) for s in text_forms), re.IGNORECASE)

    def apply(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._str(value)
        if isinstance(value, bytes | bytearray):
            return self._bytes_value(bytes(value))
        if isinstance(value, Mapping):
            return {
                self.apply(key): _credential(item) if _is_credential(key) else self.apply(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            if len(value) == 2 and _is_credential(value[0]):
                return type(value)((value[0], _credential(value[1])))
            return type(value)(self.apply(item) for item in value)
        return value

    def _str(self, text: str) -> str:
        text = _HEADER_IN_TEXT.sub(lambda m: m[1] + m[2] + _credential(m[3]), text)
        return text if self._empty else self._text.sub(REDACTED, text)

    def _bytes_value(self, data: bytes) -> bytes:
        return data if self._empty else self._bytes.sub(REDACTED.encode(), data)


def _as_text(spelling: bytes) -> list[str]:
    """Return how bytes may show up in text: as Latin-1 (a lossless decode) and UTF-8 if valid."""
    forms = [spelling.decode("latin-1")]
    with contextlib.suppress(UnicodeDecodeError):
        forms.append(spelling.decode("utf-8"))
    return forms


def _credential(value: Any) -> str:
    """Return a credential's replacement; the auth scheme (``Bearer``, ``Basic``) stays readable."""
    scheme, _, rest = value.strip().partition(" ") if isinstance(value, str) else ("", "", "")
    return f"{scheme} {REDACTED}" if rest else REDACTED


def _is_credential(name: Any) -> bool:
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return isinstance(name, str) and name.strip().lower() in CREDENTIAL_HEADERS
