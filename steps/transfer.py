"""An encrypted transfer on its own, for judging the repository: ciphertext and its token.

The payload is random bytes of the size a scenario names, sealed in the reference envelope
with a fresh secret under a fresh document ID, so the repository gets what a sending hospital
would upload without any study being made. Uploads and downloads go through the reference
repository client; what the repository refuses is recorded for the Then steps to judge.
"""

from __future__ import annotations

import filecmp
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudpdi.config_budgets import MEGABYTE
from cloudpdi.envelope import SCHEME_ID, encrypt_stream
from cloudpdi.errors import CloudPDIError
from cloudpdi.repository import RepositoryClient, RepositoryError
from cloudpdi.secret import Secret
from cloudpdi.token import ContentSummary, Token, issue_token, new_document_id
from harness.lab import Lab

_BLOCK = 1 << 20
#: Bytes per PATCH of the harness's uploads: small, so that an upload of a few MB broken
#: part-way leaves the repository holding whole, verified chunks it must resume from.
UPLOAD_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Transfer:
    """Ciphertext ready to upload, and the token that names it."""

    token: Token
    ciphertext: Path


@dataclass(frozen=True)
class Outcome:
    """What came of an upload or a download: the file it gave, or why it was refused."""

    path: Path | None = None
    error: str = ""
    #: The HTTP status of the refusal, when the repository answered one.
    status: int | None = None


def make_transfer(lab: Lab, size: int, folder: Path) -> Transfer:
    """Encrypt ``size`` random bytes for the lab's receiving hospital; return them with a token."""
    folder.mkdir(parents=True, exist_ok=True)
    plaintext, ciphertext = folder / "payload.bin", folder / "payload.cpdi"
    with plaintext.open("wb") as sink:
        for start in range(0, size, _BLOCK):
            sink.write(os.urandom(min(_BLOCK, size - start)))
    secret, document_id = Secret.generate(), new_document_id()
    with plaintext.open("rb") as src, ciphertext.open("wb") as sink:
        encrypted = encrypt_stream(src, sink, secret, document_id)
    plaintext.unlink()
    token = issue_token(
        community_id=lab.community_id,
        repository=lab.repository_url,
        document_id=document_id,
        secret=secret,
        envelope_scheme=SCHEME_ID,
        content_digest=encrypted.digest,
        issuer=lab.issuer,
        summary=ContentSummary(
            (), study_count=0, instance_count=0, document_count=1, total_bytes=size
        ),
        recipient=lab.recipient,
    )
    return Transfer(token, ciphertext)


def megabytes(count: int) -> int:
    """Bytes in ``count`` decimal megabytes, as network figures count them."""
    return count * MEGABYTE


def upload(lab: Lab, transfer: Transfer, changes: Mapping[str, Any] | None = None) -> Outcome:
    """Upload the ciphertext as the sending hospital, with the token's expiry.

    ``changes`` are what the scenario changed in how the sending hospital works, as fields of
    the simulated sender's configuration: its ``uploader_key``, ``restrict_to_recipient`` and
    ``max_downloads`` apply here too.
    """
    token = transfer.token
    changes = changes or {}
    key = changes.get("uploader_key", lab.uploader_key)
    recipient = lab.recipient.id if changes.get("restrict_to_recipient") else None
    try:
        with RepositoryClient(lab.repository_url, uploader_key=key) as client:
            client.upload(
                token.document_id,
                transfer.ciphertext,
                token.content_digest,
                expires=token.expires_at,
                recipient=recipient,
                max_downloads=changes.get("max_downloads"),
                chunk_size=UPLOAD_CHUNK,
            )
    except CloudPDIError as exc:
        return Outcome(error=f"the repository refused the upload: {exc}")
    return Outcome(path=transfer.ciphertext)


def download(lab: Lab, token: Token, dest: Path, *, anonymous: bool = False) -> Outcome:
    """Download the document the token names as the receiving hospital, checking its digest.

    ``anonymous``: with no credential at all, as a hospital the repository never saw.
    """
    key = None if anonymous else lab.recipient_key
    try:
        with RepositoryClient(lab.repository_url, uploader_key=key) as client:
            client.download(token.document_id, dest, expected_digest=token.content_digest)
    except RepositoryError as exc:
        return Outcome(error=f"the repository refused the download: {exc}", status=exc.status)
    except CloudPDIError as exc:
        return Outcome(error=f"the repository refused the download: {exc}")
    return Outcome(path=dest)


def revoke(lab: Lab, token: Token, key: str) -> Outcome:
    """Ask the repository, with the facility key ``key``, to revoke the token's document."""
    try:
        with RepositoryClient(lab.repository_url, uploader_key=key) as client:
            client.delete(token.document_id)
    except CloudPDIError as exc:
        return Outcome(error=f"the repository refused the revocation: {exc}")
    return Outcome()


def same_bytes(first: Path, second: Path) -> bool:
    """Tell whether two files hold the same bytes (compared in blocks, not in memory)."""
    return filecmp.cmp(first, second, shallow=False)
