"""``cloudpdi send`` and ``cloudpdi receive``: the two ends of an exchange, against real endpoints.

Keys are read from files or the environment, never from the command line (``ps`` shows it).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import timedelta
from pathlib import Path

from cloudpdi.config_model import DEFAULT_COMMUNITY, DEFAULT_ISSUER
from cloudpdi.container import Institution
from cloudpdi.errors import CloudPDIError
from cloudpdi.files import write_private
from cloudpdi.pseudonym import MIN_KEY_BYTES
from cloudpdi.receipt import RECEIPT_ENV
from cloudpdi.token import Facility
from harness.actors import (
    add_fault_option,
    add_receiver_options,
    fault_option,
    peer_argument,
    read_keys,
    receiver_config,
)
from harness.commands import (
    DEFAULT_INSTITUTION,
    DEFAULT_REPOSITORY,
    UsageError,
    print_json,
    recipient_facility,
)
from harness.progress import progress_bar
from simulators.delivery import Channel, FolderDelivery, HookDelivery, HttpInboxDelivery
from simulators.receiver import receive
from simulators.receiver_receipt import receipt_of, refusal_receipt
from simulators.receiver_report import ReceiveResult
from simulators.sender import SenderConfig, send

#: Environment variable that may hold the uploader's bearer key instead of a key file.
UPLOADER_KEY_ENV = "CLOUDPDI_UPLOADER_KEY"


def add_send_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``send [STUDY_UID]`` to the command line."""
    send_ = sub.add_parser(
        "send", help="retrieve a study from a PACS, pack, encrypt, upload and deliver its token"
    )
    send_.add_argument(
        "study_uid",
        metavar="STUDY_UID",
        nargs="?",
        help="the study to send; without it, the --document files travel alone",
    )
    send_.add_argument("--source", required=True, type=peer_argument, metavar="AE@HOST:PORT")
    send_.add_argument("--repository", default=DEFAULT_REPOSITORY, metavar="URL")
    send_.add_argument(
        "--uploader-key-file",
        type=Path,
        help=f"the facility's bearer key: a file holding the key, or the repository's keys.toml;"
        f" default: ${UPLOADER_KEY_ENV}",
    )
    send_.add_argument("--calling-ae", default="CPDI_SENDER")
    send_.add_argument("--retrieve", choices=("get", "move"), default="get")
    send_.add_argument("--move-destination", type=peer_argument, metavar="AE@HOST:PORT")
    send_.add_argument("--community", default=DEFAULT_COMMUNITY, metavar="ID")
    send_.add_argument("--issuer-id", default=DEFAULT_ISSUER.id)
    send_.add_argument("--issuer-name", default=DEFAULT_ISSUER.name)
    send_.add_argument("--institution", default=DEFAULT_INSTITUTION.name)
    send_.add_argument("--contact", default=DEFAULT_INSTITUTION.contact)
    send_.add_argument("--recipient-id")
    send_.add_argument("--recipient-name", help="its name (default: the ID)")
    send_.add_argument(
        "--restrict-download",
        action="store_true",
        help="let only the recipient facility download (it then needs its key at the repository);"
        " by default the token alone is enough",
    )
    send_.add_argument(
        "--max-downloads",
        type=int,
        metavar="N",
        help="let the repository serve the document at most N times (default: no limit)",
    )
    send_.add_argument("--issuer-key", type=Path, metavar="PEM", help="signs sealed tokens")
    send_.add_argument("--recipient-key", type=Path, metavar="PUB.PEM", help="seals the token")
    send_.add_argument("--document", action="append", default=[], type=Path, metavar="FILE")
    send_.add_argument(
        "--web-content",
        action="store_true",
        help="add a browser view of the images to the file set (INDEX.HTM, IHE_PDI/)",
    )
    send_.add_argument(
        "--pseudonym-key-file",
        type=Path,
        metavar="FILE",
        help="refer to the patient by a pseudonym keyed with this file's bytes (at least "
        f"{MIN_KEY_BYTES}); the token then names no patient",
    )
    send_.add_argument(
        "--slip-folder",
        type=Path,
        metavar="DIR",
        help="also print the token slip to file in DIR (<token_id>-slip.pdf)",
    )
    send_.add_argument("--description", default="")
    send_.add_argument("--lifetime-days", type=float, default=14.0)
    send_.add_argument("--deliver-folder", action="append", default=[], type=Path)
    send_.add_argument("--deliver-inbox", action="append", default=[], metavar="URL")
    send_.add_argument("--deliver-hook", action="append", default=[], metavar="COMMAND")
    send_.add_argument("--hook-timeout", type=float, default=60.0)
    send_.add_argument("--work-dir", type=Path, default=Path("cloudpdi-send"))
    send_.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_fault_option(send_, "sender")
    send_.set_defaults(handler=run_send)


