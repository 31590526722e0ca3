"""The ``cloudpdi`` command line.

Exit codes: 0 success, 1 a check failed (validation errors, a bad token, a tampered package),
2 bad usage or unreadable input. Every error is one line on standard error and never carries
the secret.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cloudpdi import __version__
from cloudpdi.config_model import DEFAULT_COMMUNITY, DEFAULT_ISSUER
from cloudpdi.errors import CloudPDIError
from harness import commands
from harness.actors import add_serve_parser
from harness.conformance import add_conformance_parser
from harness.transfer import add_receive_parser, add_send_parser

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except commands.UsageError as exc:
        print(f"cloudpdi: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CloudPDIError as exc:
        print(f"cloudpdi: failed: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except KeyboardInterrupt:
        print("cloudpdi: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """Describe every command; argparse answers bad usage with exit code 2."""
    parser = argparse.ArgumentParser(
        prog="cloudpdi",
        description="Cloud-PDI (HS043) and HI-TOKEN (ISO/TS 22691) test harness.",
    )
    parser.add_argument("--version", action="version", version=f"cloudpdi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run an end-to-end exchange on synthetic data")
    demo.add_argument("--out", type=Path, default=Path("cloudpdi-demo"), help="output folder")
    demo.add_argument("--ct-instances", type=_positive_int, default=60)
    demo.add_argument("--mr-instances", type=_positive_int, default=20)
    demo.add_argument("--seed", type=int, default=2026)
    demo.set_defaults(handler=commands.demo)

    _add_fixtures(sub)
    _add_pdi(sub)
    _add_pack(sub)
    _add_token(sub)
    add_serve_parser(sub)
    add_send_parser(sub)
    add_receive_parser(sub)
    add_conformance_parser(sub)
    _add_report(sub)
    return parser


def _add_fixtures(sub: argparse._SubParsersAction) -> None:
    fixtures = sub.add_parser("fixtures", help="generate synthetic test data")
    kinds = fixtures.add_subparsers(dest="kind", required=True, metavar="KIND")
    study = kinds.add_parser("study", help="write a deterministic synthetic study")
    study.add_argument("--modality", required=True, type=str.upper, choices=commands.MODALITIES)
    study.add_argument("--instances", required=True, type=_positive_int)
    study.add_argument("--out", required=True, type=Path)
    study.add_argument("--seed", type=int, default=0)
    study.add_argument("--patient-name", help="DICOM PN value, e.g. YAMADA^TARO=山田^太郎")
    study.set_defaults(handler=commands.fixtures_study)


def _add_pdi(sub: argparse._SubParsersAction) -> None:
    pdi = sub.add_parser("pdi", help="build or validate an IHE PDI file set")
    actions = pdi.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="lay DICOM files out as a PDI file set")
    build.add_argument("sources", nargs="+", type=Path, metavar="SRC")
    build.add_argument("--out", required=True, type=Path, help="folder, or a .zip file")
    build.add_argument("--documents", nargs="*", type=Path, default=[], metavar="FILE")
    _add_institution(build)
    build.set_defaults(handler=commands.pdi_build)

    validate = actions.add_parser("validate", help="judge a folder or ZIP file set")
    validate.add_argument("path", type=Path, metavar="PATH")
    validate.add_argument("--json", action="store_true", help="print findings as JSON")
    validate.set_defaults(handler=commands.pdi_validate)


def _add_pack(sub: argparse._SubParsersAction) -> None:
    pack = sub.add_parser("pack", help="build and encrypt a file set, and issue its token")
    pack.add_argument("sources", nargs="+", type=Path, metavar="SRC")
    pack.add_argument("--out", required=True, type=Path, help="the encrypted package")
    pack.add_argument("--token-out", required=True, type=Path, metavar="TOKEN.json")
    pack.add_argument("--documents", nargs="*", type=Path, default=[], metavar="FILE")
    pack.add_argument("--community", default=DEFAULT_COMMUNITY, metavar="ID")
    pack.add_argument("--repository", default=commands.DEFAULT_REPOSITORY, metavar="URL")
    pack.add_argument("--expires", type=_aware_datetime, metavar="ISO8601")
    pack.add_argument("--issuer-id", default=DEFAULT_ISSUER.id)
    pack.add_argument("--issuer-name", default=DEFAULT_ISSUER.name)
    pack.add_argument("--recipient-id", help="facility the token is for (optional)")
    pack.add_argument("--recipient-name", help="its name (default: the ID)")
    pack.add_argument("--patient-ref", help="pseudonymised patient reference (optional)")
    pack.add_argument("--description", default="", help="content summary text")
    _add_institution(pack)
    pack.set_defaults(handler=commands.pack)

    unpack = sub.add_parser("unpack", help="verify, decrypt, extract and validate a package")
    unpack.add_argument("package", type=Path, metavar="FILE")
    unpack.add_argument("--token", required=True, type=Path, metavar="TOKEN.json")
    unpack.add_argument("--out", required=True, type=Path, metavar="DIR")
    unpack.add_argument("--recipient-id", help="this facility's ID, if the token names one")
    unpack.set_defaults(handler=commands.unpack)


def _add_token(sub: argparse._SubParsersAction) -> None:
    token = sub.add_parser("token", help="show a token, or render its QR code or print slip")
    token.add_argument("form", choices=("show", "qr", "slip"), metavar="show|qr|slip")
    token.add_argument("token", type=Path, metavar="TOKEN.json")
    token.add_argument("--out", type=Path, help="qr: .png or .svg; slip: .pdf or .png")
    token.set_defaults(handler=commands.token)


def _add_report(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="render a conformance results document")
    actions = report.add_subparsers(dest="action", required=True, metavar="ACTION")
    render = actions.add_parser("render", help="write the HTML and/or JUnit form of RESULTS.json")
    render.add_argument("results", type=Path, metavar="RESULTS.json")
    render.add_argument("--html", type=Path, metavar="OUT.html")
    render.add_argument("--junit", type=Path, metavar="OUT.xml")
    render.set_defaults(handler=commands.report_render)


def _add_institution(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--institution", default=commands.DEFAULT_INSTITUTION.name)
    parser.add_argument("--contact", default=commands.DEFAULT_INSTITUTION.contact)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _aware_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a time zone, e.g. 2026-12-01T09:00:00+09:00")
    return value


if __name__ == "__main__":
    sys.exit(main())
