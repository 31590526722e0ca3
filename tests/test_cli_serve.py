"""``cloudpdi serve``: bad options and key files are usage errors; fresh keys stay private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.actors import read_keys, write_fresh_keys
from harness.cli import main
from harness.commands import UsageError


def test_fresh_keys_are_private_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    write_fresh_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    uploaders, admin_key = read_keys(path)
    assert admin_key and len(admin_key) >= 40
    assert len(uploaders) == 1 and all(len(key) >= 40 for key in uploaders.values())
    with pytest.raises(FileExistsError):
        write_fresh_keys(path)


@pytest.mark.parametrize(
    "text",
    ["admin_key = [", "[uploaders]\nA = 1\n", "[uploaders]\nA = ''\n", "admin_key = 3\n"],
)
def test_malformed_keys_file_is_a_usage_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=r"keys\.toml"):
        read_keys(path)


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "pacs", "--storage", "{tmp}/p", "--destination", "MOVE_SCP=no-port"],
        ["serve", "pacs", "--storage", "{tmp}/p", "--ae-title", "AN_AE_TITLE_TOO_LONG"],
        ["serve", "repository", "--data", "{tmp}/r", "--retention-days", "400"],
        ["serve", "repository", "--data", "{tmp}/r", "--tls-cert", "{tmp}/cert.pem"],
        ["serve", "repository", "--data", "{tmp}/r", "--keys", "{tmp}/missing.toml"],
    ],
)
def test_bad_serve_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code = main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("cloudpdi: error:")
