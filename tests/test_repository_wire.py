"""The wire codecs of the reference binding, and the client's backoff arithmetic."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository import RetriesExhausted
from cloudpdi.repository_retry import Backoff, retry_after
from cloudpdi.repository_wire import (
    WireFormatError,
    checksum_field,
    decode_metadata,
    digest_field,
    encode_metadata,
    is_document_id,
    parse_checksum_field,
    parse_count,
    parse_digest_field,
    parse_timestamp,
)

DIGEST = format_digest(hashlib.sha256(b"abc").hexdigest())


def test_digest_fields_follow_rfc_9530() -> None:
    field = digest_field(DIGEST)
    assert field == f"sha-256=:{base64.b64encode(hashlib.sha256(b'abc').digest()).decode()}:"
    assert parse_digest_field(field) == DIGEST
    assert parse_digest_field(f"unixsum=:AAAA:,  {field}") == DIGEST


@pytest.mark.parametrize(
    "value", ["", "sha-256", "sha-256=:AAAA:", "sha-256=:!!!:", "md5=:AAAA:", "sha-256=abc"]
)
def test_malformed_digest_fields_are_refused(value: str) -> None:
    with pytest.raises(WireFormatError):
        parse_digest_field(value)


@pytest.mark.parametrize("digest", ["sha-256:ABC", "sha-512:" + "0" * 64, "sha-256:" + "0" * 63])
def test_only_token_digests_can_be_sent(digest: str) -> None:
    with pytest.raises(WireFormatError):
        digest_field(digest)


@settings(max_examples=50)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
        max_size=5,
    )
)
def test_tus_metadata_round_trips(items: dict[str, str]) -> None:
    assert decode_metadata(encode_metadata(items)) == items


@pytest.mark.parametrize("value", ["a b c", "key !!!", "a YQ==,a Yg==", "k /w=="])
def test_malformed_tus_metadata_is_refused(value: str) -> None:
    with pytest.raises(WireFormatError):
        decode_metadata(value)


def test_upload_checksums() -> None:
    field = checksum_field("sha1", b"chunk")
    assert parse_checksum_field(field) == (
        "sha1",
        hashlib.sha1(b"chunk", usedforsecurity=False).digest(),
    )
    for value in ("md5 AAAA", "sha256 AAAA", "sha256"):
        with pytest.raises(WireFormatError):
            parse_checksum_field(value)


def test_counts_are_ascii_digits_only() -> None:
    assert parse_count("12") == 12 and parse_count(" 7 ") == 7 and parse_count("0") == 0
    # str.isdigit() accepts these, and int() then fails or reads them: both must be refused.
    for value in ("\u00b2", "\u0663", "-1", "1e3", "", "1" * 21, None):
        assert parse_count(value) is None


def test_document_ids_and_timestamps() -> None:
    assert is_document_id("A" * 128) and is_document_id("x.y_z~1:2-3")
    assert not any(is_document_id(v) for v in ("", "A" * 129, ".a", "a/b", "a b", "あ"))
    assert parse_timestamp("2026-04-01T18:00:00+09:00") == datetime(2026, 4, 1, 9, tzinfo=UTC)
    for value in ("2026-04-01T09:00:00", "soon"):
        with pytest.raises(WireFormatError):
            parse_timestamp(value)


def test_retry_after_is_read_only_from_429_and_503() -> None:
    assert retry_after(httpx.Response(429, headers={"Retry-After": "12"})) == 12.0
    assert retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert retry_after(httpx.Response(500, headers={"Retry-After": "12"})) is None
    assert retry_after(None) is None


def test_backoff_grows_exponentially_under_a_cap_and_resets_on_progress() -> None:
    waits: list[float] = []
    backoff = Backoff(retries=5, base=1.0, cap=4.0, sleep=waits.append)
    for _ in range(5):
        backoff.failed("x")
    assert all(0 <= wait <= min(4.0, 2**n) for n, wait in enumerate(waits))
    backoff.progressed()
    backoff.failed("x", wait=9.0)
    assert waits[-1] == 9.0 and backoff.total == 6
    for _ in range(4):
        backoff.failed("x")
    with pytest.raises(RetriesExhausted, match="6 failed attempts: last"):
        backoff.failed("last")
