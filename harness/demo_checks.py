"""The checks of ``cloudpdi demo``, graded and reported like conformance cases.

Each check is one thing the demo's exchange proves, tagged with the requirement IDs it proves
and the actor and option it grades (features/README.md); :func:`run_result` turns them, with
the evidence of the steps they rest on and the run's figures, into the :class:`reports.RunResult`
that :func:`reports.write_reports` renders.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pydicom

from cloudpdi import REFERENCE_BINDING, __version__
from cloudpdi.config import RunConfig
from cloudpdi.pdi_findings import Finding, Rule
from cloudpdi.token import Token, to_compact, to_json
from features.catalog import load_catalog
from fixtures.studies import DEFAULT_PATIENT, DemoStudies
from harness.conformance import flatten
from harness.lab import Comparison
from reports import (
    Evidence,
    PerformanceFigure,
    RunResult,
    Status,
    StepResult,
    TestInstance,
)
from simulators.receiver import ReceiveResult
from simulators.sender import SendResult
from steps.evidence import EvidenceLog

#: Version of the demo's checks, part of the suite version its reports name.
CHECKS_VERSION = 1
#: The demo's steps, as the reports name them.
LOAD = "source PACS: load a synthetic referral study"
SEND = "sender: retrieve, build PDI, encrypt, upload, issue token"
RECEIVE = "receiver: scan the slip's QR code, download, verify, import"
COMPARE = "compare the destination PACS with the source PACS"
#: The file set rules the validator checks on a received folder (the ZIP rule needs a ZIP).
FOLDER_RULES = tuple(rule.value for rule in Rule if rule is not Rule.MEDIA_ZIP_01)
SENDING = "sending hospital"
RECEIVING = "receiving hospital"


@dataclass(frozen=True)
class Check:
    """One thing the demo proves, graded like a conformance case of ``actor`` and ``option``.

    ``steps`` are the demo steps whose evidence shows it; ``failure`` says what went wrong
    (empty when the check passed).
    """

    slug: str
    name: str
    actor: str
    option: str
    requirements: tuple[str, ...]
    steps: tuple[str, ...]
    failure: str


def token_needles(token: Token) -> dict[str, bytes]:
    """The token's forms and the secret's spellings, named, to search what the repository saw."""
    secret = token.secret.reveal()
    return {
        "the token's compact text": to_compact(token).encode(),
        "the token's JSON": to_json(token).encode(),
        "the secret": secret,
        "the secret in hex": secret.hex().encode(),
        "the secret in base64": base64.b64encode(secret),
        "the secret in base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
    }


def demo_checks(
    studies: DemoStudies,
    sent: SendResult,
    received: ReceiveResult,
    compared: Comparison,
    originals_kept: bool,
    *,
    token_seen_by_repository: Sequence[str],
    local_patient_id: str,
) -> list[Check]:
    """Judge what the run did: one check per requirement group the demo can prove."""
    channels = [d.channel for d in sent.deliveries]
    stored = len(received.imported)
    flagged = sorted(i.sop_instance_uid for i in received.support_images)
    support = pydicom.dcmread(studies.support_image, stop_before_pixels=True)
    support_uid = str(support.SOPInstanceUID)
    kinds = sorted(d.kind for d in received.documents)
    reconciled = [(r.original_id, r.local_id) for r in received.reconciliations]
    errors = received.validation.to_dict()["counts"]["ERROR"]
    # Each: slug, name, actor, option, requirements proved, steps whose evidence shows it, failure.
    return [
        Check(
            "upload",
            "The sending hospital uploads the encrypted study under its document ID",
            "sender",
            "core",
            ("CPDI-REPO-01",),
            (SEND, RECEIVE),
            _unless(
                sent.upload.bytes_sent == sent.ciphertext_size == received.download_bytes,
                f"uploaded {sent.upload.bytes_sent} bytes of {sent.ciphertext_size}; "
                f"{received.download_bytes} downloaded under the document ID",
            ),
        ),
        Check(
            "token-route",
            "The token reaches the receiving hospital by its own route, sealed",
            "sender",
            "core",
            ("CPDI-TOK-03",),
            (SEND,),
            _unless(
                bool(channels)
                and all(d.ok for d in sent.deliveries)
                and any(d.form == "sealed" for d in sent.deliveries)
                and not token_seen_by_repository,
                f"token deliveries: {', '.join(channels) or 'none'}; the repository saw: "
                f"{', '.join(token_seen_by_repository) or 'nothing of the token'}",
            ),
        ),
        Check(
            "token-slip",
            "The receiving hospital reads the token from the slip's QR code",
            "receiver",
            "token-slip",
            ("CPDI-TOK-05",),
            (RECEIVE,),
            _unless(received.token_id == sent.token_id, "the QR code held another token"),
        ),
        Check(
            "import",
            "The receiving hospital downloads, decrypts and imports the whole study",
            "receiver",
            "core",
            ("CPDI-RCV-01",),
            (RECEIVE,),
            _unless(
                received.ok and stored == sent.instances,
                f"outcome {received.outcome}: {stored} of {sent.instances} instances imported",
            ),
        ),
        Check(
            "identical",
            "Every instance arrives in the receiving PACS unaltered",
            "receiver",
            "core",
            ("CPDI-INT-01",),
            (RECEIVE, COMPARE),
            _unless(
                compared.ok,
                f"{len(compared.missing)} missing, {len(compared.changed)} changed",
            ),
        ),
        Check(
            "reconcile",
            "The patient is reconciled to the local ID and the original ID kept",
            "receiver",
            "core",
            ("CPDI-RCV-02", "PDI-IMP-01"),
            (RECEIVE, COMPARE),
            _unless(
                reconciled == [(DEFAULT_PATIENT.patient_id, local_patient_id)] and originals_kept,
                f"{len(reconciled)} reconciliations; original ID kept: {originals_kept}",
            ),
        ),
        Check(
            "file-set",
            "The sending hospital's file set is a valid IHE PDI file set",
            "sender",
            "core",
            ("CPDI-CONT-01", *FOLDER_RULES),
            (RECEIVE,),
            _unless(received.validation.ok, f"the PDI validator found {errors} errors"),
        ),
        Check(
            "support-image",
            "The AI support image is flagged apart from the originals",
            "receiver",
            "support-images",
            ("CPDI-SUPP-01",),
            (RECEIVE,),
            _unless(flagged == [support_uid], f"{len(flagged)} instances flagged, expected 1"),
        ),
        Check(
            "documents",
            "The referral letter and the FHIR document arrive",
            "receiver",
            "non-image-content",
            ("CPDI-CONT-02",),
            (RECEIVE,),
            _unless(kinds == ["fhir", "pdf"], f"documents received: {', '.join(kinds) or 'none'}"),
        ),
    ]


def _unless(passed: bool, failure: str) -> str:
    """The failure message of a check, or nothing when it passed."""
    return "" if passed else failure


def run_result(
    run_id: str,
    started: datetime,
    checks: list[Check],
    times: Mapping[str, tuple[datetime, datetime]],
    log: EvidenceLog,
    sent: SendResult,
    received: ReceiveResult,
    header: dict[str, str],
) -> RunResult:
    """The run as the connectathon reports show it: every check with its evidence and figures."""
    config = RunConfig.default()
    evidence, findings = log.close()
    tests = tuple(_test_instance(check, times, evidence, findings) for check in checks)
    return RunResult(
        run_id=run_id,
        started=started,
        finished=datetime.now(UTC),
        operator=config.run.operator or "cloudpdi demo (unattended)",
        harness_version=__version__,
        binding=REFERENCE_BINDING,
        suite_version=f"{__version__}+demo.{CHECKS_VERSION}",
        configuration={**flatten(config.summary()), **header},
        tests=tests,
        performance=_figures(sent, received),
        requirements=load_catalog().requirements,
    )


def _test_instance(
    check: Check,
    times: Mapping[str, tuple[datetime, datetime]],
    evidence: tuple[Evidence, ...],
    findings: tuple[Finding, ...],
) -> TestInstance:
    """A check as a test instance: the steps it rests on, its verdict, and their evidence."""
    status = Status.FAILED if check.failure else Status.PASSED
    steps = [
        StepResult(step, Status.PASSED, (times[step][1] - times[step][0]).total_seconds())
        for step in check.steps
    ]
    verdict = f"Then {check.name[0].lower()}{check.name[1:]}"
    steps.append(StepResult(verdict, status, message=check.failure))
    return TestInstance(
        id=f"demo/{check.slug}",
        name=check.name,
        feature="cloudpdi demo",
        actor=check.actor,
        option=check.option,
        status=status,
        tags=(
            *(f"@{requirement}" for requirement in check.requirements),
            f"@actor:{check.actor}",
            f"@option:{check.option}",
            "@required",
        ),
        requirements=check.requirements,
        steps=tuple(steps),
        evidence=tuple(item for item in evidence if item.detail.get("step") in check.steps),
        # Only the validator makes findings, and they judge the file set.
        findings=findings if check.slug == "file-set" else (),
        started=times[check.steps[0]][0],
        finished=times[check.steps[-1]][1],
    )


def _figures(sent: SendResult, received: ReceiveResult) -> tuple[PerformanceFigure, ...]:
    """Transfer throughput over loopback and the time each step of both hospitals took."""
    figures = []
    moved = (
        ("upload throughput", sent.ciphertext_size, sent.timings.get("upload", 0.0)),
        ("download throughput", received.download_bytes, received.timings.get("download", 0.0)),
    )
    for name, size, seconds in moved:
        if seconds > 0:
            context = f"{size / 1e6:.2f} MB of ciphertext over loopback"
            figures.append(PerformanceFigure(name, size / 1e6 / seconds, "MB/s", context))
    for who, timings in ((SENDING, sent.timings), (RECEIVING, received.timings)):
        figures.extend(PerformanceFigure(f"{who}: {step}", s, "s") for step, s in timings.items())
    return tuple(figures)
