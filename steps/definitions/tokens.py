"""Steps of the token's forms: what each form carries, how the sealed one is sealed, faulty
tokens the receiving hospital is handed, and tokens that name the patient by pseudonym.

The forms are read back with tools independent of the reference receiver
(:mod:`steps.token_forms`); faulty tokens are made in the issuer's name
(:mod:`steps.token_faults`) and replace, in the receiving hospital's token inbox, the token the
sending hospital delivered.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from pytest_bdd import given, parsers, then

from cloudpdi.config_actors import SenderSut
from cloudpdi.errors import CloudPDIError
from cloudpdi.pseudonym import MIN_KEY_BYTES
from cloudpdi.seal import (
    CONTENT_ENCRYPTION,
    KEY_AGREEMENT,
    generate_facility_key,
    load_private_key,
    load_public_key,
    unseal_token,
)
from cloudpdi.token import Token, TokenSignatureError, to_compact, to_json
from harness.lab import ActorUnderTest, Lab
from reports import EvidenceKind
from simulators.delivery import TokenFiles
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import RECEIVING, SENDING, TOKEN_INBOX, Exchange, receiver_keys
from steps.referral import Referral
from steps.searching import Needles, found_in_files, long_enough, name_needles
from steps.sut import delivered_slip, sender_under_test
from steps.token_faults import ITEM_FAULTS, SEAL_FAULTS, Issuer, faulty_token
from steps.token_forms import (
    NOT_ISSUED,
    SLIP_QR,
    TYPED,
    WORDS,
    WORDS_IN_IMAGE,
    Reading,
    issued_files,
    printed_words,
    read_forms,
    shown_items,
    without_spaces,
)

#: The forms printed on the token slip, and why a sender under test's cannot be seen without
#: the setting that gives it somewhere to print the slip to file.
_PRINTED = (SLIP_QR, WORDS, TYPED)
NO_SLIP_FOLDER = (
    "the run configuration names no [sender.slip] folder, where a sender under test prints "
    "its token slip to file"
)


@given("the receiving hospital has published its key for sealed tokens")
def the_receiving_hospital_published_its_key(lab: Lab) -> None:
    """The sending hospital seals tokens to the key the receiving hospital published.

    Every sending hospital of the lab is given that key (a sender under test is told it), so
    this states a precondition rather than changing how the sending hospital works.
    """
    if not lab.receiver_public_key_path.is_file():
        raise StepError("the receiving hospital has no published key")


@given("the sending hospital refers to patients by pseudonym")
def the_sending_hospital_uses_pseudonyms(sending: dict[str, Any], evidence: EvidenceLog) -> None:
    key = os.urandom(MIN_KEY_BYTES)
    evidence.add_secret(key)
    sending["pseudonym_key"] = key


@given(parsers.parse("the token the receiving hospital is handed {fault}"))
def the_token_handed_is_faulty(fault: str, lab: Lab, token: Token, evidence: EvidenceLog) -> None:
    """Replace the delivered token in the inbox with the issuer's token spoilt by ``fault``."""
    if fault not in ITEM_FAULTS and fault not in SEAL_FAULTS:
        raise StepError(f"no way to make a token that {fault} is defined")
    inbox = lab.root / TOKEN_INBOX
    sealed = (inbox / f"{token.token_id}.jwe").is_file()
    if fault in SEAL_FAULTS and not sealed:
        pytest.skip("the sending hospital delivered no sealed token to spoil")
    if sealed and lab.issuer_key_path is None:
        pytest.skip("the sending hospital's signing key is not the harness's: it cannot re-seal")
    issuer = (
        Issuer(load_private_key(lab.issuer_key_path), load_public_key(lab.receiver_public_key_path))
        if sealed and lab.issuer_key_path is not None
        else None
    )
    faulty = faulty_token(token, fault, issuer)
    if faulty.new_secret is not None:
        evidence.add_secret(faulty.new_secret)
    for path in inbox.glob(f"{token.token_id}*"):
        path.unlink()
    handed = inbox / f"{token.token_id}.{'jwe' if faulty.sealed else 'json'}"
    handed.write_text(faulty.text, encoding="utf-8")
    evidence.record(
        EvidenceKind.TOKEN_HANDOFF,
        actor=f"{SENDING} -> {RECEIVING}",
        summary=f"the token in the token inbox was replaced by one that {fault}",
        sizes={"token file": len(faulty.text.encode("utf-8"))},
        digests={"sha-256": hashlib.sha256(faulty.text.encode("utf-8")).hexdigest()},
    )


