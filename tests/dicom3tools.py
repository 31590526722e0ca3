"""Run a dicom3tools verifier (dciodvfy, dcentvfy) and collect the errors it reports."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.tools import require_tool


def verifier_errors(tool: str, *paths: Path) -> list[str]:
    """Return the "Error" lines ``tool`` prints about ``paths`` (dicom3tools report on stderr).

    Warnings are not returned: the tests accept them, and the report lists the ones we keep.
    """
    result = subprocess.run(
        [require_tool(tool), *map(str, paths)], capture_output=True, text=True, check=False
    )
    return [line for line in result.stderr.splitlines() if line.startswith("Error")]
