"""Patient pseudonyms: stable per facility and key, unlinkable without the key."""

from __future__ import annotations

import os
import re

import pytest

from cloudpdi.pseudonym import MIN_KEY_BYTES, PseudonymError, patient_pseudonym
from cloudpdi.token_model import MAX_PATIENT_REF_LENGTH

KEY = os.urandom(MIN_KEY_BYTES)


def test_one_patient_gets_one_pseudonym_from_one_facility() -> None:
    first = patient_pseudonym("CPDI0001", facility_id="1310000001", key=KEY)
    assert first == patient_pseudonym("CPDI0001", facility_id="1310000001", key=KEY)
    assert re.fullmatch(r"PSN-[A-Z2-7]{26}", first)
    assert len(first) <= MAX_PATIENT_REF_LENGTH


def test_pseudonyms_differ_by_patient_facility_and_key() -> None:
    made = {
        patient_pseudonym("CPDI0001", facility_id="1310000001", key=KEY),
        patient_pseudonym("CPDI0002", facility_id="1310000001", key=KEY),
        patient_pseudonym("CPDI0001", facility_id="1310000003", key=KEY),
        patient_pseudonym("CPDI0001", facility_id="1310000001", key=os.urandom(MIN_KEY_BYTES)),
        # The facility and patient IDs cannot be shifted into each other.
        patient_pseudonym("1CPDI0001", facility_id="131000000", key=KEY),
    }
    assert len(made) == 5
    assert not any("CPDI0001" in pseudonym for pseudonym in made)


def test_a_short_key_or_no_patient_id_is_refused() -> None:
    with pytest.raises(PseudonymError, match="at least"):
        patient_pseudonym("CPDI0001", facility_id="1310000001", key=KEY[:-1])
    with pytest.raises(PseudonymError, match="without a patient ID"):
        patient_pseudonym("  ", facility_id="1310000001", key=KEY)
