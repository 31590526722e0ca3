"""Running the bound feature modules in this process with pytest, for the conformance runner.

The run is sealed off from its surroundings: no configuration file (a user's ``pytest.ini``
must not change a conformance run), no auto-loaded plugins, no cache, and a temporary folder
of its own. Only the cases the runner selected run; the rest are deselected. Output is the
caller's: pytest's terminal report is off, and each finished case goes to ``progress``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import pytest

from reports import TestInstance
from simulators.faults import Fault
from steps.plugin import RESULTS, case_id

#: The folder of the bound modules, ``test_<feature>.py``.
STEPS_DIR = Path(__file__).resolve().parent
#: pytest's outcomes that mean the steps ran (whatever the scenarios' verdicts).
_RAN = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)


@dataclass(frozen=True)
class StepRun:
    """What running the bound modules gave: one instance per case that ran, and the bound IDs.

    ``failure`` says why the steps could not run at all (a module that does not load, a usage
    error); ``interrupted`` that the operator stopped the run.
    """

    instances: tuple[TestInstance, ...]
    bound: frozenset[str]
    failure: str = ""
    interrupted: bool = False


def bound_modules() -> list[Path]:
    """The modules that bind a feature file to step definitions."""
    return sorted(STEPS_DIR.glob("test_*.py"))


class _Session:
    """A pytest plugin: keeps the selected cases only, and passes on what pytest did."""

    def __init__(self, selected: Collection[str], progress: Callable[[TestInstance], None]) -> None:
        self.selected = frozenset(selected)
        self.progress = progress
        self.bound: set[str] = set()
        self.errors: list[str] = []
        self.instances: list[TestInstance] = []
        self._results: list[TestInstance] = []

    def pytest_configure(self, config: pytest.Config) -> None:
        self._results = config.stash[RESULTS]

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            last = (report.longreprtext.strip().splitlines() or ["cannot be collected"])[-1]
            self.errors.append(f"{report.nodeid or 'the steps'}: {last}")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            found = case_id(item)
            if found is not None:
                self.bound.add(found)
            (keep if found in self.selected else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep

    def pytest_runtest_logfinish(self) -> None:
        for instance in self._results[len(self.instances) :]:
            self.instances.append(instance)
            self.progress(instance)


def run_steps(
    selected: Collection[str],
    *,
    seed: int,
    basetemp: Path,
    progress: Callable[[TestInstance], None],
    faults: Collection[Fault] = (),
    config: Path | None = None,
) -> StepRun:
    """Run the selected cases of the bound modules; ``basetemp`` must be a fresh private folder.

    ``faults`` switch deliberate misbehaviours on in the simulated actors (the suite's
    self-test only, :mod:`simulators.faults`). ``config`` is the run configuration file, which
    says which actors are under test and how to reach them (none: every actor simulated).
    """
    session = _Session(selected, progress)
    args = [
        *(str(path) for path in bound_modules()),
        "--config-file",
        os.devnull,
        "--rootdir",
        str(STEPS_DIR.parent),
        "--disable-plugin-autoload",
        "-p",
        "pytest_bdd.plugin",
        "-p",
        "steps.plugin",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:terminal",
        "--capture=sys",
        "--assert=plain",
        "--strict-markers",
        "--basetemp",
        str(basetemp),
        "--conformance-seed",
        str(seed),
        *(f"--conformance-fault={fault}" for fault in sorted(faults)),
        *(["--conformance-config", str(config)] if config is not None else []),
    ]
    code = pytest.main(args, plugins=[session])
    failure = ""
    if session.errors:
        failure = "the step definitions could not be loaded: " + "; ".join(session.errors)
    elif code not in _RAN and code != pytest.ExitCode.INTERRUPTED:
        failure = f"pytest could not run the step definitions (its exit code {int(code)})"
    return StepRun(
        instances=tuple(session.instances),
        bound=frozenset(session.bound),
        failure=failure,
        interrupted=code == pytest.ExitCode.INTERRUPTED and not session.errors,
    )
