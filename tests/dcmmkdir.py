"""Re-check a file set with dcmtk's dcmmkdir, an independent reader of our DICOMDIR.

Run in append mode (``+A``) on a hard-linked copy (dcmmkdir renames the DICOMDIR it loads, even
with ``-w``), dcmmkdir parses our DICOMDIR, follows its offsets, re-reads every file, and reports
each one whose SOP Instance is missing from our records or whose patient, study or series keys
differ from them (``-a`` makes that fatal). A correct file set gives exactly one "already
exists" warning per file and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from tests.tools import require_tool

ALREADY_EXISTS = re.compile(
    r"W: file (DICOM/\S+): directory record for this SOP instance already exists"
)
_TIMEOUT = 300


@dataclass(frozen=True)
class Recheck:
    """What dcmmkdir said of a file set."""

    returncode: int
    #: Output lines other than "already exists" warnings.
    unexpected: list[str]
    #: Files (paths relative to the file set) that dcmmkdir found in our records.
    recorded: set[str]
    #: Directory records in the DICOMDIR that dcmmkdir wrote back (None: it wrote none).
    records: int | None


def recheck_file_set(file_set: Path, work: Path, *options: str) -> Recheck:
    """Run ``dcmmkdir +A`` (with ``options``) over a copy of the folder ``file_set`` in ``work``."""
    dcmmkdir = require_tool("dcmmkdir")
    copy = work / "copy"
    shutil.copytree(file_set, copy, copy_function=os.link)
    # dcmmkdir replaces the DICOMDIR: give it a copy of its own, not a link to ours.
    (copy / "DICOMDIR").unlink()
    shutil.copyfile(file_set / "DICOMDIR", copy / "DICOMDIR")
    run = subprocess.run(
        [dcmmkdir, "+A", "-nb", "-Pgp", "+r", "-a", "+id", ".", *options, "DICOM"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )
    lines = (run.stdout + run.stderr).splitlines()
    matches = [ALREADY_EXISTS.fullmatch(line) for line in lines]
    written = copy / "DICOMDIR"
    return Recheck(
        returncode=run.returncode,
        unexpected=[line for line, match in zip(lines, matches, strict=True) if match is None],
        recorded={match.group(1) for match in matches if match is not None},
        records=len(dcmread(written).DirectoryRecordSequence) if written.exists() else None,
    )


def dicom_files(file_set: Path) -> set[str]:
    """Return the paths (relative to ``file_set``) of every file under its DICOM folder."""
    return {
        p.relative_to(file_set).as_posix() for p in (file_set / "DICOM").rglob("*") if p.is_file()
    }
