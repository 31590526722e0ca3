"""HI-TOKEN canonical JSON: the exact form, round trips, and refusal of anything else."""

from __future__ import annotations

import base64
import json
import string
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings

from cloudpdi.token import Token, TokenMalformed, from_json, to_json
from tests.test_token import assert_no_leak, sample_token, tokens


def json_document(token: Token) -> dict[str, Any]:
    return json.loads(to_json(token))


def test_json_is_canonical() -> None:
    token = sample_token()
    text = to_json(token)
    document = json.loads(text)
    assert text == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "東京中央病院" in text  # UTF-8, not \u escapes
    assert document["issued_at"] == "2025-03-01T09:30:00Z"
    assert base64.urlsafe_b64decode(document["secret"] + "=") == token.secret.reveal()
    assert "recipient" not in json_document(replace(token, recipient=None))
    assert "patient_ref" not in json_document(replace(token, patient_ref=None))


@settings(max_examples=150, deadline=None)
@given(tokens())
def test_json_round_trips_any_token(token: Token) -> None:
    text = to_json(token)
    assert from_json(text) == token
    assert from_json(text.encode("utf-8")) == token
    assert from_json(json.dumps(json.loads(text), indent=2, ensure_ascii=True)) == token
    assert to_json(from_json(text)) == text


_B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _set_padding_bit(value: str) -> str:
    # 32 bytes fill 43 characters with 2 bits to spare: setting one decodes to the same bytes.
    return value[:-1] + _B64URL[_B64URL.index(value[-1]) | 1]


def _mutated(mutate: Any) -> str:
    document = json_document(sample_token())
    result = mutate(document)
    return result if isinstance(result, str) else json.dumps(document)


_JSON_MUTATIONS = {
    "not json": lambda d: "{not json",
    "array": lambda d: "[]",
    "missing key": lambda d: d.pop("secret"),
    "unknown key": lambda d: d.update(extra=1),
    "null recipient": lambda d: d.update(recipient=None),
    "null patient": lambda d: d.update(patient_ref=None),
    "version 2": lambda d: d.update(version=2),
    "short secret": lambda d: d.update(secret=d["secret"][:-2]),
    "padded secret": lambda d: d.update(secret=d["secret"] + "="),
    "non-canonical secret": lambda d: d.update(secret=_set_padding_bit(d["secret"])),
    "bad date": lambda d: d.update(issued_at="2025-02-30T00:00:00Z"),
    "offset date": lambda d: d.update(issued_at="2025-03-01T09:30:00+09:00"),
    "float count": lambda d: d["summary"].update(study_count=1.0),
    "string count": lambda d: d["summary"].update(study_count="1"),
    "bool count": lambda d: d["summary"].update(study_count=True),
    "modalities string": lambda d: d["summary"].update(modalities="CT"),
    "facility extra": lambda d: d["issuer"].update(kana="x"),
    "facility missing": lambda d: d["recipient"].pop("name"),
    "issuer not object": lambda d: d.update(issuer="1312345678"),
    "expiry before issue": lambda d: d.update(expires_at="2025-03-01T09:29:59Z"),
    "repeated key": lambda d: to_json(sample_token())[:-1] + ',"version":1}',
    "NaN": lambda d: json.dumps(d)[:-1] + ',"x":NaN}',
    "huge number": lambda d: to_json(sample_token()).replace(
        '"study_count":1', '"study_count":' + "9" * 5000
    ),
    "deep nesting": lambda d: "[" * 30_000 + "]" * 30_000,
    "too long": lambda d: " " * 70_000 + "{}",
}


@pytest.mark.parametrize("name", sorted(_JSON_MUTATIONS))
def test_malformed_json_is_refused_without_leaking(name: str) -> None:
    text = _mutated(_JSON_MUTATIONS[name])
    with pytest.raises(TokenMalformed) as caught:
        from_json(text)
    assert_no_leak(caught.value, sample_token())
    assert "5e5e5e" not in str(caught.value)


def test_malformed_json_messages_do_not_echo_the_input() -> None:
    token = sample_token()
    document = json_document(token)
    document["patient_ref"] = 42
    with pytest.raises(TokenMalformed, match="'patient_ref'") as caught:
        from_json(json.dumps(document))
    assert_no_leak(caught.value, token)
    broken = to_json(token).replace('"secret":', '"secret":x')
    with pytest.raises(TokenMalformed, match="not valid JSON") as caught:
        from_json(broken)
    assert_no_leak(caught.value, token)
    assert caught.value.__cause__ is None


def test_invalid_utf8_is_malformed() -> None:
    with pytest.raises(TokenMalformed, match="UTF-8"):
        from_json(b'{"version":1,"x":"\xff"}')
