"""Load and check the requirement catalog (``features/requirements.yaml``).

Scenarios, validator findings and reports cite requirements by ID; this module is the one place
that reads the catalog, and it refuses a catalog that breaks its schema, so that a typo cannot
quietly drop a requirement from coverage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cloudpdi.errors import CloudPDIError

CATALOG_VERSION = 1
REQUIREMENT_ID = re.compile(r"^[A-Z]+(?:-[A-Z]+)+-\d{2}$")
ACTORS = frozenset({"sender", "repository", "receiver"})
_FIELDS = {"id", "text", "source", "status", "actors", "machine_checkable", "reason"}


class CatalogError(CloudPDIError):
    """The requirement catalog breaks its schema."""


class Status(StrEnum):
    """How sure we are of a requirement (shared/SPEC_NOTES.md)."""

    CONFIRMED = "CONFIRMED"
    SECONDARY = "SECONDARY"
    ASSUMED = "ASSUMED"


@dataclass(frozen=True)
class Requirement:
    """One requirement: what it says, where it comes from, who must meet it."""

    id: str
    text: str
    source: str
    status: Status
    actors: tuple[str, ...]
    machine_checkable: bool = True
    reason: str = ""


@dataclass(frozen=True)
class Catalog:
    """The requirements by ID, in catalog order."""

    requirements: tuple[Requirement, ...]

    def __getitem__(self, requirement_id: str) -> Requirement:
        for requirement in self.requirements:
            if requirement.id == requirement_id:
                return requirement
        raise KeyError(requirement_id)

    def __contains__(self, requirement_id: object) -> bool:
        return any(r.id == requirement_id for r in self.requirements)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.requirements)


def default_catalog_path() -> Path:
    """Return the catalog shipped with the package."""
    return Path(str(resources.files("features").joinpath("requirements.yaml")))


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and schema-check the catalog at ``path`` (the shipped one by default)."""
    path = path or default_catalog_path()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"cannot read requirement catalog {path}: {exc}") from None
    return parse_catalog(document)


def parse_catalog(document: Any) -> Catalog:
    """Check a parsed catalog document against the schema and build the model."""
    if not isinstance(document, dict) or document.get("version") != CATALOG_VERSION:
        raise CatalogError(f"catalog must be a mapping with version: {CATALOG_VERSION}")
    items = document.get("requirements")
    if not isinstance(items, list) or not items:
        raise CatalogError("catalog needs a non-empty 'requirements' list")
    requirements = [_requirement(index, item) for index, item in enumerate(items)]
    seen: set[str] = set()
    for requirement in requirements:
        if requirement.id in seen:
            raise CatalogError(f"requirement {requirement.id} is listed twice")
        seen.add(requirement.id)
    return Catalog(tuple(requirements))


def _requirement(index: int, item: Any) -> Requirement:
    where = f"requirement #{index + 1}"
    if not isinstance(item, dict):
        raise CatalogError(f"{where} is not a mapping")
    unknown = set(item) - _FIELDS
    if unknown:
        raise CatalogError(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    requirement_id = item.get("id")
    if not isinstance(requirement_id, str) or not REQUIREMENT_ID.match(requirement_id):
        raise CatalogError(f"{where} has no valid id (like CPDI-ENC-01)")
    where = requirement_id
    for field in ("text", "source"):
        if not isinstance(item.get(field), str) or not item[field].strip():
            raise CatalogError(f"{where} needs a non-empty '{field}'")
    try:
        status = Status(item.get("status"))
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise CatalogError(f"{where} has status {item.get('status')!r}; use {allowed}") from None
    actors = item.get("actors")
    if not isinstance(actors, list) or not actors or not set(actors) <= ACTORS:
        raise CatalogError(f"{where} needs 'actors' from {', '.join(sorted(ACTORS))}")
    checkable = item.get("machine_checkable", True)
    reason = item.get("reason", "")
    if not isinstance(checkable, bool) or not isinstance(reason, str):
        raise CatalogError(f"{where} has a malformed machine_checkable or reason")
    if not checkable and not reason.strip():
        raise CatalogError(f"{where} is not machine-checkable but gives no reason")
    return Requirement(
        id=requirement_id,
        text=item["text"].strip(),
        source=item["source"].strip(),
        status=status,
        actors=tuple(actors),
        machine_checkable=checkable,
        reason=reason.strip(),
    )
