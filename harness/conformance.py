"""``cloudpdi conformance list`` and ``cloudpdi conformance run``: the suite and its report.

``run`` refuses a suite that breaks the rules of features/README.md, selects cases by actor and
by a Cucumber tag expression, runs the bound ones in this process (:mod:`steps.session`) and
writes ``results.json``, ``report.html`` and ``junit.xml`` into the output folder. Exit codes
(:func:`reports.exit_code`): 0 every required case passed, 3 one did not, 4 the harness failed
(a harness error in a case, or a suite that breaks its rules: then no report is written).

Cases of feature files that no step module binds yet are reported NOT RUN with the reason
:data:`NO_STEPS`, never left out: while the suite is being bound, a run of the whole suite
therefore ends with exit code 3, which is the honest answer. A configuration may put one
actor (sender, repository or receiver) under test: the run then grades that actor's cases,
with every other actor simulated around it (:mod:`steps.sut`). It may also put the source
and/or destination PACS under test, alongside that actor or alone: the exchange then uses
the hospital's PACS (:mod:`harness.pacs_actor`). A PACS has no cases of its own, so it is
not graded: the report header names it among the systems the run used.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import secrets
import sys
import tempfile
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cucumber_tag_expressions import TagExpressionError
from cucumber_tag_expressions import parse as parse_tags

from cloudpdi import REFERENCE_BINDING, __version__
from cloudpdi.config import RunConfig, RunConfigError, load_run_config
from cloudpdi.config_actors import ReceiverSut, SenderSut
from cloudpdi.config_triggers import Trigger
from features.catalog import ACTORS, load_catalog
from features.rules import check_features
from features.spec import Case, feature_texts, format_scenario_table, list_scenarios, load_features
from harness.commands import UsageError
from harness.drive import NoOperator, check_operator
from reports import (
    EXIT_HARNESS_ERROR,
    NotRunCause,
    ReportFiles,
    RunResult,
    Status,
    TestInstance,
    exit_code,
    write_reports,
)
from simulators.faults import Fault
from steps.record import unrun
from steps.session import StepRun, run_steps

#: The reason a case of a feature file that no step module binds yet did not run.
NO_STEPS = "no step definitions yet"
INTERRUPTED = "the operator interrupted the run"
_MAX_SEED = 2**31
#: The report header's entry that names the faults a self-test switched on.
FAULTS = "simulators.faults (self-test only)"


def add_conformance_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``conformance list`` and ``conformance run`` to the command line."""
    conformance = sub.add_parser("conformance", help="list or run the conformance suite")
    actions = conformance.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the scenarios and the requirements they prove")
    listing.add_argument("--actor", choices=sorted(ACTORS), help="only this actor's scenarios")
    listing.set_defaults(handler=conformance_list)

    run = actions.add_parser("run", help="run the suite and write its reports")
    run.add_argument("--config", type=Path, metavar="RUN.toml", help="run configuration")
    run.add_argument("--actor", choices=sorted(ACTORS), help="only this actor's scenarios")
    run.add_argument(
        "--tags", metavar="EXPR", help='tag expression, e.g. "@CPDI-ENC-01 and not @optional"'
    )
    run.add_argument(
        "--out", type=Path, metavar="DIR", help="report folder (default: the configuration's)"
    )
    run.set_defaults(handler=conformance_run)


def conformance_list(args: argparse.Namespace) -> int:
    """Print the scenarios (of one actor, if given) with their requirement IDs."""
    print(format_scenario_table(list_scenarios(actor=args.actor)), end="")
    return 0


