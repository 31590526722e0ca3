"""HI-TOKEN model: validation, issuing and the validity check.

The hypothesis strategy ``tokens`` here is shared by the compact, seal and slip tests.
"""

from __future__ import annotations

import base64
import re
import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import strategies as st

from cloudpdi.errors import CloudPDIError
from cloudpdi.secret import SECRET_LENGTH, Secret
from cloudpdi.token import (
    DEFAULT_LIFETIME,
    TOKEN_VERSION,
    ContentSummary,
    Facility,
    Token,
    TokenCheckCodeError,
    TokenError,
    TokenExpired,
    TokenMalformed,
    TokenNotYetValid,
    TokenRecipientError,
    TokenSignatureError,
    TokenTooLarge,
    check_token,
    issue_token,
    new_document_id,
)
from cloudpdi.token_model import (
    MAX_COUNT,
    MAX_DESCRIPTION_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PATIENT_REF_LENGTH,
)
from tests.secrecy import secret_forms

PATIENT_REF = "PSEUDO-7Q4X-PATIENT"
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

# --- strategies -------------------------------------------------------------------------

_ALNUM = string.ascii_letters + string.digits
_JAPANESE = "東京中央病院横浜市民医療画像検査胸部造影紹介状ｱｲｳエオ　ー・"
ids = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(_ALNUM),
    st.text(_ALNUM + "._~:-", max_size=MAX_ID_LENGTH - 1),
)
_chars = st.one_of(
    st.characters(exclude_categories=("Cc", "Cs")),
    st.sampled_from(_JAPANESE),
)


def texts(max_size: int, *, min_size: int = 1) -> st.SearchStrategy[str]:
    """Unicode text without controls or surrogates, not blank when min_size is 1."""
    strategy = st.text(_chars, min_size=min_size, max_size=max_size)
    return strategy.filter(str.strip) if min_size else strategy


facilities = st.builds(Facility, id=ids, name=texts(MAX_NAME_LENGTH))
urls = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["https", "http"]),
    st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){0,3}", fullmatch=True),
    st.sampled_from(["", ":8443", ":80"]),
    st.from_regex(r"(/[A-Za-z0-9._~-]{0,20}){0,4}", fullmatch=True),
)
summaries = st.builds(
    ContentSummary,
    modalities=st.lists(
        st.from_regex(r"[A-Z0-9_]{1,16}", fullmatch=True), unique=True, max_size=6
    ).map(tuple),
    study_count=st.integers(0, MAX_COUNT),
    instance_count=st.integers(0, MAX_COUNT),
    document_count=st.integers(0, MAX_COUNT),
    total_bytes=st.integers(0, MAX_COUNT),
    description=st.one_of(texts(300, min_size=0), texts(MAX_DESCRIPTION_LENGTH, min_size=0)),
)
_moments = st.integers(0, 4_102_444_800).map(lambda s: datetime.fromtimestamp(s, UTC))


@st.composite
def tokens(draw: st.DrawFn) -> Token:
    """Any valid token: Unicode text, optional items present or absent, edge lengths."""
    issued_at = draw(_moments)
    return Token(
        version=TOKEN_VERSION,
        token_id=draw(ids),
        community_id=draw(ids),
        repository=draw(urls),
        document_id=draw(ids),
        secret=Secret(draw(st.binary(min_size=SECRET_LENGTH, max_size=SECRET_LENGTH))),
        envelope_scheme=draw(st.sampled_from(["aes256gcm-stream/1", "cms-pwri", "zip-aes256"])),
        content_digest="sha-256:" + draw(st.binary(min_size=32, max_size=32)).hex(),
        issuer=draw(facilities),
        issued_at=issued_at,
        expires_at=issued_at + timedelta(seconds=draw(st.integers(1, 10 * 365 * 86400))),
        summary=draw(summaries),
        recipient=draw(st.none() | facilities),
        patient_ref=draw(st.none() | texts(MAX_PATIENT_REF_LENGTH)),
    )


# --- helpers ----------------------------------------------------------------------------


def sample_token(**changes: Any) -> Token:
    """A realistic token: Japanese hospital names, a recipient and a patient reference."""
    token = issue_token(
        community_id="urn:oid:1.2.392.200119.6.9",
        repository="https://repo.cpdi.example.jp/v1",
        document_id=new_document_id(),
        secret=Secret.generate(),
        envelope_scheme="aes256gcm-stream/1",
        content_digest="sha-256:" + "5e" * 32,
        issuer=Facility("1312345678", "東京中央病院"),
        summary=ContentSummary(("CT", "SR"), 1, 245, 1, 131_072_000, "胸部CT 造影あり・紹介状"),
        recipient=Facility("1498765432", "横浜市民病院"),
        patient_ref=PATIENT_REF,
        lifetime=timedelta(days=7),
        now=NOW,
    )
    return replace(token, **changes)


