"""The command line: exit codes, one-line errors, and no secret in anything it prints."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydicom import dcmread

from harness.cli import main
from harness.commands import read_token_file
from reports import write_json
from tests.test_reports_sample import sample_run


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sources(small_study: list[Path], tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    for path in small_study:
        shutil.copy(path, folder / path.name)
    return folder


def test_fixtures_study_writes_the_requested_instances(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "fixtures", "study", "--modality", "mr", "--instances", "2", "--out", tmp_path
    )
    assert code == 0
    assert "2 MR instances" in out
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_build_then_validate_passes(
    capsys: pytest.CaptureFixture[str], sources: Path, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"fileset{suffix}"
    assert run(capsys, "pdi", "build", sources, "--out", out)[0] == 0
    code, text, _ = run(capsys, "pdi", "validate", out)
    assert code == 0, text
    assert "PASSED" in text
    code, text, _ = run(capsys, "pdi", "validate", out, "--json")
    assert code == 0
    assert json.loads(text)["ok"] is True


def test_validate_fails_a_broken_file_set(
    capsys: pytest.CaptureFixture[str], sources: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fileset"
    run(capsys, "pdi", "build", sources, "--out", out)
    (out / "DICOMDIR").unlink()
    code, text, _ = run(capsys, "pdi", "validate", out)
    assert code == 1
    assert "PDI-DIR-01" in text
    assert "FAILED" in text


def test_pack_unpack_and_token_forms(
    capsys: pytest.CaptureFixture[str], sources: Path, tmp_path: Path
) -> None:
    package, token_file = tmp_path / "p.cpdi", tmp_path / "token.json"
    code, out, err = run(
        capsys, "pack", sources, "--out", package, "--token-out", token_file,
        "--expires", "2099-01-01T00:00:00+09:00",
    )  # fmt: skip
    assert code == 0, err
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    secret = read_token_file(token_file).secret.reveal()
    assert read_token_file(token_file).expires_at == datetime(2098, 12, 31, 15, tzinfo=UTC)

    code, shown, _ = run(capsys, "token", "show", token_file)
    assert code == 0
    assert json.loads(shown)["secret"] == "***redacted***"
    for form, out_name in (("qr", "t.svg"), ("slip", "t.png")):
        assert run(capsys, "token", form, token_file, "--out", tmp_path / out_name)[0] == 0
        assert (tmp_path / out_name).stat().st_size > 0
    assert run(capsys, "token", "slip", token_file)[0] == 0
    assert (tmp_path / "token-slip.pdf").exists()

    code, out, err = run(
        capsys, "unpack", package, "--token", token_file, "--out", tmp_path / "received"
    )
    assert code == 0, out + err
    assert "PASSED" in out
    assert (tmp_path / "received" / "DICOMDIR").exists()
    printed = out + err + shown
    assert secret.hex() not in printed


def test_tampered_package_fails_with_one_line_and_no_secret(
    capsys: pytest.CaptureFixture[str], sources: Path, tmp_path: Path
) -> None:
    package, token_file = tmp_path / "p.cpdi", tmp_path / "token.json"
    run(capsys, "pack", sources, "--out", package, "--token-out", token_file)
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0x40
    package.write_bytes(bytes(data))
    code, out, err = run(capsys, "unpack", package, "--token", token_file, "--out", tmp_path / "r")
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("cloudpdi: failed:")
    assert read_token_file(token_file).secret.reveal().hex() not in out + err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["pdi", "build", "missing-folder", "--out", "x"],
        ["pdi", "validate", "missing-folder"],
        ["unpack", "p.cpdi", "--token", "missing.json", "--out", "r"],
        ["token", "show", "missing.json"],
    ],
)
def test_missing_input_is_bad_usage(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    if args[0] == "unpack":
        Path("p.cpdi").write_bytes(b"x")
    code, _, err = run(capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and "error:" in err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["fixtures", "study", "--modality", "PET", "--instances", "1", "--out", "x"],
        ["fixtures", "study", "--modality", "CT", "--instances", "0", "--out", "x"],
        ["pack", "src", "--out", "p", "--token-out", "t", "--expires", "2030-01-01T00:00:00"],
        ["token", "print", "t.json"],
    ],
)
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2


def test_malformed_token_file_fails_cleanly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "token.json"
    bad.write_text('{"version": 1, "secret": "AAAA"}', encoding="utf-8")
    code, _, err = run(capsys, "token", "show", bad)
    assert code == 1
    assert err.count("\n") == 1


def test_console_script_is_installed() -> None:
    exe = shutil.which("cloudpdi") or pytest.fail("the cloudpdi console script is not installed")
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("cloudpdi ")
    help_text = subprocess.run(
        [sys.executable, "-m", "harness.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("demo", "fixtures", "pdi", "pack", "unpack", "token"):
        assert command in help_text


def test_report_render_writes_html_and_junit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results = tmp_path / "results.json"
    write_json(sample_run(), results)
    html, junit = tmp_path / "r.html", tmp_path / "j.xml"
    code, out, _ = run(capsys, "report", "render", results, "--html", html, "--junit", junit)
    assert code == 0 and f"wrote {html}" in out
    assert "<table" in html.read_text(encoding="utf-8")
    assert junit.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert run(capsys, "report", "render", results)[0] == 2
    results.write_text('{"format": "cloudpdi-results", "version": 99}', encoding="utf-8")
    code, _, err = run(capsys, "report", "render", results, "--html", tmp_path / "x.html")
    assert code == 1 and err.count("\n") == 1


def test_build_warns_of_values_invented_for_empty_keys(
    capsys: pytest.CaptureFixture[str], sources: Path, tmp_path: Path
) -> None:
    for path in sources.iterdir():
        dataset = dcmread(path)
        dataset.StudyID = ""
        dataset.save_as(path)
    code, _, err = run(capsys, "pdi", "build", sources, "--out", tmp_path / "fs")
    assert code == 0
    assert "warning:" in err and "StudyID" in err
    assert run(capsys, "pdi", "validate", tmp_path / "fs")[0] == 0
