"""The reference receiver's receipt (:mod:`cloudpdi.receipt`): made from its report or refusal.

The receipt tells the hospital's user what the receive report tells, in the vocabulary a
receiver under test shares: what was refused and why, the instances that wait for a patient
to be matched, the support images, and the files of the received file set, kept unmodified
in its folder (PDI-IMP-01), each with the SHA-256 of its bytes.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from cloudpdi.envelope_base import file_sha256
from cloudpdi.receipt import (
    REFUSAL_REASONS,
    KeptFile,
    NotImported,
    PatientToMatch,
    Receipt,
    ReceiptOutcome,
    Refusal,
    RefusalReason,
    SupportImage,
    refusal_reason,
)
from simulators.receiver import VALIDATION_REFUSAL, AlreadyReceivedError, UnknownCommunityError
from simulators.receiver_import import NEEDS_MATCHING
from simulators.receiver_report import InstanceOutcome, Outcome, ReceiveResult

#: The refusal reason of each error the reference receiver refuses a transfer with.
RECEIVER_REFUSAL_REASONS = {
    **REFUSAL_REASONS,
    UnknownCommunityError: RefusalReason.COMMUNITY_UNKNOWN,
    AlreadyReceivedError: RefusalReason.ALREADY_RECEIVED,
}
#: The media type of each kind of document the receiver recognises.
MEDIA_TYPES = {"pdf": "application/pdf", "fhir": "application/fhir+json"}
OTHER_MEDIA_TYPE = "application/octet-stream"


def reason_for(error: type[BaseException]) -> RefusalReason:
    """The refusal reason the reference receiver gives for refusing with ``error``."""
    return refusal_reason(error, RECEIVER_REFUSAL_REASONS)


def refusal_receipt(error: BaseException, token_id: str | None) -> Receipt:
    """The receipt of a transfer refused with ``error`` before anything was kept."""
    refusal = Refusal(reason_for(type(error)), str(error))
    return Receipt(ReceiptOutcome.REFUSED, token_id=token_id, refusal=refusal)


def receipt_of(result: ReceiveResult) -> Receipt:
    """The receipt of a transfer the receiver took: imported, or refused for its file set."""
    refused = result.outcome is Outcome.REFUSED
    documents = () if refused else tuple(_documents(result))
    handed = {document.name for document in documents}
    instances = {instance.path for instance in result.instances}
    kept = sorted(
        path
        for path in result.file_set.rglob("*")
        if path.is_file() and _name(result.file_set, path) not in instances | handed
    )
    return Receipt(
        ReceiptOutcome.REFUSED if refused else ReceiptOutcome.IMPORTED,
        token_id=result.token_id,
        # Refused whole by the receiver: for the file set's validation errors.
        refusal=Refusal(RefusalReason.FILE_SET_INVALID, VALIDATION_REFUSAL) if refused else None,
        folder=str(result.file_set.resolve()),
        not_imported=tuple(
            NotImported(i.path, i.reason or str(i.status), i.sop_instance_uid or None)
            for i in result.not_imported
        ),
        patients_to_match=_patients_to_match(result.not_imported),
        support_images=tuple(
            SupportImage(i.path, i.sop_instance_uid, str(i.support.kind), i.support.reasons)
            for i in result.support_images
        ),
        documents=documents,
        kept_files=tuple(
            KeptFile(_name(result.file_set, path), file_sha256(path)) for path in kept
        ),
    )


def _documents(result: ReceiveResult) -> list[KeptFile]:
    return [
        KeptFile(
            document.path,
            file_sha256(result.file_set / document.path),
            MEDIA_TYPES.get(document.kind, OTHER_MEDIA_TYPE),
        )
        for document in result.documents
    ]


def _patients_to_match(not_imported: tuple[InstanceOutcome, ...]) -> tuple[PatientToMatch, ...]:
    waiting: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for instance in not_imported:
        if instance.reason.startswith(NEEDS_MATCHING):
            waiting[instance.patient_id, instance.patient_issuer].append(instance.path)
    return tuple(
        PatientToMatch(patient_id, issuer, tuple(paths))
        for (patient_id, issuer), paths in waiting.items()
    )


def _name(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
