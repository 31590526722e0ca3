"""The rules the feature files keep (features/README.md), and the figures that show they do.

:func:`check_features` reads the whole suite and returns every broken rule, so that a typo in a
tag cannot quietly drop a requirement from coverage or a scenario from a grade. The conformance
runner refuses a suite that breaks them; ``tests/test_features.py`` keeps the shipped one clean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from features.catalog import ACTORS, REQUIREMENT_ID, Catalog, load_catalog
from features.spec import (
    ACTOR_PREFIX,
    OPTION_PREFIX,
    OPTIONAL,
    OPTIONS,
    PLACEHOLDER,
    REQUIRED,
    Case,
    Scenario,
    Step,
    feature_texts,
    parse_features,
)

_IMPLEMENTATION_WORDS = (
    r"\bjson\b",
    r"\bhttps?\b",
    r"\b127\.0\.0\.1\b",
    r"\blocalhost\b",
    r"\bports?\b",
    r"\burls?\b",
    r"\bendpoints?\b",
    r"\bapi\b",
    r"\bdef\s",
    r"\(\)",
    r"\.py\b",
    r"\bpy(?:dicom|netdicom|test)\b",
    r"\bstatus code\b",
    r"\bjw[est]\b",
    r"\bbase64\b",
    r"\bsqlite\b",
    r"\bfixtures?\b",
    r"\bfunction\b",
    r"\bexception\b",
    r"\bnull\b",
)
#: Words that belong to an implementation, not to the domain a feature file speaks.
IMPLEMENTATION_WORDS: tuple[re.Pattern[str], ...] = (
    *(re.compile(word, re.IGNORECASE) for word in _IMPLEMENTATION_WORDS),
    # Upper case only: these are HTTP methods, while "get" and "head" are plain English.
    re.compile(r"\b(?:GET|PUT|POST|PATCH|HEAD)\b"),
)


_QUOTED = re.compile(r'"[^"]*"')
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
# DICOM modality codes are parameters too ("20 CT images"); PS3.3 C.7.3.1.1.1 lists them.
_MODALITY = re.compile(r"\b(?:CR|CT|DX|MG|MR|NM|OT|PT|SR|US|XA)\b")
_REQUIREMENT_IN_TEXT = re.compile(r"\b[A-Z]+(?:-[A-Z]+)+-\d{2}\b")


def step_pattern(step: Step) -> str:
    """Return the step with its parameters blanked: what one step definition would match.

    Parameters are outline placeholders, quoted text, requirement IDs, numbers and modality
    codes; the type (Given, When, Then) is part of the pattern.
    """
    text = PLACEHOLDER.sub("{}", step.text)
    for pattern in (_QUOTED, _REQUIREMENT_IN_TEXT, _NUMBER, _MODALITY):
        text = pattern.sub("{}", text)
    return f"{step.type} {text}"


def step_patterns(scenarios: Iterable[Scenario]) -> dict[str, int]:
    """Count how many steps of the scenarios (templates, not cases) use each pattern."""
    counts: dict[str, int] = {}
    for scenario in scenarios:
        for step in scenario.steps:
            pattern = step_pattern(step)
            counts[pattern] = counts.get(pattern, 0) + 1
    return counts


def requirement_coverage(scenarios: Iterable[Scenario], catalog: Catalog) -> dict[str, list[str]]:
    """Map every requirement of the catalog to the IDs of the cases that cite it."""
    coverage: dict[str, list[str]] = {requirement_id: [] for requirement_id in catalog.ids}
    for scenario in scenarios:
        for case in scenario.cases():
            for requirement_id in case.requirement_ids:
                coverage.setdefault(requirement_id, []).append(case.id)
    return coverage


def check_suite(
    scenarios: Sequence[Scenario], catalog: Catalog, texts: Mapping[str, str] | None = None
) -> list[str]:
    """Return every way the scenarios break the rules of features/README.md (empty: none).

    ``texts`` maps feature file paths to their text, to be searched for implementation words.
    """
    return [
        *(p for scenario in scenarios for p in _scenario_problems(scenario, catalog)),
        *_duplicate_cases(scenarios),
        *_uncovered(scenarios, catalog),
        *_steps_of_two_types(scenarios),
        *_implementation_words(texts or {}),
    ]


def _duplicate_cases(scenarios: Iterable[Scenario]) -> Iterable[str]:
    seen: set[str] = set()
    for scenario in scenarios:
        for case in scenario.cases():
            if case.id in seen:
                yield f"{case.id}: two cases have this name"
            seen.add(case.id)


def _uncovered(scenarios: Iterable[Scenario], catalog: Catalog) -> Iterable[str]:
    coverage = requirement_coverage(scenarios, catalog)
    for requirement in catalog.requirements:
        if requirement.machine_checkable and not coverage[requirement.id]:
            yield f"{requirement.id}: no scenario proves it"


def _steps_of_two_types(scenarios: Iterable[Scenario]) -> Iterable[str]:
    # pytest-bdd binds a step definition to one type: a phrase used as two needs two of them.
    types: dict[str, set[str]] = {}
    for scenario in scenarios:
        for step in scenario.steps:
            kind, _, text = step_pattern(step).partition(" ")
            types.setdefault(text, set()).add(kind)
    for text, kinds in types.items():
        if len(kinds) > 1:
            yield f"step {text!r} is used as {' and '.join(sorted(kinds))}"


def _implementation_words(texts: Mapping[str, str]) -> Iterable[str]:
    for path, text in texts.items():
        for number, line in enumerate(text.splitlines(), start=1):
            for word in IMPLEMENTATION_WORDS:
                if match := word.search(line):
                    yield f"{path}:{number}: implementation word {match.group(0)!r}"


def _scenario_problems(scenario: Scenario, catalog: Catalog) -> Iterable[str]:
    where = f"{scenario.path}:{scenario.line}"
    if not any(step.type == "Then" for step in scenario.steps):
        yield f"{where}: {scenario.name}: has no Then step, so it cannot fail"
    if scenario.examples and not scenario.examples_count:
        yield f"{where}: {scenario.name}: has examples without rows, so it never runs"
    for block in scenario.examples:
        # pytest-bdd makes an examples tag a marker as it stands: a colon cannot be in one.
        for tag in block.tags:
            if tag.startswith((ACTOR_PREFIX, OPTION_PREFIX)):
                yield (
                    f"{where}: {scenario.name}: @{tag} is on the examples {block.name!r}; "
                    "put it on the scenario (one outline per actor and option)"
                )
    columns = {column for block in scenario.examples for row in block.rows for column in row}
    for text in (scenario.name, *(step.text for step in scenario.steps)):
        for name in PLACEHOLDER.findall(text):
            if name not in columns:
                yield f"{where}: <{name}> has no examples column"
    for case in scenario.cases():
        at = f"{scenario.path}:{case.line}: {case.name}"
        yield from (f"{at}: {problem}" for problem in _case_problems(case, catalog))


def _case_problems(case: Case, catalog: Catalog) -> Iterable[str]:
    for tag in case.tags:
        if not _known_tag(tag):
            yield f"unknown tag @{tag}"
    for tags, what in ((case.actors, "@actor:"), (case.options, "@option:")):
        if len(tags) != 1:
            yield f"needs exactly one {what} tag, has {len(tags)}"
    if (REQUIRED in case.tags) == (OPTIONAL in case.tags):
        yield "needs exactly one of @required and @optional"
    if not case.requirement_ids:
        yield "cites no requirement"
    for requirement_id in case.requirement_ids:
        if requirement_id not in catalog:
            yield f"@{requirement_id} is not in the requirement catalog"
            continue
        requirement = catalog[requirement_id]
        if not requirement.machine_checkable:
            yield f"@{requirement_id} is not machine-checkable, so no scenario can prove it"
        for actor in case.actors:
            if actor not in requirement.actors:
                yield f"@{requirement_id} does not bind the {actor}"
    for step in case.steps:
        for mentioned in _REQUIREMENT_IN_TEXT.findall(step.text):
            if mentioned not in case.requirement_ids:
                yield f"step names {mentioned} but the case is not tagged with it"


def _known_tag(tag: str) -> bool:
    if REQUIREMENT_ID.match(tag) or tag in (REQUIRED, OPTIONAL):
        return True
    if tag.startswith(ACTOR_PREFIX):
        return tag.removeprefix(ACTOR_PREFIX) in ACTORS
    return tag.startswith(OPTION_PREFIX) and tag.removeprefix(OPTION_PREFIX) in OPTIONS


def check_features(root: Path | None = None, catalog: Catalog | None = None) -> list[str]:
    """Read the suite under ``root`` (the shipped one by default) and return its broken rules."""
    texts = feature_texts(root)
    return check_suite(parse_features(texts), catalog or load_catalog(), texts)
