"""A run configuration: who is under test, how each actor takes part, who the facilities are.

:class:`RunConfig` is plain, frozen data. It checks itself when built, so a configuration made
in code obeys the same rules as one read from TOML (:mod:`cloudpdi.config_load`), and its
:meth:`RunConfig.summary` is what a report header shows: references, never secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudpdi.config_actors import (
    ACTOR_NAMES,
    DEFAULT_WAIT_TIMEOUT,
    ActorConfig,
    Mode,
    PacsSut,
    ReceiverSut,
    RepositorySut,
    SenderSut,
    SimulatedActor,
    SimulatedPacs,
    SimulatedServer,
)
from cloudpdi.config_budgets import Budgets
from cloudpdi.config_rules import (
    RunConfigError,
    check_seconds,
    check_text,
    check_url,
    frozen,
    is_name,
)
from cloudpdi.config_secrets import SecretRef
from cloudpdi.config_triggers import DEFAULT_HOOK_TIMEOUT
from cloudpdi.token_model import MAX_ID_LENGTH, Facility

#: Version of the run configuration schema; a file states it as ``version = 1``.
CONFIG_VERSION = 1
#: Seconds one HTTP request or DICOM operation may take, unless configured.
DEFAULT_NETWORK_TIMEOUT = 60.0
DEFAULT_LABEL = "cloudpdi conformance run"
DEFAULT_OUTPUT = "cloudpdi-results"
DEFAULT_COMMUNITY = "jp.cloudpdi.test"
DEFAULT_ISSUER = Facility(id="1310000001", name="cloudpdi test hospital")
DEFAULT_RECIPIENT = Facility(id="1310000002", name="cloudpdi receiving hospital")
#: AE titles of the simulated PACSs unless configured (those of the simulator lab).
DEFAULT_PACS_AE = {"source_pacs": "SOURCE_PACS", "destination_pacs": "DEST_PACS"}
_MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Timeouts:
    """Defaults in seconds: a network operation, a wait for a SUT to act, a hook command."""

    network: float = DEFAULT_NETWORK_TIMEOUT
    wait: float = DEFAULT_WAIT_TIMEOUT
    hook: float = DEFAULT_HOOK_TIMEOUT

    def __post_init__(self) -> None:
        for name, seconds in vars(self).items():
            check_seconds(name, seconds)


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """Who runs, under what label, where results go, and the seed that makes a run repeatable.

    With no ``seed`` the runner picks one and records it, so any run can be repeated.
    """

    output_dir: Path
    operator: str | None = None
    label: str = DEFAULT_LABEL
    seed: int | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        if self.operator is not None:
            check_text("operator", self.operator)
        check_text("label", self.label)
        if self.seed is not None and (
            isinstance(self.seed, bool) or not 0 <= self.seed <= _MAX_SEED
        ):
            raise RunConfigError("seed", f"must be an integer from 0 to {_MAX_SEED}")

    def summary(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "label": self.label,
            "output_dir": str(self.output_dir),
            "seed": self.seed,
            "timeouts": dict(vars(self.timeouts)),
        }


@dataclass(frozen=True)
class SystemUnderTest:
    """A product under test and what it claims: actor -> options (Gazelle's AIPO, per system)."""

    vendor: str
    product: str
    version: str
    claims: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        for name in ("vendor", "product", "version"):
            check_text(name, getattr(self, name))
        if not self.claims:
            raise RunConfigError("claims", "must name at least one actor the system plays")
        for actor, options in self.claims.items():
            if actor not in ACTOR_NAMES:
                raise RunConfigError(
                    f"claims.{actor}", f"is not an actor; the actors are {', '.join(ACTOR_NAMES)}"
                )
            if isinstance(options, str) or len(set(options)) != len(options):
                raise RunConfigError(f"claims.{actor}", "must be a list of distinct option names")
            if not all(isinstance(option, str) and is_name(option) for option in options):
                raise RunConfigError(
                    f"claims.{actor}", "option names are lower-case words joined by - or _"
                )
        object.__setattr__(self, "claims", frozen({a: tuple(o) for a, o in self.claims.items()}))

    @property
    def actors(self) -> tuple[str, ...]:
        return tuple(self.claims)

    def summary(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "product": self.product,
            "version": self.version,
            "claims": {actor: list(options) for actor, options in self.claims.items()},
        }


@dataclass(frozen=True)
class FacilityConfig:
    """A facility and its keys, by reference: P-256 PEM files and the repository bearer key.

    The issuer signs with ``private_key`` and uploads with ``bearer_key``; the recipient
    opens sealed tokens with ``private_key``, is sealed to with ``public_key``, and downloads
    documents restricted to it with ``bearer_key``. Absent keys are made fresh for the run.
    """

    facility: Facility
    private_key: Path | None = None
    public_key: Path | None = None
    bearer_key: SecretRef | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.facility.id,
            "name": self.facility.name,
            "private_key": None if self.private_key is None else str(self.private_key),
            "public_key": None if self.public_key is None else str(self.public_key),
            "bearer_key": None if self.bearer_key is None else self.bearer_key.summary(),
        }


@dataclass(frozen=True)
class Facilities:
    """The two ends of a transfer: the issuing (sending) and the receiving facility."""

    issuer: FacilityConfig = field(default_factory=lambda: FacilityConfig(DEFAULT_ISSUER))
    recipient: FacilityConfig = field(default_factory=lambda: FacilityConfig(DEFAULT_RECIPIENT))

    def __post_init__(self) -> None:
        if self.issuer.facility.id == self.recipient.facility.id:
            raise RunConfigError("recipient.id", "must differ from the issuer's facility ID")

    def summary(self) -> dict[str, Any]:
        return {"issuer": self.issuer.summary(), "recipient": self.recipient.summary()}


