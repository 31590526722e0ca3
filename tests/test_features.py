"""The feature files parse, keep their rules, cover the catalog, and the rules can fail."""

from __future__ import annotations

import fnmatch
import re
import tomllib
import unicodedata
from pathlib import Path

import pytest

from features.catalog import load_catalog
from features.rules import (
    check_features,
    check_suite,
    requirement_coverage,
    step_pattern,
    step_patterns,
)
from features.spec import (
    OPTIONS,
    FeatureError,
    Step,
    default_features_root,
    feature_paths,
    format_scenario_table,
    list_scenarios,
    load_features,
    parse_feature,
)
from fixtures.broken import BROKEN_CASES

ROOT = Path(__file__).resolve().parents[1]
CROSS_FEATURES = {
    "token_secrecy",
    "expiry_revocation",
    "pdi_compatibility",
    "token_formats",
    "patient_reconciliation",
    "non_image_content",
    "support_images",
}
# Raise it on purpose, not by drift: reuse a phrase before inventing one.
STEP_PATTERN_BUDGET = 90
_BROKEN = re.compile(r"is broken: (.+)$")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def scenarios():
    return load_features()


def test_every_actor_and_concern_has_feature_files() -> None:
    paths = feature_paths()
    folders = {path.parent.name for path in paths}
    assert folders == {"sender", "repository", "receiver", "cross"}
    assert {p.stem for p in paths if p.parent.name == "cross"} == CROSS_FEATURES


def test_shipped_suite_keeps_every_rule() -> None:
    assert check_features() == []


def test_every_machine_checkable_requirement_is_covered(catalog, scenarios) -> None:
    coverage = requirement_coverage(scenarios, catalog)
    for requirement in catalog.requirements:
        if requirement.machine_checkable:
            assert coverage[requirement.id], f"{requirement.id} has no scenario"
        else:
            # Listed with its reason instead: no behaviour can show it.
            assert not coverage[requirement.id]
            assert requirement.reason
    assert [r.id for r in catalog.requirements if not r.machine_checkable] == ["HIT-SEC-01"]


def test_every_case_grades_one_actor_and_option(scenarios) -> None:
    cases = [case for scenario in scenarios for case in scenario.cases()]
    assert len(cases) > len(scenarios)  # outlines expand
    for case in cases:
        assert len(case.actors) == 1 and len(case.options) == 1, case.id
        assert case.options[0] in OPTIONS
    graded = {(case.actors[0], case.options[0]) for case in cases}
    assert {actor for actor, _ in graded} == {"sender", "repository", "receiver"}


def test_file_set_defects_are_broken_cases_that_break_the_row_requirement(scenarios) -> None:
    by_description = {case.description: case for case in BROKEN_CASES.values()}
    controls: set[str] = set()
    for scenario in scenarios:
        for case in scenario.cases():
            for step in case.steps:
                match = _BROKEN.search(step.text)
                if not match:
                    continue
                broken = by_description.get(match.group(1))
                assert broken is not None, f"{case.id}: no broken case {match.group(1)!r}"
                if "fails" in case.name:
                    assert case.requirement_ids == (broken.requirement,), case.id
                    controls.add(broken.name)
    # Every broken case is a control of the sender's own file set.
    assert controls == set(BROKEN_CASES)


def test_step_phrasing_reuses_patterns(scenarios) -> None:
    patterns = step_patterns(scenarios)
    steps = sum(patterns.values())
    print(f"{len(patterns)} distinct step patterns over {steps} steps")
    assert len(patterns) <= STEP_PATTERN_BUDGET


def test_feature_files_ship_as_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["features"]
    root = default_features_root()
    for path in feature_paths():
        relative = path.relative_to(root).as_posix()
        assert any(fnmatch.fnmatch(relative, glob) for glob in globs), relative


# --- the loader -----------------------------------------------------------------------------

OUTLINE = """\
@actor:receiver
Feature: A small feature
  Background:
    Given a referral study of 3 CT images for patient "山田 太郎"

  @CPDI-RCV-01 @required
  Scenario Outline: The receiver imports a <modality> study
    When the sending hospital sends the study to the receiving hospital
    And 4 seconds pass
    Then the receiving PACS holds <count> images of the study
    But the receiving hospital refuses the transfer

    @option:core
    Examples: plain
      | modality | count |
      | CT       | 20    |
      | MR       | 12    |

    @option:compressed-images @CPDI-INT-01
    Examples: compressed
      | modality | count |
      | DX       | 1     |

  Rule: tokens
    @HIT-ITEM-01 @option:core @optional
    Scenario: A plain scenario under a rule
      Then the receiving hospital refuses the transfer
"""


