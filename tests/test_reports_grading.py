"""Grading, requirement coverage and exit codes of a run, and the rules of the results model."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from reports.coverage import Verdict, requirement_coverage
from reports.grading import (
    EXIT_FAILED,
    EXIT_HARNESS_ERROR,
    EXIT_PASSED,
    ROLL_UP_RULES,
    Grade,
    Tally,
    exit_code,
    grade,
    results_matrix,
)
from reports.model import MonitorOverride, NotRunCause, ResultsError, RunResult, Status
from tests.test_reports_sample import EXPECTED_GRADES, START, _test, sample_run

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def _only(*tests: object) -> RunResult:
    return sample_run(tests=tests, suts=())


def _row_grade(result: RunResult, actor: str, option: str = "") -> Grade:
    (row,) = [r for r in results_matrix(result) if (r.actor, r.option) == (actor, option)]
    return row.grade


@pytest.mark.parametrize(
    ("tally", "expected"),
    [
        (Tally(required=2, passed=2), Grade.PASS),
        (Tally(required=2, passed=1, failed=1), Grade.FAIL),
        (Tally(required=2, failed=1, error=1), Grade.FAIL),
        (Tally(required=2, passed=1, error=1), Grade.DID_NOT_COMPLETE),
        (Tally(required=2, passed=1, not_run=1), Grade.DID_NOT_COMPLETE),
        (Tally(required=3, passed=1, not_run=2, no_peer=1), Grade.DID_NOT_COMPLETE),
        (Tally(required=2, passed=1, not_run=1, no_peer=1), Grade.NO_PEER),
        (Tally(required=0, optional=3), Grade.OPTION_NOT_GRADED),
        (Tally(required=2, failed=2, withdrawn=True), Grade.WITHDRAWN),
    ],
)
def test_roll_up_rules_grade_each_tally(tally: Tally, expected: Grade) -> None:
    assert grade(tally) is expected


def test_every_grade_has_exactly_one_rule_with_words_naming_it() -> None:
    assert [rule.grade for rule in ROLL_UP_RULES].count(Grade.PASS) == 1
    assert {rule.grade for rule in ROLL_UP_RULES} == set(Grade)
    for rule in ROLL_UP_RULES:
        assert rule.words.startswith(f"{rule.grade.value}: ")


def test_the_sample_run_gets_the_expected_matrix() -> None:
    matrix = results_matrix(sample_run())
    assert {(r.actor, r.option): r.grade for r in matrix} == EXPECTED_GRADES
    assert [r.actor for r in matrix][:2] == ["sender", "sender"]
    assert [r.actor for r in matrix][-1] == "receiver"
    sender = next(r for r in matrix if (r.actor, r.option) == ("sender", ""))
    assert sender.claimed_by == ("Acme Medical <script>alert('sut')</script>Sender",)
    assert (sender.tally.required, sender.tally.passed, sender.tally.failed) == (2, 1, 1)
    assert sender.tally.optional == 1


def test_a_monitor_override_feeds_the_grade_and_keeps_the_automatic_status() -> None:
    failed = _test("X-1", "sender", "", Status.FAILED)
    result = _only(failed)
    assert _row_grade(result, "sender") is Grade.FAIL
    override = MonitorOverride(Status.PASSED, "re-checked by hand", "monitor", START)
    overridden = result.with_override("X-1", override)
    assert _row_grade(overridden, "sender") is Grade.PASS
    assert overridden.test("X-1").status is Status.FAILED
    assert overridden.test("X-1").effective_status is Status.PASSED
    assert results_matrix(overridden)[0].tally.overridden == 1
    # The override can also take a pass away.
    assert (
        _row_grade(
            _only(
                _test(
                    "X-2",
                    "sender",
                    "",
                    Status.PASSED,
                    override=replace(override, status=Status.FAILED),
                )
            ),
            "sender",
        )
        is Grade.FAIL
    )


def test_an_override_needs_a_comment_and_a_monitor() -> None:
    with pytest.raises(ResultsError):
        MonitorOverride(Status.PASSED, " ", "monitor", START)
    with pytest.raises(ResultsError):
        MonitorOverride(Status.PASSED, "fine", "", START)
    with pytest.raises(KeyError):
        sample_run().with_override("NO-SUCH-TEST", MonitorOverride(Status.PASSED, "c", "m", START))


def test_optional_failures_do_not_change_a_grade() -> None:
    result = _only(
        _test("X-1", "sender", "", Status.PASSED),
        _test("X-2", "sender", "", Status.FAILED, required=False),
    )
    assert _row_grade(result, "sender") is Grade.PASS
    assert exit_code(result) == EXIT_PASSED


def test_a_claimed_option_without_scenarios_is_not_graded() -> None:
    result = sample_run(tests=())
    grades = {(r.actor, r.option): r.grade for r in results_matrix(result)}
    assert set(grades.values()) == {Grade.OPTION_NOT_GRADED, Grade.WITHDRAWN}


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((Status.PASSED, Status.PASSED), EXIT_PASSED),
        ((Status.PASSED, Status.FAILED), EXIT_FAILED),
        ((Status.PASSED, Status.NOT_RUN), EXIT_FAILED),
        ((Status.FAILED, Status.ERROR), EXIT_HARNESS_ERROR),
    ],
)
def test_exit_code(statuses: tuple[Status, ...], expected: int) -> None:
    tests = []
    for index, status in enumerate(statuses):
        extra: dict[str, object] = {}
        if status in (Status.NOT_RUN, Status.ERROR):
            extra["reason"] = "why"
        if status is Status.NOT_RUN:
            extra["not_run_cause"] = NotRunCause.NO_PEER
        tests.append(_test(f"X-{index}", "receiver", "", status, **extra))
    assert exit_code(_only(*tests)) == expected


def test_an_error_in_an_optional_scenario_is_still_a_harness_failure() -> None:
    result = _only(
        _test("X-1", "sender", "", Status.PASSED),
        _test("X-2", "sender", "", Status.ERROR, required=False, reason="fixture crashed"),
    )
    assert exit_code(result) == EXIT_HARNESS_ERROR


def test_coverage_rolls_up_scenarios_per_requirement() -> None:
    rows = {row.requirement: row for row in requirement_coverage(sample_run())}
    assert rows["CPDI-ENC-01"].verdict is Verdict.FAILED
    assert [s.test_id for s in rows["CPDI-ENC-01"].scenarios] == ["S-02", "R-01"]
    assert rows["CPDI-KEY-01"].verdict is Verdict.PASSED
    # S-11 failed, but its monitor's override counts.
    assert rows["CPDI-TOK-05"].verdict is Verdict.PASSED
    assert rows["CPDI-RET-01"].verdict is Verdict.NOT_RUN
    assert rows["CPDI-ID-01"].verdict is Verdict.NOT_TESTED
    assert rows["CPDI-ENC-01"].certainty is not None
    assert rows["CPDI-ENC-01"].certainty.value == "SECONDARY"
    unchecked = [r for r in rows.values() if not r.machine_checkable]
    assert unchecked
    assert all(r.verdict is Verdict.NOT_CHECKABLE and r.reason for r in unchecked)
    # A requirement ID missing from the catalog shows, last, instead of vanishing.
    assert list(rows)[-1] == "CPDI-XYZ-99"
    assert rows["CPDI-XYZ-99"].certainty is None


def test_coverage_of_an_error_scenario() -> None:
    result = _only(
        _test("X-1", "sender", "", Status.ERROR, reason="crash", requirements=("CPDI-ID-01",))
    )
    row = next(r for r in requirement_coverage(result) if r.requirement == "CPDI-ID-01")
    assert row.verdict is Verdict.ERROR


@pytest.mark.parametrize(
    "changes",
    [
        {"status": Status.NOT_RUN, "not_run_cause": NotRunCause.NO_PEER},
        {"status": Status.ERROR},
        {"status": Status.NOT_RUN, "reason": "why"},
        {"status": Status.PASSED, "not_run_cause": NotRunCause.OPERATOR},
        {"status": Status.PASSED, "test_id": " "},
        {"status": Status.PASSED, "finished": START.replace(year=2000)},
    ],
)
def test_test_instances_refuse_inconsistent_statuses(changes: dict[str, object]) -> None:
    status = changes.pop("status")
    test_id = changes.pop("test_id", "X-1")
    with pytest.raises(ResultsError):
        _test(test_id, "sender", "", status, **changes)  # type: ignore[arg-type]


def test_a_run_refuses_duplicate_test_ids() -> None:
    with pytest.raises(ResultsError, match="twice"):
        _only(
            _test("X-1", "sender", "", Status.PASSED), _test("X-1", "receiver", "", Status.PASSED)
        )


def test_reports_import_neither_simulators_nor_harness() -> None:
    forbidden = ("simulators", "harness", "steps")
    for module in REPORTS.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{module.name} imports {name}"
