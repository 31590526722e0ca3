"""Open a file set (a folder or a ZIP file, PS3.12 annex V) as untrusted input, safely.

A received file set comes from another hospital through the cloud: its names, sizes and
structure are not trusted. Opening one rejects absolute paths, ``..`` components, links,
special files, duplicate names (also when they differ only in case, as on CD media), entries
over a size limit, implausible compression ratios, overlapping ZIP entries and encrypted ZIP
entries, before anything is read. What opens is a read-only view of regular files by their
relative POSIX path.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cloudpdi.errors import CloudPDIError

# Size of a ZIP local file header without its variable fields (APPNOTE 4.3.7).
_ZIP_LOCAL_HEADER_SIZE = 30
_ZIP_FLAG_ENCRYPTED = 0x1
_COPY_BUFFER = 1024 * 1024


class FileSetError(CloudPDIError):
    """A file set cannot be opened."""


class FileSetFormatError(FileSetError):
    """The path is neither a folder nor a readable ZIP file."""


class UnsafeFileSetError(FileSetError):
    """The file set holds an entry that is unsafe to read or extract."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"unsafe entry {_shown(path)}: {problem}")


class UnsafePathError(UnsafeFileSetError):
    """An entry name is absolute, climbs out with ``..``, or is otherwise not a plain path."""


class LinkNotAllowedError(UnsafeFileSetError):
    """An entry is a symbolic link, hard link target or special file."""


class DuplicateNameError(UnsafeFileSetError):
    """Two entries have the same name (ignoring case)."""


class EntryTooLargeError(UnsafeFileSetError):
    """An entry, or the file set as a whole, is over the configured size limit."""


class CompressionRatioError(UnsafeFileSetError):
    """A ZIP entry expands far more than real data does (a ZIP bomb)."""


@dataclass(frozen=True)
class Limits:
    """Bounds that a file set must stay within before we read it."""

    max_entries: int = 200_000
    max_entry_size: int = 16 * 1024**3
    max_total_size: int = 256 * 1024**3
    #: Uncompressed/compressed size ratio above which an entry is refused.
    max_compression_ratio: float = 250.0
    #: Entries smaller than this are not ratio-checked: tiny files compress oddly.
    ratio_check_min_size: int = 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Entry:
    """One regular file of a file set: its relative POSIX path and size in bytes."""

    path: str
    size: int

    @property
    def parts(self) -> tuple[str, ...]:
        return PurePosixPath(self.path).parts


class FileSet(ABC):
    """A read-only view of the regular files of a file set; use :func:`open_file_set`."""

    def __init__(self, source: Path, entries: list[Entry]) -> None:
        self.source = source
        self.entries = sorted(entries, key=lambda e: e.path)
        self._by_path = {e.path: e for e in self.entries}

    def __contains__(self, path: str) -> bool:
        return path in self._by_path

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __enter__(self) -> FileSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def entry(self, path: str) -> Entry:
        """Return the entry at ``path``; KeyError if the file set has none."""
        return self._by_path[path]

    @abstractmethod
    def open(self, path: str) -> BinaryIO:
        """Open the entry at ``path`` for binary reading."""

    @abstractmethod
    def close(self) -> None:
        """Release the underlying file, if any."""

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)


class FolderFileSet(FileSet):
    """A file set laid out in a folder."""

    def open(self, path: str) -> BinaryIO:
        self.entry(path)
        fd = os.open(self.source.joinpath(*PurePosixPath(path).parts), _O_READ_NOFOLLOW)
        return os.fdopen(fd, "rb")

    def close(self) -> None:
        """Nothing to release: each entry is opened and closed by its reader."""


class ZipFileSet(FileSet):
    """A file set held in a ZIP file (PS3.12 annex V)."""

    def __init__(self, source: Path, entries: list[Entry], archive: zipfile.ZipFile) -> None:
        super().__init__(source, entries)
        self._archive = archive

    def open(self, path: str) -> BinaryIO:
        self.entry(path)
        return self._archive.open(path, "r")  # type: ignore[return-value]

    def close(self) -> None:
        self._archive.close()


_O_READ_NOFOLLOW = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def open_file_set(path: Path, *, limits: Limits = DEFAULT_LIMITS) -> FileSet:
    """Open a folder or ZIP file set, refusing anything unsafe before reading content."""
    path = Path(path)
    if path.is_symlink():
        raise FileSetFormatError("the file set path is a symbolic link")
    if path.is_dir():
        return FolderFileSet(path, _folder_entries(path, limits))
    if path.is_file():
        return _open_zip(path, limits)
    raise FileSetFormatError(f"no folder or ZIP file at {path}")


