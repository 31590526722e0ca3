"""Which validation errors refuse a received file set whole, and which only one instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudpdi.pdi_rules import validate_file_set
from fixtures.broken import make_broken_file_set, make_clean_file_set
from simulators.receiver_import import take_inventory
from simulators.receiver_report import InstanceStatus
from simulators.receiver_triage import set_apart, triage

FIRST_IMAGE = "DICOM/PT000001/ST000001/SE000001/IM000001"


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clean_file_set(tmp_path_factory.mktemp("triage") / "clean")


@pytest.mark.parametrize(
    ("case", "requirement"), [("no-preamble", "PDI-FMI-01"), ("dangling-reference", "PDI-DIR-03")]
)
def test_an_instance_that_cannot_be_read_is_refused_alone_and_the_rest_kept(
    clean: Path, tmp_path: Path, case: str, requirement: str
) -> None:
    broken = make_broken_file_set(case, clean, tmp_path / case)
    triaged = triage(validate_file_set(broken), broken)
    assert triaged.whole == ()
    assert list(triaged.instances) == [FIRST_IMAGE]
    inventory = take_inventory(broken)
    kept = set_apart(inventory, triaged.instances, keep_readable=False)
    (refused,) = kept.unreadable
    assert refused.path == FIRST_IMAGE and refused.status is InstanceStatus.REFUSED
    assert refused.reason.startswith("not readable: ") and requirement in refused.reason
    assert FIRST_IMAGE not in {i.name for i in kept.instances}
    # The image and the Encapsulated PDF of the clean set that remain are still to import.
    assert len(kept.instances) == 3
    assert FIRST_IMAGE not in {d.path for d in kept.documents}


@pytest.mark.parametrize("case", ["no-dicomdir", "unreferenced-file", "dicomdir-offset-loop"])
def test_a_file_set_that_cannot_be_trusted_is_refused_whole(
    clean: Path, tmp_path: Path, case: str
) -> None:
    broken = make_broken_file_set(case, clean, tmp_path / case)
    triaged = triage(validate_file_set(broken), broken)
    assert triaged.whole


def test_a_clean_file_set_has_nothing_to_set_apart(clean: Path) -> None:
    triaged = triage(validate_file_set(clean), clean)
    assert triaged.whole == () and triaged.instances == {}
    inventory = take_inventory(clean)
    assert set_apart(inventory, triaged.instances, keep_readable=False) == inventory
