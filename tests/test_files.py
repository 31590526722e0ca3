"""Private files appear whole or not at all."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cloudpdi.files import atomic_file, staged_path, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_is_owner_only_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "token.json"
    write_private(target, "first")
    write_private(target, b"second")
    assert target.read_bytes() == b"second"
    assert _mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["token.json"]


def test_no_overwrite_refuses_and_keeps_the_original(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    write_private(target, "original", overwrite=False)
    with pytest.raises(FileExistsError):
        write_private(target, "replacement", overwrite=False)
    assert target.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "package.cpdi"
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write(b"half")
        raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "token.json"
    write_private(target, "previous")
    with pytest.raises(RuntimeError), atomic_file(target) as f:
        f.write(b"half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "previous"


def test_staged_path_keeps_the_suffix_for_format_choosing_writers(tmp_path: Path) -> None:
    with staged_path(tmp_path / "slip.pdf") as staged:
        assert staged.suffix == ".pdf" and staged.parent == tmp_path
        assert _mode(staged) == 0o600
        staged.write_bytes(b"%PDF")
    assert (tmp_path / "slip.pdf").read_bytes() == b"%PDF"
