"""A receiver's receipt: what a receiving hospital's user is shown after a transfer, as JSON.

A receiver writes one receipt per transfer it takes or refuses: the outcome (imported or
refused), a refusal's reason from a fixed vocabulary (:class:`RefusalReason`), the instances it
did not import and why, the patients someone must match, the AI support and derived images
listed apart, the documents it handed to the hospital (name, media type, SHA-256 of the bytes,
in the folder the receipt names) and the other files of the file set it kept without running
them. It holds no token secret and no document ID. The JSON Schema ships in this package
(``cloudpdi/schema/receipt-1.json``); the reference receiver writes it (``cloudpdi receive
--receipt PATH``) and the harness reads a receiver under test's receipt and judges it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cloudpdi.envelope_base import EnvelopeError
from cloudpdi.errors import CloudPDIError
from cloudpdi.files import atomic_file
from cloudpdi.fileset import FileSetError
from cloudpdi.package import PackageError
from cloudpdi.published import published_schema, read_published
from cloudpdi.repository_errors import (
    DigestMismatch,
    DocumentGone,
    DocumentNotFound,
    RepositoryError,
)
from cloudpdi.token_model import TokenError, TokenExpired, TokenNotYetValid, TokenRecipientError

RECEIPT_FORMAT = "cloudpdi-receipt"
RECEIPT_VERSION = 1
SCHEMA_RESOURCE = "schema/receipt-1.json"
#: The variable a harness names the receipt's path in, in the receiver's environment.
RECEIPT_ENV = "CLOUDPDI_RECEIPT"
#: Largest receipt read: a few hundred bytes per instance of the largest study is far less.
MAX_RECEIPT_BYTES = 16 << 20


class ReceiptError(CloudPDIError):
    """A receipt cannot be read, or breaks its schema or its own rules."""


class ReceiptOutcome(StrEnum):
    """What became of the transfer as the hospital's user is told."""

    IMPORTED = "imported"
    REFUSED = "refused"


class RefusalReason(StrEnum):
    """Why a transfer was refused: the fixed vocabulary of a receipt."""

    TOKEN_EXPIRED = "token-expired"  # noqa: S105 - a reason, not a password
    TOKEN_NOT_YET_VALID = "token-not-yet-valid"  # noqa: S105 - a reason, not a password
    TOKEN_NOT_FOR_THIS_FACILITY = "token-not-for-this-facility"  # noqa: S105 - a reason, not a password
    #: Unreadable, badly signed, too large, or naming an envelope scheme the receiver lacks.
    TOKEN_INVALID = "token-invalid"  # noqa: S105 - a reason, not a password
    COMMUNITY_UNKNOWN = "community-unknown"
    DOCUMENT_NOT_FOUND = "document-not-found"
    #: Expired, revoked or past its download limit at the repository.
    DOCUMENT_GONE = "document-no-longer-available"
    #: The downloaded bytes do not match the token's digest: nothing was opened.
    DOWNLOAD_DAMAGED = "download-damaged"
    REPOSITORY_UNAVAILABLE = "repository-unavailable"
    #: The envelope did not decrypt and authenticate, or is not the one the token names.
    CONTENT_CANNOT_BE_OPENED = "content-cannot-be-opened"
    #: The file set is unsafe to extract or has PDI validation errors.
    FILE_SET_INVALID = "file-set-invalid"
    ALREADY_RECEIVED = "already-received"
    OTHER = "other"


#: The refusal reason of each error class of :mod:`cloudpdi` (the most specific class wins).
REFUSAL_REASONS: Mapping[type[BaseException], RefusalReason] = {
    TokenExpired: RefusalReason.TOKEN_EXPIRED,
    TokenNotYetValid: RefusalReason.TOKEN_NOT_YET_VALID,
    TokenRecipientError: RefusalReason.TOKEN_NOT_FOR_THIS_FACILITY,
    TokenError: RefusalReason.TOKEN_INVALID,
    DocumentNotFound: RefusalReason.DOCUMENT_NOT_FOUND,
    DocumentGone: RefusalReason.DOCUMENT_GONE,
    DigestMismatch: RefusalReason.DOWNLOAD_DAMAGED,
    RepositoryError: RefusalReason.REPOSITORY_UNAVAILABLE,
    EnvelopeError: RefusalReason.CONTENT_CANNOT_BE_OPENED,
    PackageError: RefusalReason.CONTENT_CANNOT_BE_OPENED,
    FileSetError: RefusalReason.FILE_SET_INVALID,
}


def refusal_reason(
    error: type[BaseException], reasons: Mapping[type[BaseException], RefusalReason] | None = None
) -> RefusalReason:
    """The refusal reason of an error class: its own or its nearest base class's entry."""
    table = REFUSAL_REASONS if reasons is None else reasons
    return next((table[cls] for cls in error.__mro__ if cls in table), RefusalReason.OTHER)


@dataclass(frozen=True)
class Refusal:
    """Why the transfer was refused: a reason of the vocabulary and the words the user saw."""

    reason: RefusalReason
    detail: str


@dataclass(frozen=True)
class NotImported:
    """An instance of the file set that did not reach the hospital's PACS, and why."""

    path: str
    reason: str
    sop_instance_uid: str | None = None


