"""The parts under the step definitions: names, needles, searches, evidence and blame."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudpdi.secret import Secret
from features.spec import parse_feature
from reports import EvidenceKind, NotRunCause, Status
from reports.redact import secret_spellings
from simulators.repository import Recorder
from simulators.repository.spy import scan
from steps.evidence import UNKNOWN_CALLER, EvidenceLog
from steps.record import NOT_REACHED, ScenarioRecord, blame
from steps.referral import person_name
from steps.searching import MIN_NEEDLE, long_enough, secret_needles, zip_places


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("山田 太郎", "=山田^太郎"),
        ("髙橋 はなこ", "=髙橋^はなこ"),
        ("YAMADA TARO", "YAMADA^TARO"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ﾔﾏﾀﾞ^ﾀﾛｳ"),
    ],
)
def test_a_written_name_goes_to_its_component_group(written: str, value: str) -> None:
    assert person_name(written) == value


@settings(max_examples=50)
@given(st.binary(min_size=16, max_size=64))
def test_the_secret_is_searched_in_every_spelling_a_report_redacts(raw: bytes) -> None:
    needles = secret_needles(Secret(raw))
    assert set(secret_spellings(Secret(raw))) <= set(needles.values())
    assert raw.hex().upper().encode() in needles.values()
    assert all(len(needle) >= MIN_NEEDLE for needle in needles.values())


def test_short_and_repeated_needles_are_left_out() -> None:
    kept = long_enough({"short": b"12345", "long": b"123456", "same again": b"123456"})
    assert kept == {"long": b"123456"}


def test_a_deflated_zip_is_searched_inside(tmp_path: Path) -> None:
    needle = {"the name": "山田^太郎".encode()}
    archive = tmp_path / "fileset.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("DICOM/IM000001", b"\0" * 4096 + needle["the name"] + b"\0" * 4096)
    # Raw bytes do not show the name, the entry does.
    assert scan([archive.read_bytes()], needle) == set()
    assert zip_places(archive, "stored file X", needle) == [
        "stored file X, ZIP entry DICOM/IM000001: the name"
    ]
    noise = tmp_path / "ciphertext"
    noise.write_bytes(os.urandom(4096))
    assert zip_places(noise, "stored file Y", needle) == []


def test_evidence_names_the_caller_and_shows_no_secret_or_key() -> None:
    secret, key = os.urandom(32), "uploader-key-" + os.urandom(8).hex()
    recorder = Recorder()
    log = EvidenceLog()
    log.add_secret(secret)
    log.add_secret(key)
    log.watch_repository(recorder, {key: "sending hospital"})
    log.begin_step("When the sending hospital sends the study")
    capture = recorder.start()
    capture.feed(b"ciphertext")
    recorder.record(
        "GET",
        f"/documents/D1?key={secret.hex()}",
        [("Authorization", f"Bearer {key}")],
        capture,
        200,
    )
    recorder.record("GET", "/documents/D1", [], recorder.start(), 404)
    log.record(EvidenceKind.TOKEN_HANDOFF, actor="a -> b", summary=f"handed {secret.hex()}")
    evidence, findings = log.close()
    assert findings == ()
    text = repr(evidence)
    assert secret.hex() not in text and key not in text
    http = [item for item in evidence if item.kind is EvidenceKind.HTTP]
    assert [item.actor for item in http] == [
        "sending hospital -> repository",
        f"{UNKNOWN_CALLER} -> repository",
    ]
    assert http[0].sizes == {"request body": len(b"ciphertext")}
    assert http[0].detail["step"] == "When the sending hospital sends the study"


def test_a_failed_check_is_the_systems_fault_anything_else_the_harness() -> None:
    assert blame(AssertionError("the repository holds the secret")) is Status.FAILED
    with pytest.raises(pytest.fail.Exception) as failed:
        pytest.fail("a check failed")
    assert blame(failed.value) is Status.FAILED
    assert blame(OSError("disk full")) is Status.ERROR
    assert blame(KeyError("token")) is Status.ERROR


CASE = parse_feature(
    """Feature: F
  @actor:sender @CPDI-ENC-01 @option:core @required
  Scenario: S
    Given a thing
    When it happens
    Then it holds
""",
    "cross/f.feature",
)[0].cases()[0]


def _report(
    outcome: Literal["passed", "failed", "skipped"],
    when: Literal["setup", "call", "teardown"] = "call",
    longrepr: tuple[str, int, str] | None = None,
) -> pytest.TestReport:
    return pytest.TestReport(
        "f", ("f", 0, "f"), {}, outcome, longrepr, when, start=1.0e9, stop=1.0e9 + 2
    )


def test_a_failed_check_fails_the_case_and_the_steps_after_it_are_not_reached() -> None:
    record = ScenarioRecord(CASE, "F")
    record.step_started(0)
    record.step_passed()
    record.step_started(1)
    record.step_failed(AssertionError("the repository holds the secret"))
    record.phase_ended(_report("failed"), AssertionError("the repository holds the secret"))
    test = record.test_instance()
    assert test.status is Status.FAILED and test.reason == ""
    assert [s.status for s in test.steps] == [Status.PASSED, Status.FAILED, Status.NOT_RUN]
    assert test.steps[1].message == "the repository holds the secret"
    assert test.steps[2].message == NOT_REACHED
    assert test.requirements == ("CPDI-ENC-01",) and test.actor == "sender"


def test_a_harness_exception_is_an_error_with_its_reason() -> None:
    record = ScenarioRecord(CASE, "F")
    record.step_started(0)
    record.step_failed(OSError("disk full"))
    record.phase_ended(_report("failed"), OSError("disk full"))
    test = record.test_instance()
    assert test.status is Status.ERROR and "OSError: disk full" in test.reason
    assert test.steps[0].status is Status.ERROR


def test_a_skipped_step_makes_the_case_not_run_for_a_precondition() -> None:
    record = ScenarioRecord(CASE, "F")
    record.step_started(0)
    record.phase_ended(_report("skipped", longrepr=("f", 3, "Skipped: no README")), None)
    test = record.test_instance()
    assert (test.status, test.not_run_cause, test.reason) == (
        Status.NOT_RUN,
        NotRunCause.PRECONDITION,
        "no README",
    )
    assert test.steps[0].message == "no README"


def test_a_teardown_failure_turns_a_pass_into_an_error() -> None:
    record = ScenarioRecord(CASE, "F")
    record.phase_ended(_report("passed"), None)
    record.phase_ended(_report("failed", "teardown"), RuntimeError("PACS did not stop"))
    test = record.test_instance()
    assert test.status is Status.ERROR and "stop the scenario's actors" in test.reason
