"""Errors of the repository client, one class per answer a caller handles differently."""

from __future__ import annotations

import json

import httpx

from cloudpdi.errors import CloudPDIError

_MAX_MESSAGE = 200


class RepositoryError(CloudPDIError):
    """The repository refused a request or could not be reached; ``status``/``code`` say how."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class DocumentNotFound(RepositoryError):
    """The repository knows no document (or upload) by this ID (404)."""


class DocumentGone(RepositoryError):
    """The document expired, was revoked or reached its download limit (410); see ``code``."""


class DocumentExists(RepositoryError):
    """The document ID is already used: IDs are never reused (409)."""


class RepositoryAuthError(RepositoryError):
    """The facility key or certificate is missing, wrong, or not allowed to do this (401/403)."""


class DigestMismatch(RepositoryError):
    """The bytes do not match the expected digest; nothing was kept."""


class RetriesExhausted(RepositoryError):
    """The repository kept failing (5xx, 429, dropped connections) past the retry budget."""


_BY_STATUS: dict[int, type[RepositoryError]] = {
    401: RepositoryAuthError,
    403: RepositoryAuthError,
    404: DocumentNotFound,
    410: DocumentGone,
}
_BY_CODE: dict[str, type[RepositoryError]] = {
    "document_exists": DocumentExists,
    "digest_mismatch": DigestMismatch,
}


def error_for(response: httpx.Response) -> RepositoryError:
    """Turn a refusal into the matching error; the body must have been read."""
    code, message = None, ""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("error") if isinstance(body.get("error"), str) else None
        message = body.get("message") if isinstance(body.get("message"), str) else ""
    # The text comes from the server: keep it short and printable.
    message = "".join(char for char in message[:_MAX_MESSAGE] if char.isprintable())
    kind = _BY_CODE.get(code or "") or _BY_STATUS.get(response.status_code, RepositoryError)
    text = f"repository answered {response.status_code} {code or response.reason_phrase}"
    if message:
        text += f": {message}"
    return kind(text, status=response.status_code, code=code)
