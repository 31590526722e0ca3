"""Read a run configuration from TOML (the schema is documented in examples/README.md).

Every table is read by one function here that declares its keys, reads typed values and
hands them to the checked model (:mod:`cloudpdi.config_model`); whatever goes wrong is a
:class:`RunConfigError` naming the file, the key path and the problem.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cloudpdi.config_actors import (
    ACTOR_NAMES,
    ActorConfig,
    ClientTls,
    Mode,
    PacsSut,
    ReceiverSut,
    RepositoryInspection,
    RepositorySut,
    SecondCommunity,
    SenderSut,
    SimulatedActor,
    SimulatedPacs,
    SimulatedServer,
    dicom_peer,
)
from cloudpdi.config_model import (
    CONFIG_VERSION,
    DEFAULT_ISSUER,
    DEFAULT_OUTPUT,
    DEFAULT_PACS_AE,
    DEFAULT_RECIPIENT,
    Budgets,
    Community,
    Facilities,
    FacilityConfig,
    RunConfig,
    RunSettings,
    SystemUnderTest,
    Timeouts,
    TransferBudget,
)
from cloudpdi.config_rules import RunConfigError
from cloudpdi.config_table import Table
from cloudpdi.config_triggers import (
    FolderInbox,
    Hook,
    HttpInbox,
    Operator,
    QrImageInbox,
    TokenInbox,
    Trigger,
)
from cloudpdi.dimse_peer import DicomPeer
from cloudpdi.token_model import Facility, TokenError

T = TypeVar("T")


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and check the run configuration in TOML file ``path``."""
    file = Path(path).expanduser().resolve()
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise RunConfigError("", f"cannot read the file: {reason}", file=file) from None
    except UnicodeDecodeError:
        raise RunConfigError("", "is not UTF-8 text", file=file) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib says where (line, column) and what was expected; it quotes no value.
        raise RunConfigError("", f"is not valid TOML: {exc}", file=file) from None
    root = Table(document, "", file)
    root.expect(
        "version",
        "run",
        "sut",
        *ACTOR_NAMES,
        "facilities",
        "community",
        "budgets",
        what="a run configuration",
    )
    if root.integer("version") not in (None, CONFIG_VERSION):
        raise root.error(
            "version", f"this harness reads run configuration version {CONFIG_VERSION}"
        )
    run = _run(root.table("run"))
    return root.build(
        RunConfig,
        run=run,
        systems=tuple(_system(table) for table in root.tables("sut")),
        **{name: _actor(root.table(name), name, run.timeouts) for name in ACTOR_NAMES},
        facilities=_facilities(root.table("facilities")),
        community=_community(root.table("community")),
        budgets=_budgets(root.table("budgets")),
        source=file,
    )


def _default(value: T | None, default: T) -> T:
    return default if value is None else value


def _present(**values: Any) -> dict[str, Any]:
    """The values that were given, so that the model's defaults stand for the rest."""
    return {name: value for name, value in values.items() if value is not None}


def _run(table: Table) -> RunSettings:
    table.expect("operator", "label", "output", "seed", "timeouts", what="[run]")
    timeouts = table.table("timeouts")
    timeouts.expect("network", "wait", "hook", what="[run.timeouts]")
    return table.build(
        RunSettings,
        output_dir=_default(table.path("output"), table.file.parent / DEFAULT_OUTPUT),
        timeouts=timeouts.build(
            Timeouts,
            **_present(
                network=timeouts.number("network"),
                wait=timeouts.number("wait"),
                hook=timeouts.number("hook"),
            ),
        ),
        **_present(
            operator=table.string("operator"),
            label=table.string("label"),
            seed=table.integer("seed"),
        ),
    )


def _system(table: Table) -> SystemUnderTest:
    table.expect("vendor", "product", "version", "claims", what="a system under test ([[sut]])")
    return table.build(
        SystemUnderTest,
        vendor=table.required("vendor", table.string("vendor")),
        product=table.required("product", table.string("product")),
        version=table.required("version", table.string("version")),
        claims=table.mapping("claims", Table.strings),
    )


def _actor(table: Table, name: str, timeouts: Timeouts) -> ActorConfig:
    mode = Mode(table.choice("mode", tuple(mode.value for mode in Mode), default=Mode.SIMULATED))
    kind = "pacs" if name in DEFAULT_PACS_AE else name
    return _ACTOR_READERS[kind, mode](table, name, timeouts)


def _simulated_sender(table: Table, name: str, timeouts: Timeouts) -> SimulatedActor:
    table.expect("mode", what="a simulated sender")
    return table.build(SimulatedActor, name=name)