def test_outline_expands_to_cases_with_filled_names_and_added_tags() -> None:
    outline, plain = parse_feature(OUTLINE, "receiver/small.feature")
    assert outline.examples_count == 3
    cases = outline.cases()
    assert [case.name for case in cases] == [
        "The receiver imports a CT study",
        "The receiver imports a MR study",
        "The receiver imports a DX study",
    ]
    assert cases[0].id == "receiver/small.feature::The receiver imports a CT study"
    assert [case.line for case in cases] == [16, 17, 22]
    assert cases[0].steps[-2].text == "the receiving PACS holds 20 images of the study"
    assert cases[0].options == ("core",) and cases[2].options == ("compressed-images",)
    assert cases[2].requirement_ids == ("CPDI-RCV-01", "CPDI-INT-01")
    assert outline.options == ("core", "compressed-images")
    assert outline.requirement_ids == ("CPDI-RCV-01", "CPDI-INT-01")
    assert outline.actors == ("receiver",) and outline.required
    assert not plain.examples and not plain.required
    assert plain.tags == ("actor:receiver", "HIT-ITEM-01", "option:core", "optional")


def test_background_comes_first_and_and_but_continue_the_step_type() -> None:
    outline, plain = parse_feature(OUTLINE, "receiver/small.feature")
    assert [step.type for step in outline.steps] == ["Given", "When", "When", "Then", "Then"]
    assert outline.steps[0].text.startswith("a referral study of 3 CT images")
    assert [step.type for step in plain.steps] == ["Given", "Then"]


def test_invalid_gherkin_is_a_feature_error_naming_the_file() -> None:
    with pytest.raises(FeatureError, match=r"sender/bad\.feature"):
        parse_feature(
            "Feature: x\n  Scenario: y\n    Given z\n  nonsense here\n", "sender/bad.feature"
        )
    with pytest.raises(FeatureError, match="no feature"):
        parse_feature("# only a comment\n", "sender/empty.feature")


def test_load_features_reads_a_folder(tmp_path: Path) -> None:
    (tmp_path / "receiver").mkdir()
    (tmp_path / "receiver" / "small.feature").write_text(OUTLINE, encoding="utf-8")
    (tmp_path / "stray.feature").write_text("not gherkin", encoding="utf-8")  # not in a folder
    scenarios = load_features(tmp_path)
    assert [s.path for s in scenarios] == ["receiver/small.feature"] * 2


def test_step_patterns_blank_parameters_so_outlines_and_scenarios_agree() -> None:
    plain = Step("Given", 'a referral study of 20 CT images for patient "山田 太郎"', 1)
    outline = Step("Given", "a referral study of <count> <modality> images for patient <name>", 1)
    assert step_pattern(plain) == step_pattern(outline)
    assert step_pattern(plain) == "Given a referral study of {} {} images for patient {}"
    meets = Step("Then", "the file set in the envelope meets PDI-TS-01", 1)
    assert step_pattern(meets) == "Then the file set in the envelope meets {}"
    # ID is a word, not a modality code.
    assert step_pattern(Step("Then", "every transfer has its own document ID", 1)).endswith("ID")


# --- the rules can fail ---------------------------------------------------------------------

GOOD = """\
Feature: One scenario
  @actor:receiver @CPDI-INT-01 @option:core @required
  Scenario: A damaged download is refused
    Given a referral study of 3 CT images for patient "山田 太郎"
    When the sending hospital sends the study to the receiving hospital
    Then the receiving hospital refuses the transfer
"""


def _problems(text: str, catalog) -> list[str]:
    scenarios = parse_feature(text, "receiver/x.feature")
    problems = check_suite(scenarios, catalog, {"receiver/x.feature": text})
    # A one-scenario suite covers almost nothing; those findings are tested on their own.
    return [p for p in problems if not p.endswith("no scenario proves it")]