@dataclass(frozen=True)
class PatientToMatch:
    """A patient no single local patient matched: their instances wait for someone to match."""

    patient_id: str
    issuer: str | None
    instances: tuple[str, ...]


@dataclass(frozen=True)
class SupportImage:
    """An image that is not an original: an AI support image (``ai-support``) or ``derived``."""

    path: str
    sop_instance_uid: str
    kind: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeptFile:
    """A file kept in the receipt's folder: ``name`` relative to it, the SHA-256 of its bytes.

    A document handed to the hospital has a media type; another file of the file set kept
    without being run (README, AUTORUN.INF, a program) has none.
    """

    name: str
    sha256: str
    media_type: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What a receiving hospital's user is shown about one transfer."""

    outcome: ReceiptOutcome
    token_id: str | None = None
    refusal: Refusal | None = None
    #: Where the hospital finds the documents and the kept files (an absolute path).
    folder: str | None = None
    not_imported: tuple[NotImported, ...] = ()
    patients_to_match: tuple[PatientToMatch, ...] = ()
    support_images: tuple[SupportImage, ...] = ()
    documents: tuple[KeptFile, ...] = ()
    kept_files: tuple[KeptFile, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the receipt as its JSON document holds it."""
        refusal = self.refusal
        return {
            "format": RECEIPT_FORMAT,
            "version": RECEIPT_VERSION,
            "token_id": self.token_id,
            "outcome": str(self.outcome),
            "refusal": None
            if refusal is None
            else {"reason": str(refusal.reason), "detail": refusal.detail},
            "folder": self.folder,
            "not_imported": [
                {"path": i.path, "sop_instance_uid": i.sop_instance_uid, "reason": i.reason}
                for i in self.not_imported
            ],
            "patients_to_match": [
                {"patient_id": p.patient_id, "issuer": p.issuer, "instances": list(p.instances)}
                for p in self.patients_to_match
            ],
            "support_images": [
                {
                    "path": s.path,
                    "sop_instance_uid": s.sop_instance_uid,
                    "kind": s.kind,
                    "reasons": list(s.reasons),
                }
                for s in self.support_images
            ],
            "documents": [
                {"name": d.name, "media_type": d.media_type, "sha256": d.sha256}
                for d in self.documents
            ],
            "kept_files": [{"name": k.name, "sha256": k.sha256} for k in self.kept_files],
        }

    def to_json(self) -> str:
        """Return the receipt as indented JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    def write(self, path: Path) -> None:
        """Write the receipt to ``path`` whole: a reader never sees half of it."""
        with atomic_file(path) as stream:
            stream.write(self.to_json().encode("utf-8"))

    def kept(self) -> tuple[KeptFile, ...]:
        """Every file the receipt says the hospital keeps in its folder, documents first."""
        return (*self.documents, *self.kept_files)


def receipt_schema() -> dict[str, Any]:
    """Return the published JSON Schema of a receipt."""
    return published_schema(SCHEMA_RESOURCE)


def parse_receipt(text: str) -> Receipt:
    """Read a receipt; :class:`ReceiptError` says what breaks the schema or its rules."""
    data = read_published(text, SCHEMA_RESOURCE, "the receipt", ReceiptError)
    refusal = data["refusal"]
    # The schema checked every type; these rules tie fields together.
    if (data["outcome"] == ReceiptOutcome.REFUSED) != (refusal is not None):
        raise ReceiptError("a refusal is given exactly when the outcome is refused")
    if (data["documents"] or data["kept_files"]) and not data.get("folder"):
        raise ReceiptError("documents and kept files need the folder they are kept in")
    return Receipt(
        outcome=ReceiptOutcome(data["outcome"]),
        token_id=data.get("token_id"),
        refusal=None
        if refusal is None
        else Refusal(RefusalReason(refusal["reason"]), refusal["detail"]),
        folder=data.get("folder"),
        not_imported=tuple(
            NotImported(i["path"], i["reason"], i.get("sop_instance_uid"))
            for i in data["not_imported"]
        ),
        patients_to_match=tuple(
            PatientToMatch(p["patient_id"], p.get("issuer"), tuple(p["instances"]))
            for p in data["patients_to_match"]
        ),
        support_images=tuple(
            SupportImage(s["path"], s["sop_instance_uid"], s["kind"], tuple(s.get("reasons", ())))
            for s in data["support_images"]
        ),
        documents=tuple(
            KeptFile(d["name"], d["sha256"], d["media_type"]) for d in data["documents"]
        ),
        kept_files=tuple(KeptFile(k["name"], k["sha256"]) for k in data["kept_files"]),
    )


def read_receipt(path: Path) -> tuple[Receipt, bytes]:
    """Read the receipt at ``path``; return it and its bytes (for the evidence)."""
    try:
        with path.open("rb") as stream:
            content = stream.read(MAX_RECEIPT_BYTES + 1)
    except OSError as exc:
        raise ReceiptError(f"cannot read {path}: {exc.strerror}") from None
    if len(content) > MAX_RECEIPT_BYTES:
        raise ReceiptError(f"is larger than {MAX_RECEIPT_BYTES} bytes")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ReceiptError("is not UTF-8") from None
    return parse_receipt(text), content
