"""A case runs within the run configuration's time budget: past it, a check fails (not a harness
error), and the interruption leaves no timer behind."""

from __future__ import annotations

import signal
import time

import pytest

from reports import Status
from steps.plugin import OverBudget, time_budget
from steps.record import blame


def test_a_case_past_its_budget_is_interrupted_as_a_failed_check() -> None:
    started = time.monotonic()
    with pytest.raises(OverBudget, match=r"time budget of 0\.2 s") as caught, time_budget(0.2):
        time.sleep(5)
    assert time.monotonic() - started < 2
    assert blame(caught.value) is Status.FAILED
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_case_within_its_budget_or_without_one_runs_to_its_end() -> None:
    with time_budget(5):
        time.sleep(0.05)
    with time_budget(None):
        time.sleep(0.05)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
