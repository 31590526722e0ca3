"""What happened at the PACS: one record per association event and DIMSE operation.

Test steps read these records as evidence (who called, what they asked for, what we
answered, how many bytes moved), so they hold UIDs, AE titles and sizes but never patient
data.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class PacsEvent:
    """One association event or DIMSE operation seen by the PACS.

    ``operation`` is ``ASSOCIATE``, ``REJECT``, ``RELEASE`` or ``ABORT`` for the association,
    the DIMSE service (``C-ECHO``, ``C-STORE``, ``C-FIND``, ``C-GET``, ``C-MOVE``) for a
    request we served, and ``C-STORE-SUBOP`` for an instance we sent during C-GET or C-MOVE.
    ``status`` is what we answered (or were answered, for a sub-operation); None when the
    event carries no status. ``peer_ae`` is the AE at the other end: the caller, or the
    destination of a sub-operation.
    """

    time: datetime.datetime
    operation: str
    peer_ae: str
    peer_address: str
    status: int | None = None
    sop_instance_uid: str | None = None
    size: int = 0
    detail: str = ""


class EventLog:
    """A thread-safe, append-only list of :class:`PacsEvent` (associations run in threads)."""

    def __init__(self) -> None:
        self._events: list[PacsEvent] = []
        self._lock = threading.Lock()

    def record(
        self,
        operation: str,
        peer_ae: str,
        peer_address: str,
        *,
        status: int | None = None,
        sop_instance_uid: str | None = None,
        size: int = 0,
        detail: str = "",
    ) -> PacsEvent:
        """Append an event stamped with the current UTC time and return it."""
        event = PacsEvent(
            time=datetime.datetime.now(datetime.UTC),
            operation=operation,
            peer_ae=peer_ae,
            peer_address=peer_address,
            status=status,
            sop_instance_uid=sop_instance_uid,
            size=size,
            detail=detail,
        )
        with self._lock:
            self._events.append(event)
        return event

    def snapshot(self) -> list[PacsEvent]:
        """Return a copy of the events so far, oldest first."""
        with self._lock:
            return list(self._events)
