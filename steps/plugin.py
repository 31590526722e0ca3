"""The pytest plugin of the conformance suite: tags as markers, actors per scenario, results.

``steps/conftest.py`` loads it for a plain ``pytest`` run; ``cloudpdi conformance run`` loads
it with ``-p steps.plugin``. It

- registers every tag of the feature files as a marker (``@actor:sender`` becomes the marker
  ``actor-sender``: a marker name cannot hold a colon), so ``--strict-markers`` holds;
- starts the actors of each scenario in a :class:`~harness.lab.Lab` on free loopback ports,
  in the scenario's own temporary folder, and stops them after it;
- logs each step with its duration and outcome, collects the evidence it caused, and turns
  each case (a scenario, or one examples row of an outline) into a
  :class:`reports.TestInstance`, kept in ``config.stash[RESULTS]``.
"""

from __future__ import annotations

import argparse
import functools
import signal
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pytest_bdd.parser import Feature, Scenario, Step
from pytest_bdd.scenario import scenario_wrapper_template_registry

from cloudpdi.config import RunConfig, RunConfigError, load_run_config
from features.spec import Case, default_features_root, load_features
from harness.lab import ActorUnderTest, Lab
from harness.pacs_actor import scenario_seed
from reports import TestInstance
from simulators.faults import Fault
from simulators.repository import Recorder
from steps.budgets import check_transfer_budgets
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import RECEIVING, SENDING
from steps.record import ScenarioRecord

#: The folder of the step definitions: pytest loads each module there as a plugin, so every
#: feature sees every step, and a new module of steps needs no registration.
DEFINITIONS = Path(__file__).resolve().parent / "definitions"
pytest_plugins = tuple(
    f"steps.definitions.{path.stem}"
    for path in sorted(DEFINITIONS.glob("*.py"))
    if path.stem != "__init__"
)

#: Where the bound feature files live (the shipped suite).
FEATURES_ROOT = default_features_root()
#: Seed of the synthetic studies when the run gives none.
DEFAULT_SEED = 2026
#: The test instances of the session, in the order they finished.
RESULTS = pytest.StashKey[list[TestInstance]]()
_RECORD = pytest.StashKey[ScenarioRecord]()
RUN_CONFIG = pytest.StashKey[RunConfig]()
_CASE_ID = pytest.StashKey[str]()
_LAB = pytest.StashKey[Lab]()
#: What the evidence of the transfer budgets, judged after the last step, names as its step.
TRANSFER_BUDGETS = "after the last step: the transfer budgets"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--conformance-seed",
        type=int,
        default=DEFAULT_SEED,
        help="seed of the synthetic studies the scenarios make (default %(default)s)",
    )
    parser.addoption(
        "--conformance-fault",
        action="append",
        type=fault_argument,
        default=[],
        metavar="NAME",
        help="switch a fault on in the simulated actors (repeatable): the suite's self-test only",
    )
    parser.addoption(
        "--conformance-config",
        type=Path,
        default=None,
        metavar="RUN.toml",
        help="run configuration: the actors under test and how to reach them (default: all "
        "simulated)",
    )


def fault_argument(name: str) -> Fault:
    """Parse a fault's name for ``--conformance-fault``."""
    try:
        return Fault(name)
    except ValueError:
        known = ", ".join(Fault)
        raise argparse.ArgumentTypeError(f"no fault is named {name!r}; known: {known}") from None


def pytest_configure(config: pytest.Config) -> None:
    for marker, meaning in suite_markers().items():
        config.addinivalue_line("markers", f"{marker}: {meaning}")
    config.stash[RESULTS] = []
    path = config.getoption("conformance_config")
    try:
        config.stash[RUN_CONFIG] = RunConfig.default() if path is None else load_run_config(path)
    except RunConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def marker_name(tag: str) -> str:
    """Return the marker a feature tag becomes: the tag, with ``:`` turned into ``-``."""
    return tag.replace(":", "-")


@functools.cache
def suite_cases() -> dict[str, tuple[Case, str]]:
    """Every case of the shipped suite by ID, with the title of its feature."""
    return {
        case.id: (case, scenario.feature)
        for scenario in load_features(FEATURES_ROOT)
        for case in scenario.cases()
    }


