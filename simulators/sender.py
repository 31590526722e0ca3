"""The sender: a study on a PACS becomes ciphertext in the repository and a token for the receiver.

One :func:`send` is one transfer (HS043 as DESIGN.md section 4 binds it):

1. retrieve the study from the source PACS by C-GET or C-MOVE into a private folder;
2. pack it: PDI ZIP file set and envelope in one stream, fresh document ID and secret;
3. upload the ciphertext resumably, with the token's expiry and recipient as its policy;
4. make the token's forms (JSON, QR code, slip, and the sealed form when a recipient key is
   configured) in ``work_dir/<token_id>/``, then deliver it on the configured channels.

The retrieved instances are removed once packed (and on any failure); the token appears only
after the upload succeeded, so a failed upload delivers nothing. A failed delivery after a
successful upload says so and names the token file to deliver again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey
from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from cloudpdi.errors import CloudPDIError
from cloudpdi.media import MEDIA_PROFILES
from cloudpdi.package import PackResult, pack
from cloudpdi.pseudonym import PseudonymError, patient_pseudonym
from cloudpdi.repository import (
    RepositoryAuthError,
    RepositoryClient,
    RepositoryError,
    UploadResult,
)
from cloudpdi.seal import load_private_key, load_public_key, seal_token
from cloudpdi.token import Token, format_timestamp
from simulators.delivery import (
    DeliveryError,
    DeliveryOutcome,
    TokenFiles,
    deliver_token,
    write_token_files,
)
from simulators.faults import Fault
from simulators.sender_config import DEFAULT_CALLING_AE, SenderConfig
from simulators.sender_errors import (
    DeliveryFailed,
    PackFailed,
    RetrieveFailed,
    SendConfigError,
    SendError,
    StudyNotFound,
    UploadFailed,
    UploadUnauthorized,
)
from simulators.sender_faults import (
    edit_file_set,
    misprint_slip,
    remake_package,
    upload_transport,
)
from simulators.sender_retrieve import check_study_uid, retrieve_study

__all__ = [
    "DEFAULT_CALLING_AE",
    "DeliveryFailed",
    "PackFailed",
    "RetrieveFailed",
    "SendConfigError",
    "SendError",
    "SendResult",
    "SenderConfig",
    "StudyNotFound",
    "UploadFailed",
    "UploadUnauthorized",
    "send",
]

Progress = Callable[[int, int], None]
#: Makes one progress display per step, e.g. ``harness.progress.progress_bar``.
ProgressFactory = Callable[[str], AbstractContextManager[Progress | None]]

#: Patient ID (0010,0020): what a pseudonym stands for.
PATIENT_ID = Tag(0x0010, 0x0020)


@dataclass(frozen=True)
class SendResult:
    """What one send did; it holds no secret (the token files do, readable by the owner only)."""

    #: The study sent; empty for a transfer of documents alone.
    study_uid: str
    instances: int
    documents: int
    document_id: str
    token_id: str
    expires_at: datetime
    ciphertext_size: int
    content_digest: str
    upload: UploadResult
    token_files: TokenFiles
    deliveries: tuple[DeliveryOutcome, ...]
    #: Seconds per step: retrieve, pack, upload, deliver.
    timings: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values (paths and times as text)."""
        files = self.token_files
        return {
            "study_uid": self.study_uid,
            "instances": self.instances,
            "documents": self.documents,
            "document_id": self.document_id,
            "token_id": self.token_id,
            "expires_at": format_timestamp(self.expires_at),
            "ciphertext_size": self.ciphertext_size,
            "content_digest": self.content_digest,
            "upload": {
                "bytes_sent": self.upload.bytes_sent,
                "bytes_resent": self.upload.bytes_resent,
                "retries": self.upload.retries,
            },
            "token_files": {
                "json": str(files.json),
                "qr": str(files.qr),
                "slip": str(files.slip),
                "sealed": None if files.sealed is None else str(files.sealed),
            },
            "deliveries": [
                {"channel": d.channel, "form": d.form, "ok": d.ok, "detail": d.detail}
                for d in self.deliveries
            ],
            "timings": dict(self.timings),
        }