@then(parsers.parse("the {form} carries the same token items as every other form of the token"))
def the_form_carries_the_same_items(
    form: str, lab: Lab, exchange: Exchange, tmp_path: Path, evidence: EvidenceLog
) -> None:
    files = _issued(lab, exchange)
    readings = read_forms(files, receiver_keys(lab), tmp_path / "forms")
    _record_readings(evidence, readings)
    if (sut := sender_under_test(lab)) is not None:
        readings = _delivered_by_sut(readings, form, sut)
    if form == WORDS:
        _words_show_every_form(files, readings, evidence)
        return
    if form not in readings:
        raise StepError(f"no way to read the token's {form} is defined")
    this = readings[form]
    assert this.token is not None, f"the {form} cannot be read: {this.problem}"
    differ = [
        f"the {other.form} ({other.problem or 'other items'})"
        for other in readings.values()
        if other.form != form and other.token != this.token
    ]
    assert not differ, f"the {form} carries other items than " + "; ".join(differ)


@then("only the receiving hospital's key opens the sealed electronic token")
def only_the_receivers_key_opens(lab: Lab, exchange: Exchange, evidence: EvidenceLog) -> None:
    sealed = _sealed_text(lab, exchange)
    receiver = _receiver_key(lab)
    others = {"another hospital's key": generate_facility_key()}
    if lab.issuer_key_path is not None:
        others["the sending hospital's own key"] = load_private_key(lab.issuer_key_path)
    opened = [name for name, key in others.items() if _opens(sealed, key)]
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor="harness",
        summary=f"tried to open the sealed electronic token with the receiving hospital's key "
        f"and {len(others)} others: opened by {len(opened)} others",
    )
    assert _opens(sealed, receiver), "the receiving hospital's key does not open the sealed token"
    assert not opened, "the sealed electronic token is opened by " + ", ".join(opened)


@then("the sealed electronic token is signed by the sending hospital")
def the_sealed_token_is_signed(lab: Lab, exchange: Exchange, evidence: EvidenceLog) -> None:
    sealed = _sealed_text(lab, exchange)
    receiver = _receiver_key(lab)
    # The check must be able to fail: a stranger's key must not verify what the issuer signed.
    try:
        unseal_token(sealed, recipient_key=receiver, issuer_public_key=generate_facility_key())
    except TokenSignatureError:
        pass
    else:
        raise StepError("a stranger's key verifies the token: the signature proves nothing")
    try:
        token = unseal_token(
            sealed,
            recipient_key=receiver,
            issuer_public_key=load_public_key(lab.issuer_public_key_path),
        )
    except CloudPDIError as exc:
        raise AssertionError(
            f"the sending hospital's key does not verify the token: {exc}"
        ) from None
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor="harness",
        summary="the sending hospital's published key verifies the sealed electronic token",
    )
    assert token.issuer.id == lab.issuer.id, "the sealed token names another issuer"


@then("the token carries a patient pseudonym")
def the_token_carries_a_pseudonym(lab: Lab, exchange: Exchange, referral: Referral) -> None:
    token = _issued_token(exchange)
    assert token.patient_ref is not None, "the token names no patient pseudonym"
    needles = _identity(referral)
    revealed = [name for name, needle in needles.items() if needle in token.patient_ref.encode()]
    assert not revealed, f"the token's patient pseudonym holds {', '.join(revealed)}"


@then("no form of the token reveals the patient's name or patient ID")
def no_form_reveals_the_patient(
    lab: Lab, exchange: Exchange, referral: Referral, tmp_path: Path, evidence: EvidenceLog
) -> None:
    files = _issued(lab, exchange)
    readings = read_forms(files, receiver_keys(lab), tmp_path / "forms")
    if (sut := sender_under_test(lab)) is not None:
        # Every form must be searched: the printed ones too, so the slip must be shown.
        readings = _delivered_by_sut(readings, WORDS, sut)
    said = _what_forms_say(files, readings)
    # The search must reach what the forms say: each names the pseudonym the token carries.
    pseudonym = _issued_token(exchange).patient_ref or ""
    silent = [form for form, text in said.items() if pseudonym.encode() not in text]
    if not pseudonym or silent:
        raise StepError(f"the search cannot see the token's items in: {', '.join(silent)}")
    needles = _identity(referral)
    revealing = [
        f"the {form} ({name})"
        for form, text in said.items()
        for name, needle in needles.items()
        if needle in text
    ]
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor="harness",
        summary=f"searched {len(said)} forms of the token for the patient's name and ID: "
        + (f"found in {len(revealing)} places" if revealing else "not found"),
        detail={"places": revealing},
    )
    assert not revealing, "the token reveals the patient: " + "; ".join(revealing)


def _identity(referral: Referral) -> Needles:
    """The patient's name and ID, once shown to be in the study's own files (else void)."""
    needles = long_enough(
        {
            **name_needles(referral.files[0], referral.written_name),
            "the patient ID": referral.patient_id.encode(),
        }
    )
    if not found_in_files(referral.files, needles):
        raise StepError("the study's own files do not hold what is searched for")
    return needles


