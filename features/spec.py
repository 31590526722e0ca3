"""Read the feature files (the executable specification) into scenarios, tags and test cases.

The ``.feature`` files under ``features/<folder>/`` are parsed with the official Gherkin parser
(the one pytest-bdd uses), so what this module reads is what the step runner will run. Tags say
what a scenario proves and whom it grades (features/README.md):

- requirement IDs from the catalog, e.g. ``@CPDI-ENC-01``;
- ``@actor:<actor>``: the actor under test (sender, repository or receiver);
- ``@option:<option>``: the option of that actor the scenario grades (``core`` for the baseline);
- ``@required`` or ``@optional``: whether the option's grade needs it to pass.

Tags of the feature, rule, scenario and examples block add up, as in Gherkin. One *case* is one
scenario, or one row of a scenario outline: the unit that runs, passes or fails.
:func:`features.rules.check_features` holds every case to those rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gherkin.errors import ParserError
from gherkin.parser import Parser

from cloudpdi.errors import CloudPDIError
from features.catalog import REQUIREMENT_ID

ACTOR_PREFIX = "actor:"
OPTION_PREFIX = "option:"
REQUIRED = "required"
OPTIONAL = "optional"

#: The options a scenario can grade, and what each means (features/README.md).
OPTIONS: dict[str, str] = {
    "core": "the baseline every implementation of the actor must meet",
    "sealed-token": "electronic tokens sealed to the receiving facility's key and signed",
    "token-slip": "printed token slips with a QR code, and codes typed in by hand",
    "pseudonymised-token": "tokens that refer to the patient by a pseudonym",
    "non-image-content": "referral letters, lab results, prescriptions and FHIR documents",
    "support-images": "AI and CAD support images kept apart from originals",
    "web-content": "IHE_PDI web content for viewing the study in a browser",
    "compressed-images": "images in the JPEG and JPEG 2000 transfer syntaxes",
    "download-limit": "documents that may be downloaded only a set number of times",
}

PLACEHOLDER = re.compile(r"<([^<>]+)>")
_STEP_TYPES = {"Context": "Given", "Action": "When", "Outcome": "Then"}


class FeatureError(CloudPDIError):
    """A feature file cannot be read or is not valid Gherkin."""


@dataclass(frozen=True)
class Step:
    """One step: its type (Given, When or Then, with And and But resolved) and its text."""

    type: str
    text: str
    line: int


@dataclass(frozen=True)
class Examples:
    """One examples block of a scenario outline: its tags and rows, cells by column name."""

    name: str
    tags: tuple[str, ...]
    rows: tuple[Mapping[str, str], ...]
    #: The line of each row, for pointing at the case it makes.
    lines: tuple[int, ...]


@dataclass(frozen=True)
class Case:
    """One runnable case: a scenario, or one examples row of an outline, with all its tags."""

    id: str
    name: str
    tags: tuple[str, ...]
    steps: tuple[Step, ...]
    line: int

    @property
    def requirement_ids(self) -> tuple[str, ...]:
        return requirement_ids(self.tags)

    @property
    def actors(self) -> tuple[str, ...]:
        return _prefixed(self.tags, ACTOR_PREFIX)

    @property
    def options(self) -> tuple[str, ...]:
        return _prefixed(self.tags, OPTION_PREFIX)

    @property
    def required(self) -> bool:
        return REQUIRED in self.tags


@dataclass(frozen=True)
class Scenario:
    """A scenario or scenario outline of a feature file; ``tags`` include the feature's."""

    path: str
    feature: str
    name: str
    line: int
    tags: tuple[str, ...]
    steps: tuple[Step, ...]
    examples: tuple[Examples, ...] = ()

    @property
    def examples_count(self) -> int:
        """Return the number of examples rows (0 for a plain scenario)."""
        return sum(len(block.rows) for block in self.examples)

    def cases(self) -> tuple[Case, ...]:
        """Return the cases this scenario runs as: itself, or one per examples row."""
        if not self.examples:
            return (Case(f"{self.path}::{self.name}", self.name, self.tags, self.steps, self.line),)
        cases = []
        for block in self.examples:
            for row, line in zip(block.rows, block.lines, strict=True):
                name = _fill(self.name, row)
                steps = tuple(Step(s.type, _fill(s.text, row), s.line) for s in self.steps)
                tags = _unique((*self.tags, *block.tags))
                cases.append(Case(f"{self.path}::{name}", name, tags, steps, line))
        return tuple(cases)

    @property
    def requirement_ids(self) -> tuple[str, ...]:
        return _unique(r for case in self.cases() for r in case.requirement_ids)

    @property
    def actors(self) -> tuple[str, ...]:
        return _unique(a for case in self.cases() for a in case.actors)

    @property
    def options(self) -> tuple[str, ...]:
        return _unique(o for case in self.cases() for o in case.options)

    @property
    def required(self) -> bool:
        return all(case.required for case in self.cases())


def default_features_root() -> Path:
    """Return the folder of the feature files shipped with the package."""
    return Path(str(resources.files("features")))