def suite_markers() -> dict[str, str]:
    """The marker of every tag the suite uses, and what it means."""
    tags = {tag for case, _ in suite_cases().values() for tag in case.tags}
    return {marker_name(tag): f"feature tag @{tag}" for tag in sorted(tags)}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run a case within its time budget; a step that needs to look inside an actor under
    test makes its case NOT RUN."""
    record = item.stash.get(_RECORD, None)
    budget = None
    if record is not None:
        budget = item.config.stash[RUN_CONFIG].budgets.timeout_for(record.case.tags)
    try:
        with time_budget(budget):
            result = yield
            lab = item.stash.get(_LAB, None)
            if record is not None and lab is not None:
                _judge_transfers(item.config.stash[RUN_CONFIG], lab, record)
            return result
    except ActorUnderTest as exc:
        pytest.skip(str(exc))


def _judge_transfers(config: RunConfig, lab: Lab, record: ScenarioRecord) -> None:
    """Hold a case that moved a study to the configuration's transfer budgets."""
    record.evidence.begin_step(TRANSFER_BUDGETS)
    check_transfer_budgets(
        config.budgets,
        lab.recorder.requests if lab.recorder is not None else [],
        lab.source.events(),
        lab.destination.events(),
        record.evidence,
    )


class OverBudget(AssertionError):
    """The case ran past its time budget: a failed check (a SUT too slow), not a harness error."""


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with :class:`OverBudget` after ``seconds``.

    Signals reach the main thread only, where pytest runs the cases; elsewhere (or without a
    budget) the block runs unbounded.
    """
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise OverBudget(f"the scenario ran past its time budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_bdd_apply_tag(tag: str, function: Callable[..., object]) -> bool:
    getattr(pytest.mark, marker_name(tag))(function)
    return True


def case_id(item: pytest.Item) -> str | None:
    """Return the ID of the feature case a collected test runs, or None for any other test."""
    if not isinstance(item, pytest.Function):
        return None
    template = scenario_wrapper_template_registry.get(item.function)
    if template is None:
        return None
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example", {}) if callspec else {}
    try:
        path = Path(template.feature.filename).resolve().relative_to(FEATURES_ROOT.resolve())
    except ValueError:
        return None
    return f"{path.as_posix()}::{template.render(example).name}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        found = case_id(item)
        if found is not None:
            item.stash[_CASE_ID] = found


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    found = item.stash.get(_CASE_ID, None)
    if found is None:
        return
    if found not in suite_cases():
        raise StepError(f"{found} is not a case of the shipped feature files")
    case, feature = suite_cases()[found]
    item.stash[_RECORD] = ScenarioRecord(case, feature)


def _record(request: pytest.FixtureRequest) -> ScenarioRecord:
    record = request.node.stash.get(_RECORD, None)
    if record is None:
        raise StepError("this fixture serves the scenarios of the feature files only")
    return record


def _index(scenario: Scenario, step: Step) -> int:
    return next(number for number, each in enumerate(scenario.steps) if each is step)


def pytest_bdd_before_step(
    request: pytest.FixtureRequest, feature: Feature, scenario: Scenario, step: Step
) -> None:
    _record(request).step_started(_index(scenario, step))


def pytest_bdd_after_step(request: pytest.FixtureRequest) -> None:
    _record(request).step_passed()


def pytest_bdd_step_error(request: pytest.FixtureRequest, exception: Exception) -> None:
    _record(request).step_failed(exception)


def pytest_bdd_step_func_lookup_error(
    request: pytest.FixtureRequest, scenario: Scenario, step: Step, exception: Exception
) -> None:
    record = _record(request)
    record.step_started(_index(scenario, step))
    record.step_failed(exception)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    record = item.stash.get(_RECORD, None)
    if record is not None:
        record.phase_ended(report, call.excinfo.value if call.excinfo else None)
        if call.when == "teardown":
            item.config.stash[RESULTS].append(record.test_instance())
    return report


@pytest.fixture
def conformance_seed(request: pytest.FixtureRequest, run_config: RunConfig) -> int:
    """The seed of the synthetic studies of this scenario (fresh when a PACS is under test)."""
    return scenario_seed(run_config, int(request.config.getoption("conformance_seed")))


@pytest.fixture(scope="session")
def run_config(request: pytest.FixtureRequest) -> RunConfig:
    """The run configuration (``--conformance-config``), or every actor simulated."""
    return request.config.stash[RUN_CONFIG]


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> EvidenceLog:
    """The evidence log of the running scenario."""
    return _record(request).evidence


@pytest.fixture
def lab(
    request: pytest.FixtureRequest, tmp_path: Path, evidence: EvidenceLog, run_config: RunConfig
) -> Iterator[Lab]:
    """The scenario's actors: source PACS, repository with its spy, receiving PACS (with the
    faults ``--conformance-fault`` switched on, if any)."""
    recorder = Recorder()
    faults = frozenset(request.config.getoption("conformance_fault"))
    with Lab(tmp_path / "lab", recorder=recorder, faults=faults, config=run_config) as running:
        request.node.stash[_LAB] = running
        evidence.add_secret(running.uploader_key)
        evidence.add_secret(running.recipient_key)
        evidence.watch_repository(
            recorder, {running.uploader_key: SENDING, running.recipient_key: RECEIVING}
        )
        evidence.watch_pacs(running.source, "the sending hospital's PACS")
        evidence.watch_pacs(running.destination, "the receiving PACS")
        yield running
