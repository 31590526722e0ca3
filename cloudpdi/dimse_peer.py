"""A DICOM peer by address, the errors of talking to one, and the association around each call.

Every client call opens one association, does its work and releases it: the actors move a
study at a time, so a pooled association would save little and would hide failures.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom.association import Association
from pynetdicom.events import EventHandlerType
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import PresentationContext

from cloudpdi.dimse_ae import MAXIMUM_PDU_SIZE, NoDelayAE, configure
from cloudpdi.errors import CloudPDIError

#: Calling AE title of our client calls unless the caller names its own.
DEFAULT_CALLING_AE = "CLOUDPDI"
#: An AE title is 1 to 16 characters of the default repertoire, no backslash (PS3.5 6.2).
MAX_AE_TITLE_LENGTH = 16


class DimseError(CloudPDIError):
    """A DICOM network operation failed."""


class AssociationError(DimseError):
    """No usable association: the peer was unreachable, rejected it or aborted it."""


class AssociationRejectedError(AssociationError):
    """The peer answered the association request with A-ASSOCIATE-RJ."""


class ContextRefusedError(AssociationError):
    """The peer refused the presentation context (SOP Class and transfer syntax) we need."""


class AssociationAbortedError(AssociationError):
    """The association was aborted, or the peer stopped answering, during an operation."""


class DimseStatusError(DimseError):
    """The peer answered a DIMSE request with a failure status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def check_ae_title(title: str) -> str:
    """Return ``title`` if it is a valid AE title (PS3.5 6.2), else raise ValueError."""
    if not title.strip() or len(title) > MAX_AE_TITLE_LENGTH:
        raise ValueError("an AE title has 1 to 16 characters and is not all spaces")
    if "\\" in title or not title.isascii() or not title.isprintable():
        raise ValueError("an AE title holds printable ASCII characters and no backslash")
    return title


@dataclass(frozen=True)
class DicomPeer:
    """A DICOM application entity on the network: AE title, host and TCP port."""

    ae_title: str
    host: str
    port: int

    def __post_init__(self) -> None:
        check_ae_title(self.ae_title)
        if not self.host:
            raise ValueError("a DICOM peer needs a host")
        if not 0 < self.port < 65536:
            raise ValueError("a TCP port is between 1 and 65535")

    @classmethod
    def parse(cls, text: str) -> DicomPeer:
        """Return the peer written as ``AE@host:port`` (an IPv6 host in brackets)."""
        title, at, address = text.rpartition("@")
        host, colon, port = address.rpartition(":")
        if not (at and colon and port.isdigit()):
            raise ValueError("a DICOM peer is written AE@host:port")
        return cls(title, host.removeprefix("[").removesuffix("]"), int(port))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"


@contextmanager
def associate(
    peer: DicomPeer,
    contexts: Sequence[PresentationContext],
    *,
    calling_ae: str,
    roles: Sequence[SCP_SCU_RoleSelectionNegotiation] = (),
    handlers: Sequence[EventHandlerType] = (),
) -> Iterator[Association]:
    """Open an association with ``peer`` proposing ``contexts``; release it when done.

    Raises :class:`AssociationRejectedError`, :class:`ContextRefusedError` or
    :class:`AssociationError` when none is established. A :class:`DimseError` inside the
    block still releases the association; any other exception aborts it.
    """
    ae = configure(NoDelayAE(check_ae_title(calling_ae)))
    assoc = ae.associate(
        peer.host,
        peer.port,
        list(contexts),
        ae_title=peer.ae_title,
        max_pdu=MAXIMUM_PDU_SIZE,
        ext_neg=list(roles) or None,
        evt_handlers=list(handlers) or None,
    )
    if assoc.is_rejected:
        answer = assoc.acceptor.primitive
        reason = f": {answer.reason_str}" if answer is not None else ""
        raise AssociationRejectedError(f"{peer} rejected the association{reason}")
    if not assoc.is_established:
        if assoc.acceptor.primitive is not None:
            # pynetdicom aborts an association in which no proposed context was accepted.
            raise ContextRefusedError(f"{peer} accepted none of the proposed contexts")
        raise AssociationError(f"no association with {peer}: unreachable, or it aborted")
    try:
        yield assoc
    except DimseError:
        # The peer answered (a failure status) or is gone: end the association politely.
        if assoc.is_established:
            assoc.release()
        raise
    except BaseException:
        assoc.abort()
        raise
    if assoc.is_established:
        assoc.release()


def require_context(assoc: Association, sop_class: str, peer: DicomPeer) -> None:
    """Raise :class:`ContextRefusedError` unless ``peer`` accepted ``sop_class`` for us."""
    if not any(context.abstract_syntax == sop_class for context in assoc.accepted_contexts):
        raise ContextRefusedError(f"{peer} does not accept {UID(sop_class).name}")


def response_status(response: Dataset | None, peer: DicomPeer, operation: str) -> int:
    """Return the Status of a DIMSE response; an empty response means the association died."""
    if response is None or "Status" not in response:
        raise AssociationAbortedError(f"{peer} aborted or stopped answering during {operation}")
    return int(response.Status)
