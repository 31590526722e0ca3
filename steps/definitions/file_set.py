"""Steps of the file set a sender makes: what lies in the envelope, judged as a PDI medium.

Each Then step opens the envelope as an independent judge (:mod:`steps.envelope`): download by
the token, digest check, decryption. A requirement is met when the PDI validator reports no
ERROR under its ID. The controls break that same file set one way (``fixtures.broken``) and
show that the judgement then fails it.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pytest_bdd import given, parsers, then, when

from cloudpdi.dicomdir import DICOMDIR_NAME
from cloudpdi.pdi_findings import Rule
from cloudpdi.pdi_layout import WEB_FOLDER
from cloudpdi.token import Token
from fixtures.encodings import EncoderMissing, reencode
from harness.lab import Lab
from reports import EvidenceKind
from simulators.pacs_store import SUCCESS
from steps.envelope import (
    JUDGE,
    Envelope,
    Envelopes,
    errors_under,
    image_files,
    images,
    judge,
    open_once,
)
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import SENDING, Exchange
from steps.file_set import (
    SYNTAXES,
    Broken,
    checker_errors,
    held_syntaxes,
    web_views,
)
from steps.file_set_makers import broken_case
from steps.referral import Referral, person_name
from steps.searching import stored_digests
from steps.transfer import download


@pytest.fixture
def envelopes() -> Envelopes:
    """The envelopes the scenario's judge opened, by token ID (each is opened once)."""
    return {}


def _envelope(
    lab: Lab, token: Token, envelopes: Envelopes, tmp_path: Path, evidence: EvidenceLog
) -> Envelope:
    return open_once(lab, token, envelopes, tmp_path / "envelopes", evidence)


def _sent(
    lab: Lab, exchange: Exchange, envelopes: Envelopes, tmp_path: Path, evidence: EvidenceLog
) -> Envelope:
    """The envelope of the transfer the receiving hospital was handed the token of."""
    return _envelope(lab, exchange.require_token(), envelopes, tmp_path, evidence)


@then("the repository holds the document named in the token")
def the_repository_holds_the_document(
    lab: Lab, exchange: Exchange, tmp_path: Path, evidence: EvidenceLog
) -> None:
    token = exchange.require_token()
    # The download checks the bytes against the token's digest before it keeps them.
    served = download(lab, token, tmp_path / f"{token.document_id}.cpdi")
    evidence.record(
        EvidenceKind.FILE,
        actor=JUDGE,
        summary=f"asked the repository for document {token.document_id}: "
        + ("served, with the token's digest" if served.path else "not served"),
        sizes={"document": served.path.stat().st_size} if served.path else {},
    )
    assert served.path is not None, served.error


@then(parsers.parse("the file set in the envelope holds {count:d} images of the study"))
def the_file_set_holds_images(
    count: int,
    lab: Lab,
    exchange: Exchange,
    referral: Referral,
    envelopes: Envelopes,
    tmp_path: Path,
    evidence: EvidenceLog,
) -> None:
    envelope = _sent(lab, exchange, envelopes, tmp_path, evidence)
    sent = {str(dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in referral.files}
    found = [
        str(image.SOPInstanceUID)
        for image in images(envelope)
        if str(image.StudyInstanceUID) == referral.study_uid
    ]
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor=JUDGE,
        summary=f"read {len(found)} images of the study through the DICOMDIR",
        sizes={"images": len(found), "images of the referral": len(sent)},
    )
    assert len(found) == count, f"the file set holds {len(found)} images of the study, not {count}"
    assert set(found) == sent, "the file set holds other images than the study's"


@then(parsers.parse("the file set in the envelope meets {requirement}"))
def the_file_set_meets(
    requirement: str,
    lab: Lab,
    exchange: Exchange,
    envelopes: Envelopes,
    tmp_path: Path,
    evidence: EvidenceLog,
) -> None:
    envelope = _sent(lab, exchange, envelopes, tmp_path, evidence)
    errors = envelope.errors_under(requirement)
    assert not errors, f"the file set breaks {requirement}: " + "; ".join(errors[:5])