def leak_forms(token: Token) -> list[str]:
    """Every way the secret could be spelt in a message, and the patient reference."""
    # A reference of a few characters could turn up in any text by chance.
    long_enough = token.patient_ref is not None and len(token.patient_ref) >= 8
    return secret_forms(token) + ([token.patient_ref] if long_enough else [])


def assert_no_leak(error: BaseException, token: Token) -> None:
    """The message of ``error`` (and of any cause) shows neither secret nor patient."""
    while error is not None:
        shown = f"{error} {error!r}"
        for form in leak_forms(token):
            assert form not in shown
        error = error.__cause__ or error.__context__  # type: ignore[assignment]


# --- model ------------------------------------------------------------------------------


def test_repr_and_str_hide_secret_and_patient() -> None:
    token = sample_token()
    for shown in (repr(token), str(token)):
        for form in leak_forms(token):
            assert form not in shown
        assert "redacted" in shown
        assert "東京中央病院" in shown


def test_issue_token_stamps_whole_utc_seconds_and_fresh_ids() -> None:
    token = sample_token()
    other = sample_token()
    assert token.issued_at == NOW
    assert token.expires_at == NOW + timedelta(days=7)
    assert token.issued_at.tzinfo is UTC
    assert token.token_id != other.token_id
    assert re.fullmatch(r"[A-Z2-7]{26}", token.token_id)


def test_issue_token_lifetime_rules() -> None:
    base = {
        "community_id": "c",
        "repository": "https://r.example",
        "document_id": "d",
        "secret": Secret.generate(),
        "envelope_scheme": "aes256gcm-stream/1",
        "content_digest": "sha-256:" + "0" * 64,
        "issuer": Facility("1", "I"),
        "summary": ContentSummary((), 0, 0, 0, 0),
    }
    moment = datetime(2025, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC)
    token = issue_token(**base, now=moment)
    assert token.issued_at == moment.replace(microsecond=0)
    assert token.expires_at - token.issued_at == DEFAULT_LIFETIME
    until = datetime(2025, 2, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    assert issue_token(**base, now=moment, expires_at=until).expires_at == until.replace(
        microsecond=0
    )
    with pytest.raises(ValueError, match="not both"):
        issue_token(**base, lifetime=timedelta(days=1), expires_at=until)
    with pytest.raises(TokenMalformed, match="expires_at"):
        issue_token(**base, now=moment, lifetime=timedelta(0))
    with pytest.raises(TokenMalformed, match="timezone-aware"):
        issue_token(**base, expires_at=until.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_token(**base, now=moment.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        check_token(token, now=moment.replace(tzinfo=None))


def test_new_document_id_is_128_random_bits_in_base32() -> None:
    produced = {new_document_id() for _ in range(100)}
    assert len(produced) == 100
    for value in produced:
        assert re.fullmatch(r"[A-Z2-7]{26}", value)
        assert len(base64.b32decode(value + "======")) == 16


def test_a_list_of_modalities_becomes_a_tuple() -> None:
    summary = ContentSummary(["CT", "MR"], 1, 2, 0, 3)  # type: ignore[arg-type]
    assert summary.modalities == ("CT", "MR")
    hash(summary)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": 2}, "version"),
        ({"version": True}, "version"),
        ({"token_id": ""}, "token_id"),
        ({"token_id": "x" * (MAX_ID_LENGTH + 1)}, "token_id"),
        ({"document_id": ".."}, "document_id"),
        ({"document_id": "a/b"}, "document_id"),
        ({"community_id": "gemeinschaft ü"}, "community_id"),
        ({"repository": "ftp://repo.example"}, "repository"),
        ({"repository": "https://user:pw@repo.example"}, "repository"),
        ({"repository": "https://repo.example/?q=1"}, "repository"),
        ({"repository": "https://repo.example:99999"}, "repository"),
        ({"repository": "https://"}, "repository"),
        ({"repository": "https://repo.example/ä"}, "repository"),
        ({"secret": Secret(b"s" * 16)}, "secret"),
        ({"secret": b"s" * 32}, "secret"),
        ({"envelope_scheme": "AES"}, "envelope_scheme"),
        ({"content_digest": "sha-256:" + "A" * 64}, "content_digest"),
        ({"content_digest": "sha-512:" + "a" * 64}, "content_digest"),
        ({"issuer": "1312345678"}, "issuer"),
        ({"recipient": "1498765432"}, "recipient"),
        ({"summary": None}, "summary"),
        ({"patient_ref": "  "}, "patient_ref"),
        ({"patient_ref": "P\n1"}, "patient_ref"),
        ({"patient_ref": "P" * (MAX_PATIENT_REF_LENGTH + 1)}, "patient_ref"),
        ({"issued_at": datetime(2025, 1, 1)}, "issued_at"),  # naive
        ({"issued_at": datetime(2025, 1, 1, 0, 0, 0, 5, tzinfo=UTC)}, "issued_at"),
        ({"issued_at": datetime(1969, 12, 31, tzinfo=UTC)}, "issued_at"),
        ({"expires_at": NOW}, "expires_at"),
    ],
)
def test_construction_refuses_bad_fields_and_names_them(change: dict[str, Any], field: str) -> None:
    token = sample_token()
    with pytest.raises(TokenMalformed, match=re.escape(repr(field))) as caught:
        replace(token, **change)
    assert_no_leak(caught.value, token)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Facility("", "x"),
        lambda: Facility("1", " "),
        lambda: Facility("1", "a\tb"),
        lambda: Facility("1", "\ud800"),
        lambda: Facility("1", "n" * (MAX_NAME_LENGTH + 1)),
        lambda: ContentSummary("CT", 0, 0, 0, 0),  # type: ignore[arg-type]
        lambda: ContentSummary(("ct",), 0, 0, 0, 0),
        lambda: ContentSummary(("CT", "CT"), 0, 0, 0, 0),
        lambda: ContentSummary(("CT",), -1, 0, 0, 0),
        lambda: ContentSummary(("CT",), 0, True, 0, 0),
        lambda: ContentSummary(("CT",), 0, 0, 1.0, 0),  # type: ignore[arg-type]
        lambda: ContentSummary(("CT",), 0, 0, 0, MAX_COUNT + 1),
        lambda: ContentSummary((), 0, 0, 0, 0, "d" * (MAX_DESCRIPTION_LENGTH + 1)),
        lambda: ContentSummary((), 0, 0, 0, 0, "line\nbreak"),
    ],
)
def test_facility_and_summary_refuse_bad_values(make: Any) -> None:
    with pytest.raises(TokenMalformed):
        make()


