"""The DICOM application entity every actor uses: TCP_NODELAY on its sockets, shared limits.

DIMSE exchanges are request/response with small PDUs (command sets, C-STORE responses). With
Nagle's algorithm on, each small write waits for the peer's delayed ACK, which makes C-STORE
to or from dcmtk about ten times slower; every socket we open or accept turns it off.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from pynetdicom import _config, build_context
from pynetdicom.ae import ApplicationEntity
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext
from pynetdicom.transport import AddressInformation, AssociationSocket

# pynetdicom logs C-FIND, C-GET and C-MOVE identifiers (patient names and IDs) at INFO; our
# logs carry no patient data, so every actor in the process turns that off.
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False

#: Largest P-DATA PDU we accept: large enough that a CT slice needs only a few PDUs, small
#: enough that a peer never makes us buffer a whole instance in one PDU.
MAXIMUM_PDU_SIZE = 262_144
#: A-ASSOCIATE and A-RELEASE must be answered within this many seconds.
ACSE_TIMEOUT = 30.0
#: A DIMSE response (e.g. a C-STORE-RSP from a slow archive) must arrive within this.
DIMSE_TIMEOUT = 120.0
#: An association with no traffic for this long is aborted.
NETWORK_TIMEOUT = 120.0
#: A TCP connection to a peer must open within this.
CONNECTION_TIMEOUT = 10.0
#: An A-ASSOCIATE-RQ carries at most 128 presentation contexts (PS3.8 9.3.2, odd IDs 1-255).
MAX_PRESENTATION_CONTEXTS = 128


def set_nodelay(sock: socket.socket) -> None:
    """Turn off Nagle's algorithm on ``sock`` so small PDUs leave at once."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayAE(ApplicationEntity):
    """An application entity whose outgoing associations use TCP_NODELAY."""

    # pynetdicom 3 creates requestor sockets here; the dependency pin (<4) keeps the hook stable.
    def _create_socket(
        self, assoc: Association, address: AddressInformation, tls_args: object
    ) -> AssociationSocket:
        sock = super()._create_socket(assoc, address, tls_args)  # type: ignore[arg-type]
        if sock.socket is not None:
            set_nodelay(sock.socket)
        return sock


def configure(ae: ApplicationEntity) -> ApplicationEntity:
    """Apply the shared PDU size and timeouts to ``ae`` and return it."""
    ae.maximum_pdu_size = MAXIMUM_PDU_SIZE
    ae.acse_timeout = ACSE_TIMEOUT
    ae.dimse_timeout = DIMSE_TIMEOUT
    ae.network_timeout = NETWORK_TIMEOUT
    ae.connection_timeout = CONNECTION_TIMEOUT
    return ae


def exact_contexts(pairs: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """Return one presentation context per distinct (SOP Class, Transfer Syntax) pair.

    Each context offers only that transfer syntax: instances are sent exactly as stored, so a
    peer that cannot take a syntax refuses the context instead of receiving a conversion.
    """
    return [build_context(sop_class, [syntax]) for sop_class, syntax in dict.fromkeys(pairs)]
