"""``cloudpdi demo``: one complete Cloud-PDI exchange on synthetic data, with a JSON report.

The sender side generates a study, packs and encrypts it and issues the token in all its forms;
the receiver side reads the token as typed from the slip, verifies, decrypts, unpacks and
validates, and the demo checks that every file arrived byte for byte. The report never holds
the secret.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudpdi import REFERENCE_BINDING, __version__
from cloudpdi.package import pack, unpack
from cloudpdi.slip import write_qr, write_slip
from cloudpdi.token import Facility, from_compact, to_compact
from fixtures.studies import generate_demo_studies
from harness.commands import (
    DEFAULT_COMMUNITY,
    DEFAULT_INSTITUTION,
    DEFAULT_ISSUER,
    DEFAULT_REPOSITORY,
    UsageError,
    token_summary,
    write_token_file,
)

REPORT_VERSION = 1
#: Marks a folder as the demo's own, so a re-run may clear it and nothing else.
_MARKER = ".cloudpdi-demo"
_RECEIVER = Facility(id="1310000002", name="cloudpdi receiving hospital")


class DemoError(UsageError):
    """The demo cannot run in the folder it was given."""


class _Run:
    """Steps of one demo run, timed, with what each produced."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a step; the block fills the yielded dict with what the report should show."""
        print(f"- {name} ...", flush=True)
        detail: dict[str, Any] = {}
        started = time.perf_counter()
        yield detail
        seconds = round(time.perf_counter() - started, 3)
        self.steps.append({"name": name, "seconds": seconds, **detail})
        print(f"  done in {seconds:.1f} s", flush=True)


def run_demo(out: Path, *, ct: int, mr: int, seed: int) -> int:
    """Run the exchange under ``out``; print a summary; return 0 if everything arrived intact."""
    work = _fresh_work_folder(out)
    started = datetime.now(UTC)
    run = _Run()
    package, token_file = work / "package.cpdi", work / "token.json"

    with run.step("sender: generate a synthetic study") as generated:
        studies = generate_demo_studies(
            work / "source", seed=seed, ct_instances=ct, mr_instances=mr
        )
        generated["dicom_files"] = len(studies.dicom_files)

    with run.step("sender: build PDI file set, encrypt, issue token") as sent:
        packed = pack(
            studies.dicom_files,
            package,
            community_id=DEFAULT_COMMUNITY,
            repository=DEFAULT_REPOSITORY,
            issuer=DEFAULT_ISSUER,
            institution=DEFAULT_INSTITUTION,
            documents=[studies.referral_pdf, studies.fhir_document],
            recipient=_RECEIVER,
            description="CT/MR referral with letter",
        )
        write_token_file(packed.token, token_file)
        write_qr(packed.token, work / "token-qr.png")
        write_slip(packed.token, work / "token-slip.pdf")
        sent.update(
            instances=packed.build.instances,
            documents=packed.build.documents,
            ciphertext_bytes=packed.ciphertext_size,
            token=token_summary(packed.token),
        )

    with run.step("receiver: read token, verify, decrypt, unpack, validate") as received:
        typed = from_compact(to_compact(packed.token))  # as keyed in from the slip
        unpacked = unpack(package, typed, work / "received", recipient_id=_RECEIVER.id)
        received.update(files=unpacked.files, validation=unpacked.validation.to_dict())

    with run.step("compare what arrived with what was sent") as compared:
        sent_files = [*studies.dicom_files, studies.referral_pdf, studies.fhir_document]
        missing = _digests(sent_files) - _digests(_files(work / "received"))
        compared.update(files_compared=len(sent_files), files_missing_or_changed=len(missing))

    ok = unpacked.validation.ok and not missing
    report = {
        "report_version": REPORT_VERSION,
        "kind": "cloudpdi-demo",
        "run_id": str(uuid.uuid4()),
        "started": started.isoformat(timespec="seconds"),
        "harness_version": __version__,
        "binding": REFERENCE_BINDING,
        "verdict": "PASSED" if ok else "FAILED",
        "steps": run.steps,
        "artifacts": {
            "package": str(package),
            "token_json": str(token_file),
            "token_qr": str(work / "token-qr.png"),
            "token_slip": str(work / "token-slip.pdf"),
            "received": str(work / "received"),
        },
    }
    report_path = out / "report.json"
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    _print_summary(report, sent, received, compared)
    print(f"report: {report_path.resolve()}")
    return 0 if ok else 1


def _fresh_work_folder(out: Path) -> Path:
    """Return an empty work folder below ``out``, clearing only a previous demo's own folder."""
    work = out / "work"
    if work.exists():
        if not (work / _MARKER).exists():
            raise DemoError(f"{work} exists and was not made by the demo; choose another --out")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / _MARKER).touch()
    return work


def _files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


def _digests(paths: Iterable[Path]) -> set[str]:
    digests = set()
    for path in paths:
        with open(path, "rb") as f:
            digests.add(hashlib.file_digest(f, "sha256").hexdigest())
    return digests


def _print_summary(
    report: dict[str, Any], sent: dict[str, Any], received: dict[str, Any], compared: dict[str, Any]
) -> None:
    counts = received["validation"]["counts"]
    print()
    print(f"Cloud-PDI demo ({report['binding']}): {report['verdict']}")
    print(
        f"  sent      {sent['instances']} instances + {sent['documents']} documents, "
        f"{sent['ciphertext_bytes'] / 1e6:.1f} MB of ciphertext"
    )
    print(
        f"  received  {received['files']} files; validation: "
        f"{counts['ERROR']} errors, {counts['WARNING']} warnings"
    )
    print(
        f"  compared  {compared['files_compared']} files, "
        f"{compared['files_missing_or_changed']} missing or changed"
    )