@then("the file set in the envelope is a PDI file set")
def the_file_set_is_a_pdi_file_set(
    lab: Lab, exchange: Exchange, envelopes: Envelopes, tmp_path: Path, evidence: EvidenceLog
) -> None:
    envelope = _sent(lab, exchange, envelopes, tmp_path, evidence)
    broken = envelope.broken_requirements()
    assert envelope.ok, f"the file set breaks {', '.join(broken) or 'the rules'}"


@when(parsers.parse("the file set in the envelope is broken: {defect}"), target_fixture="broken")
def the_file_set_is_broken(
    defect: str,
    lab: Lab,
    token: Token,
    envelopes: Envelopes,
    tmp_path: Path,
    evidence: EvidenceLog,
) -> Broken:
    case = broken_case(defect)
    envelope = _envelope(lab, token, envelopes, tmp_path, evidence)
    made: Path | None = None
    problem = ""
    if envelope.folder is None:
        problem = "the file set in the envelope cannot be opened to be broken"
    else:
        (tmp_path / "broken").mkdir(exist_ok=True)
        try:
            made = case.make(envelope.folder, tmp_path / "broken" / case.name)
        except (OSError, ValueError, KeyError, IndexError, AttributeError) as exc:
            # The breakers find their victims through the DICOMDIR; a file set without what
            # they look for cannot be broken that way.
            problem = f"{type(exc).__name__}: {exc}"
    validation = None if made is None else judge(made)
    if validation is not None:
        evidence.add_validation(validation, JUDGE, f"the file set broken: {defect}")
    return Broken(case, envelope, validation, problem)


@then(parsers.parse("the file set in the envelope fails {requirement}"))
def the_file_set_fails(requirement: str, broken: Broken) -> None:
    if broken.case.requirement != requirement:
        raise StepError(f"the defect {broken.case.description!r} breaks {broken.case.requirement}")
    # Judged in the form the defect is made in: a folder, or a ZIP.
    envelope = broken.envelope
    clean = envelope.zip_validation if broken.case.is_zip else envelope.folder_validation
    before = [] if clean is None else errors_under(clean, requirement)
    assert not before, (
        f"the file set broke {requirement} before it was broken, so the control shows "
        "nothing: " + "; ".join(before[:5])
    )
    if broken.validation is None:
        pytest.skip(f"the file set could not be broken so: {broken.problem}")
    found = [f for f in broken.validation.findings if f.requirement == requirement]
    assert any(f.severity is broken.case.severity for f in found), (
        f"the judgement did not find {requirement} broken ({broken.case.severity} expected)"
    )


@then(parsers.parse('every image in the file set names the patient "{name}"'))
def every_image_names_the_patient(
    name: str,
    lab: Lab,
    exchange: Exchange,
    envelopes: Envelopes,
    tmp_path: Path,
    evidence: EvidenceLog,
) -> None:
    envelope = _sent(lab, exchange, envelopes, tmp_path, evidence)
    expected = person_name(name)
    names = [str(image.PatientName) for image in images(envelope)]
    others = sum(1 for found in names if found != expected)
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor=JUDGE,
        summary=f"read the patient's name in {len(names)} images: {others} name another",
        sizes={"images": len(names), "naming another": others},
    )
    assert names, "the judge found no image in the file set to read a name from"
    assert not others, f"{others} of {len(names)} images name the patient otherwise"


