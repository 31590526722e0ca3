"""``cloudpdi demo``: one complete Cloud-PDI exchange between simulated hospitals, with a report.

A source PACS holds a synthetic referral (CT + MR with a Japanese patient name, an AI support
image, the referral letter as PDF and FHIR document). The sender retrieves it, packs and
encrypts it, uploads the ciphertext to the repository and issues the token; the receiver reads
the token from the printed slip's QR code, downloads, verifies, decrypts, validates, reconciles
the patient to a local ID and imports into the destination PACS. The demo then compares both
PACS instance by instance.

It writes ``report.json`` (verdict and steps) and the connectathon reports of
:func:`reports.write_reports` (``results.json``, ``report.html``, ``junit.xml``): each check of
the demo is a test instance tagged with the requirements it proves, with the repository's
requests, both PACS' events and the token hand-offs as evidence. No report holds the secret.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudpdi import REFERENCE_BINDING, __version__
from fixtures.studies import DEFAULT_PATIENT, generate_demo_studies
from harness.commands import UsageError, read_token_file
from harness.demo_checks import (
    COMPARE,
    LOAD,
    RECEIVE,
    RECEIVING,
    SEND,
    SENDING,
    demo_checks,
    run_result,
    token_needles,
)
from harness.lab import Lab, compare_pacs, original_patient_ids
from harness.progress import progress_bar
from reports import EvidenceKind, write_reports
from simulators.receiver import receive
from simulators.repository import Recorder, find_in_requests
from simulators.sender import SendResult, send
from steps.evidence import EvidenceLog

REPORT_VERSION = 2
#: Marks a folder as the demo's own, so a re-run may clear it and nothing else.
_MARKER = ".cloudpdi-demo"
#: The receiving hospital's own ID for the demo patient.
LOCAL_PATIENT_ID = "L0001234"


class DemoError(UsageError):
    """The demo cannot run in the folder it was given."""


class _Run:
    """Steps of one demo run, timed, with what each produced and the evidence of each."""

    def __init__(self, evidence: EvidenceLog) -> None:
        self.steps: list[dict[str, Any]] = []
        self.times: dict[str, tuple[datetime, datetime]] = {}
        self.evidence = evidence

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        """Time a step; the block fills the yielded dict with what the report should show."""
        print(f"- {name} ...", flush=True)
        self.evidence.begin_step(name)
        detail: dict[str, Any] = {}
        began = datetime.now(UTC)
        started = time.perf_counter()
        yield detail
        seconds = round(time.perf_counter() - started, 3)
        # Requests answered in this step's last instant are collected now, not with the next.
        self.evidence.collect()
        self.times[name] = (began, datetime.now(UTC))
        self.steps.append({"name": name, "seconds": seconds, **detail})
        print(f"  done in {seconds:.1f} s", flush=True)


def run_demo(out: Path, *, ct: int, mr: int, seed: int) -> int:
    """Run the exchange under ``out``; print a summary; return 0 if everything arrived intact."""
    work = _fresh_work_folder(out)
    started = datetime.now(UTC)
    run = _Run(EvidenceLog())
    mapping = {DEFAULT_PATIENT.patient_id: LOCAL_PATIENT_ID}
    with Lab(work, patient_mapping=mapping, recorder=Recorder()) as lab:
        _watch(run.evidence, lab)
        with run.step(LOAD) as loaded:
            studies = generate_demo_studies(
                work / "study", seed=seed, ct_instances=ct, mr_instances=mr
            )
            lab.source.import_files(studies.dicom_files)
            loaded.update(instances=len(lab.source.instances()), pacs=str(lab.source.peer))

        with run.step(SEND) as sent:
            sender = lab.sender_config(
                documents=[studies.referral_pdf, studies.fhir_document],
                description="CT/MR referral with letter",
            )
            result = send(sender, studies.study.study_uid, progress=progress_bar)
            token = read_token_file(Path(result.token_files.json))
            run.evidence.add_secret(token.secret)
            _log_deliveries(run.evidence, result)
            sent.update(result.to_dict())

        with run.step(RECEIVE) as received:
            qr_image = Path(result.token_files.qr)
            _log_qr_scan(run.evidence, qr_image)
            with progress_bar("receiving") as bar:
                outcome = receive(
                    lab.receiver_config(), qr_image, progress=lambda _s, d, t: bar(d, t)
                )
            run.evidence.add_validation(outcome.validation, RECEIVING, "the received file set")
            received.update(outcome.summary())

        with run.step(COMPARE) as compared:
            comparison = compare_pacs(lab.source, lab.destination)
            kept = _originals_kept(lab, DEFAULT_PATIENT.patient_id)
            compared.update(comparison.to_dict(), original_patient_id_kept=kept)
        assert lab.recorder is not None
        token_seen = find_in_requests(lab.recorder, token_needles(token))

    checks = demo_checks(
        studies,
        result,
        outcome,
        comparison,
        kept,
        token_seen_by_repository=token_seen,
        local_patient_id=LOCAL_PATIENT_ID,
    )
    # One verdict for both reports: every check passed, the exchange's own outcome among them.
    verdict = "FAILED" if any(check.failure for check in checks) else "PASSED"
    run_id = str(uuid.uuid4())
    report = {
        "report_version": REPORT_VERSION,
        "kind": "cloudpdi-demo",
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "harness_version": __version__,
        "binding": REFERENCE_BINDING,
        "verdict": verdict,
        "steps": run.steps,
    }
    report_path = out / "report.json"
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    header = {"run.output_dir": str(out), "run.seed": str(seed)}
    header |= {"demo.ct_instances": str(ct), "demo.mr_instances": str(mr)}
    full = run_result(run_id, started, checks, run.times, run.evidence, result, outcome, header)
    files = write_reports(full, out)
    _print_summary(verdict, result.to_dict(), outcome.summary(), comparison.to_dict())
    print(f"full report: {files.html.resolve()} (results.json, junit.xml beside it)")
    # Last, as scripts read it: the summary report's path.
    print(f"report: {report_path.resolve()}")
    return 0 if verdict == "PASSED" else 1


def _watch(evidence: EvidenceLog, lab: Lab) -> None:
    """Record the repository's requests and both PACS' events, the facilities' keys redacted."""
    evidence.add_secret(lab.uploader_key)
    evidence.add_secret(lab.recipient_key)
    if lab.recorder is not None:
        callers = {lab.uploader_key: SENDING, lab.recipient_key: RECEIVING}
        evidence.watch_repository(lab.recorder, callers)
    evidence.watch_pacs(lab.source, "the sending hospital's PACS")
    evidence.watch_pacs(lab.destination, "the receiving PACS")


