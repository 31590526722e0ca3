"""Shared fixtures: small synthetic studies, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.studies import generate_study


@pytest.fixture(scope="session")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A few CT and MR source files of one patient (small images keep the suite fast)."""
    root = tmp_path_factory.mktemp("small-study")
    ct = generate_study("CT", 4, root / "ct", seed=7, rows=64, columns=64)
    mr = generate_study("MR", 3, root / "mr", seed=8, rows=64, columns=64)
    return ct + mr
