"""The main job: one complete exchange on synthetic data, with an honest report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands import read_token_file


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
    compared = report["steps"][-1]
    assert compared["files_missing_or_changed"] == 0
    assert compared["files_compared"] >= 6
    secret = read_token_file(Path(report["artifacts"]["token_json"])).secret.reveal()
    raw = report_path.read_text(encoding="utf-8")
    assert secret.hex() not in raw
    assert "***redacted***" in raw
    for artifact in ("token_qr", "token_slip", "package"):
        assert Path(report["artifacts"][artifact]).stat().st_size > 0


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
