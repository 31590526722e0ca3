"""What the PACS does for each DIMSE request: the pynetdicom event handlers.

Every handler records what it did in the event log. C-GET and C-MOVE read each instance
from disk only when pynetdicom asks for it, so a retrieve of any size holds one instance in
memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from cloudpdi.dimse_ae import MAX_PRESENTATION_CONTEXTS
from cloudpdi.dimse_files import ReceivedDataset
from simulators.pacs_events import EventLog
from simulators.pacs_query import (
    IDENTIFIER_DOES_NOT_MATCH,
    QueryError,
    RetrieveItem,
    find_answers,
    retrieve_selection,
)
from simulators.pacs_store import InstanceStore

#: Pending, Cancel and Success statuses of C-FIND, C-GET and C-MOVE (PS3.4 C.4).
PENDING = 0xFF00
CANCEL = 0xFE00
SUCCESS = 0x0000
#: C-MOVE failures: Move Destination unknown; Unable to process (PS3.4 C.4.2.1.5).
DESTINATION_UNKNOWN = 0xA801
UNABLE_TO_PROCESS = 0xC514

#: The information model of each Query/Retrieve SOP Class.
MODELS = {
    PatientRootQueryRetrieveInformationModelFind: "PATIENT",
    PatientRootQueryRetrieveInformationModelGet: "PATIENT",
    PatientRootQueryRetrieveInformationModelMove: "PATIENT",
    StudyRootQueryRetrieveInformationModelFind: "STUDY",
    StudyRootQueryRetrieveInformationModelGet: "STUDY",
    StudyRootQueryRetrieveInformationModelMove: "STUDY",
}
_UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


def _move_contexts(pairs: list[tuple[str, str]]) -> list[PresentationContext]:
    """Return contexts for sending instances of the given (SOP Class, Transfer Syntax).

    An uncompressed instance may also go in the other uncompressed syntax if the destination
    prefers it; a compressed one only as it is stored, since we never decode.
    """
    contexts = []
    for sop_class, syntax in dict.fromkeys(pairs):
        offered = [syntax, *(s for s in _UNCOMPRESSED if s != syntax)]
        contexts.append(build_context(sop_class, offered if syntax in _UNCOMPRESSED else [syntax]))
    return contexts[:MAX_PRESENTATION_CONTEXTS]


class PacsServices:
    """The handlers of one PACS: association events, C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE."""

    def __init__(
        self,
        store: InstanceStore,
        events: EventLog,
        *,
        ae_title: str,
        destinations: dict[str, tuple[str, int]],
    ) -> None:
        self._store = store
        self._events = events
        self._ae_title = ae_title
        # The caller's own table, read at each C-MOVE: destinations may be added while running.
        self._destinations = destinations

    def handlers(self) -> list[EventHandlerType]:
        """Return the (event, handler) pairs to bind to the association server."""
        return [
            (evt.EVT_ACCEPTED, self._association, ["ASSOCIATE"]),
            (evt.EVT_REJECTED, self._association, ["REJECT"]),
            (evt.EVT_RELEASED, self._association, ["RELEASE"]),
            (evt.EVT_ABORTED, self._association, ["ABORT"]),
            (evt.EVT_C_ECHO, self._echo),
            (evt.EVT_C_STORE, self._store_instance),
            (evt.EVT_C_FIND, self._find),
            (evt.EVT_C_GET, self._get),
            (evt.EVT_C_MOVE, self._move),
            (evt.EVT_DIMSE_RECV, self._suboperation_answer),
        ]

    def _record(self, event: Event, operation: str, **fields: Any) -> None:
        """Record ``operation`` against the AE at the other end of the event's association."""
        assoc = event.assoc
        peer = assoc.acceptor if assoc.is_requestor else assoc.requestor
        self._events.record(operation, peer.ae_title, f"{peer.address}:{peer.port}", **fields)

    def _association(self, event: Event, operation: str) -> None:
        self._record(event, operation)

    def _echo(self, event: Event) -> int:
        self._record(event, "C-ECHO", status=SUCCESS)
        return SUCCESS

    def _store_instance(self, event: Event) -> int:
        received = ReceivedDataset.from_event(event)
        outcome = self._store.receive(
            received, calling_ae=event.assoc.requestor.ae_title, receiving_ae=self._ae_title
        )
        self._record(
            event,
            "C-STORE",
            status=outcome.status,
            sop_instance_uid=received.sop_instance_uid,
            size=outcome.size,
            detail=outcome.detail,
        )
        return outcome.status

    def _find(self, event: Event) -> Iterator[tuple[int, Dataset | None]]:
        model = MODELS[event.request.AffectedSOPClassUID]
        try:
            answers = find_answers(self._store.index, event.identifier, model, self._ae_title)
        except QueryError as exc:
            self._record(event, "C-FIND", status=IDENTIFIER_DOES_NOT_MATCH, detail=str(exc))
            yield IDENTIFIER_DOES_NOT_MATCH, None
            return
        detail = f"{model} root: {len(answers)} matches"
        self._record(event, "C-FIND", status=SUCCESS, detail=detail)
        for answer in answers:
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield PENDING, answer

    def _selection(self, event: Event, operation: str, refusal: int) -> list[RetrieveItem]:
        """Return what a C-GET or C-MOVE asks for; record it, or the ``refusal`` status."""
        model = MODELS[event.request.AffectedSOPClassUID]
        try:
            selection = retrieve_selection(self._store.index, event.identifier, model)
        except QueryError as exc:
            self._record(event, operation, status=refusal, detail=str(exc))
            raise
        detail = f"{model} root: {len(selection)} instances"
        if operation == "C-MOVE":
            detail += f" to {str(event.request.MoveDestination).strip()}"
        self._record(event, operation, detail=detail)
        return selection

    def _send(
        self, event: Event, selection: list[RetrieveItem]
    ) -> Iterator[tuple[int, Dataset | None]]:
        """Yield each selected instance for a C-STORE sub-operation, read from disk."""
        for item in selection:
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield PENDING, dcmread(self._store.root / item.path)

    def _get(self, event: Event) -> Iterator[object]:
        try:
            selection = self._selection(event, "C-GET", IDENTIFIER_DOES_NOT_MATCH)
        except QueryError:
            # pynetdicom takes a failure status only after a sub-operation count.
            yield 1
            yield IDENTIFIER_DOES_NOT_MATCH, None
            return
        yield len(selection)
        yield from self._send(event, selection)

    def _move(self, event: Event) -> Iterator[object]:
        destination = str(event.request.MoveDestination).strip()
        known = {title.strip(): address for title, address in self._destinations.items()}
        address = known.get(destination)
        if address is None:
            detail = f"unknown destination {destination}"
            self._record(event, "C-MOVE", status=DESTINATION_UNKNOWN, detail=detail)
            yield None, None  # pynetdicom answers 0xA801 for this
            return
        # A refused identifier raises here, before any association with the destination:
        # pynetdicom answers 0xC514 (Unable to process).
        selection = self._selection(event, "C-MOVE", UNABLE_TO_PROCESS)
        pairs = [(item.sop_class_uid, item.transfer_syntax_uid) for item in selection]
        handlers = [(evt.EVT_DIMSE_RECV, self._suboperation_answer)]
        yield *address, {"contexts": _move_contexts(pairs), "evt_handlers": handlers}
        yield len(selection)
        yield from self._send(event, selection)

    def _suboperation_answer(self, event: Event) -> None:
        """Record the C-STORE-RSP of each instance we sent during a C-GET or C-MOVE."""
        message = event.message
        if not isinstance(message, C_STORE_RSP):
            return
        command = message.command_set
        self._record(
            event,
            "C-STORE-SUBOP",
            status=int(command.Status),
            sop_instance_uid=str(command.get("AffectedSOPInstanceUID", "")),
        )
