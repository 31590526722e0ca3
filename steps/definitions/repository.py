"""Steps of the repository: what it stores and serves, whom it serves, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_bdd import given

from cloudpdi.token import Token
from harness.lab import Lab
from steps.transfer import Outcome, Transfer, download, upload


@given(
    "the sending hospital has uploaded the transfer to the repository", target_fixture="uploaded"
)
def the_sending_hospital_has_uploaded(lab: Lab, transfer: Transfer) -> Outcome:
    uploaded = upload(lab, transfer)
    if uploaded.path is None:
        pytest.skip(uploaded.error)
    return uploaded


@pytest.fixture
def downloaded(lab: Lab, token: Token, tmp_path: Path) -> Outcome:
    """The document named in the token, downloaded by the receiving hospital after the When
    steps (a step that downloads gives its own)."""
    return download(lab, token, tmp_path / "downloaded-after.cpdi")
