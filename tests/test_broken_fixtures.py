"""Every broken file set is caught by the validator for the requirement it breaks, and only that.

A clean file set (folder and ZIP) has no error or warning; each broken case, made from the clean
one, yields its expected requirement and nothing unrelated. Every machine-checkable PDI rule a
sender must meet has a case, so no rule can go untested.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cloudpdi.pdi_findings import Rule, Severity
from cloudpdi.pdi_rules import validate_file_set
from features.catalog import load_catalog
from fixtures.broken import BROKEN_CASES, BrokenCase, make_broken_file_set, make_clean_file_set
from tests.tools import require_tool


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clean_file_set(tmp_path_factory.mktemp("clean") / "SET")


def _broken(case: BrokenCase, clean_root: Path, tmp_path: Path) -> Path:
    return make_broken_file_set(case.name, clean_root, tmp_path / "BROKEN")


def test_clean_folder_has_no_error_or_warning(clean_root: Path) -> None:
    report = validate_file_set(clean_root)
    assert [f for f in report.findings if f.severity is not Severity.INFO] == []
    assert report.ok
    assert report.instances_checked == 4  # three CT images and one Encapsulated PDF


def test_clean_zip_has_no_error_or_warning(tmp_path: Path) -> None:
    archive = make_clean_file_set(tmp_path / "SET.zip")
    report = validate_file_set(archive)
    assert [f for f in report.findings if f.severity is not Severity.INFO] == []
    assert report.instances_checked == 4


@pytest.mark.parametrize("case", BROKEN_CASES.values(), ids=list(BROKEN_CASES))
def test_broken_case_is_flagged_for_its_requirement_only(
    case: BrokenCase, clean_root: Path, tmp_path: Path
) -> None:
    broken = _broken(case, clean_root, tmp_path)
    assert broken.is_file() == case.is_zip
    report = validate_file_set(broken)
    assert (case.requirement, case.severity) in {
        (f.requirement, f.severity) for f in report.findings
    }, report.to_json()
    allowed = {case.requirement, *case.also}
    unrelated = [f for f in report.findings if f.requirement not in allowed]
    assert unrelated == [], report.to_json()
    assert report.ok is (case.severity is not Severity.ERROR)


def test_every_sender_pdi_rule_has_a_broken_case() -> None:
    catalog = load_catalog()
    checkable = {
        r.id
        for r in catalog.requirements
        if r.id.startswith("PDI-") and r.machine_checkable and "sender" in r.actors
    }
    covered = {case.requirement for case in BROKEN_CASES.values()}
    assert checkable == {str(rule) for rule in Rule}
    assert checkable <= covered


def test_case_ids_and_also_ids_exist_in_the_catalog() -> None:
    catalog = load_catalog()
    for case in BROKEN_CASES.values():
        assert case.requirement in catalog
        assert all(other in catalog for other in case.also)


def test_a_requirement_id_picks_its_first_case(clean_root: Path, tmp_path: Path) -> None:
    broken = make_broken_file_set("PDI-README-01", clean_root, tmp_path / "B")
    assert not (broken / "README.TXT").exists()
    with pytest.raises(KeyError):
        make_broken_file_set("PDI-NOPE-01", clean_root, tmp_path / "C")


def test_cases_leave_the_clean_set_untouched(clean_root: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in clean_root.rglob("*") if p.is_file()}
    for name in ("dicomdir-offset-loop", "extension", "deflated"):
        make_broken_file_set(name, clean_root, tmp_path / name)
    assert {p: p.read_bytes() for p in clean_root.rglob("*") if p.is_file()} == before


@pytest.mark.external
@pytest.mark.parametrize("name", ["patient-name-differs", "modality-differs"])
def test_dcentvfy_agrees_on_inconsistent_files(name: str, clean_root: Path, tmp_path: Path) -> None:
    dcentvfy = require_tool("dcentvfy")
    clean = subprocess.run(
        [dcentvfy, *map(str, sorted((clean_root / "DICOM").rglob("IM*")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = make_broken_file_set(name, clean_root, tmp_path / "B")
    result = subprocess.run(
        [dcentvfy, *map(str, sorted((broken / "DICOM").rglob("IM*")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "different value" in result.stdout + result.stderr


@pytest.mark.external
def test_dcmftest_agrees_the_file_without_preamble_is_not_part10(
    clean_root: Path, tmp_path: Path
) -> None:
    dcmftest = require_tool("dcmftest")
    broken = make_broken_file_set("no-preamble", clean_root, tmp_path / "B")
    [finding] = validate_file_set(broken).findings
    result = subprocess.run(
        [dcmftest, str(broken / finding.path)], capture_output=True, text=True, check=False
    )
    assert result.stdout.startswith("no:")
