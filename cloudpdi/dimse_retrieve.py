"""Retrieving a study: C-GET into a folder, or C-MOVE to a third AE (PS3.4 C.4.2, C.4.3).

C-GET brings the instances back on our own association, so the SCP sends C-STORE requests to
us: we propose a storage context with the SCP role for every SOP Class and transfer syntax
the study holds, learnt from an IMAGE-level C-FIND first, so that compressed instances come
back as they are stored. Files are written exactly as received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import StoragePresentationContexts, build_context, build_role, evt
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)
from pynetdicom.status import STATUS_PENDING, STATUS_SUCCESS, STATUS_WARNING, code_to_category

from cloudpdi.dimse_ae import MAX_PRESENTATION_CONTEXTS
from cloudpdi.dimse_files import ReceivedDataset, file_meta, is_safe_uid, write_atomically
from cloudpdi.dimse_peer import (
    DEFAULT_CALLING_AE,
    DicomPeer,
    DimseError,
    DimseStatusError,
    associate,
    check_ae_title,
    require_context,
    response_status,
)
from cloudpdi.dimse_query import find

#: C-STORE statuses we answer (PS3.4 B.2.3): Success, Out of Resources, Cannot Understand.
STORE_SUCCESS = 0x0000
STORE_OUT_OF_RESOURCES = 0xA700
STORE_CANNOT_UNDERSTAND = 0xC000


@dataclass(frozen=True)
class RetrieveResult:
    """Sub-operation counts of a finished C-GET or C-MOVE (PS3.4 C.4.2.1.6)."""

    completed: int
    failed: int
    warning: int


class RetrieveError(DimseStatusError):
    """A retrieve ended in failure, or some of its sub-operations failed."""

    def __init__(self, message: str, status: int, result: RetrieveResult) -> None:
        super().__init__(message, status)
        self.result = result


def _retrieve_identifier(study_uid: str) -> Dataset:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study_uid
    return identifier


def _finish(
    responses: Iterator[tuple[Dataset, Dataset | None]], peer: DicomPeer, operation: str
) -> RetrieveResult:
    """Follow pending responses to the final one; return its counts or raise RetrieveError."""
    final = Dataset()
    for response, _ in responses:
        status = response_status(response, peer, operation)
        if code_to_category(status) != STATUS_PENDING:
            final = response
            break
    status = response_status(final, peer, operation)
    result = RetrieveResult(
        completed=int(final.get("NumberOfCompletedSuboperations", 0) or 0),
        failed=int(final.get("NumberOfFailedSuboperations", 0) or 0),
        warning=int(final.get("NumberOfWarningSuboperations", 0) or 0),
    )
    if code_to_category(status) not in (STATUS_SUCCESS, STATUS_WARNING) or result.failed:
        message = f"{peer} ended {operation} with 0x{status:04X}, {result.failed} failed"
        raise RetrieveError(message, status, result)
    return result


def _study_contexts(peer: DicomPeer, study_uid: str, calling_ae: str) -> list[PresentationContext]:
    """Return storage contexts for what the study holds, or common ones if the peer won't say."""
    keys = {
        "StudyInstanceUID": study_uid,
        "SeriesInstanceUID": "",
        "SOPInstanceUID": "",
        "SOPClassUID": "",
        "AvailableTransferSyntaxUID": "",
    }
    try:
        matches = find(peer, "IMAGE", keys, calling_ae=calling_ae)
    except DimseError:
        # Not every archive answers IMAGE-level queries; the C-GET itself will tell.
        matches = []
    syntaxes: dict[str, set[str]] = {}
    for match in matches:
        if match.get("SOPClassUID"):
            known = syntaxes.setdefault(str(match.SOPClassUID), set())
            if match.get("AvailableTransferSyntaxUID"):
                known.add(str(match.AvailableTransferSyntaxUID))
    if not syntaxes:
        return list(StoragePresentationContexts)
    contexts = []
    for sop_class, known in syntaxes.items():
        if known:
            contexts.extend(build_context(sop_class, [syntax]) for syntax in sorted(known))
        else:
            contexts.append(build_context(sop_class))
    return contexts


def _store_into(out_dir: Path, paths: list[Path], *, receiving_ae: str) -> Callable[[Event], int]:
    """Return a C-STORE handler that writes each instance into ``out_dir`` as received."""

    def handle(event: Event) -> int:
        received = ReceivedDataset.from_event(event)
        if not is_safe_uid(received.sop_instance_uid):
            return STORE_CANNOT_UNDERSTAND
        sending_ae = event.assoc.acceptor.ae_title
        meta = file_meta(received, sending_ae=sending_ae, receiving_ae=receiving_ae)
        path = out_dir / f"{received.sop_instance_uid}.dcm"
        try:
            write_atomically(path, [meta, received.encoded])
        except OSError:
            return STORE_OUT_OF_RESOURCES
        paths.append(path)
        return STORE_SUCCESS

    return handle


def get_study(
    peer: DicomPeer, study_uid: str, out_dir: Path, *, calling_ae: str = DEFAULT_CALLING_AE
) -> list[Path]:
    """C-GET study ``study_uid`` from ``peer`` into ``out_dir``; return the files written.

    Raises :class:`RetrieveError` if the peer reports a failure or any instance failed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    storage = _study_contexts(peer, study_uid, calling_ae)[: MAX_PRESENTATION_CONTEXTS - 1]
    roles = [build_role(uid, scp_role=True) for uid in {cx.abstract_syntax for cx in storage}]
    paths: list[Path] = []
    handler = _store_into(out_dir, paths, receiving_ae=calling_ae)
    contexts = [build_context(StudyRootQueryRetrieveInformationModelGet), *storage]
    with associate(
        peer, contexts, calling_ae=calling_ae, roles=roles, handlers=[(evt.EVT_C_STORE, handler)]
    ) as assoc:
        require_context(assoc, StudyRootQueryRetrieveInformationModelGet, peer)
        identifier = _retrieve_identifier(study_uid)
        responses = assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet)
        _finish(responses, peer, "C-GET")
    return paths


def move_study(
    peer: DicomPeer,
    study_uid: str,
    destination_ae: str,
    *,
    calling_ae: str = DEFAULT_CALLING_AE,
) -> RetrieveResult:
    """Ask ``peer`` to C-MOVE study ``study_uid`` to ``destination_ae``; return the counts.

    Raises :class:`RetrieveError` on a failure status (0xA801: destination unknown to the
    peer) or if any instance failed to reach the destination.
    """
    check_ae_title(destination_ae)
    context = build_context(StudyRootQueryRetrieveInformationModelMove)
    with associate(peer, [context], calling_ae=calling_ae) as assoc:
        require_context(assoc, StudyRootQueryRetrieveInformationModelMove, peer)
        identifier = _retrieve_identifier(study_uid)
        responses = assoc.send_c_move(
            identifier, destination_ae, StudyRootQueryRetrieveInformationModelMove
        )
        return _finish(responses, peer, "C-MOVE")
