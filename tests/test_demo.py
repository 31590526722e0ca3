"""The main job: a complete exchange between simulated hospitals, with an honest report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml, TestCase

import harness.demo
from harness.cli import main
from harness.commands import read_token_file
from harness.lab import Comparison, Lab
from reports import EvidenceKind, Status, exit_code, read_json
from simulators.faults import Fault
from simulators.sender import SenderConfig
from tests.secrecy import secret_forms

#: Each check of the demo and the requirements it proves.
CHECKS = {
    "demo/upload": ("CPDI-REPO-01",),
    "demo/token-route": ("CPDI-TOK-03",),
    "demo/token-slip": ("CPDI-TOK-05",),
    "demo/import": ("CPDI-RCV-01",),
    "demo/identical": ("CPDI-INT-01",),
    "demo/reconcile": ("CPDI-RCV-02", "PDI-IMP-01"),
    "demo/support-image": ("CPDI-SUPP-01",),
    "demo/documents": ("CPDI-CONT-02",),
}
REPORT_FILES = ("report.json", "results.json", "report.html", "junit.xml")


def test_demo_exchange_passes_and_reports_without_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--ct-instances", "3", "--mr-instances", "2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report_path = out / "report.json"
    assert f"report: {report_path.resolve()}" in printed
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["verdict"] == "PASSED"
    sent, received, compared = report["steps"][1:]
    # 3 CT + 2 MR + the AI support image + the Encapsulated PDF letter.
    assert sent["instances"] == 7 and sent["documents"] == 2
    assert received["outcome"] == "complete"
    assert received["counts"]["stored"] == 7
    assert received["counts"]["support_images"] == 1
    assert received["reconciliation"][0]["local_id"] == "L0001234"
    assert compared == {
        "name": compared["name"],
        "seconds": compared["seconds"],
        "matched": 7,
        "missing": [],
        "changed": [],
        "original_patient_id_kept": True,
    }
    assert f"full report: {(out / 'report.html').resolve()}" in printed
    token = read_token_file(Path(sent["token_files"]["json"]))
    texts = [(out / name).read_text(encoding="utf-8") for name in REPORT_FILES]
    for text in (*texts, printed):
        assert not [form for form in secret_forms(token) if form in text]


def test_demo_writes_the_full_report_of_its_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--ct-instances", "1", "--mr-instances", "1"]) == 0
    capsys.readouterr()
    result = read_json(out / "results.json")
    assert exit_code(result) == 0
    assert result.run_id == json.loads((out / "report.json").read_text("utf-8"))["run_id"]
    assert result.configuration["demo.ct_instances"] == "1"
    tests = {test.id: test for test in result.tests}
    for test_id, requirements in CHECKS.items():
        assert tests[test_id].requirements == requirements
    file_set = tests["demo/file-set"]
    assert file_set.requirements[0] == "CPDI-CONT-01" and "PDI-DIR-03" in file_set.requirements
    assert "PDI-MEDIA-ZIP-01" not in file_set.requirements  # the received file set is a folder
    assert {test.status for test in result.tests} == {Status.PASSED}
    assert (tests["demo/support-image"].actor, tests["demo/support-image"].option) == (
        "receiver",
        "support-images",
    )
    upload = {item.kind for item in tests["demo/upload"].evidence}
    assert {EvidenceKind.HTTP, EvidenceKind.TOKEN_HANDOFF} <= upload
    imported = {item.kind for item in tests["demo/import"].evidence}
    assert {EvidenceKind.DICOM_OPERATION, EvidenceKind.VALIDATOR_FINDING} <= imported
    figures = {figure.name: figure for figure in result.performance}
    assert figures["upload throughput"].unit == "MB/s" and figures["upload throughput"].value > 0
    assert figures["download throughput"].value > 0
    html = (out / "report.html").read_text(encoding="utf-8")
    matrix = html[html.index('<table id="results-matrix">') :]
    matrix = matrix[: matrix.index("</table>")]
    for option in ("core", "token-slip", "support-images", "non-image-content"):
        assert option in matrix
    cases = [case for suite in JUnitXml.fromfile(str(out / "junit.xml")) for case in suite]
    assert all(isinstance(case, TestCase) for case in cases)
    assert len(cases) == len(result.tests) == len(CHECKS) + 1
    assert all(case.is_passed for case in cases)


def test_a_failed_check_fails_the_demo_and_names_the_requirement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def one_changed(source: object, destination: object) -> Comparison:
        return Comparison(matched=("1.2.3",), missing=(), changed=("1.2.4",))

    monkeypatch.setattr(harness.demo, "compare_pacs", one_changed)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--ct-instances", "1", "--mr-instances", "1"]) == 1
    capsys.readouterr()
    assert json.loads((out / "report.json").read_text("utf-8"))["verdict"] == "FAILED"
    result = read_json(out / "results.json")
    failed = [test for test in result.tests if test.status is Status.FAILED]
    assert [(test.id, test.requirements) for test in failed] == [
        ("demo/identical", ("CPDI-INT-01",))
    ]
    assert failed[0].steps[-1].message == "0 missing, 1 changed"
    assert exit_code(result) != 0


def test_a_sender_leaking_the_secret_to_the_repository_fails_the_token_route_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    honest = Lab.sender_config

    def leaking(lab: Lab, **changes: Any) -> SenderConfig:
        return honest(lab, faults=frozenset({Fault.SENDER_LEAKS_SECRET_IN_URL}), **changes)

    monkeypatch.setattr(Lab, "sender_config", leaking)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--ct-instances", "1", "--mr-instances", "1"]) == 1
    capsys.readouterr()
    failed = [t for t in read_json(out / "results.json").tests if t.status is Status.FAILED]
    assert [test.id for test in failed] == ["demo/token-route"]
    assert "url: the secret in base64url" in failed[0].steps[-1].message


def test_demo_reruns_in_its_own_folder_but_never_clears_a_foreign_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["demo", "--out", str(tmp_path), "--ct-instances", "1", "--mr-instances", "1"]
    assert main(args) == 0
    assert main(args) == 0
    foreign = tmp_path / "other"
    (foreign / "work").mkdir(parents=True)
    (foreign / "work" / "precious.txt").write_text("keep", encoding="utf-8")
    args[2] = str(foreign)
    assert main(args) == 2
    assert (foreign / "work" / "precious.txt").exists()
    capsys.readouterr()
