"""Steps of what a referral carries besides images: documents, AI support images, no images at all.

A document the referral carries is written for the referral's patient and handed to the
sending hospital through the ``sending`` fixture (its ``documents``); the Then steps find it
again, byte for byte, by its digest. AI support images join the study on the sending PACS.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then

from cloudpdi.receipt import ReceiptOutcome
from harness.lab import Lab
from reports import EvidenceKind
from steps.documents import (
    AI_SUPPORT_IMAGES,
    SIGNS,
    Carried,
    Document,
    add_support_images,
    documents_only,
    instances_by_uid,
    made_support_images,
    make_document,
    same_document,
    study_of,
    unmarked,
)
from steps.envelope import JUDGE, Envelope, Envelopes, images, open_once
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import RECEIVING, Exchange
from steps.receipts import kept_files
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
    referral = documents_only(name, conformance_seed)
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


def _opened(
    lab: Lab, exchange: Exchange, envelopes: Envelopes, tmp_path: Path, evidence: EvidenceLog
) -> tuple[Envelope, Path]:
    """The envelope of the transfer sent, and its file set extracted by the independent judge."""
    envelope = open_once(lab, exchange.require_token(), envelopes, tmp_path / "envelopes", evidence)
    assert envelope.folder is not None, "the file set in the envelope cannot be opened"
    return envelope, envelope.folder


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _holding(files: Sequence[Path], document: Document) -> list[Path]:
    """The files among ``files`` that hold ``document`` byte for byte."""
    return [path for path in files if same_document(path, document)]


def _record_search(
    evidence: EvidenceLog, actor: str, where: str, document: Document, found: Sequence[str]
) -> None:
    evidence.record(
        EvidenceKind.FILE,
        actor=actor,
        summary=f"searched {where} for {document.written} as the sending hospital was given it: "
        + (f"found as {', '.join(found)}" if found else "not found"),
        sizes={document.written: document.size},
        digests={document.written: f"sha-256:{document.sha256}"},
    )


@then(parsers.parse('the file set in the envelope holds "{what}" unchanged'))
def the_file_set_holds_the_document(
    what: str,
    lab: Lab,
    exchange: Exchange,
    carried: Carried,
    envelopes: Envelopes,
    tmp_path: Path,
    evidence: EvidenceLog,
) -> None:
    document = carried.document(what)
    _, folder = _opened(lab, exchange, envelopes, tmp_path, evidence)
    files = _files(folder)
    found = [path.relative_to(folder).as_posix() for path in _holding(files, document)]
    _record_search(evidence, JUDGE, f"the {len(files)} files of the file set", document, found)
    assert found, f"no file of the file set in the envelope holds {what} unchanged"


@then(parsers.parse('the receiving hospital is given "{what}" unchanged'))
def the_receiving_hospital_is_given(
    what: str, exchange: Exchange, carried: Carried, evidence: EvidenceLog
) -> None:
    document = carried.document(what)
    receipt = exchange.require_receipt()
    # A file set refused whole is kept aside for inspection, not handed to the hospital.
    assert receipt.outcome is ReceiptOutcome.IMPORTED, f"the receiving hospital refused {what}"
    # What it is given: the documents its receipt lists, as the folder it names holds them.
    given = kept_files(receipt, receipt.documents)
    found = [name for name, path in given.items() if _holding([path], document)]
    _record_search(
        evidence, RECEIVING, f"the {len(given)} documents its receipt lists", document, found
    )
    assert found, f"the receiving hospital was not given {what} unchanged: its receipt lists " + (
        ", ".join(given) or "no document"
    )


def _judge_marks(
    made: dict[str, Path], held: dict[str, Path], where: str, actor: str, evidence: EvidenceLog
) -> None:
    problems = unmarked(made, held)
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor=actor,
        summary=f"compared {', '.join(SIGNS)} and the pixels of {len(made)} AI support images "
        f"sent with their copies in {where}: "
        + (f"{len(problems)} not marked as sent" if problems else "all marked as sent"),
        detail={"problems": problems},
    )
    assert not problems, f"not every AI support image in {where} is marked: " + "; ".join(problems)


def _made(lab: Lab) -> dict[str, Path]:
    made = made_support_images(lab)
    if not made:
        raise StepError("the sending hospital holds no AI support image to judge")
    return made


@then("every AI support image in the file set is marked as derived and not for diagnosis")
def every_support_image_in_the_file_set_is_marked(
    lab: Lab,
    exchange: Exchange,
    envelopes: Envelopes,
    tmp_path: Path,
    evidence: EvidenceLog,
) -> None:
    made = _made(lab)
    envelope, folder = _opened(lab, exchange, envelopes, tmp_path, evidence)
    # As a PDI reader finds them: an image no DICOMDIR record leads to is not on the medium.
    listed = {str(header.SOPInstanceUID) for header in images(envelope)}
    held = {uid: path for uid, path in instances_by_uid(_files(folder)).items() if uid in listed}
    _judge_marks(made, held, "the file set in the envelope", JUDGE, evidence)


@then("every AI support image in the receiving PACS is marked as derived and not for diagnosis")
def every_support_image_in_the_receiving_pacs_is_marked(lab: Lab, evidence: EvidenceLog) -> None:
    made = _made(lab)
    held = {uid: path for uid in made if (path := lab.destination.path_of(uid)) is not None}
    _judge_marks(made, held, "the receiving PACS", "receiving PACS", evidence)
