"""The PACS simulator: a DICOM archive on disk that speaks C-ECHO, C-STORE, C-FIND, C-GET and
C-MOVE, used as the sender's source PACS and as the receiver's destination PACS.

It runs in-process (:class:`PacsSimulator`, for tests and steps) or as its own process
(:func:`serve_pacs`, behind ``cloudpdi serve pacs``) with the same code. Instances are kept
exactly as received and indexed in SQLite; every association and operation is recorded as
an event that test steps can read.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import DEFAULT_TRANSFER_SYNTAXES, AllStoragePresentationContexts
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from cloudpdi.dicomfile import is_dicom_part10
from cloudpdi.dimse import DicomPeer
from cloudpdi.dimse_ae import NoDelayAE, configure, set_nodelay
from cloudpdi.dimse_peer import check_ae_title
from cloudpdi.errors import CloudPDIError
from simulators.pacs_events import EventLog, PacsEvent
from simulators.pacs_index import InstanceRecord
from simulators.pacs_services import MODELS, PacsServices
from simulators.pacs_store import DuplicatePolicy, InstanceStore, StoreOutcome

__all__ = [
    "DuplicatePolicy",
    "PacsConfig",
    "PacsError",
    "PacsEvent",
    "PacsSimulator",
    "serve_pacs",
]

#: Seconds between checks for a stop request while idle: stop() waits at most this long.
SHUTDOWN_POLL_INTERVAL = 0.05
#: Associations served at once; more are rejected (transient, local limit exceeded).
MAX_ASSOCIATIONS = 32
#: Transfer syntaxes accepted for storage: uncompressed, deflated, and the image compressions
#: PACS exchange uses (JPEG, JPEG-LS, JPEG 2000, HTJ2K, RLE). Instances are kept as they come,
#: so accepting a syntax never means decoding it. (Each association copies the accepted
#: contexts, so the list is kept to what archives exchange rather than every known syntax.)
STORAGE_TRANSFER_SYNTAXES = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    HTJ2K,
    RLELossless,
)


class PacsError(CloudPDIError):
    """The PACS simulator cannot start or was used out of order."""


@dataclass(kw_only=True)
class PacsConfig:
    """How a PACS simulator presents itself and where it keeps its instances."""

    #: Folder of the instance files and the SQLite index; created if missing, kept across runs.
    storage_dir: Path
    ae_title: str = "CPDI_PACS"
    host: str = "127.0.0.1"
    #: TCP port to listen on; 0 picks a free one (see :attr:`PacsSimulator.address`).
    port: int = 0
    #: C-MOVE destinations: AE title -> (host, port); read at each C-MOVE, so entries may be
    #: added while the PACS runs. Any other destination gets 0xA801.
    destinations: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: What a second copy of a stored SOP Instance UID does.
    duplicates: DuplicatePolicy = DuplicatePolicy.REPLACE
    #: Reject associations whose Called AE Title is not ours (real archives often do).
    require_called_ae: bool = False
    #: Part 10 files, or folders searched recursively, imported before serving.
    load: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        check_ae_title(self.ae_title)
        if not 0 <= self.port < 65536:
            raise ValueError("a TCP port is between 0 and 65535")
        for title in self.destinations:
            check_ae_title(title)


class _NoDelayServer(ThreadedAssociationServer):
    """An association server that turns off Nagle's algorithm on every accepted socket."""

    def get_request(self) -> tuple[Any, tuple[str, int]]:
        sock, address = super().get_request()
        set_nodelay(sock)
        return sock, address

    def serve_forever(self, poll_interval: float = SHUTDOWN_POLL_INTERVAL) -> None:
        super().serve_forever(poll_interval)


class _PacsAE(NoDelayAE):
    """The PACS's application entity: TCP_NODELAY on accepted sockets too."""

    def make_server(self, *args: Any, server_class: Any = None, **kwargs: Any) -> Any:
        return super().make_server(*args, server_class=_NoDelayServer, **kwargs)