def test_a_good_scenario_has_no_problems(catalog) -> None:
    assert _problems(GOOD, catalog) == []


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("@actor:receiver", "@actor:receiver @actor:sender", "exactly one @actor: tag, has 2"),
        ("@actor:receiver ", "", "exactly one @actor: tag, has 0"),
        ("@actor:receiver", "@actor:pacs", "unknown tag @actor:pacs"),
        ("@option:core", "@option:colour", "unknown tag @option:colour"),
        ("@option:core ", "", "exactly one @option: tag, has 0"),
        ("@required", "@required @optional", "exactly one of @required and @optional"),
        ("@required", "", "exactly one of @required and @optional"),
        ("@CPDI-INT-01 ", "", "cites no requirement"),
        ("@CPDI-INT-01", "@CPDI-XYZ-99", "@CPDI-XYZ-99 is not in the requirement catalog"),
        ("@CPDI-INT-01", "@HIT-SEC-01", "@HIT-SEC-01 is not machine-checkable"),
        ("@CPDI-INT-01", "@PDI-DIR-01", "@PDI-DIR-01 does not bind the receiver"),
        ("@CPDI-INT-01", "@CPDI-INT-01 @smoke", "unknown tag @smoke"),
        (
            "refuses the transfer",
            "refuses the transfer\n    And the file set in the envelope meets PDI-TS-01",
            "step names PDI-TS-01 but the case is not tagged with it",
        ),
        ("    Then the receiving hospital refuses the transfer\n", "", "has no Then step"),
        (
            "Then the receiving hospital refuses the transfer",
            "Then the receiving hospital answers with status code 410",
            "implementation word 'status code'",
        ),
        (
            "Then the receiving hospital refuses the transfer",
            "Then the receiving hospital refuses the transfer on port 8080",
            "implementation word 'port'",
        ),
        (
            "Then the receiving hospital refuses the transfer",
            "Then the receiving hospital answers a POST of the token",
            "implementation word 'POST'",
        ),
        (
            "When the sending hospital sends",
            "Given the sending hospital sends",
            "is used as Given and When",
        ),
    ],
)
def test_each_rule_can_fail(catalog, old: str, new: str, problem: str) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    if "used as Given and When" in problem:
        text += "\n" + GOOD.split("\n", 1)[1].replace("A damaged", "Another damaged")
    problems = _problems(text, catalog)
    assert any(problem in p for p in problems), problems


def test_outline_rules_can_fail(catalog) -> None:
    outline = GOOD.replace("Scenario:", "Scenario Outline:").replace(
        "refuses the transfer", "refuses the transfer <how>"
    )
    assert any("<how> has no examples column" in p for p in _problems(outline, catalog))
    empty = outline + "\n    Examples:\n      | how |\n"
    assert any("examples without rows" in p for p in _problems(empty, catalog))


def test_option_and_actor_tags_on_examples_are_reported(catalog) -> None:
    outline = GOOD.replace("Scenario:", "Scenario Outline:").replace(
        "refuses the transfer", "refuses the transfer <how>"
    )
    for tag in ("@option:core", "@actor:receiver"):
        moved = outline.replace(f"{tag} ", "", 1) + f"\n    {tag}\n    Examples: x\n"
        moved += "      | how |\n      | now |\n"
        problems = _problems(moved, catalog)
        assert any(f"{tag} is on the examples 'x'" in p for p in problems), problems
    # Requirement tags on an examples block are markers pytest-bdd can apply.
    kept = outline + "\n    @CPDI-RCV-01\n    Examples: x\n      | how |\n      | now |\n"
    assert _problems(kept, catalog) == []


def test_two_cases_with_one_name_are_reported(catalog) -> None:
    twice = GOOD + "\n" + GOOD.split("\n", 1)[1]
    assert any("two cases have this name" in p for p in _problems(twice, catalog))


def test_an_uncovered_requirement_is_reported(catalog) -> None:
    scenarios = parse_feature(GOOD, "receiver/x.feature")
    problems = check_suite(scenarios, catalog)
    assert "CPDI-ENC-01: no scenario proves it" in problems
    assert not any(p.startswith("CPDI-INT-01:") for p in problems)
    assert not any(p.startswith("HIT-SEC-01:") for p in problems)  # not machine-checkable


# --- listing --------------------------------------------------------------------------------


def test_list_scenarios_names_actor_option_and_requirements() -> None:
    listings = list_scenarios(actor="repository")
    assert listings and all(item.actor == "repository" for item in listings)
    expired = next(
        i for i in listings if i.scenario.startswith("The repository refuses a document")
    )
    assert expired.requirement_ids == ("CPDI-RET-01",)
    assert expired.options == ("core",) and expired.required and expired.cases == 1
    everyone = list_scenarios()
    assert len(everyone) == len(load_features()) > len(listings)


def test_table_aligns_columns_even_with_wide_characters(tmp_path: Path) -> None:
    (tmp_path / "receiver").mkdir()
    wide = GOOD.replace("A damaged download is refused", "山田さんの転送は拒否される")
    (tmp_path / "receiver" / "x.feature").write_text(wide, encoding="utf-8")
    (tmp_path / "receiver" / "y.feature").write_text(OUTLINE, encoding="utf-8")
    lines = format_scenario_table(list_scenarios(root=tmp_path)).splitlines()
    assert lines[0].split() == [
        "FEATURE",
        "ACTOR",
        "OPTION",
        "NEED",
        "CASES",
        "SCENARIO",
        "REQUIREMENTS",
    ]
    assert len(lines) == 4
    assert "core, compressed-images" in lines[2] and "optional" in lines[3]
    # The requirements column starts at the same terminal column on every line.
    starts = {_display_width(line[: line.index(_last_column(line))]) for line in lines}
    assert len(starts) == 1, lines


def _last_column(line: str) -> str:
    return (
        "REQUIREMENTS" if line.startswith("FEATURE") else re.findall(r"[A-Z]+-[A-Z]+-\d\d", line)[0]
    )


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
