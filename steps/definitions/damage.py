"""Steps of a repository that serves a document other than it was uploaded (CPDI-INT-01).

The repository simulator alters every document as it serves it; the receiving hospital must
refuse the download before it uses any of it, and is judged by ``the receiving hospital is
told "the download is damaged"`` (:data:`steps.told.TOLD`).
"""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers

from harness.lab import ActorUnderTest, Lab
from reports import EvidenceKind
from simulators.repository.alteration import (
    Alteration,
    add_bytes_at_end,
    another_transfer,
    change_middle_byte,
    cut_last_part,
    replace_first_part,
    swap_parts,
)
from steps.errors import StepError
from steps.evidence import EvidenceLog

#: What the repository may do to the document as it serves it, as a scenario says it.
ALTERATIONS: dict[str, Alteration] = {
    "with one byte changed in the middle": change_middle_byte,
    "with its last part cut off": cut_last_part,
    "with two of its parts swapped": swap_parts,
    "with bytes added at the end": add_bytes_at_end,
    "with its first part replaced": replace_first_part,
    "of another transfer under this document ID": another_transfer,
}


@given(parsers.parse("the repository serves the document {alteration}"))
def the_repository_serves_the_document(alteration: str, lab: Lab, evidence: EvidenceLog) -> None:
    """Make the repository simulator serve every document altered so."""
    chosen = ALTERATIONS.get(alteration)
    if chosen is None:
        raise StepError(f"no way to serve the document {alteration!r} is defined")
    try:
        repository = lab.repository
    except ActorUnderTest as exc:
        pytest.skip(f"the repository under test cannot be made to alter what it serves: {exc}")
    repository.alter_downloads(chosen)
    evidence.record(
        EvidenceKind.HTTP,
        actor="repository",
        summary=f"serves every document {alteration}, with the size and digest of what it serves",
    )
