"""The receiver's import stage: list what a verified file set holds, reconcile, C-STORE.

Runs only on a file set that ``unpack`` verified, extracted and validated. Every file is
looked at once, by header: DICOM instances (with their support-image verdict and patient
identity) and documents. An instance that cannot be read, reconciled or rewritten is refused
with its reason and the others go on (PDI-READ-01). Instances are stored a batch per
association, so that progress can be shown and a failed association costs one batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudpdi.dicomdir import DICOMDIR_NAME
from cloudpdi.dicomfile import DicomFileError, read_header
from cloudpdi.dimse import DicomPeer, DimseError, store_files
from cloudpdi.patient_header import rewrite_patient
from cloudpdi.pdi_layout import INDEX, WEB_FOLDER
from cloudpdi.readme import README_NAME
from cloudpdi.reconcile import (
    PatientIdentity,
    PatientQueryError,
    ReconcileConfig,
    ReconcileError,
    Reconciler,
    Reconciliation,
    Unmatched,
    UnmatchedPatientError,
)
from cloudpdi.sources import is_part10_file
from cloudpdi.support import SupportVerdict, classify_support
from simulators.receiver_report import InstanceOutcome, InstanceStatus, ReceivedDocument

#: Instances C-STOREd per association.
STORE_BATCH = 64
#: Largest JSON document parsed to find its FHIR resource type.
MAX_JSON_BYTES = 32 << 20
#: Progress stage name of the C-STORE step.
STAGE_STORE = "store"
#: Reason given for each instance of a patient no single local patient matches: someone has
#: to match the patient before the instances can be imported (CPDI-RCV-02).
NEEDS_MATCHING = "patient not reconciled: the patient needs matching"

Progress = Callable[[str, int, int], None]

_PDF_SIGNATURE = b"%PDF-"
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
# Root entries that describe the file set rather than carry content.
_FILE_SET_FILES = frozenset({DICOMDIR_NAME, README_NAME, INDEX})


@dataclass(frozen=True)
class ReceivedInstance:
    """A readable DICOM instance of the file set, as the import needs it."""

    path: Path
    name: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    identity: PatientIdentity
    support: SupportVerdict

    def outcome(
        self, status: InstanceStatus, reason: str = "", dimse_status: int | None = None
    ) -> InstanceOutcome:
        """Return this instance's report entry."""
        return InstanceOutcome(
            path=self.name,
            sop_instance_uid=self.sop_instance_uid,
            sop_class_uid=self.sop_class_uid,
            modality=self.modality,
            status=status,
            reason=reason,
            dimse_status=dimse_status,
            support=self.support,
            patient_id=self.identity.patient_id,
            patient_issuer=self.identity.issuer,
        )


@dataclass(frozen=True)
class Inventory:
    """What a file set holds: readable instances, unreadable ones (refused), documents."""

    instances: tuple[ReceivedInstance, ...]
    unreadable: tuple[InstanceOutcome, ...]
    documents: tuple[ReceivedDocument, ...]

    def refused(self, reason: str) -> list[InstanceOutcome]:
        """Return every instance's entry as refused for ``reason`` (unreadable ones keep theirs)."""
        refused = [i.outcome(InstanceStatus.REFUSED, reason) for i in self.instances]
        return refused + list(self.unreadable)


def take_inventory(root: Path) -> Inventory:
    """List the instances and documents of the file set at ``root``, reading headers only."""
    instances: list[ReceivedInstance] = []
    unreadable: list[InstanceOutcome] = []
    documents: list[ReceivedDocument] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts = path.relative_to(root).parts
        name = "/".join(parts)
        if (len(parts) == 1 and parts[0].upper() in _FILE_SET_FILES) or (
            parts[0].upper() == WEB_FOLDER
        ):
            continue
        if not is_part10_file(path):
            documents.append(_document(path, name))
            continue
        try:
            instances.append(_instance(path, name))
        except DicomFileError as exc:
            unreadable.append(
                InstanceOutcome(
                    name, "", "", "", InstanceStatus.REFUSED, f"unreadable: {exc.problem}"
                )
            )
    return Inventory(tuple(instances), tuple(unreadable), tuple(documents))


def _instance(path: Path, name: str) -> ReceivedInstance:
    ds = read_header(path)
    meta = ds.file_meta
    return ReceivedInstance(
        path=path,
        name=name,
        sop_instance_uid=str(ds.get("SOPInstanceUID") or meta.get("MediaStorageSOPInstanceUID")),
        sop_class_uid=str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID")),
        modality=str(ds.get("Modality") or ""),
        identity=PatientIdentity.from_dataset(ds),
        support=classify_support(ds),
    )


