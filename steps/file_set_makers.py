"""File sets the simulated sending hospital sends made otherwise: broken, or by another tool.

Each maker is a file set editor (``SenderConfig.file_set_editor``): the sender builds its file
set, the editor rewrites it as a ZIP file, and the sender encrypts and uploads that. Broken
file sets come from :mod:`fixtures.broken`; the independent maker is dcmtk's ``dcmmkdir``,
which writes the DICOMDIR of the study's files in place of ours. Content that would start by
itself (AUTORUN.INF, a Windows executable) is replaced by a payload that leaves a marker file
if anything runs it, so that ``nothing from the file set was run`` can be seen to hold.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cloudpdi.container import DICOM_FOLDER
from cloudpdi.dicomdir import DICOMDIR_NAME
from cloudpdi.pdi_layout import AUTORUN
from fixtures.broken import BROKEN_CASES, BrokenCase
from fixtures.broken_edits import zip_file_set
from simulators.sender_faults import FileSetEditor
from steps.errors import StepError

#: The independent DICOM media tool (dcmtk), and how long it may take.
MEDIA_TOOL = "dcmmkdir"
_TOOL_TIMEOUT = 120
#: The program the payload's AUTORUN.INF starts, at the root of the file set.
PROGRAM = "VIEWER.EXE"
#: A Windows executable starts with "MZ" (the DOS header); a shell that is made to run the file
#: reads on, line by line, and so runs the command on the next line.
_EXECUTABLE_HEADER = b"MZ" + b"\x00" * 62 + b"\n"
#: The broken cases (:data:`fixtures.broken.BROKEN_CASES`) that add content that would start
#: by itself, and the payload files each gets: AUTORUN.INF starts the program beside it.
PAYLOADS = {"autorun-inf": (AUTORUN, PROGRAM), "executable-at-root": (PROGRAM,)}


@dataclass(frozen=True)
class Payload:
    """Content that would start by itself, and the marker it leaves when anything runs it."""

    #: Files at the root of the file set that would start or be started, by name.
    files: tuple[str, ...]
    #: The file a run of any of them writes; it must never appear.
    marker: Path


def broken_by(case: BrokenCase, payload: Payload | None = None) -> FileSetEditor:
    """Return an editor that breaks the file set as ``case`` does, with ``payload``'s files."""

    def edit(root: Path, dest: Path) -> None:
        made = case.make(root, dest.parent / f"broken-{case.name}")
        if payload is not None:
            for name in payload.files:
                (made / name).write_bytes(payload_content(name, payload.marker))
        if made.is_dir():
            zip_file_set(made, dest)
        else:
            made.replace(dest)

    return edit


def broken_case(defect: str) -> BrokenCase:
    """Return the broken case (:mod:`fixtures.broken`) that ``defect`` describes."""
    for case in BROKEN_CASES.values():
        if case.description == defect:
            return case
    raise StepError(f"no way to break a file set with {defect!r} is defined")


def payload_for(case: BrokenCase, marker: Path) -> Payload | None:
    """Return the payload of ``case`` if it adds content that would start by itself."""
    files = PAYLOADS.get(case.name)
    return None if files is None else Payload(files, marker)


def payload_content(name: str, marker: Path) -> bytes:
    """Return the bytes of payload file ``name``: each leaves ``marker`` when it is run."""
    if name == AUTORUN:
        # What Windows would start from a medium; the program writes the marker.
        return f"[autorun]\r\nopen={PROGRAM}\r\nshellexecute={PROGRAM}\r\n".encode()
    return _EXECUTABLE_HEADER + f"echo ran > {shlex.quote(str(marker))}\n".encode()


def made_by_media_tool(root: Path, dest: Path) -> None:
    """Replace our DICOMDIR with the one dcmtk's dcmmkdir makes of the file set's DICOM files."""
    tool = shutil.which(MEDIA_TOOL)
    if tool is None:
        raise StepError(f"{MEDIA_TOOL} (dcmtk) is not installed")
    (root / DICOMDIR_NAME).unlink()
    # General purpose profile, every file below DICOM/, names kept as they are.
    run = subprocess.run(
        [tool, "-Pgp", "+r", "+id", ".", DICOM_FOLDER],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=_TOOL_TIMEOUT,
        check=False,
    )
    if run.returncode != 0 or not (root / DICOMDIR_NAME).is_file():
        raise StepError(f"{MEDIA_TOOL} made no DICOMDIR: {(run.stdout + run.stderr).strip()}")
    zip_file_set(root, dest)