def conformance_run(args: argparse.Namespace) -> int:
    """Run the selected cases and write their reports; return the exit code of the run."""
    problems = check_features()
    if problems:
        print("cloudpdi: the feature files break their rules; nothing was run:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    config = run_config(args.config)
    try:
        check_operator(operator_triggers(config))
    except NoOperator as exc:
        raise UsageError(str(exc)) from None
    actor = args.actor
    graded = graded_suts(config)
    if graded:
        # With an actor under test, the run grades that actor: the others are simulated.
        tested = graded[0]
        if actor not in (None, tested):
            raise UsageError(f"the configuration puts the {tested} under test, not the {actor}")
        actor = tested
    cases = select_cases(load_features(), actor=actor, tags=args.tags)
    if not cases:
        raise UsageError("no scenario matches the --actor and --tags given")
    out = args.out or config.run.output_dir
    header = {
        "run.output_dir": str(out),
        "selection.actor": actor or "all",
        "selection.tags": args.tags or "all",
    }
    result = run_suite(config, cases, header=header, progress=sys.stdout)
    try:
        files = write_reports(result, out)
    except OSError as exc:
        print(f"cloudpdi: cannot write the reports into {out}: {exc.strerror}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    _summarise(result, files, sys.stdout)
    return exit_code(result)


def run_config(path: Path | None) -> RunConfig:
    """Read the run configuration (or take the default) and refuse what this release lacks."""
    try:
        config = RunConfig.default() if path is None else load_run_config(path)
    except RunConfigError as exc:
        raise UsageError(str(exc)) from None
    graded = graded_suts(config)
    if len(graded) > 1:
        raise UsageError(
            f"the configuration puts {', '.join(graded)} under test; put one actor under test "
            "per run (the others are simulated around it; a PACS under test may join it)"
        )
    return config


def graded_suts(config: RunConfig) -> list[str]:
    """The actors under test that the suite grades: a PACS under test has no cases."""
    return [actor.name for actor in config.suts if actor.name in ACTORS]


def operator_triggers(config: RunConfig) -> list[tuple[str, Trigger]]:
    """The triggers of the sender and receiver under test, by their setting's name."""
    triggers: list[tuple[str, Trigger]] = []
    if isinstance(config.sender, SenderSut):
        triggers.append(("sender.trigger", config.sender.trigger))
    if isinstance(config.receiver, ReceiverSut):
        triggers.append(("receiver.token_delivery", config.receiver.token_delivery))
    return triggers


def select_cases(
    scenarios: Iterable[Any], *, actor: str | None = None, tags: str | None = None
) -> list[tuple[Case, str]]:
    """Return the cases (with their feature's title) of ``actor`` that match ``tags``.

    ``tags`` is a Cucumber tag expression; a tag matches written with or without its ``@``.
    """
    try:
        expression = parse_tags(tags) if tags else None
    except TagExpressionError as exc:
        raise UsageError(f"--tags is not a tag expression: {exc}") from None
    chosen = []
    for scenario in scenarios:
        for case in scenario.cases():
            names = [*case.tags, *(f"@{tag}" for tag in case.tags)]
            if actor is not None and actor not in case.actors:
                continue
            if expression is None or expression.evaluate(names):
                chosen.append((case, scenario.feature))
    return chosen


def run_suite(
    config: RunConfig,
    cases: list[tuple[Case, str]],
    *,
    header: Mapping[str, str],
    progress: TextIO,
    faults: Collection[Fault] = (),
) -> RunResult:
    """Run ``cases`` and return the run with every case accounted for.

    ``header`` adds to (or overrides) the configuration entries the report header lists.
    ``faults`` switch misbehaviours on in the simulated actors, for the suite's self-test only
    (no command line option does): the report header names each one under :data:`FAULTS`.
    """
    seed = config.run.seed if config.run.seed is not None else secrets.randbelow(_MAX_SEED)
    started = datetime.now(UTC)
    # Scenario folders hold plaintext studies and token files: they go with the run.
    with tempfile.TemporaryDirectory(prefix="cloudpdi-conformance-") as scratch:
        ran = run_steps(
            [case.id for case, _ in cases],
            seed=seed,
            basetemp=Path(scratch) / "scenarios",
            progress=lambda instance: _progress(instance, progress),
            faults=faults,
            config=config.source.resolve() if config.source else None,
        )
    return RunResult(
        run_id=f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
        started=started,
        finished=datetime.now(UTC),
        operator=config.run.operator or _login(),
        harness_version=__version__,
        binding=REFERENCE_BINDING,
        suite_version=suite_version(),
        configuration={
            **flatten(config.summary()),
            "run.seed": str(seed),
            **({FAULTS: fault_summary(faults)} if faults else {}),
            **header,
        },
        tests=account_for(cases, ran),
        requirements=load_catalog().requirements,
    )


def fault_summary(faults: Iterable[Fault]) -> str:
    """Name each fault and what it makes its actor do, as the report header lists them."""
    return "; ".join(f"{fault}: {fault.description}" for fault in sorted(faults))


def account_for(cases: list[tuple[Case, str]], ran: StepRun) -> tuple[TestInstance, ...]:
    """One test instance per selected case, in suite order: its result, or why it has none."""
    results = {instance.id: instance for instance in ran.instances}
    tests = []
    for case, feature in cases:
        if case.id in results:
            tests.append(results[case.id])
        elif ran.failure:
            tests.append(unrun(case, feature, Status.ERROR, ran.failure))
        elif case.id not in ran.bound:
            tests.append(unrun(case, feature, Status.NOT_RUN, NO_STEPS, NotRunCause.PRECONDITION))
        elif ran.interrupted:
            tests.append(unrun(case, feature, Status.NOT_RUN, INTERRUPTED, NotRunCause.OPERATOR))
        else:
            tests.append(unrun(case, feature, Status.ERROR, "the case ran but left no result"))
    return tuple(tests)


def suite_version() -> str:
    """The harness version and a digest of the feature files: runs of one suite compare."""
    digest = hashlib.sha256()
    for path, text in sorted(feature_texts().items()):
        digest.update(f"{path}\0{text}\0".encode())
    return f"{__version__}+features.{digest.hexdigest()[:12]}"


def flatten(summary: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The configuration summary as ``key.path -> text``, as a report header lists it."""
    flat: dict[str, str] = {}
    for key, value in summary.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{path}.") if value else {path: "none"}
        elif isinstance(value, list | tuple):
            flat[path] = ", ".join(str(item) for item in value) or "none"
        else:
            flat[path] = "none" if value is None else str(value)
    return flat


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown operator"


def _progress(instance: TestInstance, stream: TextIO) -> None:
    print(f"{instance.status:8} {instance.id}", file=stream)
    failed = [step for step in instance.steps if step.status in (Status.FAILED, Status.ERROR)]
    for step in failed:
        print(f"         {step.text}: {step.message}", file=stream)
    if not failed and instance.reason:
        print(f"         {instance.reason}", file=stream)
    stream.flush()


def _summarise(result: RunResult, files: ReportFiles, stream: TextIO) -> None:
    counts = {status: 0 for status in Status}
    for test in result.tests:
        counts[test.effective_status] += 1
    no_steps = sum(1 for test in result.tests if test.reason == NO_STEPS)
    unbound = f" ({no_steps} with {NO_STEPS})" if no_steps else ""
    print(
        f"{counts[Status.PASSED]} passed, {counts[Status.FAILED]} failed, "
        f"{counts[Status.ERROR]} errors, {counts[Status.NOT_RUN]} not run{unbound}",
        file=stream,
    )
    print(f"results: {files.json}\nreport:  {files.html}\njunit:   {files.junit}", file=stream)