@then("an independent DICOM media checker accepts the file set in the envelope")
def an_independent_checker_accepts(
    lab: Lab, exchange: Exchange, envelopes: Envelopes, tmp_path: Path, evidence: EvidenceLog
) -> None:
    envelope = _sent(lab, exchange, envelopes, tmp_path, evidence)
    dicomdir = None if envelope.folder is None else envelope.folder / DICOMDIR_NAME
    assert dicomdir is not None and dicomdir.is_file(), "the file set holds no DICOMDIR"
    try:
        errors = checker_errors(dicomdir)
    except FileNotFoundError as exc:
        pytest.skip(f"no independent media checker here: {exc}")
    except (subprocess.SubprocessError, OSError) as exc:
        raise StepError(f"the media checker did not run: {exc}") from None
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor="dciodvfy (dicom3tools)",
        summary=f"checked the DICOMDIR: {len(errors)} errors",
        detail={"errors": errors},
    )
    assert not errors, "dciodvfy finds errors in the DICOMDIR: " + "; ".join(errors[:5])


@given(
    parsers.parse("the sending hospital's PACS holds the images in {syntax}"),
    target_fixture="referral",
)
def the_pacs_holds_the_images_in(
    syntax: str, lab: Lab, referral: Referral, tmp_path: Path, evidence: EvidenceLog
) -> Referral:
    """Re-encode the study's images and store them again; the PACS replaces what it held."""
    uid = SYNTAXES.get(syntax)
    if uid is None:
        raise StepError(f"no transfer syntax is called {syntax!r}")
    folder = tmp_path / "encoded"
    try:
        files = tuple(reencode(path, uid, folder / path.name) for path in referral.files)
    except EncoderMissing as exc:
        pytest.skip(f"the images cannot be encoded in {syntax} here: {exc}")
    refused = [o.detail for o in lab.source.import_files(list(files)) if o.status != SUCCESS]
    if refused or held_syntaxes(lab, files) != {uid}:
        raise StepError(f"the sending hospital's PACS does not hold the images in {syntax}")
    evidence.record(
        EvidenceKind.FILE,
        actor=SENDING,
        summary=f"its PACS holds the {len(files)} images of the study in {syntax}",
        sizes={path.name: path.stat().st_size for path in files},
    )
    return dataclasses.replace(referral, files=files)


@then("nothing that breaks PDI-TS-01 reaches the repository")
def nothing_breaking_ts01_reaches_the_repository(
    lab: Lab, exchange: Exchange, envelopes: Envelopes, tmp_path: Path, evidence: EvidenceLog
) -> None:
    stored = stored_digests(lab)
    evidence.record(
        EvidenceKind.FILE,
        actor="repository",
        summary=f"holds {len(stored)} documents",
        sizes={"documents": len(stored)},
    )
    if exchange.issued is None:
        # The sender refused: then nothing of this study may be in the repository.
        assert not stored, f"the sender refused, yet the repository holds {len(stored)} documents"
        return
    token = exchange.require_token()
    assert set(stored) <= {token.document_id}, (
        "the repository holds documents the token doesn't name"
    )
    envelope = _envelope(lab, token, envelopes, tmp_path, evidence)
    breaches = envelope.errors_under(Rule.TS_01)
    assert not breaches, "the file set breaks PDI-TS-01: " + "; ".join(breaches[:5])


@given("the sending hospital adds web content for viewing the study in a browser")
def the_sending_hospital_adds_web_content(sending: dict[str, Any]) -> None:
    sending["web_content"] = True


@then("the web content shows every image of the study")
def the_web_content_shows_every_image(
    lab: Lab, exchange: Exchange, envelopes: Envelopes, tmp_path: Path, evidence: EvidenceLog
) -> None:
    envelope = _sent(lab, exchange, envelopes, tmp_path, evidence)
    views = web_views(envelope)
    count = len(image_files(envelope))
    outside = [view for view in views if not view.startswith(f"{WEB_FOLDER}/")]
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor=JUDGE,
        summary=f"INDEX.HTM shows {len(views)} pictures that open; the file set holds "
        f"{count} DICOM images",
        detail={"pictures outside IHE_PDI": outside},
    )
    assert count, "the judge found no image in the file set to look for in the web content"
    assert len(views) == count, f"the web content shows {len(views)} of the {count} images"
    assert not outside, f"the web content shows pictures outside {WEB_FOLDER}: {outside[:5]}"
