"""``cloudpdi serve ...``: run one simulated actor as its own process, addressed by endpoint.

Credentials never go on the command line (other users see it in ``ps``): the repository reads
its keys from a TOML file, and writes a fresh one, readable only by its owner, when none is given.
``--fault NAME`` makes the actor misbehave on purpose (:mod:`simulators.faults`), to show that
a conformance run fails on it; nothing else can switch a fault on.
"""

from __future__ import annotations

import argparse
import secrets
import tomllib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from cloudpdi.config_model import DEFAULT_ISSUER
from cloudpdi.dimse import DicomPeer
from cloudpdi.files import write_private
from harness.commands import UsageError
from simulators.faults import Actor, Fault, FaultError, faults_for, faults_of
from simulators.pacs import PacsConfig, serve_pacs
from simulators.receiver import ReceiverConfig, ReceiverConfigError, load_receiver_config
from simulators.receiver_inbox import serve_receiver
from simulators.repository import RepositoryConfig, TlsConfig, serve_repository
from simulators.repository.config import DEFAULT_PURGE_INTERVAL

KEYS_FILE_NAME = "keys.toml"


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``serve pacs|repository`` to the command line."""
    serve = sub.add_parser("serve", help="run a simulated actor until interrupted")
    actors = serve.add_subparsers(dest="actor", required=True, metavar="ACTOR")

    pacs = actors.add_parser("pacs", help="a DICOM PACS (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET)")
    pacs.add_argument("--storage", required=True, type=Path, help="folder for instances and index")
    pacs.add_argument("--ae-title", default="CPDI_PACS")
    pacs.add_argument("--host", default="127.0.0.1")
    pacs.add_argument("--port", type=int, default=11112, help="0 picks a free port")
    pacs.add_argument(
        "--destination",
        action="append",
        default=[],
        metavar="AE=HOST:PORT",
        help="a C-MOVE destination (repeatable)",
    )
    pacs.add_argument("--load", nargs="*", type=Path, default=[], help="DICOM files to preload")
    pacs.set_defaults(handler=run_pacs)

    repo = actors.add_parser("repository", help="the reference Cloud-PDI repository (HTTP)")
    repo.add_argument("--data", required=True, type=Path, help="folder for documents and records")
    repo.add_argument("--host", default="127.0.0.1")
    repo.add_argument("--port", type=int, default=8600, help="0 picks a free port")
    repo.add_argument(
        "--keys",
        type=Path,
        help="TOML file: [uploaders] facility = key, and admin_key; default: "
        f"DATA/{KEYS_FILE_NAME}, created with fresh keys if missing",
    )
    repo.add_argument("--retention-days", type=float, default=14.0)
    repo.add_argument(
        "--purge-interval",
        type=float,
        default=DEFAULT_PURGE_INTERVAL,
        metavar="SECONDS",
        help="seconds between purges of expired documents' bytes; 0: no periodic purge",
    )
    repo.add_argument(
        "--access-log",
        type=Path,
        metavar="PATH",
        help="also append the access log to PATH as JSON Lines, one entry per request "
        "(the format a conformance run reads: examples/README.md)",
    )
    repo.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    repo.add_argument("--tls-key", type=Path)
    repo.add_argument(
        "--client-ca", type=Path, help="accept client certificates (mutual TLS) from this CA"
    )
    repo.add_argument(
        "--client-cert",
        action="append",
        default=[],
        metavar="SHA256=FACILITY",
        help="a facility certificate's SHA-256 fingerprint (hex) and the uploader it names",
    )
    add_fault_option(repo, "repository")
    repo.set_defaults(handler=run_repository)

    receiver = actors.add_parser("receiver", help="a receiver with an HTTP token inbox")
    add_receiver_options(receiver)
    receiver.add_argument("--host", default="127.0.0.1")
    receiver.add_argument("--port", type=int, default=8700, help="0 picks a free port")
    receiver.set_defaults(handler=run_receiver)


def add_receiver_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``receive`` and ``serve receiver``: the config file and its overrides."""
    parser.add_argument("--config", required=True, type=Path, metavar="RECEIVER.toml")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--pacs", type=peer_argument, metavar="AE@HOST:PORT", help="import into this PACS"
    )
    where.add_argument("--no-pacs", action="store_true", help="write the file set to --out only")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder")
    add_fault_option(parser, "receiver")


