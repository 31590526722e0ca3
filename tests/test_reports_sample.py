"""A sample run that takes every status, not-run cause and grade path; the report tests share it.

The tests here prove the sample really covers what the renderer tests rely on, so that a change
to the sample cannot quietly leave a grade or status untested.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cloudpdi.pdi_findings import Finding, Severity
from features.catalog import load_catalog
from reports.grading import Grade, results_matrix
from reports.model import (
    Claim,
    Evidence,
    EvidenceKind,
    MonitorOverride,
    NotRunCause,
    PerformanceFigure,
    RunResult,
    Series,
    Status,
    StepResult,
    SystemUnderTest,
    TestInstance,
)

JST = timezone(timedelta(hours=9))
START = datetime(2025, 5, 12, 9, 30, tzinfo=JST)
XSS = "<script>alert('sut')</script>"
#: A secret the sample's evidence was captured with; no rendered report may contain it.
SAMPLE_SECRET = bytes(range(100, 132))
JAPANESE = "受信者はトークンのQRコードを読み取る"
#: The grade each actor and option of the sample must get.
EXPECTED_GRADES = {
    ("sender", ""): Grade.FAIL,
    ("sender", "QR slip"): Grade.PASS,
    ("repository", ""): Grade.DID_NOT_COMPLETE,
    ("repository", "Expiry"): Grade.NO_PEER,
    ("receiver", ""): Grade.PASS,
    ("receiver", "Reconciliation"): Grade.WITHDRAWN,
    ("receiver", "Print slip"): Grade.OPTION_NOT_GRADED,
}


def _at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def _test(test_id: str, actor: str, option: str, status: Status, **kwargs: object) -> TestInstance:
    minute = len(test_id) + sum(map(ord, test_id)) % 50
    defaults: dict[str, object] = {
        "name": f"Scenario {test_id}",
        "feature": f"{actor} conformance",
        "tags": (f"@{actor}",),
        "started": _at(minute),
        "finished": _at(minute + 0.5),
    }
    return TestInstance(
        id=test_id, actor=actor, option=option, status=status, **(defaults | kwargs)
    )  # type: ignore[arg-type]


def _upload_evidence() -> Evidence:
    return Evidence.capture(
        EvidenceKind.HTTP,
        actor="sender -> repository",
        summary=f"PUT /documents/d-1?key={SAMPLE_SECRET.hex()} -> 201",
        secrets=[SAMPLE_SECRET],
        sizes={"request": 2048, "response": 0},
        digests={"sha-256": "ab" * 32},
        detail={"headers": [["Authorization", "Bearer abc.def"], ["Content-Length", "2048"]]},
        time=_at(1),
    )


def sample_tests() -> tuple[TestInstance, ...]:
    """Scenarios for each grade path of :data:`EXPECTED_GRADES`."""
    failed_step = StepResult(
        "Then the repository holds only ciphertext",
        Status.FAILED,
        0.25,
        "plaintext DICM preamble found\x07 at offset 128",
    )
    return (
        _test(
            "S-01",
            "sender",
            "",
            Status.PASSED,
            requirements=("CPDI-KEY-01",),
            steps=(
                StepResult("Given a study in the PACS", Status.PASSED, 0.1),
                StepResult("When the sender uploads it", Status.PASSED, 1.5),
            ),
            evidence=(_upload_evidence(),),
        ),
        _test(
            "S-02",
            "sender",
            "",
            Status.FAILED,
            requirements=("CPDI-ENC-01", "CPDI-XYZ-99"),
            steps=(
                StepResult("Given a study in the PACS", Status.PASSED, 0.1),
                failed_step,
                StepResult("And the token is valid", Status.NOT_RUN),
            ),
            findings=(Finding("PDI-DIR-01", Severity.ERROR, "DICOMDIR", f"bad {XSS}"),),
        ),
        _test(
            "S-03",
            "sender",
            "",
            Status.FAILED,
            required=False,
            steps=(StepResult("Then an optional nicety holds", Status.FAILED, 0.0, "no"),),
        ),
        _test("S-10", "sender", "QR slip", Status.PASSED, requirements=("CPDI-TOK-05",)),
        _test(
            "S-11",
            "sender",
            "QR slip",
            Status.FAILED,
            requirements=("CPDI-TOK-05",),
            steps=(
                StepResult(
                    "Then the slip QR decodes to the token",
                    Status.FAILED,
                    0.3,
                    "zbarimg read nothing",
                ),
            ),
            override=MonitorOverride(
                Status.PASSED,
                "QR read fine on the monitor's phone; the test printer was smudged",
                "M. Tanaka 田中",
                _at(90),
            ),
        ),
        _test("R-01", "repository", "", Status.PASSED, requirements=("CPDI-ENC-01",)),
        _test("R-02", "repository", "", Status.ERROR, reason="simulated sender crashed: OSError"),
        _test(
            "R-03",
            "repository",
            "",
            Status.NOT_RUN,
            reason="depends on R-02",
            not_run_cause=NotRunCause.PRECONDITION,
            started=None,
            finished=None,
        ),
        _test(
            "R-10",
            "repository",
            "Expiry",
            Status.NOT_RUN,
            requirements=("CPDI-RET-01",),
            reason="no clock-controlled peer available",
            not_run_cause=NotRunCause.NO_PEER,
            started=None,
            finished=None,
        ),
        _test(
            "V-01",
            "receiver",
            "",
            Status.PASSED,
            name=JAPANESE,
            requirements=("CPDI-RCV-01",),
            tags=("@receiver", "@日本語"),
        ),
        _test(
            "V-10",
            "receiver",
            "Reconciliation",
            Status.NOT_RUN,
            requirements=("CPDI-RCV-02",),
            reason="vendor withdrew the option",
            not_run_cause=NotRunCause.OPERATOR,
            started=None,
            finished=None,
        ),
        _test("V-20", "receiver", "Print slip", Status.PASSED, required=False),
    )


def sample_run(**changes: object) -> RunResult:
    """A complete run: SUTs (one with a hostile name), every grade, figures, the real catalog."""
    fields: dict[str, object] = {
        "run_id": "run-2025-05-12-001",
        "started": START,
        "finished": _at(120),
        "operator": "佐藤 (Connectathon monitor)",
        "harness_version": "0.1.0",
        "binding": "cpdi-ref/1",
        "suite_version": "0.1.0",
        "suts": (
            SystemUnderTest(
                "Acme Medical",
                f"{XSS}Sender",
                "1.0",
                "hook: ./send.sh",
                (Claim("sender"), Claim("sender", "QR slip")),
            ),
            SystemUnderTest(
                "Cloud Store Inc.",
                "Vault",
                "3.2",
                "https://repo.example/",
                (Claim("repository"), Claim("repository", "Expiry")),
            ),
            SystemUnderTest(
                "富士山メディカル",
                "クラウドPDI受信",
                "2.1",
                "https://rx.example/inbox",
                (
                    Claim("receiver"),
                    Claim("receiver", "Reconciliation", True),
                    Claim("receiver", "Print slip"),
                ),
            ),
        ),
        "configuration": {"sender": "sut (hook)", "repository": "sut", "receiver": "sut"},
        "tests": sample_tests(),
        "performance": (
            PerformanceFigure(
                "upload throughput",
                412.5,
                "MiB/s",
                "2 GiB study, loopback",
                Series("elapsed s", ((0, 0), (1, 380), (2, 430), (3, 412.5))),
            ),
            PerformanceFigure("token to import latency", 8.2, "s", "CT 300 images"),
        ),
        "requirements": load_catalog().requirements,
    }
    return RunResult(**(fields | changes))  # type: ignore[arg-type]


def test_sample_takes_every_grade_path() -> None:
    grades = {(row.actor, row.option): row.grade for row in results_matrix(sample_run())}
    assert grades == EXPECTED_GRADES
    assert set(grades.values()) == set(Grade)


def test_sample_takes_every_status_and_cause() -> None:
    tests = sample_tests()
    assert {t.status for t in tests} == set(Status)
    assert {t.not_run_cause for t in tests} - {None} == set(NotRunCause)
    assert any(t.override for t in tests)
    assert any(not t.required for t in tests)