def _document(path: Path, name: str) -> ReceivedDocument:
    size = path.stat().st_size
    with open(path, "rb") as stream:
        lead = stream.read(len(_PDF_SIGNATURE))
    if lead == _PDF_SIGNATURE:
        return ReceivedDocument(name, "pdf", size)
    resource = _fhir_resource_type(path, size)
    if resource is not None:
        return ReceivedDocument(name, "fhir", size, resource)
    return ReceivedDocument(name, "other", size)


def _fhir_resource_type(path: Path, size: int) -> str | None:
    """Return the ``resourceType`` of a FHIR JSON document, or None for anything else."""
    if size > MAX_JSON_BYTES:
        return None
    try:
        document = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return None
    resource = document.get("resourceType") if isinstance(document, dict) else None
    if isinstance(resource, str) and _RESOURCE_TYPE.fullmatch(resource):
        return resource
    return None


class Importer:
    """Reconciles and C-STOREs instances into one PACS, reporting each instance's fate."""

    def __init__(
        self,
        pacs: DicomPeer,
        reconciliation: ReconcileConfig,
        *,
        calling_ae: str,
        scratch: Path,
        progress: Progress | None = None,
    ) -> None:
        self.pacs = pacs
        self.calling_ae = calling_ae
        self.scratch = scratch
        self.progress = progress
        self._unmatched = reconciliation.unmatched
        self._reconciler = Reconciler(reconciliation, pacs=pacs, calling_ae=calling_ae)
        self.reconciliations: dict[tuple[str, str | None], Reconciliation] = {}

    def run(self, instances: Sequence[ReceivedInstance]) -> list[InstanceOutcome]:
        """Import ``instances``; return their report entries in the order given."""
        outcomes: dict[int, InstanceOutcome] = {}
        ready: list[_Ready] = []
        for number, instance in enumerate(instances):
            try:
                ready.append(_Ready(number, instance, self._prepare(number, instance)))
            except ReconcileError as exc:
                outcomes[number] = instance.outcome(InstanceStatus.REFUSED, str(exc))
        for start in range(0, len(ready), STORE_BATCH):
            outcomes.update(self._store(ready[start : start + STORE_BATCH]))
            if self.progress is not None:
                self.progress(STAGE_STORE, min(start + STORE_BATCH, len(ready)), len(ready))
        return [outcomes[number] for number in range(len(instances))]

    def _prepare(self, number: int, instance: ReceivedInstance) -> Path:
        """Return the file to send: the original, or a copy with the local identity."""
        try:
            reconciliation = self._reconciler.resolve(instance.identity)
        except UnmatchedPatientError as exc:
            if self._unmatched is Unmatched.KEEP:
                return instance.path
            raise UnmatchedPatientError(f"{NEEDS_MATCHING} ({exc})") from None
        except PatientQueryError as exc:
            raise PatientQueryError(f"patient not reconciled: {exc}") from None
        if reconciliation is None or not reconciliation.changed:
            return instance.path
        key = (reconciliation.original_id, reconciliation.original_issuer)
        self.reconciliations[key] = reconciliation
        copy = self.scratch / f"{number:08d}"
        rewrite_patient(instance.path, copy, reconciliation)
        return copy

    def _store(self, batch: list[_Ready]) -> dict[int, InstanceOutcome]:
        """C-STORE one batch on one association; report each instance."""
        try:
            result = store_files(
                self.pacs, [item.path for item in batch], calling_ae=self.calling_ae
            )
        except DimseError as exc:
            reason = f"not confirmed by the PACS: {exc}"
            return {
                item.number: item.instance.outcome(InstanceStatus.FAILED, reason) for item in batch
            }
        outcomes = {}
        for item, stored in zip(batch, result.instances, strict=True):
            if stored.stored:
                outcome = item.instance.outcome(InstanceStatus.STORED, "", stored.status)
            elif stored.status is None:
                reason = "the PACS accepts this SOP class in no offered transfer syntax"
                outcome = item.instance.outcome(InstanceStatus.FAILED, reason)
            else:
                reason = f"the PACS refused it (status 0x{stored.status:04X})"
                outcome = item.instance.outcome(InstanceStatus.FAILED, reason, stored.status)
            outcomes[item.number] = outcome
        return outcomes


@dataclass(frozen=True)
class _Ready:
    """An instance ready to send: its place in the list, and the file that goes."""

    number: int
    instance: ReceivedInstance
    path: Path
