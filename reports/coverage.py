"""Requirement coverage: for each requirement, the scenarios that prove it and how they ended.

Rows follow the run's snapshot of the requirement catalog; a requirement ID cited by a scenario
but missing from the catalog gets a row of its own, so that a typo shows instead of vanishing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from features.catalog import Status as Certainty
from reports.model import RunResult, Status

_UNKNOWN_TEXT = "(not in the requirement catalog)"


class Verdict(StrEnum):
    """How a requirement fared in the run, rolled up from its scenarios' effective statuses."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    ERROR = "ERROR"
    NOT_RUN = "NOT_RUN"
    NOT_TESTED = "NOT_TESTED"
    NOT_CHECKABLE = "NOT_CHECKABLE"


@dataclass(frozen=True)
class ScenarioOutcome:
    """A scenario citing a requirement, with its effective status."""

    test_id: str
    name: str
    status: Status


@dataclass(frozen=True)
class CoverageRow:
    """One requirement: its text, certainty (None when not in the catalog) and scenarios."""

    requirement: str
    text: str
    certainty: Certainty | None
    machine_checkable: bool
    reason: str
    scenarios: tuple[ScenarioOutcome, ...]
    verdict: Verdict


def requirement_coverage(result: RunResult) -> tuple[CoverageRow, ...]:
    """Return a coverage row per catalog requirement, then per unknown cited requirement."""
    cited: dict[str, list[ScenarioOutcome]] = {}
    for test in result.tests:
        for requirement in test.requirements:
            outcome = ScenarioOutcome(test.id, test.name, test.effective_status)
            cited.setdefault(requirement, []).append(outcome)
    rows = [
        _row(r.id, r.text, r.status, r.machine_checkable, r.reason, cited.pop(r.id, []))
        for r in result.requirements
    ]
    rows += [_row(rid, _UNKNOWN_TEXT, None, True, "", cited[rid]) for rid in sorted(cited)]
    return tuple(rows)


def _row(
    requirement: str,
    text: str,
    certainty: Certainty | None,
    checkable: bool,
    reason: str,
    scenarios: list[ScenarioOutcome],
) -> CoverageRow:
    return CoverageRow(
        requirement,
        text,
        certainty,
        checkable,
        reason,
        tuple(scenarios),
        _verdict(scenarios, checkable),
    )


def _verdict(scenarios: list[ScenarioOutcome], checkable: bool) -> Verdict:
    statuses = {s.status for s in scenarios}
    if not statuses:
        return Verdict.NOT_TESTED if checkable else Verdict.NOT_CHECKABLE
    for status in (Status.FAILED, Status.ERROR, Status.NOT_RUN):
        if status in statuses:
            return Verdict(status.value)
    return Verdict.PASSED
