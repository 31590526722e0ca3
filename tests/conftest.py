"""Shared fixtures: small synthetic studies, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.studies import generate_study, make_study


@pytest.fixture(scope="session")
def small_study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A few CT and MR source files of one study (small images keep the suite fast)."""
    root = tmp_path_factory.mktemp("small-study")
    study = make_study(seed=7)
    ct = generate_study("CT", 4, root / "ct", study=study, rows=64, columns=64)
    mr = generate_study("MR", 3, root / "mr", study=study, series_number=2, rows=64, columns=64)
    return ct + mr