def send(
    config: SenderConfig, study_uid: str | None, *, progress: ProgressFactory | None = None
) -> SendResult:
    """Send study ``study_uid`` from the source PACS to the repository and deliver its token.

    With no Study Instance UID (None or empty) the transfer holds the configured documents
    alone, with no image (CPDI-CONT-02): nothing is retrieved from the PACS.
    """
    if study_uid:
        check_study_uid(study_uid)
    elif not config.documents:
        raise SendConfigError("a transfer without a study needs documents to send")
    keys = _sealing_keys(config)
    if config.expires_at is not None and config.expires_at <= datetime.now(UTC):
        expiry = format_timestamp(config.expires_at)
        raise SendConfigError(f"the expiry {expiry} has passed already")
    bar = progress or _no_progress
    timings: dict[str, float] = {}
    config.work_dir.mkdir(parents=True, exist_ok=True)
    # Everything in here (instances, ciphertext, staged token) goes, whatever happens.
    with tempfile.TemporaryDirectory(dir=config.work_dir, prefix=".send-") as scratch:
        instances, package = Path(scratch) / "instances", Path(scratch) / "package.cpdi"
        with _timed(timings, "retrieve"), bar("retrieving study") as update:
            sources = (
                retrieve_study(
                    config.source_pacs,
                    study_uid,
                    instances,
                    calling_ae=config.calling_ae,
                    method=config.retrieve,
                    move_destination=config.move_destination,
                    progress=update,
                )
                if study_uid
                else []
            )
        with _timed(timings, "pack"), bar("packing and encrypting") as update:
            # The lifetime counts from the token's issue, after a retrieve that may be long.
            expires_at = config.expires_at or datetime.now(UTC) + config.lifetime
            packed = _pack(config, sources, package, expires_at, update)
            if sources:
                shutil.rmtree(instances)  # the plaintext is no longer needed
            token = packed.token
            # Made before the upload, so that a token too large for a QR code uploads nothing.
            sealed, staged = _token_forms(config, token, keys, Path(scratch) / "token")
        with _timed(timings, "upload"), bar("uploading") as update:
            upload = _upload(config, token, package, update)
        files = staged.moved_to(config.work_dir / token.token_id)
        os.replace(staged.json.parent, files.json.parent)
    with _timed(timings, "deliver"):
        try:
            outcomes = deliver_token(token, config.delivery, sealed=sealed, files=files)
        except DeliveryError as exc:
            raise DeliveryFailed(
                f"document {token.document_id} is uploaded (until "
                f"{format_timestamp(token.expires_at)}), but {exc}. Deliver the token in "
                f"{files.electronic} again instead of sending the study again",
                document_id=token.document_id,
                token_files=files,
                outcomes=exc.outcomes,
            ) from exc
    return SendResult(
        study_uid=study_uid or "",
        instances=packed.build.instances,
        documents=packed.build.documents,
        document_id=token.document_id,
        token_id=token.token_id,
        expires_at=token.expires_at,
        ciphertext_size=packed.ciphertext_size,
        content_digest=token.content_digest,
        upload=upload,
        token_files=files,
        deliveries=tuple(outcomes),
        timings=timings,
    )


def _no_progress(description: str) -> AbstractContextManager[None]:
    return nullcontext()


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = round(time.perf_counter() - started, 3)


def _sealing_keys(config: SenderConfig) -> tuple[ECKey, ECKey] | None:
    """Load the issuer's private key and the recipient's public key, if sealing is configured."""
    if config.recipient_public_key_path is None or config.issuer_key_path is None:
        return None
    try:
        return (
            load_private_key(config.issuer_key_path),
            load_public_key(config.recipient_public_key_path),
        )
    except (OSError, CloudPDIError) as exc:
        raise SendConfigError(f"cannot load a sealing key: {exc}") from exc


