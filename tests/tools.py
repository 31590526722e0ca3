"""Access to the independent tools (dcmtk, dicom3tools, zbar-tools) that tests check us against."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Return the path of executable ``name``; fail in CI, skip elsewhere, when it is missing.

    CI installs every tool, so a missing one there is a broken set-up, not a reason to skip.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (bash .ci/run installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)