def _simulated_server(table: Table, name: str, timeouts: Timeouts) -> SimulatedServer:
    table.expect("mode", "host", "port", what=f"a simulated {name}")
    return table.build(
        SimulatedServer,
        name=name,
        **_present(host=table.string("host"), port=table.integer("port")),
    )


def _simulated_pacs(table: Table, name: str, timeouts: Timeouts) -> SimulatedPacs:
    table.expect("mode", "ae_title", "host", "port", what="a simulated PACS")
    return table.build(
        SimulatedPacs,
        name=name,
        ae_title=_default(table.string("ae_title"), DEFAULT_PACS_AE[name]),
        **_present(host=table.string("host"), port=table.integer("port")),
    )


def _repository_sut(table: Table, name: str, timeouts: Timeouts) -> RepositorySut:
    table.expect("mode", "url", "tls", "inspection", what='a repository under test (mode = "sut")')
    tls = table.table("tls")
    tls.expect("ca_bundle", "client_cert", "client_key", what="[repository.tls]")
    inspection = table.table("inspection")
    inspection.expect("storage", "access_log", "wait_timeout", what="[repository.inspection]")
    return table.build(
        RepositorySut,
        name=name,
        url=table.required("url", table.string("url")),
        tls=tls.build(
            ClientTls,
            ca_bundle=tls.path("ca_bundle"),
            client_cert=tls.path("client_cert"),
            client_key=tls.path("client_key"),
        ),
        inspection=inspection.build(
            RepositoryInspection,
            storage=inspection.path("storage"),
            access_log=inspection.path("access_log"),
            wait_timeout=_default(inspection.number("wait_timeout"), timeouts.wait),
        ),
    )


def _pacs_sut(table: Table, name: str, timeouts: Timeouts) -> PacsSut:
    table.expect("mode", "ae_title", "host", "port", "calling_ae", what="a PACS under test")
    return table.build(
        PacsSut,
        name=name,
        peer=_peer(table),
        **_present(calling_ae=table.string("calling_ae")),
    )


def _sender_sut(table: Table, name: str, timeouts: Timeouts) -> SenderSut:
    table.expect(
        "mode",
        "trigger",
        "token_inbox",
        "wait_timeout",
        "move_destination",
        "slip",
        what='a sender under test (mode = "sut")',
    )
    destination = table.table("move_destination")
    destination.expect("ae_title", "host", "port", what="the sender's C-MOVE destination")
    slip = table.table("slip")
    slip.expect("folder", what="where the sender prints its token slip")
    return table.build(
        SenderSut,
        name=name,
        trigger=_trigger(table, "trigger", timeouts),
        token_inbox=_token_inbox(table),
        wait_timeout=_default(table.number("wait_timeout"), timeouts.wait),
        move_destination=_peer(destination) if table.has("move_destination") else None,
        slip_folder=slip.required("folder", slip.path("folder")) if table.has("slip") else None,
    )


def _receiver_sut(table: Table, name: str, timeouts: Timeouts) -> ReceiverSut:
    table.expect(
        "mode",
        "token_delivery",
        "wait_timeout",
        "receipt",
        "second_community",
        what='a receiver under test (mode = "sut")',
    )
    second = table.table("second_community")
    second.expect("id", "port", what="a community the receiver under test lists besides the run's")
    return table.build(
        ReceiverSut,
        name=name,
        token_delivery=_trigger(table, "token_delivery", timeouts),
        wait_timeout=_default(table.number("wait_timeout"), timeouts.wait),
        **_present(receipt=table.boolean("receipt")),
        second_community=second.build(
            SecondCommunity,
            id=second.required("id", second.string("id")),
            port=second.required("port", second.integer("port")),
        )
        if table.has("second_community")
        else None,
    )


def _peer(table: Table) -> DicomPeer:
    return table.build(
        dicom_peer,
        ae_title=table.required("ae_title", table.string("ae_title")),
        host=table.required("host", table.string("host")),
        port=table.required("port", table.integer("port")),
    )


def _trigger(parent: Table, name: str, timeouts: Timeouts) -> Trigger:
    if not parent.has(name):
        raise parent.error(name, 'is required: a table with kind = "hook" or "operator"')
    table = parent.table(name)
    if table.choice("kind", ("hook", "operator")) == "operator":
        table.expect("kind", "prompt", what="an operator trigger")
        return table.build(Operator, prompt=table.string("prompt"))
    table.expect("kind", "argv", "env", "timeout", what="a hook")
    argv = table.required("argv", table.strings("argv"))
    return table.build(
        Hook,
        argv=_program(table, argv),
        env=table.mapping("env", Table.string),
        timeout=_default(table.number("timeout"), timeouts.hook),
    )


