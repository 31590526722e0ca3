"""Runs chosen conformance cases in a child process with faults switched on, and writes the reports.

``python -m tests.fault_driver OUT CASES.json [FAULT...]``: CASES.json lists the case IDs to
run; each FAULT is the name of a :class:`simulators.faults.Fault`. The run goes through
:func:`harness.conformance.run_suite`, as ``cloudpdi conformance run`` does, but with the
faults on (the command line cannot switch one on) and the steps' default seed, so that a
self-test run can be repeated; ``results.json``, ``report.html`` and ``junit.xml`` go to OUT.
A process of its own keeps each run's pytest session apart from the test that asked for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cloudpdi.config_model import RunConfig, RunSettings
from features.spec import load_features
from harness.conformance import run_suite, select_cases
from reports import write_reports
from simulators.faults import Fault
from steps.plugin import DEFAULT_SEED


def main(argv: list[str]) -> int:
    out, cases_file, *names = argv
    wanted = set(json.loads(Path(cases_file).read_text(encoding="utf-8")))
    cases = [
        (case, feature) for case, feature in select_cases(load_features()) if case.id in wanted
    ]
    config = RunConfig(run=RunSettings(output_dir=Path(out), seed=DEFAULT_SEED))
    faults = [Fault(name) for name in names]
    result = run_suite(
        config, cases, header={"selection": "fault self-test"}, progress=sys.stdout, faults=faults
    )
    write_reports(result, Path(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
