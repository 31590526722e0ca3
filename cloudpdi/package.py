"""Pack a study for the cloud and unpack it again: the two ends of a Cloud-PDI transfer.

``pack`` lays DICOM files out as a ZIP file set and encrypts it in the same stream (no plaintext
copy on disk), with a fresh document ID and a fresh secret that go only into the token.
``unpack`` checks the token, decrypts to a temporary file while checking the ciphertext digest
in the same pass, uses that file only if every chunk and the digest verified (CPDI-INT-01),
extracts the file set safely and validates it against the General Purpose profile it fits.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cloudpdi.container import BuildResult, Institution, write_file_set_zip
from cloudpdi.envelope import SCHEME_ID, EnvelopeWriter, decrypt_to_file
from cloudpdi.errors import CloudPDIError
from cloudpdi.files import atomic_file
from cloudpdi.fileset import extract_file_set, open_file_set
from cloudpdi.media import STD_GEN_CD, MediaProfile
from cloudpdi.pdi_rules import GENERAL_PURPOSE_PROFILES, ValidationReport, validate_file_set
from cloudpdi.secret import Secret
from cloudpdi.token import (
    DEFAULT_LIFETIME,
    ContentSummary,
    Facility,
    Token,
    check_token,
    issue_token,
    new_document_id,
)


class PackageError(CloudPDIError):
    """A package cannot be made or opened."""


class DigestMismatchError(PackageError):
    """The ciphertext is not the one the token describes."""


@dataclass(frozen=True)
class PackResult:
    """What ``pack`` made: the token (holding the secret) and the file set's contents."""

    token: Token
    build: BuildResult
    ciphertext_size: int


@dataclass(frozen=True)
class UnpackResult:
    """What ``unpack`` extracted and what the validator found in it."""

    out: Path
    files: int
    validation: ValidationReport


def pack(
    sources: Sequence[Path],
    out: Path,
    *,
    community_id: str,
    repository: str,
    issuer: Facility,
    institution: Institution,
    documents: Sequence[Path] = (),
    expires_at: datetime | None = None,
    recipient: Facility | None = None,
    patient_ref: str | None = None,
    description: str = "",
    progress: Callable[[int, int], None] | None = None,
    web_content: bool = False,
    profile: MediaProfile = STD_GEN_CD,
) -> PackResult:
    """Build, encrypt and write a package to ``out``, and issue the token that opens it.

    ``web_content`` adds a browser view of the images to the file set (INDEX.HTM, IHE_PDI/);
    ``profile`` is the General Purpose profile the file set keeps to (its transfer syntaxes).
    """
    secret = Secret.generate()
    document_id = new_document_id()
    with atomic_file(out) as sink, EnvelopeWriter(sink, secret, document_id) as writer:
        build = write_file_set_zip(
            sources,
            writer,
            documents=documents,
            institution=institution,
            progress=progress,
            web_content=web_content,
            profile=profile,
        )
    summary = ContentSummary(
        modalities=build.modalities,
        study_count=build.studies,
        instance_count=build.instances,
        document_count=build.documents,
        total_bytes=build.bytes,
        description=description,
    )
    token = issue_token(
        community_id=community_id,
        repository=repository,
        document_id=document_id,
        secret=secret,
        envelope_scheme=SCHEME_ID,
        content_digest=writer.digest,
        issuer=issuer,
        summary=summary,
        lifetime=None if expires_at else DEFAULT_LIFETIME,
        expires_at=expires_at,
        recipient=recipient,
        patient_ref=patient_ref,
    )
    return PackResult(token=token, build=build, ciphertext_size=writer.ciphertext_size)


def unpack(
    package: Path, token: Token, out: Path, *, recipient_id: str | None = None
) -> UnpackResult:
    """Verify, decrypt, extract and validate ``package`` into the new folder ``out``."""
    check_token(token, recipient_id=recipient_id)
    if out.exists():
        raise PackageError(f"{out} exists already; unpack writes into a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".unpack-") as work:
        plain = Path(work) / "fileset.zip"
        with open(package, "rb") as src:
            decrypted = decrypt_to_file(
                src, plain, token.secret, token.document_id, scheme=token.envelope_scheme
            )
        # The envelope authenticates every chunk; the digest also binds the package to this
        # token, so another valid envelope made with the same secret is refused too.
        if decrypted.digest != token.content_digest:
            raise DigestMismatchError("the package's digest differs from the token's: not opened")
        with open_file_set(plain) as file_set:
            staged = Path(work) / "fileset"
            files = len(extract_file_set(file_set, staged))
        os.replace(staged, out)
    # A file set from the cloud comes on no medium: it may be of any General Purpose profile.
    validation = validate_file_set(out, profile=GENERAL_PURPOSE_PROFILES)
    return UnpackResult(out=out, files=files, validation=validation)
