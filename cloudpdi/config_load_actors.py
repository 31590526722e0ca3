"""Read the table of each actor of a run configuration: simulated, or a system under test.

Part of :mod:`cloudpdi.config_load`: one reader per actor and mode declares its keys and hands
typed values to :mod:`cloudpdi.config_actors`; a SUT's trigger and token inbox are read into
:mod:`cloudpdi.config_triggers`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cloudpdi.config_actors import (
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
from cloudpdi.config_model import DEFAULT_PACS_AE, Timeouts
from cloudpdi.config_table import Table, default_to, given
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


def load_actor(table: Table, name: str, timeouts: Timeouts) -> ActorConfig:
    """Read the table of actor ``name``: simulated (the default) or under test."""
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
        **given(host=table.string("host"), port=table.integer("port")),
    )


def _simulated_pacs(table: Table, name: str, timeouts: Timeouts) -> SimulatedPacs:
    table.expect("mode", "ae_title", "host", "port", what="a simulated PACS")
    return table.build(
        SimulatedPacs,
        name=name,
        ae_title=default_to(table.string("ae_title"), DEFAULT_PACS_AE[name]),
        **given(host=table.string("host"), port=table.integer("port")),
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
            wait_timeout=default_to(inspection.number("wait_timeout"), timeouts.wait),
        ),
    )


def _pacs_sut(table: Table, name: str, timeouts: Timeouts) -> PacsSut:
    table.expect("mode", "ae_title", "host", "port", "calling_ae", what="a PACS under test")
    return table.build(
        PacsSut,
        name=name,
        peer=_peer(table),
        **given(calling_ae=table.string("calling_ae")),
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
        wait_timeout=default_to(table.number("wait_timeout"), timeouts.wait),
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
        wait_timeout=default_to(table.number("wait_timeout"), timeouts.wait),
        **given(receipt=table.boolean("receipt")),
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
        timeout=default_to(table.number("timeout"), timeouts.hook),
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
            HttpInbox, **given(host=table.string("host"), port=table.integer("port"))
        )
    table.expect("kind", "path", what=f"a {kind} token inbox")
    path = table.required("path", table.path("path"))
    if kind == "folder":
        return table.build(FolderInbox, path=path)
    return table.build(QrImageInbox, path=path)


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