def _program(table: Table, argv: tuple[str, ...]) -> tuple[str, ...]:
    """Resolve a relative program path (``./bin/send``) against the configuration's folder."""
    if not argv or "/" not in argv[0] or Path(argv[0]).is_absolute():
        return argv
    return (str(table.file.parent / argv[0]), *argv[1:])


def _token_inbox(parent: Table) -> TokenInbox:
    if not parent.has("token_inbox"):
        raise parent.error(
            "token_inbox", 'is required: a table with kind = "http", "folder" or "qr_image"'
        )
    table = parent.table("token_inbox")
    kind = table.choice("kind", ("http", "folder", "qr_image"))
    if kind == "http":
        table.expect("kind", "host", "port", what="an HTTP token inbox")
        return table.build(
            HttpInbox, **_present(host=table.string("host"), port=table.integer("port"))
        )
    table.expect("kind", "path", what=f"a {kind} token inbox")
    path = table.required("path", table.path("path"))
    if kind == "folder":
        return table.build(FolderInbox, path=path)
    return table.build(QrImageInbox, path=path)


def _facilities(table: Table) -> Facilities:
    table.expect("issuer", "recipient", what="[facilities]")
    return table.build(
        Facilities,
        issuer=_facility(table.table("issuer"), DEFAULT_ISSUER),
        recipient=_facility(table.table("recipient"), DEFAULT_RECIPIENT),
    )


def _facility(table: Table, default: Facility) -> FacilityConfig:
    table.expect("id", "name", "private_key", "public_key", "bearer_key", what=f"[{table.prefix}]")
    facility = default
    if table.has("id") or table.has("name"):
        # A real facility's ID with the test facility's name would mislead a report.
        identity = table.required("id", table.string("id"))
        name = table.required("name", table.string("name"))
        facility = _identity(table, "id", identity, default.name)
        facility = _identity(table, "name", identity, name)
    return table.build(
        FacilityConfig,
        facility=facility,
        private_key=table.path("private_key"),
        public_key=table.path("public_key"),
        bearer_key=table.secret("bearer_key"),
    )


def _identity(table: Table, key: str, identity: str, name: str) -> Facility:
    """A facility, or the error naming ``key``, the item checked last: its ID, then its name."""
    try:
        return Facility(id=identity, name=name)
    except TokenError as exc:
        raise table.error(key, f"is not usable in a token: {exc}") from None


def _community(table: Table) -> Community:
    table.expect("id", "directory", what="[community]")
    return table.build(
        Community,
        directory=table.mapping("directory", Table.string),
        **_present(id=table.string("id")),
    )


def _budgets(table: Table) -> Budgets:
    table.expect(
        "scenario_timeout",
        "scenario_timeouts",
        "continue_after_timeout",
        "transfer",
        what="[budgets]",
    )
    classes = table.table("transfer")
    return table.build(
        Budgets,
        scenario_timeouts=table.mapping("scenario_timeouts", Table.number),
        transfers=tuple(_transfer(classes.table(name), name) for name in classes.names()),
        **_present(
            scenario_timeout=table.number("scenario_timeout"),
            continue_after_timeout=table.boolean("continue_after_timeout"),
        ),
    )


def _transfer(table: Table, name: str) -> TransferBudget:
    table.expect(
        "max_size_mb", "min_throughput_mb_s", "max_latency_s", what="a transfer size class"
    )
    return table.build(
        TransferBudget,
        name=name,
        **_present(
            max_size_mb=table.number("max_size_mb"),
            min_throughput_mb_s=table.number("min_throughput_mb_s"),
            max_latency_s=table.number("max_latency_s"),
        ),
    )


_ACTOR_READERS: dict[tuple[str, Mode], Callable[[Table, str, Timeouts], ActorConfig]] = {
    ("sender", Mode.SIMULATED): _simulated_sender,
    ("sender", Mode.SUT): _sender_sut,
    ("repository", Mode.SIMULATED): _simulated_server,
    ("repository", Mode.SUT): _repository_sut,
    ("receiver", Mode.SIMULATED): _simulated_server,
    ("receiver", Mode.SUT): _receiver_sut,
    ("pacs", Mode.SIMULATED): _simulated_pacs,
    ("pacs", Mode.SUT): _pacs_sut,
}
