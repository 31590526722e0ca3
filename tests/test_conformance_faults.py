"""The conformance suite's self-test: a fault switch fails exactly the cases proving what it breaks.

A check that cannot fail proves nothing. For every :class:`~simulators.faults.Fault`, cases
of the fault's actor run (in a child process, :mod:`tests.fault_driver`) with the fault
switched on, and

- the FAILED cases are exactly the required cases whose requirement tags name a requirement
  the fault breaks (``Fault.requirements``), but for the few cases of :data:`NOT_AS_TAGGED`,
  each with the reason its tags mislead;
- no case is ERROR: a fault is the system under test misbehaving, never the harness;
- the reports name the fault, so that nobody mistakes a self-test run for a real one.

Cases NOT RUN (a precondition the fault spoiled) count on neither side. A fault that no case
is expected to catch fails the test: it would be a check that cannot fail.

To keep the run short (CI has two cores), a fault's run holds the required cases of its actor
that prove what it breaks, and the first required case of the actor in every other feature
file: a fault that fails cases of another requirement shows there, at the price of not trying
every such case. Controls (``@optional``) grade the judgement, not the actor, and do not run.
The runs go two at a time. The baseline, every bound case passing with no fault, is the
steps' own run (``pytest steps``, part of the same CI run): it is not repeated here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from features.spec import Case, load_features
from harness.conformance import FAULTS, select_cases
from reports import RunResult, Status, read_json
from simulators.faults import Fault

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 900
#: Runs at once: CI has two cores.
PARALLEL = 2
_SECRECY = "cross/token_secrecy.feature::Nothing the repository holds or was sent reveals"
#: Cases whose outcome under a fault is not what their requirement tags predict, and why: each
#: flips the expectation for its case. They name tags too coarse to tell the two halves of a
#: requirement apart, or a case that fails because the fault stops the scenario early; once the
#: tags are fixed, the case fails this test until its entry goes.
NOT_AS_TAGGED: dict[Fault, dict[str, str]] = {
    Fault.SENDER_REUSES_SECRET: {
        f"{_SECRECY} {what}": "tagged @CPDI-KEY-01 for encrypting before upload, which a reused "
        "secret still does"
        for what in (
            "the patient's name",
            "the patient ID",
            "the study's UID",
            "the header of any DICOM file",
            "the text of the README",
        )
    },
    Fault.SENDER_REUSES_DOCUMENT_ID: {
        "sender/transfer.feature::Every transfer gets a fresh secret": "the repository refuses "
        "the second upload under the same document ID: there is no second secret to compare",
    },
    Fault.SENDER_UPLOADS_PLAINTEXT: {
        "sender/file_set.feature::Images held in Explicit VR Little Endian never leave in a "
        "transfer syntax outside the profile": "the one case of PDI-TS-01 whose images the "
        "sender sends as they are: its check opens the envelope",
    },
}


@dataclass(frozen=True)
class FaultRun:
    """A self-test run in a child process: its output and its reports."""

    process: subprocess.CompletedProcess[str]
    out: Path

    @property
    def result(self) -> RunResult:
        return read_json(self.out / "results.json")

    def explain(self) -> str:
        return f"{self.process.stdout}\n{self.process.stderr}"


def proves(case: Case, requirements: frozenset[str]) -> bool:
    """Tell whether ``case`` is one that must fail when ``requirements`` are broken."""
    return case.required and bool(requirements.intersection(case.requirement_ids))


def selection(fault: Fault) -> list[Case]:
    """The cases a fault's run holds (see the module's docstring), in suite order."""
    chosen, sampled = [], set()
    flipped = NOT_AS_TAGGED.get(fault, {})
    for case, feature in select_cases(load_features(), actor=fault.actor):
        if proves(case, fault.requirements) or case.id in flipped:
            chosen.append(case)
        elif case.required and feature not in sampled:
            sampled.add(feature)
            chosen.append(case)
    return chosen


def fault_run(root: Path, cases: list[Case], *faults: Fault) -> FaultRun:
    """Run ``cases`` with ``faults`` on, in a child process; return its output and reports."""
    root.mkdir(parents=True, exist_ok=True)
    out, cases_file = root / "out", root / "cases.json"
    cases_file.write_text(json.dumps([case.id for case in cases]), encoding="utf-8")
    process = subprocess.run(
        [sys.executable, "-m", "tests.fault_driver", str(out), str(cases_file), *faults],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return FaultRun(process, out)


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[Fault, FaultRun]:
    """One run per fault this session tests, with that fault on."""
    faults = {
        item.callspec.params["fault"]
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.module is sys.modules[__name__]
    }
    root = tmp_path_factory.mktemp("faults")
    with ThreadPoolExecutor(PARALLEL) as pool:
        started = {
            fault: pool.submit(fault_run, root / fault, selection(fault), fault) for fault in faults
        }
        return {fault: future.result() for fault, future in started.items()}


@pytest.mark.parametrize("fault", list(Fault), ids=str)
def test_a_fault_fails_exactly_the_cases_proving_what_it_breaks(
    runs: dict[Fault, FaultRun], fault: Fault
) -> None:
    run = runs[fault]
    assert run.process.returncode == 0, run.explain()
    statuses = {test.id: test.status for test in run.result.tests}
    errors = sorted(case for case, status in statuses.items() if status is Status.ERROR)
    assert not errors, f"harness errors in {errors}:\n{run.explain()}"
    failed = {case for case, status in statuses.items() if status is Status.FAILED}
    expected = {
        case.id
        for case in selection(fault)
        if statuses[case.id] is not Status.NOT_RUN
        and proves(case, fault.requirements) != (case.id in NOT_AS_TAGGED.get(fault, {}))
    }
    header = run.result.configuration
    assert str(fault) in header.get(FAULTS, ""), header
    assert str(fault) in (run.out / "report.html").read_text(encoding="utf-8")
    assert failed == expected, (
        f"{fault} ({', '.join(sorted(fault.requirements))}) failed cases it should not: "
        f"{sorted(failed - expected)}; passed cases it should have failed: "
        f"{sorted(expected - failed)}\n{run.explain()}"
    )
    # Every feature is bound: a fault no case catches is a check that cannot fail.
    assert expected, f"no case of the {fault.actor} proves {', '.join(sorted(fault.requirements))}"
