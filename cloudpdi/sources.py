"""Find the DICOM Part 10 files to put on a file set, among files and folders a user names."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cloudpdi.dicomdir import DICOMDIR_NAME
from cloudpdi.dicomfile import is_dicom_part10
from cloudpdi.errors import CloudPDIError

logger = logging.getLogger(__name__)


class SourceError(CloudPDIError):
    """A source is missing, or is not a DICOM Part 10 instance."""


@dataclass(frozen=True)
class SourceScan:
    """DICOM Part 10 files found in the sources, and the other files met in source folders."""

    dicom: list[Path]
    skipped: list[Path]


def scan_sources(paths: Iterable[Path]) -> SourceScan:
    """Find DICOM Part 10 files in files and folders (recursively, sorted by path).

    A file named explicitly must be DICOM (else :class:`SourceError`). Inside folders, other
    files and old DICOMDIR files are skipped and listed, so that a folder copied from a PDI CD
    (README.TXT, viewer, web content) can be sent again. A file reached twice counts once.
    """
    dicom: list[Path] = []
    skipped: list[Path] = []
    seen: set[Path] = set()
    for path in map(Path, paths):
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            if not is_part10_file(path):
                raise SourceError(f"{path} is not a DICOM Part 10 file")
            candidates = [path]
        else:
            raise SourceError(f"no file or folder at {path}")
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            is_instance = candidate.name.upper() != DICOMDIR_NAME and is_part10_file(candidate)
            (dicom if is_instance else skipped).append(candidate)
    return SourceScan(dicom, skipped)


def collect_dicom_sources(paths: Iterable[Path]) -> list[Path]:
    """Return the DICOM files of :func:`scan_sources`, logging a warning for skipped files."""
    scan = scan_sources(paths)
    if scan.skipped:
        shown = ", ".join(str(p) for p in scan.skipped[:5])
        more = f" and {len(scan.skipped) - 5} more" if len(scan.skipped) > 5 else ""
        logger.warning("skipped non-DICOM files in source folders: %s%s", shown, more)
    return scan.dicom


def is_part10_file(path: Path) -> bool:
    """Tell whether the file at ``path`` has the Part 10 preamble and "DICM" prefix."""
    with open(path, "rb") as stream:
        return is_dicom_part10(stream)