def _pack(
    config: SenderConfig,
    sources: list[Path],
    package: Path,
    expires_at: datetime,
    progress: Progress | None,
) -> PackResult:
    """Build the PDI file set, encrypt it into ``package`` and issue the token."""
    try:
        packed = pack(
            sources,
            package,
            community_id=config.community_id,
            repository=config.repository_url,
            issuer=config.issuer,
            institution=config.institution,
            documents=config.documents,
            expires_at=expires_at,
            recipient=config.recipient,
            patient_ref=_pseudonym(config, sources),
            description=config.description,
            progress=progress,
            web_content=config.web_content,
            profile=MEDIA_PROFILES[config.media_profile],
        )
        if config.file_set_editor is not None:
            packed = edit_file_set(packed, package, config.file_set_editor)
        return remake_package(packed, package, config.faults, config.work_dir)
    except (OSError, CloudPDIError) as exc:
        raise PackFailed(f"cannot pack the study: {exc}") from exc


def _pseudonym(config: SenderConfig, sources: list[Path]) -> str | None:
    """The pseudonym of the study's patient, when the sender refers to patients by pseudonym."""
    if config.pseudonym_key is None:
        return None
    patient_ids = set()
    for source in sources:
        try:
            header = dcmread(source, stop_before_pixels=True, specific_tags=[PATIENT_ID])
        except (OSError, InvalidDicomError) as exc:
            raise PackFailed(f"cannot read the patient ID of an instance: {exc}") from exc
        patient_ids.add(str(header.get("PatientID", "")))
    if len(patient_ids) != 1:
        raise PseudonymError(f"a pseudonym names one patient; the transfer has {len(patient_ids)}")
    return patient_pseudonym(
        patient_ids.pop(), facility_id=config.issuer.id, key=config.pseudonym_key
    )


def _token_forms(
    config: SenderConfig, token: Token, keys: tuple[ECKey, ECKey] | None, folder: Path
) -> tuple[str | None, TokenFiles]:
    """Seal the token when keys are given, and write its files into ``folder``."""
    try:
        sealed = (
            None
            if keys is None
            else seal_token(token, issuer_key=keys[0], recipient_public_key=keys[1])
        )
        files = write_token_files(token, folder, sealed=sealed)
        if Fault.SENDER_SLIP_QR_DIFFERS in config.faults:
            misprint_slip(token, files)
        return sealed, files
    except (OSError, CloudPDIError) as exc:
        raise PackFailed(f"cannot make the token's forms: {exc}") from exc


def _upload(
    config: SenderConfig, token: Token, package: Path, progress: Progress | None
) -> UploadResult:
    """Upload the ciphertext resumably; the document lives as long as the token."""
    recipient = config.recipient if config.restrict_to_recipient else None
    client = RepositoryClient(
        config.repository_url,
        uploader_key=config.uploader_key,
        timeout=config.timeout,
        retries=config.retries,
        backoff=config.backoff,
        max_backoff=config.max_backoff,
        transport=upload_transport(token, config.faults),
    )
    nothing = "no token was delivered"
    with client:
        try:
            return client.upload(
                token.document_id,
                package,
                token.content_digest,
                expires=token.expires_at,
                recipient=None if recipient is None else recipient.id,
                max_downloads=config.max_downloads,
                chunk_size=config.chunk_size,
                progress=progress,
            )
        except RepositoryAuthError as exc:
            raise UploadUnauthorized(
                f"the repository at {config.repository_url} refused the uploader key of "
                f"facility {config.issuer.id} ({exc}); {nothing}"
            ) from exc
        except RepositoryError as exc:
            raise UploadFailed(
                f"upload to {config.repository_url} failed: {exc}; {nothing}"
            ) from exc
