"""Steps of what a referral carries besides images: documents, AI support images, no images at all.

A document the referral carries is written for the referral's patient and handed to the
sending hospital through the ``sending`` fixture (its ``documents``); the Then steps find it
again, byte for byte, by its digest. AI support images join the study on the sending PACS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers

from harness.lab import Lab
from steps.documents import (
    AI_SUPPORT_IMAGES,
    Carried,
    add_support_images,
    documents_only,
    make_document,
    study_of,
)
from steps.referral import Referral


@pytest.fixture
def carried() -> Carried:
    """The documents the scenario's Given steps added to the referral, by name."""
    return Carried()


@given(parsers.parse('the referral also carries "{what}"'))
def the_referral_also_carries(
    what: str,
    lab: Lab,
    referral: Referral,
    carried: Carried,
    sending: dict[str, Any],
    tmp_path: Path,
    conformance_seed: int,
) -> None:
    if what == AI_SUPPORT_IMAGES:
        add_support_images(lab, referral, tmp_path / "support", conformance_seed)
        return
    _carry(what, referral, carried, sending, tmp_path, conformance_seed)


@given(
    parsers.parse('a referral of "{what}" with no images, for patient "{name}"'),
    target_fixture="referral",
)
def a_referral_with_no_images(
    what: str,
    name: str,
    carried: Carried,
    sending: dict[str, Any],
    tmp_path: Path,
    conformance_seed: int,
) -> Referral:
    referral = documents_only(name)
    _carry(what, referral, carried, sending, tmp_path, conformance_seed)
    return referral


def _carry(
    what: str,
    referral: Referral,
    carried: Carried,
    sending: dict[str, Any],
    tmp_path: Path,
    seed: int,
) -> None:
    """Write the document ``what`` for the referral and have the sending hospital send it."""
    folder = tmp_path / "documents" / str(len(carried.documents))
    document = make_document(what, folder, study_of(referral, seed), seed)
    carried.documents[what] = document
    sending["documents"] = [*sending.get("documents", ()), document.path]
