"""The reference Cloud-PDI repository (binding ``cpdi-ref/1``, ASSUMED: DESIGN.md section 4).

The repository stores ciphertext by document ID and never sees the secret:

- ``PUT /documents/{documentId}``: whole-body upload by an authenticated facility; the
  ``Content-Digest`` (RFC 9530, ``sha-256=:<base64>:``) is required and checked (400 and
  nothing stored on a mismatch); ``Cpdi-Expires-At``, ``Cpdi-Recipient`` and
  ``Cpdi-Max-Downloads`` set the document's policy.
- ``GET``/``HEAD /documents/{documentId}``: download by the document ID alone (or by the
  recipient facility's key when restricted); one ``Range`` -> 206, past the end -> 416;
  ``Repr-Digest`` always, ``Content-Digest`` when the whole document is sent.
- ``DELETE /documents/{documentId}``: revocation by the uploader; the bytes go at once.
- ``/uploads``: resumable upload by tus 1.0.0 (core, creation, checksum, expiration,
  termination); the document is published, atomically, once the last byte matches the digest.
- Unknown -> 404; expired, revoked, purged or download limit reached -> 410; over the rate
  limit -> 429 with ``Retry-After``; over the size limit -> 413; a slow body -> 408. Errors
  answer ``{"error": code, "message": text}``.
- ``GET /audit`` and ``POST /admin/purge`` (admin key); ``GET /openapi.json``.

Bytes are staged on the data disk and published complete (fsync + rename, or a completed S3
multipart upload); records live in SQLite; every request goes to an append-only audit log
and, when a :class:`~simulators.repository.spy.Recorder` is configured, to the spy.
"""

from simulators.repository.app import create_app
from simulators.repository.config import RateLimit, RepositoryConfig, S3Config, TlsConfig
from simulators.repository.server import RepositoryServer, serve_repository
from simulators.repository.spy import Recorder, find_in_requests, find_in_storage

__all__ = [
    "RateLimit",
    "Recorder",
    "RepositoryConfig",
    "RepositoryServer",
    "S3Config",
    "TlsConfig",
    "create_app",
    "find_in_requests",
    "find_in_storage",
    "serve_repository",
]
