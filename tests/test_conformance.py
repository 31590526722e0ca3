"""``cloudpdi conformance``: listing, selection, and whole runs with their three reports.

The runs go through the command line in a child process (tests/conformance_driver.py), which
also records every secret and bearer key the run made, so that the reports can be searched for
each of them. The whole suite runs here once, against the simulators, and must pass whole:
this is the run CI makes of the feature files (``pytest steps`` runs them in-process too).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from junitparser import JUnitXml

from cloudpdi.config_model import RunConfig
from cloudpdi.secret import Secret
from features.spec import load_features
from harness import cli, conformance
from reports import EvidenceKind, NotRunCause, RunResult, Status, read_json
from reports.redact import secret_spellings
from steps.session import StepRun

ROOT = Path(__file__).resolve().parents[1]
BOUND = "cross/token_secrecy.feature"
TOKEN_SECRECY_CASES = 9
#: Seconds the whole suite may take on a slow CI machine.
RUN_TIMEOUT = 2400


@dataclass(frozen=True)
class Run:
    """A ``cloudpdi conformance run`` in a child process: its output, reports and secrets."""

    process: subprocess.CompletedProcess[str]
    out: Path
    secrets: dict[str, list[str]]

    @property
    def result(self) -> RunResult:
        return read_json(self.out / "results.json")

    def statuses(self) -> dict[str, Status]:
        return {test.id: test.status for test in self.result.tests}


def conformance_run(root: Path, mode: str, *args: str) -> Run:
    out, secrets_file = root / "out", root / "secrets.json"
    process = subprocess.run(
        [
            *(sys.executable, "-m", "tests.conformance_driver", mode, str(secrets_file)),
            *("conformance", "run", "--out", str(out), *args),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return Run(process, out, json.loads(secrets_file.read_text(encoding="utf-8")))


def assert_no_secret_in_reports(run: Run) -> None:
    needles = [
        spelling
        for value in run.secrets["secrets"]
        for spelling in secret_spellings(Secret(bytes.fromhex(value)))
    ]
    needles += [value.upper().encode() for value in run.secrets["secrets"]]
    needles += [key.encode() for key in run.secrets["keys"]]
    assert run.secrets["secrets"] and run.secrets["keys"]
    for name in ("results.json", "report.html", "junit.xml"):
        content = (run.out / name).read_bytes()
        assert not [needle for needle in needles if needle in content], name
    assert not [needle for needle in needles if needle.decode("latin-1") in run.process.stdout]


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return conformance_run(tmp_path_factory.mktemp("whole-run"), "plain")


def test_the_whole_suite_passes_against_the_simulators_with_three_reports(
    whole_run: Run,
) -> None:
    assert whole_run.process.returncode == 0, whole_run.process.stdout[-5000:]
    for name in ("results.json", "report.html", "junit.xml"):
        assert str(whole_run.out / name) in whole_run.process.stdout
    # read_json checks the document against the published schema.
    result = whole_run.result
    cases = [case for scenario in load_features() for case in scenario.cases()]
    assert [test.id for test in result.tests] == [case.id for case in cases]
    failing = [(t.id, t.status, t.reason) for t in result.tests if t.status is not Status.PASSED]
    assert not failing, failing
    junit = JUnitXml.fromfile(str(whole_run.out / "junit.xml"))
    assert sum(suite.tests for suite in junit) == len(cases)
    assert "<html" in (whole_run.out / "report.html").read_text(encoding="utf-8")


def test_the_bound_feature_passes_with_its_evidence(whole_run: Run) -> None:
    bound = [test for test in whole_run.result.tests if test.id.startswith(f"{BOUND}::")]
    assert len(bound) == TOKEN_SECRECY_CASES
    for test in bound:
        assert test.status is Status.PASSED, (test.id, test.reason, test.steps)
        assert test.started is not None and test.finished is not None
        assert all(step.status is Status.PASSED and step.duration > 0 for step in test.steps)
        kinds = {item.kind for item in test.evidence}
        # The sender's cases judge a search; the repository's compares the bytes it served.
        verdict = EvidenceKind.VALIDATOR_FINDING if test.actor == "sender" else EvidenceKind.FILE
        assert EvidenceKind.HTTP in kinds and verdict in kinds
    exchange = bound[0]
    assert exchange.actor == "sender" and exchange.option == "core" and exchange.required
    assert exchange.requirements == ("CPDI-ENC-01", "CPDI-TOK-01")
    counts = Counter(item.kind for item in exchange.evidence)
    assert counts[EvidenceKind.TOKEN_HANDOFF] == 2
    assert counts[EvidenceKind.DICOM_OPERATION] >= 6  # 3 instances out of the PACS, 3 in
    uploads = [e for e in exchange.evidence if e.summary.startswith("PATCH /uploads/")]
    assert uploads and uploads[0].actor == "sending hospital -> repository"
    assert (
        uploads[0].detail["step"]
        == "When the sending hospital sends the study to the receiving hospital"
    )
    assert uploads[0].sizes["request body"] > 0


def test_a_case_no_module_binds_is_reported_not_run_for_want_of_step_definitions() -> None:
    cases = conformance.select_cases(load_features(), tags="@CPDI-TOK-03")
    unbound = conformance.account_for(cases, StepRun((), frozenset()))
    for test in unbound:
        assert test.status is Status.NOT_RUN
        assert test.reason == conformance.NO_STEPS
        assert test.not_run_cause is NotRunCause.PRECONDITION
        assert test.steps and all(step.status is Status.NOT_RUN for step in test.steps)


def test_no_secret_or_bearer_key_reaches_the_reports(whole_run: Run) -> None:
    assert_no_secret_in_reports(whole_run)


def test_the_header_names_the_run(whole_run: Run) -> None:
    result = whole_run.result
    assert result.run_id and result.operator and result.binding == "cpdi-ref/1"
    assert result.suite_version == conformance.suite_version()
    assert result.configuration["actors.sender.mode"] == "simulated"
    assert result.configuration["run.output_dir"] == str(whole_run.out)
    assert int(result.configuration["run.seed"]) >= 0
    assert result.requirements


def test_a_leaked_secret_fails_the_cases_that_prove_secrecy_and_stays_out_of_the_reports(
    tmp_path: Path,
) -> None:
    run = conformance_run(tmp_path, "leak", "--tags", "@CPDI-TOK-01 or @CPDI-TOK-03")
    assert run.process.returncode == 3, run.process.stderr
    ran = {k: v for k, v in run.statuses().items() if k.startswith(f"{BOUND}::")}
    assert ran == {
        f"{BOUND}::Nothing the repository holds or was sent reveals the secret": Status.FAILED,
        f"{BOUND}::The secret reaches the receiving hospital only inside the token": Status.FAILED,
        f"{BOUND}::The token travels by a route apart from the payload": Status.PASSED,
    }
    failed = run.result.test(
        f"{BOUND}::Nothing the repository holds or was sent reveals the secret"
    )
    assert "url: the secret in hex" in failed.steps[-1].message
    assert_no_secret_in_reports(run)


def test_a_harness_fault_ends_the_case_in_error_and_the_run_with_4(tmp_path: Path) -> None:
    run = conformance_run(tmp_path, "lab-fails", "--tags", "@CPDI-TOK-03")
    assert run.process.returncode == 4, run.process.stderr
    test = run.result.test(f"{BOUND}::The token travels by a route apart from the payload")
    assert test.status is Status.ERROR
    assert "OSError" in test.reason and "no space left for the lab" in test.reason
    assert test.steps[0].status is Status.ERROR
    assert [step.status for step in test.steps[1:]] == [Status.NOT_RUN, Status.NOT_RUN]


def test_list_prints_every_scenario_and_its_requirements(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["conformance", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["FEATURE", "ACTOR", "OPTION"]
    assert len(lines) == 1 + len(load_features())
    route = [line for line in lines if "The token travels by a route apart" in line]
    assert len(route) == 1 and route[0].startswith(BOUND) and "CPDI-TOK-03" in route[0]


def test_list_of_one_actor(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["conformance", "list", "--actor", "repository"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows and all("  repository  " in row for row in rows)


def test_cases_are_selected_by_actor_and_tag_expression() -> None:
    scenarios = load_features()
    every = conformance.select_cases(scenarios)
    assert len(every) == sum(len(s.cases()) for s in scenarios)
    repository = conformance.select_cases(scenarios, actor="repository")
    assert repository and all(case.actors == ("repository",) for case, _ in repository)
    tagged = conformance.select_cases(scenarios, tags="@CPDI-TOK-01 and not @actor:repository")
    bare = conformance.select_cases(scenarios, tags="CPDI-TOK-01 and not actor:repository")
    assert tagged == bare
    assert tagged and all("CPDI-TOK-01" in case.requirement_ids for case, _ in tagged)
    titles = {title for _, title in tagged}
    assert "The secret stays with the token" in titles


def test_a_bad_tag_expression_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["conformance", "run", "--tags", "@a and"]) == 2
    assert "--tags is not a tag expression" in capsys.readouterr().err


def test_a_selection_of_nothing_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["conformance", "run", "--tags", "@NO-SUCH-99"]) == 2
    assert "no scenario matches" in capsys.readouterr().err


def test_a_suite_that_breaks_its_rules_is_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(conformance, "check_features", lambda: ["x.feature:3: unknown tag @y"])
    out = tmp_path / "out"
    assert cli.main(["conformance", "run", "--out", str(out)]) == 4
    assert "x.feature:3: unknown tag @y" in capsys.readouterr().err
    assert not out.exists()


def test_every_case_is_accounted_for_when_the_steps_could_not_run() -> None:
    cases = conformance.select_cases(load_features(), tags="@CPDI-TOK-03")
    ids = {case.id for case, _ in cases}
    failed = conformance.account_for(cases, StepRun((), frozenset(), failure="cannot load"))
    assert {t.status for t in failed} == {Status.ERROR} and {t.reason for t in failed} == {
        "cannot load"
    }
    stopped = conformance.account_for(cases, StepRun((), frozenset(ids), interrupted=True))
    assert {t.not_run_cause for t in stopped} == {NotRunCause.OPERATOR}


def test_the_configuration_is_flattened_for_the_header() -> None:
    flat = conformance.flatten(RunConfig.default(Path("/results")).summary())
    assert flat["run.output_dir"] == "/results"
    assert flat["community.directory"] == "none"
    assert flat["run.operator"] == "none"
    assert all(isinstance(value, str) for value in flat.values())


def test_an_all_simulated_configuration_is_taken() -> None:
    config = conformance.run_config(ROOT / "examples" / "run-standards-body.toml")
    assert config.run.seed == 1 and not config.suts


def test_an_unreadable_configuration_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "run.toml"
    broken.write_text("version = 1\n[run]\noperater = 'me'\n", encoding="utf-8")
    assert cli.main(["conformance", "run", "--config", str(broken)]) == 2
    assert "operater" in capsys.readouterr().err


def test_one_sender_receiver_or_repository_under_test_is_taken() -> None:
    for name, actor in [
        ("sender", "sender"),
        ("receiver", "receiver"),
        ("repository", "repository"),
    ]:
        config = conformance.run_config(ROOT / "examples" / f"run-vendor-{name}.toml")
        assert [sut.name for sut in config.suts] == [actor]


def test_several_graded_actors_under_test_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hospital = ROOT / "examples" / "run-hospital-acceptance.toml"
    assert cli.main(["conformance", "run", "--config", str(hospital)]) == 2
    assert "puts sender, receiver under test" in capsys.readouterr().err


def test_an_actor_other_than_the_one_under_test_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sender = ROOT / "examples" / "run-vendor-sender.toml"
    assert cli.main(["conformance", "run", "--config", str(sender), "--actor", "receiver"]) == 2
    assert "puts the sender under test, not the receiver" in capsys.readouterr().err
