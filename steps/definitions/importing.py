"""Steps of the import: what the receiving PACS holds of the study, and whom the receiver asked.

Images are judged against the instances the sending hospital's PACS held (same SOP Instance
UIDs): how many of the study arrived, and whether each arrived unchanged apart from the
patient identity. The community steps give the receiving hospital a second community or hand
it a token of a community it does not know, and judge which repositories it asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then

from cloudpdi.media import MEDIA_PROFILES
from harness.lab import ActorUnderTest, Lab
from reports import EvidenceKind
from steps.communities import UNKNOWN_COMMUNITY, OtherCommunity, other_community, probe
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import RECEIVING, SENDING, Exchange
from steps.importing import compare_study, study_images
from steps.referral import Referral
from steps.sut import receiver_under_test

#: Communities a receiving hospital's directory lists in a scenario: the token's and one other.
DIRECTORY_SIZE = 2


@pytest.fixture
def neighbour(lab: Lab, tmp_path: Path) -> Iterator[OtherCommunity]:
    """The repository of another community the receiving hospital belongs to (started on use).

    A receiver under test is not re-configured per scenario: it lists the second community
    of its standing set-up (``[receiver.second_community]``), whose repository runs here.
    """
    sut = receiver_under_test(lab)
    standing = None if sut is None else sut.second_community
    if sut is not None and standing is None:
        raise ActorUnderTest(
            "a receiver under test is not told a community directory per scenario, and the "
            "run configuration names no second community it lists ([receiver.second_community])"
        )
    with other_community(lab, tmp_path / "other-community", standing) as community:
        yield community


@given(
    parsers.parse("the receiving hospital's community directory lists {count:d} communities"),
    target_fixture="other_community",
)
def the_community_directory_lists(
    count: int,
    lab: Lab,
    neighbour: OtherCommunity,
    receiving: dict[str, Any],
    evidence: EvidenceLog,
) -> OtherCommunity:
    if count != DIRECTORY_SIZE:
        raise StepError(f"a community directory of {count} communities is not defined")
    directory = dict(lab.receiver_config(**receiving).community_directory)
    directory[neighbour.community_id] = neighbour.url
    # A receiver under test lists it already (its standing set-up); a simulated one is told.
    if receiver_under_test(lab) is None:
        receiving["community_directory"] = directory
    probe(lab, neighbour)
    evidence.record(
        EvidenceKind.HTTP,
        actor="harness -> other community's repository",
        summary=f"the receiving hospital's directory lists {len(directory)} communities; "
        f"the other community's repository answered the harness's probe and recorded it",
        sizes={"communities": len(directory), "requests recorded": neighbour.seen},
    )
    return neighbour


@given(parsers.parse("the sending hospital makes file sets of the {profile} profile"))
def the_sending_hospital_makes_file_sets_of(
    profile: str, sending: dict[str, Any], evidence: EvidenceLog
) -> None:
    if profile not in MEDIA_PROFILES:
        raise StepError(f"no General Purpose profile is called {profile!r}")
    sending["media_profile"] = profile
    evidence.record(
        EvidenceKind.FILE, actor=SENDING, summary=f"makes file sets of the {profile} profile"
    )


@given("the token names a community the receiving hospital does not know")
def the_token_names_an_unknown_community(
    lab: Lab, sending: dict[str, Any], receiving: dict[str, Any], evidence: EvidenceLog
) -> None:
    known = lab.receiver_config(**receiving).community_directory
    if UNKNOWN_COMMUNITY in known:
        raise StepError(f"the receiving hospital knows community {UNKNOWN_COMMUNITY}")
    # The sending hospital still uploads to the lab's repository: only the token's community
    # tells the receiving hospital where to look, and it names no community it knows.
    sending["community_id"] = UNKNOWN_COMMUNITY
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=SENDING,
        summary=f"issues the token for community {UNKNOWN_COMMUNITY}, "
        f"which is not among the {len(known)} of the receiving hospital's directory",
    )


@then("the receiving hospital asked only the repository of the token's community")
def asked_only_the_tokens_repository(
    lab: Lab, exchange: Exchange, other_community: OtherCommunity, evidence: EvidenceLog
) -> None:
    if lab.recorder is None:
        raise StepError("the repository has no spy to tell what it was asked")
    token = exchange.require_token()
    asked = lab.recorder.requests[exchange.requests_before :]
    elsewhere = other_community.requests_since_probe()
    evidence.record(
        EvidenceKind.HTTP,
        actor=RECEIVING,
        summary=f"asked the repository of community {token.community_id} {len(asked)} times "
        f"and that of community {other_community.community_id} {len(elsewhere)} times",
    )
    assert not elsewhere, (
        f"the receiving hospital asked the repository of community "
        f"{other_community.community_id}: "
        + ", ".join(f"{request.method} {request.status}" for request in elsewhere)
    )
    assert asked, f"the receiving hospital never asked the repository of {token.community_id}"


@then(parsers.parse("the receiving PACS holds {count:d} images of the study"))
def the_receiving_pacs_holds_images(
    count: int, lab: Lab, referral: Referral, evidence: EvidenceLog
) -> None:
    sent = study_images(lab.source, referral.study_uid)
    if len(sent) < count:  # fewer may arrive when some cannot be read (PDI-READ-01)
        raise StepError(f"the sending hospital's PACS holds {len(sent)} images of the study")
    arrived = study_images(lab.destination, referral.study_uid)
    evidence.record(
        EvidenceKind.DICOM_OPERATION,
        actor="the receiving PACS",
        summary=f"holds {len(arrived)} images of the study; {len(sent)} were sent",
        sizes={"images": len(arrived), "bytes": sum(record.size for record in arrived)},
    )
    assert len(arrived) == count, f"the receiving PACS holds {len(arrived)} images of the study"


@then("every image in the receiving PACS equals the image sent, apart from the patient identity")
def every_image_equals_the_image_sent(lab: Lab, referral: Referral, evidence: EvidenceLog) -> None:
    comparison = compare_study(lab.source, lab.destination, referral.study_uid)
    evidence.record(
        EvidenceKind.FILE,
        actor="harness",
        summary=f"compared {comparison.compared} images of the study with those sent: "
        f"{len(comparison.missing)} missing, {len(comparison.changed)} changed",
        sizes={"images compared": comparison.compared},
        digests={
            "pixel data sent": comparison.sent_pixels,
            "pixel data arrived": comparison.arrived_pixels,
        },
    )
    assert comparison.compared, "the receiving PACS holds no image of the study"
    assert not comparison.missing and not comparison.changed, comparison.listing()
