"""The main job: a complete exchange between simulated hospitals, with an honest report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands import read_token_file
from tests.secrecy import secret_forms


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
    token = read_token_file(Path(sent["token_files"]["json"]))
    for text in (report_path.read_text(encoding="utf-8"), printed):
        assert not [form for form in secret_forms(token) if form in text]


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