def extract_file_set(file_set: FileSet, dest: Path) -> list[Path]:
    """Copy every entry of an opened file set below ``dest`` (which must not exist yet)."""
    dest.mkdir(parents=True)
    written = []
    for entry in file_set:
        target = dest.joinpath(*entry.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_set.open(entry.path) as src, open(target, "xb") as out:
            shutil.copyfileobj(src, out, _COPY_BUFFER)
        written.append(target)
    return written


def _shown(path: str) -> str:
    """Quote an untrusted name for a message, bounded so a hostile name cannot flood logs."""
    text = repr(path)
    return text if len(text) <= 120 else text[:117] + "..."


def _checked_name(name: str) -> str:
    """Return ``name`` as a clean relative POSIX path, or raise UnsafePathError."""
    if not name or "\x00" in name:
        raise UnsafePathError(name, "empty name or NUL byte")
    if "\\" in name:
        raise UnsafePathError(name, "backslash in name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafePathError(name, "absolute path")
    parts = name.split("/")
    if any(part in ("..", ".") for part in parts):
        raise UnsafePathError(name, "'.' or '..' path component")
    if any(part == "" for part in parts):
        raise UnsafePathError(name, "empty path component")
    return name


class _Tally:
    """Counts entries and bytes against the limits, and catches duplicate names."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.seen: dict[str, str] = {}

    def add(self, name: str, size: int) -> Entry:
        if len(self.seen) >= self.limits.max_entries:
            raise EntryTooLargeError(name, f"more than {self.limits.max_entries} entries")
        folded = name.casefold()
        if folded in self.seen:
            raise DuplicateNameError(name, f"same name as {_shown(self.seen[folded])}")
        self.seen[folded] = name
        if size > self.limits.max_entry_size:
            raise EntryTooLargeError(name, f"{size} bytes, over {self.limits.max_entry_size}")
        self.total += size
        if self.total > self.limits.max_total_size:
            raise EntryTooLargeError(name, f"file set over {self.limits.max_total_size} bytes")
        return Entry(name, size)


def _folder_entries(root: Path, limits: Limits) -> list[Entry]:
    tally = _Tally(limits)
    entries: list[Entry] = []
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as scan:
            for item in scan:
                name = _checked_name(prefix + item.name)
                mode = item.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    raise LinkNotAllowedError(name, "symbolic link")
                if stat.S_ISDIR(mode):
                    tally.add(name + "/", 0)
                    pending.append((Path(item.path), name + "/"))
                elif stat.S_ISREG(mode):
                    entries.append(tally.add(name, item.stat(follow_symlinks=False).st_size))
                else:
                    raise LinkNotAllowedError(name, "not a regular file")
    return entries


def _open_zip(path: Path, limits: Limits) -> ZipFileSet:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileSetFormatError(f"{path.name} is not a readable ZIP file ({exc})") from None
    try:
        entries = _zip_entries(archive, limits)
    except BaseException:
        archive.close()
        raise
    return ZipFileSet(path, entries, archive)


def _zip_entries(archive: zipfile.ZipFile, limits: Limits) -> list[Entry]:
    tally = _Tally(limits)
    entries: list[Entry] = []
    for info in archive.infolist():
        name = info.filename
        if info.is_dir():
            _checked_name(name.rstrip("/"))
            tally.add(name, 0)
            continue
        _checked_name(name)
        if stat.S_IFMT(info.external_attr >> 16) not in (0, stat.S_IFREG):
            raise LinkNotAllowedError(name, "symbolic link or special file")
        if info.flag_bits & _ZIP_FLAG_ENCRYPTED:
            raise UnsafeFileSetError(name, "encrypted ZIP entry")
        if info.file_size >= limits.ratio_check_min_size:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_compression_ratio:
                raise CompressionRatioError(name, f"expands {ratio:.0f} times")
        entries.append(tally.add(name, info.file_size))
    _check_no_overlap(archive.infolist())
    return entries


def _check_no_overlap(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse entries whose data overlap: the trick behind non-recursive ZIP bombs."""
    end = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset < end:
            raise CompressionRatioError(info.filename, "overlaps another entry")
        raw_name = len(info.orig_filename.encode("utf-8"))
        end = info.header_offset + _ZIP_LOCAL_HEADER_SIZE + raw_name + info.compress_size
