"""One scenario as it ran, turned into a :class:`reports.TestInstance`.

Who is to blame decides the status: a failed check (an assertion) is the system under test's
failure (FAILED); any other exception, in a step or in setting the scenario up, is the
harness's own fault (ERROR); a skip says a precondition could not be met (NOT_RUN). Steps after
the one that stopped the scenario are logged as NOT_RUN, so the log always shows the whole
scenario. Every message is redacted with the scenario's secrets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from features.spec import Case
from harness.lab import ActorUnderTest
from reports import NotRunCause, Status, StepResult, TestInstance
from steps.evidence import EvidenceLog

#: Longest failure message kept per step; a longer one is cut with a mark.
MAX_MESSAGE = 2000
#: What the log says of a step that the scenario stopped before.
NOT_REACHED = "not reached: the scenario stopped before this step"


def blame(error: BaseException) -> Status:
    """Return FAILED for a check that failed (an assertion), NOT_RUN for a check that cannot
    look at a system under test, ERROR for anything else."""
    if isinstance(error, ActorUnderTest):
        return Status.NOT_RUN
    failed_check = isinstance(error, AssertionError | pytest.fail.Exception)
    return Status.FAILED if failed_check else Status.ERROR


@dataclass
class _StepRun:
    text: str
    status: Status = Status.NOT_RUN
    duration: float = 0.0
    message: str = ""


class ScenarioRecord:
    """The step log, evidence and outcome of one case while it runs."""

    def __init__(self, case: Case, feature: str) -> None:
        self.case = case
        self.feature = feature
        self.evidence = EvidenceLog()
        self.started: datetime | None = None
        self.finished: datetime | None = None
        self._steps = [_StepRun(f"{step.type} {step.text}") for step in case.steps]
        self._current: int | None = None
        self._clock = 0.0
        self._status = Status.PASSED
        self._reason = ""
        self._cause: NotRunCause | None = None

    def step_started(self, index: int) -> None:
        """Start the clock of the case's step number ``index`` (counted from 0)."""
        self._current = index
        self.evidence.begin_step(self._steps[index].text)
        self._clock = time.perf_counter()

    def step_passed(self) -> None:
        """End the running step as passed; collect the evidence it caused."""
        self._end_step(Status.PASSED, "")

    def step_failed(self, error: BaseException) -> None:
        """End the running step with ``error``; collect the evidence it caused."""
        self._end_step(blame(error), _message(error))

    def _end_step(self, status: Status, message: str) -> None:
        if self._current is None:
            return
        step = self._steps[self._current]
        step.status = status
        step.duration = time.perf_counter() - self._clock
        step.message = self.evidence.redact(message)
        self.evidence.collect()
        self._current = None

    def phase_ended(self, report: pytest.TestReport, error: BaseException | None) -> None:
        """Take the outcome of one phase (setup, call or teardown) of the test."""
        moment = datetime.fromtimestamp(report.start, UTC)
        self.started = self.started or moment
        self.finished = datetime.fromtimestamp(report.stop, UTC)
        if report.skipped and self._status is Status.PASSED:
            self._status, self._cause = Status.NOT_RUN, NotRunCause.PRECONDITION
            self._reason = self.evidence.redact(_skip_reason(report))
            # pytest-bdd reports no error for a skip: the step that skipped is still open.
            self._end_step(Status.NOT_RUN, self._reason)
        elif report.failed and self._status in (Status.PASSED, Status.FAILED):
            status = blame(error) if error is not None and report.when == "call" else Status.ERROR
            if status is Status.ERROR:
                what = _PHASES[report.when]
                detail = _message(error) if error is not None else report.longreprtext
                self._reason = self.evidence.redact(f"{what}: {detail}")[:MAX_MESSAGE]
            elif error is not None and all(step.status is Status.PASSED for step in self._steps):
                # A check after the last step (the transfer budgets) fails no step: say it here.
                self._reason = self.evidence.redact(_message(error))
            self._status = status

    def test_instance(self) -> TestInstance:
        """Return the case as it ran: status, step log, redacted evidence and findings."""
        evidence, findings = self.evidence.close()
        return TestInstance(
            **_identity(self.case, self.feature),
            status=self._status,
            reason=self._reason,
            not_run_cause=self._cause,
            steps=tuple(
                StepResult(
                    step.text,
                    step.status,
                    step.duration,
                    step.message or (NOT_REACHED if step.status is Status.NOT_RUN else ""),
                )
                for step in self._steps
            ),
            evidence=evidence,
            findings=findings,
            started=self.started,
            finished=self.finished,
        )


_PHASES = {
    "setup": "the harness could not set the scenario up",
    "call": "the harness failed while running the scenario",
    "teardown": "the harness could not stop the scenario's actors cleanly",
}


def unrun(
    case: Case, feature: str, status: Status, reason: str, cause: NotRunCause | None = None
) -> TestInstance:
    """Return a case that did not run (NOT_RUN with ``cause``, or ERROR), its steps not run."""
    return TestInstance(
        **_identity(case, feature),
        status=status,
        reason=reason,
        not_run_cause=cause,
        steps=tuple(StepResult(f"{s.type} {s.text}", Status.NOT_RUN) for s in case.steps),
    )


def _identity(case: Case, feature: str) -> dict[str, Any]:
    """What a test instance takes from its case: who and what it grades, and its tags."""
    return {
        "id": case.id,
        "name": case.name,
        "feature": feature,
        "actor": case.actors[0],
        "option": case.options[0],
        "tags": tuple(f"@{tag}" for tag in case.tags),
        "requirements": case.requirement_ids,
        "required": case.required,
    }


def _message(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if not isinstance(error, AssertionError | pytest.fail.Exception):
        text = f"{type(error).__name__}: {text}"
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _skip_reason(report: pytest.TestReport) -> str:
    # A skip's long representation is (path, line, "Skipped: reason").
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"