def _what_forms_say(files: TokenFiles, readings: dict[str, Reading]) -> dict[str, bytes]:
    """What each form of the token says, as text a person or a reader gets from it."""
    said = {}
    for reading in readings.values():
        if reading.token is None:
            raise AssertionError(f"the {reading.form} cannot be read: {reading.problem}")
        token = reading.token
        said[reading.form] = f"{to_json(token)}\n{to_compact(token)}".encode()
    said[WORDS] = printed_words(files.slip).encode()
    return said


def _words_show_every_form(
    files: TokenFiles, readings: dict[str, Reading], evidence: EvidenceLog
) -> None:
    unread = [f"the {r.form} ({r.problem})" for r in readings.values() if r.token is None]
    assert not unread, "forms of the token cannot be read: " + "; ".join(unread)
    try:
        words = without_spaces(printed_words(files.slip))
    except CloudPDIError as exc:
        raise AssertionError(f"no words can be read on the token slip: {exc}") from None
    missing = sorted(
        {
            f"{item!r} of the {reading.form}"
            for reading in readings.values()
            if reading.token is not None
            for item in shown_items(reading.token)
            if without_spaces(item) not in words
        }
    )
    evidence.record(
        EvidenceKind.VALIDATOR_FINDING,
        actor="harness",
        summary=f"compared the words printed on the token slip with {len(readings)} forms: "
        f"{len(missing)} items not shown",
    )
    assert not missing, "the words printed on the token slip do not show " + "; ".join(missing)


def _delivered_by_sut(
    readings: dict[str, Reading], form: str, sut: SenderSut
) -> dict[str, Reading]:
    """The forms a sender under test handed over: the token it delivers and, when the run
    configuration gives it a slip folder, the slip it prints there (missing, it fails)."""
    printing = sut.slip_folder is not None
    if form in _PRINTED and not printing:
        raise ActorUnderTest(f"the harness cannot see the {form}: {NO_SLIP_FOLDER}")
    if form in (WORDS, TYPED) and readings[TYPED].problem == WORDS_IN_IMAGE:
        raise ActorUnderTest(
            f"the sender under test printed its token slip as an image: "
            f"{WORDS_IN_IMAGE}; print it as a PDF"
        )

    def shown(name: str, reading: Reading) -> bool:
        if reading.problem == NOT_ISSUED:
            return printing and name in _PRINTED
        return reading.problem != WORDS_IN_IMAGE

    delivered = {name: r for name, r in readings.items() if shown(name, r)}
    if len(delivered) < 2 or (form != WORDS and form not in delivered):
        unseen = "" if printing else f"; {NO_SLIP_FOLDER}"
        raise ActorUnderTest(
            f"a sender under test hands the harness the token forms it delivers "
            f"({', '.join(delivered) or 'none'}), too few to compare its {form} with another"
            + unseen
        )
    return delivered


def _issued(lab: Lab, exchange: Exchange) -> TokenFiles:
    """The files of the token the sending hospital issued, as it delivered them."""
    files = issued_files(exchange.inbox, _issued_token(exchange).token_id)
    if sender_under_test(lab) is not None and exchange.issued is not None:
        return replace(files, slip=delivered_slip(exchange.issued))
    return files


def _issued_token(exchange: Exchange) -> Token:
    if exchange.issued is None:
        raise AssertionError(
            f"the sending hospital issued no token: {'; '.join(exchange.problems)}"
        )
    if exchange.issued_token is None:
        raise AssertionError("the token the sending hospital issued cannot be read")
    return exchange.issued_token


def _sealed_text(lab: Lab, exchange: Exchange) -> str:
    sealed = _issued(lab, exchange).sealed
    assert sealed is not None and sealed.is_file(), "the sending hospital sent no sealed token"
    return sealed.read_text(encoding="ascii").strip()


def _receiver_key(lab: Lab) -> ECKey:
    """The receiving hospital's private key, to open what is sealed to it as it would."""
    if lab.receiver_key_path is None:
        raise ActorUnderTest("the receiving hospital's private key is not the harness's")
    return load_private_key(lab.receiver_key_path)


def _opens(sealed: str, key: ECKey) -> bool:
    """Tell whether ``key`` decrypts the sealed token, whatever key its header names."""
    try:
        jwe.decrypt_compact(sealed, key, algorithms=[KEY_AGREEMENT, CONTENT_ENCRYPTION])
    except (JoseError, ValueError, TypeError, KeyError):
        return False
    return True


def _record_readings(evidence: EvidenceLog, readings: dict[str, Reading]) -> None:
    for reading in readings.values():
        content = reading.source.read_bytes() if reading.source.is_file() else b""
        evidence.record(
            EvidenceKind.FILE,
            actor=SENDING,
            summary=f"read the {reading.form} from {reading.source.name}: "
            + ("a whole token" if reading.token is not None else reading.problem),
            sizes={"file": len(content)},
            digests={"sha-256": hashlib.sha256(content).hexdigest()},
        )
