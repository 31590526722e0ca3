"""What one receive did: every instance's fate, the documents, reconciliation, validation, timings.

The report is what a receiving hospital reads (PDI-READ-01: tell about what could not be
handled): each instance is stored, written, refused or failed, with the reason; AI support
images and other derived images are listed apart so that nobody mistakes them for originals.
It holds no secret and no document ID (the capability to download the ciphertext).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cloudpdi.pdi_rules import ValidationReport
from cloudpdi.reconcile import Reconciliation
from cloudpdi.support import SupportVerdict
from cloudpdi.token import Facility

#: Format name and version of :meth:`ReceiveResult.to_dict`.
REPORT_FORMAT = "cloudpdi-receive-report"
REPORT_VERSION = 1
#: Suffix of the report file written beside the received file set.
REPORT_SUFFIX = ".report.json"


class InstanceStatus(StrEnum):
    """What became of one received instance."""

    STORED = "stored"
    WRITTEN = "written"
    REFUSED = "refused"
    FAILED = "failed"


class Outcome(StrEnum):
    """What became of the whole transfer."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    REFUSED = "refused"


@dataclass(frozen=True)
class InstanceOutcome:
    """One instance: where it was in the file set, what it is, and what became of it."""

    path: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    status: InstanceStatus
    reason: str = ""
    #: The PACS's C-STORE status, when it answered.
    dimse_status: int | None = None
    support: SupportVerdict = field(default_factory=lambda: SupportVerdict(None, ()))
    #: Who the instance says the patient is (empty when it could not be read).
    patient_id: str = ""
    patient_issuer: str | None = None

    @property
    def imported(self) -> bool:
        """Tell whether the instance reached its destination (PACS or output folder)."""
        return self.status in (InstanceStatus.STORED, InstanceStatus.WRITTEN)

    def to_dict(self) -> dict[str, Any]:
        """Return the instance's entry of the report."""
        return {
            "path": self.path,
            "sop_instance_uid": self.sop_instance_uid,
            "sop_class_uid": self.sop_class_uid,
            "modality": self.modality,
            "status": str(self.status),
            "reason": self.reason,
            "dimse_status": None if self.dimse_status is None else f"0x{self.dimse_status:04X}",
            "support": None if self.support.kind is None else str(self.support.kind),
            "support_reasons": list(self.support.reasons),
        }


@dataclass(frozen=True)
class ReceivedDocument:
    """A non-DICOM file of the file set: a referral letter (PDF), a FHIR document, ..."""

    path: str
    kind: str
    size: int
    #: FHIR ``resourceType`` of a FHIR JSON document.
    resource_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the document's entry of the report."""
        return {
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "resource_type": self.resource_type,
        }


@dataclass(frozen=True)
class ReceiveResult:
    """The outcome of :func:`simulators.receiver.receive`."""

    token_id: str
    issuer: Facility
    community_id: str
    repository: str
    #: Destination PACS as ``AE@host:port``, or None in "no PACS" mode.
    destination: str | None
    #: The received file set as it arrived (the originals), kept unmodified.
    file_set: Path
    instances: tuple[InstanceOutcome, ...]
    documents: tuple[ReceivedDocument, ...]
    reconciliations: tuple[Reconciliation, ...]
    validation: ValidationReport
    #: Seconds per step: token, download, unpack (decrypt, extract, validate), import.
    timings: dict[str, float]
    download_bytes: int = 0
    download_bytes_resent: int = 0
    report_path: Path | None = None

    @property
    def imported(self) -> tuple[InstanceOutcome, ...]:
        """The instances that reached their destination."""
        return tuple(instance for instance in self.instances if instance.imported)

    @property
    def not_imported(self) -> tuple[InstanceOutcome, ...]:
        """The instances refused by the receiver or by the PACS, each with its reason."""
        return tuple(instance for instance in self.instances if not instance.imported)

    @property
    def support_images(self) -> tuple[InstanceOutcome, ...]:
        """The AI support images and other derived images: not originals, not for diagnosis."""
        return tuple(instance for instance in self.instances if instance.support.is_support)

    @property
    def outcome(self) -> Outcome:
        """Complete if everything arrived, refused if nothing did, partial otherwise."""
        if not self.imported and (self.instances or not self.validation.ok):
            return Outcome.REFUSED
        return Outcome.PARTIAL if self.not_imported else Outcome.COMPLETE

    @property
    def ok(self) -> bool:
        """Tell whether every instance arrived."""
        return self.outcome is Outcome.COMPLETE

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data (format :data:`REPORT_FORMAT`)."""
        counts = {str(status): 0 for status in InstanceStatus}
        for instance in self.instances:
            counts[str(instance.status)] += 1
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "token_id": self.token_id,
            "issuer": {"id": self.issuer.id, "name": self.issuer.name},
            "community_id": self.community_id,
            "repository": self.repository,
            "destination": self.destination,
            "mode": "pacs" if self.destination else "no-pacs",
            "outcome": str(self.outcome),
            "file_set": str(self.file_set),
            "counts": {
                **counts,
                "instances": len(self.instances),
                "documents": len(self.documents),
                "support_images": len(self.support_images),
            },
            "instances": [instance.to_dict() for instance in self.instances],
            "documents": [document.to_dict() for document in self.documents],
            "support_images": [instance.sop_instance_uid for instance in self.support_images],
            "reconciliation": [_reconciliation(item) for item in self.reconciliations],
            "validation": self.validation.to_dict(),
            "download": {"bytes": self.download_bytes, "bytes_resent": self.download_bytes_resent},
            "timings": self.timings,
        }

    def summary(self) -> dict[str, Any]:
        """Return the report without the per-instance list: only what was not imported."""
        report = self.to_dict()
        del report["instances"]
        report["not_imported"] = [instance.to_dict() for instance in self.not_imported]
        validation = report["validation"]
        report["validation"] = {
            "ok": validation["ok"],
            "counts": validation["counts"],
            "errors": [finding.to_dict() for finding in self.validation.errors],
        }
        return report

    def to_json(self) -> str:
        """Return :meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"


def _reconciliation(item: Reconciliation) -> dict[str, Any]:
    return {
        "original_id": item.original_id,
        "original_issuer": item.original_issuer,
        "local_id": item.local_id,
        "local_issuer": item.local_issuer,
        "method": str(item.method),
        "changed": item.changed,
    }