def _log_deliveries(evidence: EvidenceLog, sent: SendResult) -> None:
    for delivery in sent.deliveries:
        evidence.record(
            EvidenceKind.TOKEN_HANDOFF,
            actor=f"{SENDING} -> {RECEIVING}",
            summary=f"token {sent.token_id}, {delivery.form} form, by {delivery.channel}: "
            + ("done" if delivery.ok else "failed"),
            detail={"channel detail": delivery.detail},
        )


def _log_qr_scan(evidence: EvidenceLog, qr_image: Path) -> None:
    content = qr_image.read_bytes()
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=f"patient -> {RECEIVING}",
        summary="the token slip's QR code is scanned",
        sizes={"QR image": len(content)},
        digests={"sha-256": hashlib.sha256(content).hexdigest()},
    )


def _originals_kept(lab: Lab, original_id: str) -> bool:
    """Tell whether every imported instance keeps the sender's Patient ID as an other ID."""
    records = lab.destination.instances()
    return bool(records) and all(
        original_id in original_patient_ids(lab.destination.path_of(r.sop_instance_uid))
        for r in records
    )


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


def _print_summary(
    verdict: str, sent: dict[str, Any], received: dict[str, Any], compared: dict[str, Any]
) -> None:
    counts = received["counts"]
    validation = received["validation"]["counts"]
    print()
    print(f"Cloud-PDI demo ({REFERENCE_BINDING}): {verdict}")
    print(
        f"  sent      {sent['instances']} instances + {sent['documents']} documents, "
        f"{sent['ciphertext_size'] / 1e6:.1f} MB of ciphertext; token delivered to "
        f"{', '.join(d['channel'] for d in sent['deliveries'])}"
    )
    print(
        f"  received  {received['outcome']}: {counts['stored']} instances stored, "
        f"{counts['documents']} documents, {counts['support_images']} AI support images flagged; "
        f"validation {validation['ERROR']} errors, {validation['WARNING']} warnings"
    )
    for item in received["reconciliation"]:
        print(
            f"  patient   {item['original_id']} reconciled to local {item['local_id']} "
            f"({item['method']}); the original kept as Other Patient ID"
        )
    print(
        f"  compared  {compared['matched']} instances identical, "
        f"{len(compared['missing'])} missing, {len(compared['changed'])} changed"
    )