def add_fault_option(parser: argparse.ArgumentParser, actor: Actor) -> None:
    """Add ``--fault NAME`` (repeatable): a deliberate misbehaviour of ``actor``."""
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help=f"misbehave on purpose, to test a conformance suite (repeatable): "
        f"{', '.join(faults_of(actor))}",
    )


def fault_option(args: argparse.Namespace, actor: Actor) -> frozenset[Fault]:
    """The faults ``--fault`` names, refusing an unknown name or another actor's fault."""
    try:
        return faults_for(actor, args.fault)
    except FaultError as exc:
        raise UsageError(f"--fault: {exc}") from None


def receiver_config(args: argparse.Namespace) -> ReceiverConfig:
    """Load the receiver configuration and apply the command line's overrides."""
    try:
        config = load_receiver_config(args.config)
        changes: dict[str, object] = {}
        if args.pacs is not None or args.no_pacs:
            changes["destination_pacs"] = args.pacs
        if args.out is not None:
            changes["output_dir"] = args.out
        if args.fault:
            changes["faults"] = fault_option(args, "receiver")
        return replace(config, **changes) if changes else config
    except (ReceiverConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def run_pacs(args: argparse.Namespace) -> int:
    try:
        config = PacsConfig(
            storage_dir=args.storage,
            ae_title=args.ae_title,
            host=args.host,
            port=args.port,
            destinations=dict(_destination(text) for text in args.destination),
            load=tuple(args.load),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    serve_pacs(config)
    return 0


def run_repository(args: argparse.Namespace) -> int:
    keys_path = args.keys or args.data / KEYS_FILE_NAME
    if args.keys is None and not keys_path.exists():
        write_fresh_keys(keys_path)
        print(f"uploader and admin keys written to {keys_path}", flush=True)
    uploaders, admin_key = read_keys(keys_path)
    if args.access_log is not None and not args.access_log.parent.is_dir():
        raise UsageError(f"--access-log: {args.access_log.parent} is not a folder")
    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise UsageError("--tls-cert and --tls-key go together")
        # Receivers download by document ID alone, so a client certificate is optional:
        # it authenticates uploaders, as a bearer key does.
        tls = TlsConfig(
            certfile=args.tls_cert,
            keyfile=args.tls_key,
            client_ca=args.client_ca,
            client_certs=dict(_pair(text, "--client-cert") for text in args.client_cert),
        )
    try:
        config = RepositoryConfig(
            data_dir=args.data,
            host=args.host,
            port=args.port,
            uploader_keys=uploaders,
            admin_key=admin_key,
            default_retention=timedelta(days=args.retention_days),
            purge_interval=args.purge_interval,
            access_log=args.access_log,
            tls=tls,
            faults=fault_option(args, "repository"),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    serve_repository(config)
    return 0


def run_receiver(args: argparse.Namespace) -> int:
    serve_receiver(receiver_config(args), host=args.host, port=args.port)
    return 0


def write_fresh_keys(path: Path) -> None:
    """Write random uploader and admin keys to a new TOML file only its owner can read."""
    text = (
        f'admin_key = "{secrets.token_urlsafe(32)}"\n\n'
        f'[uploaders]\n"{DEFAULT_ISSUER.id}" = "{secrets.token_urlsafe(32)}"\n'
    )
    write_private(path, text, overwrite=False)


def read_keys(path: Path) -> tuple[dict[str, str], str | None]:
    """Read ``[uploaders]`` (facility ID -> bearer key) and ``admin_key`` from a TOML file."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read keys file {path}: {exc.__class__.__name__}") from None
    uploaders = document.get("uploaders", {})
    admin_key = document.get("admin_key")
    if not isinstance(uploaders, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in uploaders.items()
    ):
        raise UsageError(f"{path}: [uploaders] maps facility IDs to non-empty key strings")
    if admin_key is not None and not isinstance(admin_key, str):
        raise UsageError(f"{path}: admin_key must be a string")
    return uploaders, admin_key


def _pair(text: str, option: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    if not (name and value):
        raise UsageError(f"{option} takes NAME=VALUE, not {text!r}")
    return name, value


def _destination(text: str) -> tuple[str, tuple[str, int]]:
    title, address = _pair(text, "--destination")
    host, _, port = address.rpartition(":")
    if not (host and port.isdigit()):
        raise UsageError(f"--destination takes AE=HOST:PORT, not {text!r}")
    return title, (host, int(port))


def peer_argument(text: str) -> DicomPeer:
    """Parse ``AE@HOST:PORT`` for argparse."""
    try:
        return DicomPeer.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
