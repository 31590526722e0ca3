"""How each actor of a run takes part: started by the harness (simulated) or driven as a SUT.

A simulated actor only needs where to listen. A system under test needs how to reach it
(repository, PACS) or how to make it act and where to wait for what it does (sender,
receiver): a hook command or the operator triggers it, and the harness waits, with a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from cloudpdi.config_rules import (
    LOOPBACK,
    RunConfigError,
    check_ae,
    check_host,
    check_loopback,
    check_port,
    check_seconds,
    check_text,
    check_url,
)
from cloudpdi.config_triggers import TokenInbox, Trigger, address
from cloudpdi.dimse_peer import DEFAULT_CALLING_AE, DicomPeer

#: The actors of a Cloud-PDI exchange that a run configures, in the order reports list them.
ACTOR_NAMES = ("sender", "repository", "receiver", "source_pacs", "destination_pacs")
#: Seconds the harness waits for a SUT to act, unless configured.
DEFAULT_WAIT_TIMEOUT = 600.0


class Mode(StrEnum):
    """Whether the harness runs an actor itself or tests someone else's."""

    SIMULATED = "simulated"
    SUT = "sut"


@dataclass(frozen=True)
class ClientTls:
    """How the harness's clients check a SUT's certificate and present their own (mutual TLS)."""

    #: CA certificates (PEM) trusted for the SUT; None trusts the system store.
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    def __post_init__(self) -> None:
        if (self.client_cert is None) != (self.client_key is None):
            raise RunConfigError("client_cert", "and client_key go together (mutual TLS)")

    def summary(self) -> dict[str, Any]:
        return {name: None if path is None else str(path) for name, path in vars(self).items()}


@dataclass(frozen=True, kw_only=True)
class ActorConfig:
    """One actor of the run; subclasses say how it takes part."""

    mode: ClassVar[Mode]

    name: str

    def __post_init__(self) -> None:
        if self.name not in ACTOR_NAMES:
            raise RunConfigError("", f"unknown actor; the actors are {', '.join(ACTOR_NAMES)}")

    @property
    def endpoint(self) -> str:
        """How the harness reaches or drives the actor, for a report header."""
        return str(self.mode)

    def summary(self) -> dict[str, Any]:
        """The actor's settings for a report: references as references, no secret."""
        return {"mode": str(self.mode), "endpoint": self.endpoint}


@dataclass(frozen=True, kw_only=True)
class SimulatedActor(ActorConfig):
    """An actor the harness runs in-process that listens on no port of its own (the sender)."""

    mode: ClassVar[Mode] = Mode.SIMULATED


@dataclass(frozen=True, kw_only=True)
class SimulatedServer(SimulatedActor):
    """A simulated repository or receiver (token inbox): where it listens; port 0 is any."""

    host: str = LOOPBACK
    port: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_loopback("host", self.host)
        check_port("port", self.port, listen=True)

    @property
    def endpoint(self) -> str:
        return address(self.host, self.port)


@dataclass(frozen=True, kw_only=True)
class SimulatedPacs(SimulatedServer):
    """A simulated PACS: its AE title and where it listens."""

    ae_title: str

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ae("ae_title", self.ae_title)

    @property
    def endpoint(self) -> str:
        return f"{self.ae_title}@{address(self.host, self.port)}"


@dataclass(frozen=True)
class RepositoryInspection:
    """What a repository under test shows of its insides; a check needing an absent one is NOT RUN.

    ``storage`` is the folder where it keeps what it stores (read access is enough);
    ``access_log`` its access log exported as JSON Lines (:mod:`cloudpdi.access_log`);
    ``wait_timeout`` how long the harness waits for a deletion or a log entry to show there.
    """

    storage: Path | None = None
    access_log: Path | None = None
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT

    def __post_init__(self) -> None:
        check_seconds("wait_timeout", self.wait_timeout)
        if self.storage is not None and self.storage == self.access_log:
            raise RunConfigError("access_log", "is a file of its own, not the storage folder")

    def summary(self) -> dict[str, Any]:
        return {
            "storage": None if self.storage is None else str(self.storage),
            "access_log": None if self.access_log is None else str(self.access_log),
            "wait_timeout": self.wait_timeout,
        }


@dataclass(frozen=True, kw_only=True)
class RepositorySut(ActorConfig):
    """A repository under test, addressed by base URL; our sender and receiver use it."""

    mode: ClassVar[Mode] = Mode.SUT

    url: str
    tls: ClientTls = field(default_factory=ClientTls)
    inspection: RepositoryInspection = field(default_factory=RepositoryInspection)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_url("url", self.url)

    @property
    def endpoint(self) -> str:
        return self.url

    def summary(self) -> dict[str, Any]:
        return {
            **super().summary(),
            "tls": self.tls.summary(),
            "inspection": self.inspection.summary(),
        }