def feature_paths(root: Path | None = None) -> tuple[Path, ...]:
    """Return every feature file under ``root`` (one folder per actor or concern), sorted."""
    return tuple(sorted((root or default_features_root()).glob("*/*.feature")))


def feature_texts(root: Path | None = None) -> dict[str, str]:
    """Return the text of every feature file under ``root`` by its path relative to ``root``."""
    root = root or default_features_root()
    texts: dict[str, str] = {}
    for path in feature_paths(root):
        try:
            texts[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FeatureError(f"cannot read feature file {path}: {exc}") from None
    return texts


def load_features(root: Path | None = None) -> tuple[Scenario, ...]:
    """Parse every feature file under ``root`` (the shipped ones by default)."""
    return parse_features(feature_texts(root))


def parse_features(texts: Mapping[str, str]) -> tuple[Scenario, ...]:
    """Parse feature file texts, given by path, into their scenarios in path order."""
    return tuple(s for path, text in texts.items() for s in parse_feature(text, path))


def parse_feature(text: str, path: str) -> tuple[Scenario, ...]:
    """Parse the Gherkin ``text`` of the feature file at ``path`` into its scenarios."""
    try:
        document = Parser().parse(text)
    except ParserError as exc:
        raise FeatureError(f"{path} is not valid Gherkin: {exc}") from None
    feature = document.get("feature")
    if feature is None:
        raise FeatureError(f"{path} holds no feature")
    return tuple(_scenarios(feature["children"], path, feature["name"], _tags(feature), ()))


def _scenarios(
    children: list[dict[str, Any]],
    path: str,
    feature: str,
    tags: tuple[str, ...],
    background: tuple[Step, ...],
) -> Iterable[Scenario]:
    for child in children:
        if "background" in child:
            background += _steps(child["background"]["steps"])
        elif "rule" in child:
            rule = child["rule"]
            yield from _scenarios(rule["children"], path, feature, tags + _tags(rule), background)
        else:
            node = child["scenario"]
            yield Scenario(
                path=path,
                feature=feature,
                name=node["name"],
                line=node["location"]["line"],
                tags=_unique((*tags, *_tags(node))),
                steps=background + _steps(node["steps"]),
                examples=tuple(_examples(block) for block in node["examples"]),
            )


def _tags(node: dict[str, Any]) -> tuple[str, ...]:
    return tuple(tag["name"].removeprefix("@") for tag in node.get("tags", ()))


def _steps(nodes: list[dict[str, Any]]) -> tuple[Step, ...]:
    steps: list[Step] = []
    for node in nodes:
        # And and But continue the type of the step before them.
        kind = _STEP_TYPES.get(node["keywordType"]) or (steps[-1].type if steps else "Given")
        steps.append(Step(kind, node["text"], node["location"]["line"]))
    return tuple(steps)


def _examples(block: dict[str, Any]) -> Examples:
    header = [cell["value"] for cell in (block.get("tableHeader") or {}).get("cells", ())]
    body = block.get("tableBody", ())
    rows = tuple(
        dict(zip(header, (cell["value"] for cell in row["cells"]), strict=True)) for row in body
    )
    lines = tuple(row["location"]["line"] for row in body)
    return Examples(block["name"], _tags(block), rows, lines)


def _fill(template: str, row: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: row.get(m.group(1), m.group(0)), template)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _prefixed(tags: Iterable[str], prefix: str) -> tuple[str, ...]:
    return tuple(tag.removeprefix(prefix) for tag in tags if tag.startswith(prefix))


def requirement_ids(tags: Iterable[str]) -> tuple[str, ...]:
    """Return the tags shaped like a requirement ID, in order."""
    return tuple(tag for tag in tags if REQUIREMENT_ID.match(tag))


@dataclass(frozen=True)
class ScenarioListing:
    """One line of ``cloudpdi conformance list``: a scenario, whom it grades, what it proves."""

    feature: str
    scenario: str
    actor: str
    options: tuple[str, ...]
    required: bool
    requirement_ids: tuple[str, ...]
    cases: int


def list_scenarios(actor: str | None = None, root: Path | None = None) -> list[ScenarioListing]:
    """List the scenarios of the shipped suite (or under ``root``), of one actor if given."""
    return [
        ScenarioListing(
            feature=scenario.path,
            scenario=scenario.name,
            actor=", ".join(scenario.actors),
            options=scenario.options,
            required=scenario.required,
            requirement_ids=scenario.requirement_ids,
            cases=len(scenario.cases()),
        )
        for scenario in load_features(root)
        if actor is None or actor in scenario.actors
    ]


def format_scenario_table(listings: Sequence[ScenarioListing]) -> str:
    """Return the listings as a plain-text table for a terminal, one scenario a line."""
    header = ("FEATURE", "ACTOR", "OPTION", "NEED", "CASES", "SCENARIO", "REQUIREMENTS")
    rows = [header] + [
        (
            item.feature,
            item.actor,
            ", ".join(item.options),
            REQUIRED if item.required else OPTIONAL,
            str(item.cases),
            item.scenario,
            " ".join(item.requirement_ids),
        )
        for item in listings
    ]
    widths = [max(_width(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _width(text: str) -> int:
    # Wide (CJK) characters take two columns of a terminal.
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
