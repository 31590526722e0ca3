"""The DICOM network client (SCU) every actor uses: C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE.

One job per module:

- :mod:`cloudpdi.dimse_peer`: the peer's address, the errors, the association around a call;
- :mod:`cloudpdi.dimse_store`: C-STORE of files exactly as they are;
- :mod:`cloudpdi.dimse_query`: C-FIND in the Patient Root and Study Root models;
- :mod:`cloudpdi.dimse_retrieve`: C-GET into a folder and C-MOVE to a third AE;
- :mod:`cloudpdi.dimse_ae` and :mod:`cloudpdi.dimse_files`: TCP_NODELAY sockets, and Part 10
  files written as received.

This module gathers them and adds C-ECHO, so that callers have one place to import from.
"""

from pynetdicom import build_context
from pynetdicom.sop_class import Verification

from cloudpdi.dimse_peer import (
    DEFAULT_CALLING_AE,
    AssociationAbortedError,
    AssociationError,
    AssociationRejectedError,
    ContextRefusedError,
    DicomPeer,
    DimseError,
    DimseStatusError,
    associate,
    require_context,
    response_status,
)
from cloudpdi.dimse_query import QUERY_LEVELS, Level, Model, find, query_dataset
from cloudpdi.dimse_retrieve import RetrieveError, RetrieveResult, get_study, move_study
from cloudpdi.dimse_store import StoredInstance, StoreResult, store_files

__all__ = [
    "DEFAULT_CALLING_AE",
    "QUERY_LEVELS",
    "AssociationAbortedError",
    "AssociationError",
    "AssociationRejectedError",
    "ContextRefusedError",
    "DicomPeer",
    "DimseError",
    "DimseStatusError",
    "Level",
    "Model",
    "RetrieveError",
    "RetrieveResult",
    "StoreResult",
    "StoredInstance",
    "echo",
    "find",
    "get_study",
    "move_study",
    "query_dataset",
    "store_files",
]


def echo(peer: DicomPeer, *, calling_ae: str = DEFAULT_CALLING_AE) -> None:
    """C-ECHO ``peer``: return if it answers Success, raise :class:`DimseError` otherwise."""
    with associate(peer, [build_context(Verification)], calling_ae=calling_ae) as assoc:
        require_context(assoc, Verification, peer)
        status = response_status(assoc.send_c_echo(), peer, "C-ECHO")
    if status != 0x0000:
        raise DimseStatusError(f"{peer} answered C-ECHO with 0x{status:04X}", status)
