"""The requirement catalog loads, matches SPEC_NOTES, and refuses schema breaks."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from features.catalog import CatalogError, Status, load_catalog, parse_catalog

SPEC_NOTES = Path(__file__).resolve().parents[2] / "shared" / "SPEC_NOTES.md"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    from features.catalog import default_catalog_path

    return yaml.safe_load(default_catalog_path().read_text(encoding="utf-8"))


def test_shipped_catalog_loads() -> None:
    catalog = load_catalog()
    assert "CPDI-ENC-01" in catalog
    assert catalog["PDI-DIR-03"].status is Status.CONFIRMED
    assert catalog["CPDI-RET-01"].status is Status.ASSUMED


@pytest.mark.skipif(not SPEC_NOTES.exists(), reason="shared/SPEC_NOTES.md is not beside this clone")
def test_catalog_lists_every_requirement_of_spec_notes() -> None:
    spec_ids = set(re.findall(r"^\| ([A-Z]+(?:-[A-Z0-9]+)+) \|", SPEC_NOTES.read_text(), re.M))
    assert spec_ids, "SPEC_NOTES table format changed"
    catalog = load_catalog()
    assert spec_ids <= set(catalog.ids)
    # Anything we add beyond the public sources is our own assumption, and says so.
    extra = set(catalog.ids) - spec_ids
    assert all(catalog[i].status is Status.ASSUMED for i in extra), extra


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["requirements"].append(copy.deepcopy(d["requirements"][0])), "twice"),
        (lambda d: d["requirements"][0].update(status="MAYBE"), "status"),
        (lambda d: d["requirements"][0].update(id="enc-1"), "valid id"),
        (lambda d: d["requirements"][0].update(actors=["cloud"]), "actors"),
        (lambda d: d["requirements"][0].update(text=""), "text"),
        (lambda d: d["requirements"][0].update(colour="red"), "unknown fields"),
        (lambda d: d["requirements"][0].update(machine_checkable=False), "no reason"),
        (lambda d: d.update(version=2), "version"),
    ],
)
def test_schema_breaks_are_refused(document: dict[str, Any], mutate: Any, message: str) -> None:
    broken = copy.deepcopy(document)
    mutate(broken)
    with pytest.raises(CatalogError, match=message):
        parse_catalog(broken)


def test_unreadable_catalog_is_a_catalog_error(tmp_path: Path) -> None:
    bad = tmp_path / "requirements.yaml"
    bad.write_text("requirements: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(bad)