@dataclass(frozen=True)
class Community:
    """The community the run's tokens name (served by the run's repository) and others known.

    ``directory`` maps other community IDs to repository base URLs, as a receiver's would.
    """

    id: str = DEFAULT_COMMUNITY
    directory: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, community in [("id", self.id)] + [(f"directory.{c}", c) for c in self.directory]:
            if not 0 < len(community) <= MAX_ID_LENGTH or not community.isprintable():
                raise RunConfigError(key, f"a community ID has 1 to {MAX_ID_LENGTH} characters")
            if any(char.isspace() for char in community):
                raise RunConfigError(key, "a community ID holds no spaces")
        for community, url in self.directory.items():
            check_url(f"directory.{community}", url)
        if self.id in self.directory:
            raise RunConfigError(f"directory.{self.id}", "is the run's own community")
        object.__setattr__(self, "directory", frozen(self.directory))

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "directory": dict(self.directory)}


SenderConfig = SimulatedActor | SenderSut
RepositoryConfig = SimulatedServer | RepositorySut
ReceiverConfig = SimulatedServer | ReceiverSut
PacsConfig = SimulatedPacs | PacsSut


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything a conformance run needs to know before it starts."""

    run: RunSettings
    systems: tuple[SystemUnderTest, ...] = ()
    sender: SenderConfig = field(default_factory=lambda: SimulatedActor(name="sender"))
    repository: RepositoryConfig = field(default_factory=lambda: SimulatedServer(name="repository"))
    receiver: ReceiverConfig = field(default_factory=lambda: SimulatedServer(name="receiver"))
    source_pacs: PacsConfig = field(default_factory=lambda: _simulated_pacs("source_pacs"))
    destination_pacs: PacsConfig = field(
        default_factory=lambda: _simulated_pacs("destination_pacs")
    )
    facilities: Facilities = field(default_factory=Facilities)
    community: Community = field(default_factory=Community)
    budgets: Budgets = field(default_factory=Budgets)
    #: The file the configuration was read from, if any.
    source: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "systems", tuple(self.systems))
        receiver = self.receiver
        second = receiver.second_community if isinstance(receiver, ReceiverSut) else None
        if second is not None and second.id == self.community.id:
            raise RunConfigError(
                "receiver.second_community.id", "is the run's own community: name another"
            )
        for name in ACTOR_NAMES:
            if self.actor(name).name != name:
                raise RunConfigError(name, "holds the configuration of another actor")
        claimed: dict[str, int] = {}
        for index, system in enumerate(self.systems):
            for name in system.actors:
                key = f"sut[{index}].claims.{name}"
                if self.actor(name).mode is not Mode.SUT:
                    raise RunConfigError(
                        key, f'the run simulates this actor: set [{name}] mode = "sut"'
                    )
                if name in claimed:
                    raise RunConfigError(key, f"is claimed by sut[{claimed[name]}] already")
                claimed[name] = index
        for actor in self.suts:
            if actor.name not in claimed:
                raise RunConfigError(
                    f"{actor.name}.mode",
                    'is "sut" but no [[sut]] claims it; the report header names every SUT '
                    "(vendor, product, version, claims)",
                )
        source, destination = self.source_pacs, self.destination_pacs
        one_pacs = (
            isinstance(source, PacsSut)
            and isinstance(destination, PacsSut)
            and source.peer == destination.peer
        )
        if one_pacs:
            raise RunConfigError(
                "destination_pacs",
                "is the source PACS (same AE title, host and port): the run could not tell "
                "what the receiving hospital imported from what the sending hospital held",
            )

    @classmethod
    def default(cls, output_dir: Path | None = None) -> RunConfig:
        """Every actor simulated on free loopback ports, test facilities: zero set-up."""
        return cls(run=RunSettings(output_dir=output_dir or Path.cwd() / DEFAULT_OUTPUT))

    def actor(self, name: str) -> ActorConfig:
        """The configuration of actor ``name`` (one of :data:`ACTOR_NAMES`)."""
        if name not in ACTOR_NAMES:
            raise ValueError(f"unknown actor {name!r}; the actors are {', '.join(ACTOR_NAMES)}")
        actor: ActorConfig = getattr(self, name)
        return actor

    @property
    def actors(self) -> tuple[ActorConfig, ...]:
        return tuple(self.actor(name) for name in ACTOR_NAMES)

    @property
    def suts(self) -> tuple[ActorConfig, ...]:
        """The actors under test, in report order."""
        return tuple(actor for actor in self.actors if actor.mode is Mode.SUT)

    def summary(self) -> dict[str, Any]:
        """The configuration as a report header shows it: no secret, references as references."""
        return {
            "config_version": CONFIG_VERSION,
            "file": None if self.source is None else str(self.source),
            "run": self.run.summary(),
            "systems_under_test": [
                {
                    **system.summary(),
                    "endpoints": {name: self.actor(name).endpoint for name in system.actors},
                }
                for system in self.systems
            ],
            "actors": {actor.name: actor.summary() for actor in self.actors},
            "facilities": self.facilities.summary(),
            "community": self.community.summary(),
            "budgets": self.budgets.summary(),
        }


def _simulated_pacs(name: str) -> SimulatedPacs:
    return SimulatedPacs(name=name, ae_title=DEFAULT_PACS_AE[name])