def dicom_peer(ae_title: str, host: str, port: int) -> DicomPeer:
    """Return the SUT's DICOM address, naming the setting that breaks a rule."""
    _check_peer("", ae_title, host, port)
    return DicomPeer(ae_title, host, port)


def _check_peer(prefix: str, ae_title: str, host: str, port: int) -> None:
    check_ae(f"{prefix}ae_title", ae_title)
    check_host(f"{prefix}host", host)
    check_port(f"{prefix}port", port, listen=False)


@dataclass(frozen=True, kw_only=True)
class PacsSut(ActorConfig):
    """A PACS under test by AE title, host and port; ``calling_ae`` is ours when we call it."""

    mode: ClassVar[Mode] = Mode.SUT

    peer: DicomPeer
    calling_ae: str = DEFAULT_CALLING_AE

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_peer("", self.peer.ae_title, self.peer.host, self.peer.port)
        check_ae("calling_ae", self.calling_ae)

    @property
    def endpoint(self) -> str:
        return str(self.peer)

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "calling_ae": self.calling_ae}


@dataclass(frozen=True, kw_only=True)
class SenderSut(ActorConfig):
    """A sender under test: what triggers it and where the harness waits for its token.

    Its upload goes to the run's repository. ``move_destination`` is the sender's own storage
    SCP, which a simulated source PACS needs to answer its C-MOVE (C-GET needs none).
    ``slip_folder`` is where it prints its token slip to file, in a fresh folder per send, so
    that the harness can compare the printed forms of the token with the electronic one.
    """

    mode: ClassVar[Mode] = Mode.SUT

    trigger: Trigger
    token_inbox: TokenInbox
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    move_destination: DicomPeer | None = None
    slip_folder: Path | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_seconds("wait_timeout", self.wait_timeout)
        if (peer := self.move_destination) is not None:
            _check_peer("move_destination.", peer.ae_title, peer.host, peer.port)

    @property
    def endpoint(self) -> str:
        slip = "" if self.slip_folder is None else f"; slip printed to {self.slip_folder}"
        return f"{self.trigger}; token to {self.token_inbox}{slip}"

    def summary(self) -> dict[str, Any]:
        destination = self.move_destination
        return {
            **super().summary(),
            "trigger": self.trigger.summary(),
            "token_inbox": self.token_inbox.summary(),
            "wait_timeout": self.wait_timeout,
            "move_destination": None if destination is None else str(destination),
            "slip_folder": None if self.slip_folder is None else str(self.slip_folder),
        }


@dataclass(frozen=True)
class SecondCommunity:
    """A community a receiver under test lists in its directory besides the run's, set up once.

    The harness serves this community's repository at ``http://127.0.0.1:<port>/`` during a
    scenario that needs a second community, to see that the receiver asks only the
    repository of the token's community.
    """

    id: str
    port: int

    def __post_init__(self) -> None:
        check_text("id", self.id)
        if any(char.isspace() for char in self.id):
            raise RunConfigError("id", "a community ID holds no spaces")
        check_port("port", self.port, listen=False)

    @property
    def url(self) -> str:
        """The base URL of its repository, as the receiver's directory lists it."""
        return f"http://{LOOPBACK}:{self.port}/"

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "repository": self.url}


@dataclass(frozen=True, kw_only=True)
class ReceiverSut(ActorConfig):
    """A receiver under test: how its token reaches it; the harness judges what it imports.

    A hook gets the token file's path as its last argument; an operator is shown the QR code
    and the slip file. The receiver imports into the run's destination PACS. With ``receipt``
    it writes its receipt (:mod:`cloudpdi.receipt`) to the path ``CLOUDPDI_RECEIPT`` names, so
    that the harness can judge what the hospital's user is told. ``second_community`` is a
    community it lists besides the run's, whose repository the harness serves when needed.
    """

    mode: ClassVar[Mode] = Mode.SUT

    token_delivery: Trigger
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    receipt: bool = False
    second_community: SecondCommunity | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_seconds("wait_timeout", self.wait_timeout)

    @property
    def endpoint(self) -> str:
        return f"token by {self.token_delivery}"

    def summary(self) -> dict[str, Any]:
        return {
            **super().summary(),
            "token_delivery": self.token_delivery.summary(),
            "wait_timeout": self.wait_timeout,
            "receipt": self.receipt,
            "second_community": None
            if self.second_community is None
            else self.second_community.summary(),
        }