def run_send(args: argparse.Namespace) -> int:
    issuer = Facility(id=args.issuer_id, name=args.issuer_name)
    channels: list[Channel] = [FolderDelivery(path) for path in args.deliver_folder]
    channels += [HttpInboxDelivery(url) for url in args.deliver_inbox]
    channels += [
        HookDelivery(shlex.split(command), timeout=args.hook_timeout)
        for command in args.deliver_hook
    ]
    config = SenderConfig(
        source_pacs=args.source,
        repository_url=args.repository,
        uploader_key=uploader_key(args.uploader_key_file, issuer.id),
        community_id=args.community,
        issuer=issuer,
        institution=Institution(name=args.institution, contact=args.contact),
        work_dir=args.work_dir,
        calling_ae=args.calling_ae,
        retrieve=args.retrieve,
        move_destination=args.move_destination,
        recipient=recipient_facility(args),
        restrict_to_recipient=args.restrict_download,
        max_downloads=args.max_downloads,
        issuer_key_path=args.issuer_key,
        recipient_public_key_path=args.recipient_key,
        delivery=channels,
        documents=args.document,
        description=args.description,
        web_content=args.web_content,
        pseudonym_key=None if args.pseudonym_key_file is None else pseudonym_key(args),
        lifetime=timedelta(days=args.lifetime_days),
        faults=fault_option(args, "sender"),
    )
    result = send(config, args.study_uid, progress=progress_bar)
    if args.slip_folder is not None:
        slip = result.token_files.slip
        write_private(args.slip_folder / slip.name, slip.read_bytes())
    summary = result.to_dict()
    if args.json:
        print_json(summary)
    else:
        print(
            f"sent study {result.study_uid}: {result.instances} instances, "
            f"{result.documents} documents, {result.ciphertext_size} bytes of ciphertext as "
            f"document {result.document_id}; token {result.token_id} expires "
            f"{result.expires_at.isoformat()}"
        )
        for outcome in summary["deliveries"]:
            state = "delivered" if outcome["ok"] else "NOT delivered"
            print(f"  {state} by {outcome['channel']} ({outcome['form']}): {outcome['detail']}")
        print(f"  token files in {Path(summary['token_files']['json']).parent}")
    return 0


def add_receive_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``receive TOKEN`` to the command line."""
    receive_ = sub.add_parser(
        "receive", help="read a token, download, verify, decrypt, validate and import"
    )
    receive_.add_argument(
        "token",
        metavar="TOKEN",
        help="a token file (JSON, compact text, sealed), a QR or slip image, or - for stdin",
    )
    add_receiver_options(receive_)
    receive_.add_argument("--json", action="store_true", help="print the report as JSON")
    receive_.add_argument(
        "--receipt",
        type=Path,
        metavar="PATH",
        help=f"write the receipt (what the user is told, also of a refusal) to PATH; "
        f"default: the path in {RECEIPT_ENV}, if set",
    )
    receive_.set_defaults(handler=run_receive)


def run_receive(args: argparse.Namespace) -> int:
    config = receiver_config(args)
    source: str | Path = sys.stdin.read() if args.token == "-" else Path(args.token)  # noqa: S105
    if isinstance(source, Path) and not source.exists():
        raise UsageError(f"no such token file: {source}")
    # A harness names the receipt's path in the environment of the receiver it drives.
    receipt: Path | None = args.receipt or (
        Path(os.environ[RECEIPT_ENV]) if os.environ.get(RECEIPT_ENV) else None
    )
    try:
        with progress_bar("receiving") as bar:
            result = receive(config, source, progress=lambda _stage, done, total: bar(done, total))
    except CloudPDIError as exc:
        if receipt is not None:
            refusal_receipt(exc, token_id=None).write(receipt)
        raise
    if receipt is not None:
        receipt_of(result).write(receipt)
    if args.json:
        print(result.to_json(), end="")
    else:
        print_receive_summary(result)
    return 0 if result.ok else 1


def print_receive_summary(result: ReceiveResult) -> None:
    """Print what a receive imported, refused and flagged, for the operator at the receiver."""
    where = result.destination or f"the folder {result.file_set}"
    print(
        f"{result.outcome}: {len(result.imported)} of {len(result.instances)} instances "
        f"imported into {where}"
    )
    for instance in result.not_imported:
        print(f"  not imported: {instance.path} ({instance.status}): {instance.reason}")
    if result.support_images:
        print(
            f"  {len(result.support_images)} AI support or derived images: "
            "not originals, not for diagnosis"
        )
    for document in result.documents:
        print(f"  document: {document.path} ({document.kind}, {document.size} bytes)")
    for item in result.reconciliations:
        print(f"  patient {item.original_id} reconciled to local {item.local_id} ({item.method})")
    validation = result.validation
    print(f"  validation: {len(validation.errors)} errors, {len(validation.warnings)} warnings")
    print(f"  originals kept in {result.file_set}")
    if result.report_path is not None:
        print(f"report: {result.report_path}")


def pseudonym_key(args: argparse.Namespace) -> bytes:
    """Read the facility's pseudonymisation key: the file's bytes, as they are."""
    path: Path = args.pseudonym_key_file
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read key file {path}: {exc.__class__.__name__}") from None
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(f"pseudonymisation key file {path} holds fewer than {MIN_KEY_BYTES} bytes")
    return key


def uploader_key(path: Path | None, facility_id: str) -> str:
    """Read the uploader's bearer key: a key file, a repository keys.toml, or the environment."""
    if path is None:
        key = os.environ.get(UPLOADER_KEY_ENV, "")
        if not key:
            raise UsageError(f"give --uploader-key-file or set ${UPLOADER_KEY_ENV}")
        return key
    if path.suffix == ".toml":
        uploaders, _ = read_keys(path)
        if facility_id not in uploaders:
            raise UsageError(f"{path} has no uploader key for facility {facility_id}")
        return uploaders[facility_id]
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read key file {path}: {exc.__class__.__name__}") from None
    if not key:
        raise UsageError(f"key file {path} is empty")
    return key
