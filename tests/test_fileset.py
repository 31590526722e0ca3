"""Opening untrusted file sets: folders and ZIP files, with every unsafe shape refused."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from cloudpdi.fileset import (
    CompressionRatioError,
    DuplicateNameError,
    EntryTooLargeError,
    FileSetFormatError,
    Limits,
    LinkNotAllowedError,
    UnsafeFileSetError,
    UnsafePathError,
    extract_file_set,
    open_file_set,
)


def _zip(path: Path, members: dict[str, bytes], **kwargs: int) -> Path:
    with zipfile.ZipFile(path, "w", **kwargs) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    (root / "DICOM" / "ST000001").mkdir(parents=True)
    (root / "DICOMDIR").write_bytes(b"d" * 10)
    (root / "README.TXT").write_bytes(b"readme")
    (root / "DICOM" / "ST000001" / "IM000001").write_bytes(b"x" * 100)
    return root


def test_folder_lists_regular_files_by_posix_path(folder: Path) -> None:
    with open_file_set(folder) as fs:
        assert [e.path for e in fs] == ["DICOM/ST000001/IM000001", "DICOMDIR", "README.TXT"]
        assert fs.entry("DICOM/ST000001/IM000001").size == 100
        with fs.open("README.TXT") as f:
            assert f.read() == b"readme"
        assert fs.total_size == 116


def test_zip_lists_and_reads_members(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"DICOMDIR": b"d", "DICOM/IM1": b"abc"})
    with open_file_set(archive) as fs:
        assert [e.path for e in fs] == ["DICOM/IM1", "DICOMDIR"]
        with fs.open("DICOM/IM1") as f:
            assert f.read() == b"abc"


def test_unknown_entry_is_a_key_error(folder: Path) -> None:
    with open_file_set(folder) as fs, pytest.raises(KeyError):
        fs.open("../etc/passwd")


def test_symlink_in_folder_is_refused(folder: Path) -> None:
    os.symlink("/etc/passwd", folder / "LINK")
    with pytest.raises(LinkNotAllowedError, match="LINK"):
        open_file_set(folder)


def test_fifo_in_folder_is_refused(folder: Path) -> None:
    os.mkfifo(folder / "PIPE")
    with pytest.raises(LinkNotAllowedError, match="not a regular file"):
        open_file_set(folder)


def test_case_insensitive_duplicates_in_folder_are_refused(folder: Path) -> None:
    (folder / "readme.txt").write_bytes(b"other")
    with pytest.raises(DuplicateNameError):
        open_file_set(folder)


def test_symlinked_root_is_refused(folder: Path, tmp_path: Path) -> None:
    os.symlink(folder, tmp_path / "alias")
    with pytest.raises(FileSetFormatError):
        open_file_set(tmp_path / "alias")


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "../evil", "DICOM/../../evil", "C:/evil", "DICOM\\evil", "a//b", "./a"],
)
def test_unsafe_zip_names_are_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as z:
        info = zipfile.ZipInfo("placeholder")
        info.filename = name  # ZipInfo normalises on creation; set the raw hostile name after
        z.writestr(info, b"x")
    with pytest.raises(UnsafePathError):
        open_file_set(archive)


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as z:
        info = zipfile.ZipInfo("DICOMDIR")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(LinkNotAllowedError):
        open_file_set(archive)


def test_zip_duplicate_names_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "dup.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(archive, "w") as z:
        z.writestr("DICOMDIR", b"a")
        z.writestr("DICOMDIR", b"b")
    with pytest.raises(DuplicateNameError):
        open_file_set(archive)


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "bomb.zip", {"IM1": bytes(8 * 1024 * 1024)}, compression=zipfile.ZIP_DEFLATED
    )
    with pytest.raises(CompressionRatioError, match="expands"):
        open_file_set(archive)


def test_overlapping_zip_entries_are_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "ok.zip", {"A": b"a" * 50, "B": b"b" * 50})
    data = bytearray(archive.read_bytes())
    # Point B's central directory record at A's local header: both names then share A's data.
    central = data.rfind(b"PK\x01\x02")
    data[central + 42 : central + 46] = (0).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(CompressionRatioError, match="overlaps"):
        open_file_set(archive)


def test_entry_size_limit(folder: Path) -> None:
    with pytest.raises(EntryTooLargeError, match="IM000001"):
        open_file_set(folder, limits=Limits(max_entry_size=50))


def test_total_size_and_entry_count_limits(folder: Path) -> None:
    with pytest.raises(EntryTooLargeError, match="file set over"):
        open_file_set(folder, limits=Limits(max_total_size=110))
    with pytest.raises(EntryTooLargeError, match="more than 2 entries"):
        open_file_set(folder, limits=Limits(max_entries=2))


def test_encrypted_zip_entry_is_refused(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "enc.zip", {"A": b"a"})
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1
    archive.write_bytes(bytes(data))
    with pytest.raises(UnsafeFileSetError, match="encrypted"):
        open_file_set(archive)


def test_not_a_zip_and_missing_path(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(FileSetFormatError, match="not a readable ZIP"):
        open_file_set(junk)
    with pytest.raises(FileSetFormatError, match="no folder or ZIP"):
        open_file_set(tmp_path / "missing")


def test_hostile_long_name_is_bounded_in_message(tmp_path: Path) -> None:
    archive = tmp_path / "long.zip"
    with zipfile.ZipFile(archive, "w") as z:
        info = zipfile.ZipInfo("x")
        info.filename = "../" + "A" * 5000
        z.writestr(info, b"x")
    with pytest.raises(UnsafePathError) as caught:
        open_file_set(archive)
    assert len(str(caught.value)) < 200


def test_extract_copies_every_entry(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"DICOMDIR": b"d", "DICOM/ST1/IM1": b"abc"})
    with open_file_set(archive) as fs:
        written = extract_file_set(fs, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "DICOM/ST1/IM1",
        "DICOMDIR",
    ]
    assert (tmp_path / "out" / "DICOM" / "ST1" / "IM1").read_bytes() == b"abc"