def _application_entity(config: PacsConfig) -> _PacsAE:
    """Return the AE with every context the PACS accepts."""
    ae = configure(_PacsAE(config.ae_title))
    ae.require_called_aet = config.require_called_ae
    ae.maximum_associations = MAX_ASSOCIATIONS
    ae.add_supported_context(Verification, DEFAULT_TRANSFER_SYNTAXES)
    for sop_class in MODELS:
        ae.add_supported_context(sop_class, DEFAULT_TRANSFER_SYNTAXES)
    # Both roles: a C-STORE requestor is SCU; during C-GET we store to the requestor (SCP).
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(
            context.abstract_syntax, STORAGE_TRANSFER_SYNTAXES, scu_role=True, scp_role=True
        )
    return ae


def _dicom_files(paths: tuple[Path, ...]) -> list[Path]:
    """Return the given files, and the Part 10 files found under the given folders."""
    found = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for candidate in sorted(path.rglob("*")):
            if candidate.is_file():
                with candidate.open("rb") as stream:
                    if is_dicom_part10(stream):
                        found.append(candidate)
    return found


class PacsSimulator:
    """A running PACS: ``start()`` it (or use it as a context manager), then ``stop()``."""

    def __init__(self, config: PacsConfig) -> None:
        self.config = config
        self._store = InstanceStore(config.storage_dir, config.duplicates)
        self._events = EventLog()
        self._server: ThreadedAssociationServer | None = None

    def start(self) -> tuple[str, int]:
        """Import the configured files, listen, and return the (host, port) actually bound."""
        if self._server is not None:
            raise PacsError("the PACS is already running")
        self.import_files(_dicom_files(self.config.load))
        services = PacsServices(
            self._store,
            self._events,
            ae_title=self.config.ae_title,
            destinations=self.config.destinations,
        )
        ae = _application_entity(self.config)
        try:
            self._server = ae.start_server(
                (self.config.host, self.config.port), block=False, evt_handlers=services.handlers()
            )
        except OSError as exc:
            where = f"{self.config.host}:{self.config.port}"
            raise PacsError(f"cannot listen on {where}: {exc.strerror}") from exc
        return self.address

    def stop(self) -> None:
        """Stop listening, end the running associations and close the index."""
        if self._server is not None:
            self._server.shutdown()
            for assoc in self._server.active_associations:
                assoc.abort()
            self._server = None
        self._store.close()

    def __enter__(self) -> PacsSimulator:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the PACS listens on."""
        if self._server is None:
            raise PacsError("the PACS is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def peer(self) -> DicomPeer:
        """The PACS as a client addresses it."""
        host, port = self.address
        return DicomPeer(self.config.ae_title, host, port)

    def import_files(self, paths: list[Path]) -> list[StoreOutcome]:
        """Copy Part 10 files into the store as they are, as if they had been C-STOREd."""
        return [self._store.import_file(path) for path in paths]

    def instances(self) -> list[InstanceRecord]:
        """Return every stored instance (UIDs, transfer syntax, file, size, sender)."""
        return self._store.instances()

    @property
    def count(self) -> int:
        """The number of stored instances."""
        return self._store.count()

    def path_of(self, sop_instance_uid: str) -> Path | None:
        """Return the file holding an instance, or None if it is not stored."""
        return self._store.path_of(sop_instance_uid)

    def read_bytes(self, sop_instance_uid: str) -> bytes:
        """Return the stored file of an instance, byte for byte; KeyError if not stored."""
        path = self.path_of(sop_instance_uid)
        if path is None:
            raise KeyError(sop_instance_uid)
        return path.read_bytes()

    def events(self) -> list[PacsEvent]:
        """Return every association event and operation so far, oldest first."""
        return self._events.snapshot()


def serve_pacs(config: PacsConfig) -> None:
    """Run a PACS until SIGINT or SIGTERM, printing the address it listens on.

    Must be called from the main thread (it installs the signal handlers).
    """
    stopping = threading.Event()
    previous = {
        number: signal.signal(number, lambda *_: stopping.set())
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with PacsSimulator(config) as pacs:
            print(f"PACS listening on {pacs.peer} (storage {config.storage_dir})", flush=True)
            while not stopping.wait(0.5):
                pass
            print(f"PACS stopped: {pacs.count} instances stored", flush=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
