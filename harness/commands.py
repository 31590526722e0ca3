"""What each ``cloudpdi`` command does; ``harness.cli`` parses arguments and maps errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cloudpdi.container import Institution, build_file_set, collect_dicom_sources
from cloudpdi.dicomdir_records import InventedValue
from cloudpdi.files import write_private
from cloudpdi.package import pack as pack_files
from cloudpdi.package import unpack as unpack_files
from cloudpdi.pdi_rules import ValidationReport, validate_file_set
from cloudpdi.secret import REDACTED
from cloudpdi.slip import write_qr, write_slip
from cloudpdi.token import Facility, Token, from_compact, from_json, to_json
from fixtures.studies import MODALITIES as STUDY_MODALITIES
from fixtures.studies import generate_study
from harness.progress import progress_bar
from reports import render_report

MODALITIES = tuple(sorted(STUDY_MODALITIES))
DEFAULT_REPOSITORY = "http://127.0.0.1:8600/"
DEFAULT_INSTITUTION = Institution(name="cloudpdi test hospital", contact="radiology@example.org")


class UsageError(Exception):
    """The command line names something that is missing or unreadable (exit code 2)."""


def fixtures_study(args: argparse.Namespace) -> int:
    paths = generate_study(
        args.modality, args.instances, args.out, seed=args.seed, patient_name=args.patient_name
    )
    print(f"wrote {len(paths)} {args.modality} instances to {args.out}")
    return 0


def pdi_build(args: argparse.Namespace) -> int:
    sources = collect_dicom_sources(_existing(args.sources))
    documents = _existing(args.documents)
    with progress_bar("building file set") as progress:
        result = build_file_set(
            sources,
            args.out,
            documents=documents,
            institution=_institution(args),
            progress=progress,
        )
    print(
        f"built {args.out}: {result.instances} instances in {result.studies} studies "
        f"({result.series} series), {result.documents} documents"
    )
    print_invented_values(result.notes)
    return 0


def pdi_validate(args: argparse.Namespace) -> int:
    report = validate_file_set(_existing([args.path])[0])
    if args.json:
        print(report.to_json())
    else:
        print_validation(report)
    return 0 if report.ok else 1


def pack(args: argparse.Namespace) -> int:
    sources = collect_dicom_sources(_existing(args.sources))
    with progress_bar("packing") as progress:
        result = pack_files(
            sources,
            args.out,
            community_id=args.community,
            repository=args.repository,
            issuer=Facility(id=args.issuer_id, name=args.issuer_name),
            institution=_institution(args),
            documents=_existing(args.documents),
            expires_at=args.expires,
            recipient=recipient_facility(args),
            patient_ref=args.patient_ref,
            description=args.description,
            progress=progress,
        )
    write_token_file(result.token, args.token_out)
    print(
        f"packed {result.build.instances} instances and {result.build.documents} documents "
        f"into {args.out} ({result.ciphertext_size} bytes, document ID "
        f"{result.token.document_id}); token in {args.token_out}"
    )
    return 0


def unpack(args: argparse.Namespace) -> int:
    token = read_token_file(args.token)
    result = unpack_files(
        _existing([args.package])[0], token, args.out, recipient_id=args.recipient_id
    )
    print(f"unpacked {result.files} files into {result.out}")
    print_validation(result.validation)
    return 0 if result.validation.ok else 1


def token(args: argparse.Namespace) -> int:
    value = read_token_file(args.token)
    if args.form == "show":
        print_json(token_summary(value))
        return 0
    default_suffix = "-qr.png" if args.form == "qr" else "-slip.pdf"
    out = args.out or args.token.with_name(args.token.stem + default_suffix)
    (write_qr if args.form == "qr" else write_slip)(value, out)
    print(f"wrote {out}")
    return 0


def report_render(args: argparse.Namespace) -> int:
    if args.html is None and args.junit is None:
        raise UsageError("give --html OUT.html and/or --junit OUT.xml")
    render_report(_existing([args.results])[0], html=args.html, junit=args.junit)
    for out in (args.html, args.junit):
        if out is not None:
            print(f"wrote {out}")
    return 0


def demo(args: argparse.Namespace) -> int:
    from harness.demo import run_demo

    return run_demo(args.out, ct=args.ct_instances, mr=args.mr_instances, seed=args.seed)


def recipient_facility(args: argparse.Namespace) -> Facility | None:
    """The facility named by --recipient-id and --recipient-name (the ID when no name is known)."""
    if not args.recipient_id:
        return None
    return Facility(id=args.recipient_id, name=args.recipient_name or args.recipient_id)


def read_token_file(path: Path) -> Token:
    """Read a token file in canonical JSON or compact text (detected by its first character)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read token file {path}: {exc.__class__.__name__}") from None
    return from_json(text) if text.startswith("{") else from_compact(text)


def write_token_file(value: Token, path: Path) -> None:
    """Write the token as canonical JSON, readable by the owner only: it holds the secret."""
    write_private(path, to_json(value) + "\n")


def token_summary(value: Token) -> dict[str, object]:
    """The token's items for display, with the secret redacted."""
    items = json.loads(to_json(value))
    items["secret"] = REDACTED
    return items


def print_invented_values(notes: Sequence[InventedValue], shown: int = 5) -> None:
    """Warn that DICOMDIR holds placeholders for keys the instances leave empty."""
    for note in notes[:shown]:
        print(f"warning: {note}", file=sys.stderr)
    if len(notes) > shown:
        print(f"warning: and {len(notes) - shown} more invented values", file=sys.stderr)


def print_validation(report: ValidationReport) -> None:
    """Print findings one per line, then a verdict line."""
    for f in report.findings:
        print(f"{f.severity.upper():7} {f.requirement:16} {f.path}: {f.message}")
    verdict = "PASSED" if report.ok else "FAILED"
    print(
        f"{verdict}: {len(report.errors)} errors, {len(report.warnings)} warnings "
        f"in {report.files_checked} files"
    )


def print_json(document: object) -> None:
    """Print a JSON document on standard output."""
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _institution(args: argparse.Namespace) -> Institution:
    return Institution(name=args.institution, contact=args.contact)


def _existing(paths: list[Path]) -> list[Path]:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    return paths
