"""Redaction: no spelling of a secret and no credential header value reaches the results model."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudpdi.secret import REDACTED, Secret
from reports.model import Evidence, EvidenceKind, ResultsError
from reports.redact import RedactionError, redact, secret_spellings

SECRET = bytes(range(200, 232))


def _text_forms(raw: bytes) -> dict[str, str]:
    b64 = base64.b64encode(raw).decode()
    return {
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64": b64,
        "base64 unpadded": b64.rstrip("="),
        "base64 percent-encoded": quote(b64, safe=""),
        "base64url": base64.urlsafe_b64encode(raw).decode(),
        "base64url unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "base32": base64.b32encode(raw).decode(),
        "base32 lower, unpadded": base64.b32encode(raw).decode().rstrip("=").lower(),
        "latin-1": raw.decode("latin-1"),
    }


@pytest.mark.parametrize("form", list(_text_forms(SECRET)))
def test_every_text_spelling_is_removed(form: str) -> None:
    spelled = _text_forms(SECRET)[form]
    text = f"GET /documents/d-1?key={spelled}&x=1 HTTP/1.1"
    cleaned = redact(text, [SECRET])
    assert spelled not in cleaned
    assert cleaned == f"GET /documents/d-1?key={REDACTED}&x=1 HTTP/1.1"


def test_raw_and_encoded_bytes_are_removed_from_bytes() -> None:
    body = b"head" + SECRET + b"mid" + SECRET.hex().encode() + b"tail"
    assert (
        redact(body, [SECRET]) == b"head" + REDACTED.encode() + b"mid" + REDACTED.encode() + b"tail"
    )


def test_text_secret_and_secret_object_are_accepted() -> None:
    api_key = "k3y-for-the-uploader"
    text = f"key={api_key} hex={api_key.encode().hex()} secret={SECRET.hex()}"
    cleaned = redact(text, [api_key, Secret(SECRET)])
    assert cleaned == f"key={REDACTED} hex={REDACTED} secret={REDACTED}"


def test_mappings_and_sequences_are_redacted_deeply_keys_included() -> None:
    data = {
        "headers": [
            ["Authorization", "Bearer abc.def"],
            ("Cookie", "session=1"),
            ["Accept", "*/*"],
        ],
        "query": {SECRET.hex(): "as a key", "n": 3, "nested": [{"v": base64.b64encode(SECRET)}]},
        "Proxy-Authorization": "Basic dXNlcjpwdw==",
    }
    assert redact(data, [SECRET]) == {
        "headers": [
            ["Authorization", f"Bearer {REDACTED}"],
            ("Cookie", REDACTED),
            ["Accept", "*/*"],
        ],
        "query": {REDACTED: "as a key", "n": 3, "nested": [{"v": REDACTED.encode()}]},
        "Proxy-Authorization": f"Basic {REDACTED}",
    }


def test_credential_headers_in_free_text_keep_only_their_scheme() -> None:
    log = "PUT /documents/d-1\r\nauthorization: Bearer eyJhbGciOi.x.y\r\nContent-Length: 5\r\n"
    assert redact(log, []) == (
        f"PUT /documents/d-1\r\nauthorization: Bearer {REDACTED}\r\nContent-Length: 5\r\n"
    )


def test_text_without_secrets_is_left_alone() -> None:
    text = "PUT /documents/0f3c 201 Created; sha-256 of the ciphertext: " + "ab" * 32
    assert redact(text, [SECRET]) == text


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(RedactionError):
        redact("text", [b""])


def test_spellings_are_longest_first_so_no_partial_spelling_is_left() -> None:
    spellings = secret_spellings(SECRET)
    assert spellings == sorted(spellings, key=len, reverse=True)
    # Padded base64 must win over its unpadded prefix, else "==" would survive.
    assert redact(base64.b64encode(SECRET).decode(), [SECRET]) == REDACTED


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=16, max_size=48),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    form=st.sampled_from(sorted(_text_forms(b"x"))),
)
def test_no_spelling_survives_in_any_surrounding_text(
    secret: bytes, before: str, after: str, form: str
) -> None:
    spelled = _text_forms(secret)[form]
    cleaned = redact(before + spelled + after, [secret])
    assert spelled not in cleaned
    assert REDACTED in cleaned


def test_evidence_capture_redacts_every_text_field() -> None:
    token_secret = os.urandom(32)
    item = Evidence.capture(
        EvidenceKind.TOKEN_HANDOFF,
        actor=f"sender -> receiver {token_secret.hex()}",
        summary=f"token with secret {base64.urlsafe_b64encode(token_secret).decode()}",
        secrets=[token_secret],
        digests={"sha-256": "cd" * 32},
        detail={
            "headers": {"Authorization": "Bearer t"},
            "qr": base64.b32encode(token_secret).decode(),
        },
        time=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert item.actor == f"sender -> receiver {REDACTED}"
    assert item.summary == f"token with secret {REDACTED}"
    assert item.detail == {"headers": {"Authorization": f"Bearer {REDACTED}"}, "qr": REDACTED}
    assert item.digests == {"sha-256": "cd" * 32}


def test_evidence_detail_must_be_json_data() -> None:
    with pytest.raises(ResultsError, match="JSON data"):
        Evidence.capture(
            EvidenceKind.FILE, actor="receiver", summary="s", secrets=[], detail={"raw": b"bytes"}
        )