def test_other_time_zones_are_normalised_to_utc() -> None:
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    token = sample_token(issued_at=tokyo, expires_at=tokyo + timedelta(hours=1))
    assert token.issued_at.utcoffset() == timedelta(0)
    assert token.issued_at == NOW


# --- validity ---------------------------------------------------------------------------


def test_check_token_accepts_a_current_token_for_its_recipient() -> None:
    token = sample_token()
    check_token(token, now=NOW + timedelta(days=1), recipient_id="1498765432")
    check_token(replace(token, recipient=None), now=NOW, recipient_id="9999999999")


def test_check_token_expiry_with_clock_skew() -> None:
    token = sample_token()
    skew = timedelta(minutes=5)
    check_token(token, now=token.expires_at + skew - timedelta(seconds=1))
    with pytest.raises(TokenExpired, match="expired at 2025-03-08T09:30:00Z"):
        check_token(token, now=token.expires_at + skew)
    with pytest.raises(TokenExpired):
        check_token(token, now=token.expires_at, clock_skew=timedelta(0))


def test_check_token_not_yet_valid() -> None:
    token = sample_token()
    check_token(token, now=NOW - timedelta(minutes=5))
    with pytest.raises(TokenNotYetValid, match="valid only from"):
        check_token(token, now=NOW - timedelta(minutes=5, seconds=1))


def test_check_token_uses_the_current_time_by_default() -> None:
    with pytest.raises(TokenExpired):
        check_token(sample_token())  # issued in 2025 for a week
    check_token(issue_token(**_fields_of(sample_token())))


def _fields_of(token: Token) -> dict[str, Any]:
    return {
        "community_id": token.community_id,
        "repository": token.repository,
        "document_id": token.document_id,
        "secret": token.secret,
        "envelope_scheme": token.envelope_scheme,
        "content_digest": token.content_digest,
        "issuer": token.issuer,
        "summary": token.summary,
    }


def test_check_token_wrong_recipient() -> None:
    token = sample_token()
    with pytest.raises(TokenRecipientError, match="another facility") as caught:
        check_token(token, now=NOW, recipient_id="1111111111")
    assert_no_leak(caught.value, token)


def test_every_token_error_is_caught_as_one() -> None:
    for error in (
        TokenMalformed,
        TokenCheckCodeError,
        TokenExpired,
        TokenNotYetValid,
        TokenRecipientError,
        TokenSignatureError,
        TokenTooLarge,
    ):
        assert issubclass(error, TokenError)
        assert issubclass(error, CloudPDIError)
    assert issubclass(TokenCheckCodeError, TokenMalformed)
