"""HI-TOKEN compact text: round trip, typing tolerance and the check characters."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudpdi.compact import (
    CHECK_ALPHABET,
    GROUP_LENGTH,
    PREFIX,
    check_character,
    from_compact,
    group_compact,
    to_compact,
)
from cloudpdi.secret import Secret
from cloudpdi.token import Token, TokenCheckCodeError, TokenMalformed
from tests.test_token import assert_no_leak, sample_token, tokens

# Every QR alphanumeric character except space and hyphen, which a reader skips.
SUBSTITUTES = CHECK_ALPHABET + "$%+./:"
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def _fixed_token() -> Token:
    """A realistic token with fixed random parts, so that its compact text never changes."""
    return replace(
        sample_token(),
        secret=Secret(bytes(range(32))),
        token_id="FIXEDTOKENID",
        document_id="FIXEDDOCUMENTID",
    )


def _short_token() -> Token:
    """A small token, so that exhaustive error tests stay fast."""
    return replace(
        sample_token(),
        repository="https://r.example",
        community_id="c1",
        token_id="T1",
        document_id="D1",
        patient_ref=None,
        recipient=None,
    )


def _spread(text: str, draw: st.DrawFn) -> str:
    """Type ``text`` the way a person might: grouped, mixed case, stray spaces and hyphens."""
    grouped = group_compact(text, per_line=draw(st.none() | st.integers(1, 12)))
    rng = draw(st.randoms(use_true_random=False))
    separators = ["", "", "", " ", "-", "  ", "\t"]
    return "".join(
        (char.lower() if rng.random() < 0.5 else char) + rng.choice(separators) for char in grouped
    )


@st.composite
def typed(draw: st.DrawFn) -> tuple[Token, str]:
    token = draw(tokens())
    return token, _spread(to_compact(token), draw)


def test_a_realistic_token_is_short_and_qr_alphanumeric() -> None:
    token = sample_token()
    text = to_compact(token)
    assert text.startswith(PREFIX)
    assert set(text) <= QR_ALPHANUMERIC
    assert from_compact(text) == token
    assert len(text) < 700  # fits a version-17 QR code at level M


def test_check_character_is_iso_7064_mod_37_2() -> None:
    # Worked example of ISO/IEC 7064 (MOD 37-2): G123489654321 -> Y. Group 0 adds nothing.
    assert check_character(0, "G123489654321") == "Y"


@settings(max_examples=200, deadline=None)
@given(tokens())
def test_compact_round_trips_any_token(token: Token) -> None:
    text = to_compact(token)
    assert from_compact(text) == token
    assert to_compact(from_compact(text)) == text
    assert set(text) <= QR_ALPHANUMERIC


@settings(max_examples=60, deadline=None)
@given(typed())
def test_compact_reads_grouped_lower_case_and_spaced_text(case: tuple[Token, str]) -> None:
    token, text = case
    assert from_compact(text) == token


def test_compact_reads_full_width_input() -> None:
    token = sample_token()
    grouped = group_compact(to_compact(token), per_line=8)
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in grouped)
    assert from_compact(full_width.replace(" ", "\u3000")) == token


def test_group_compact_aligns_with_check_groups() -> None:
    text = to_compact(sample_token())
    grouped = group_compact(text)
    parts = grouped.split(" ")
    assert parts[0] == PREFIX
    assert all(len(part) == GROUP_LENGTH for part in parts[1:-1])
    assert 2 <= len(parts[-1]) <= GROUP_LENGTH
    lines = group_compact(text, per_line=6).splitlines()
    assert lines[0] == PREFIX
    assert all(len(line.split(" ")) == 6 for line in lines[1:-1])
    assert "".join(grouped.split()) == text
    with pytest.raises(ValueError, match="per_line"):
        group_compact(text, per_line=0)
    with pytest.raises(TokenMalformed):
        group_compact("not a token")


def _assert_check_error(text: str, token: Token) -> TokenCheckCodeError:
    with pytest.raises(TokenCheckCodeError) as caught:
        from_compact(text)
    assert_no_leak(caught.value, token)
    return caught.value


@pytest.mark.parametrize("make", [_short_token, sample_token], ids=["short", "full"])
def test_every_single_substitution_is_caught(make: object) -> None:
    token = make()  # type: ignore[operator]
    text = to_compact(token)
    for position, original in enumerate(text):
        for substitute in SUBSTITUTES:
            if substitute != original:
                _assert_check_error(text[:position] + substitute + text[position + 1 :], token)


@pytest.mark.parametrize("make", [_short_token, sample_token], ids=["short", "full"])
def test_every_adjacent_swap_is_caught(make: object) -> None:
    token = make()  # type: ignore[operator]
    text = to_compact(token)
    swaps = 0
    for position in range(len(text) - 1):
        a, b = text[position], text[position + 1]
        if a != b:
            swaps += 1
            _assert_check_error(text[:position] + b + a + text[position + 2 :], token)
    assert swaps > len(text) // 2


@settings(max_examples=100, deadline=None)
@given(tokens(), st.data())
def test_random_substitutions_and_swaps_are_caught(token: Token, data: st.DataObject) -> None:
    text = to_compact(token)
    position = data.draw(st.integers(0, len(text) - 1))
    substitute = data.draw(st.sampled_from(SUBSTITUTES).filter(lambda c: c != text[position]))
    _assert_check_error(text[:position] + substitute + text[position + 1 :], token)
    pairs = [i for i in range(len(text) - 1) if text[i] != text[i + 1]]
    i = data.draw(st.sampled_from(pairs))
    _assert_check_error(text[:i] + text[i + 1] + text[i] + text[i + 2 :], token)


def test_the_error_names_the_mistyped_group() -> None:
    token = _fixed_token()
    text = to_compact(token)
    total = len(group_compact(text).split(" ")) - 1
    position = len(PREFIX) + 6 * GROUP_LENGTH + 2  # inside group 7
    wrong = text[:position] + ("A" if text[position] != "A" else "B") + text[position + 1 :]
    error = _assert_check_error(wrong, token)
    assert f"group 7 (of {total}, after '{PREFIX}')" in str(error)
    # A swap across a group boundary makes two groups wrong.
    boundary = len(PREFIX) + 3 * GROUP_LENGTH - 1
    assert text[boundary] != text[boundary + 1]
    swapped = text[:boundary] + text[boundary + 1] + text[boundary] + text[boundary + 2 :]
    assert f"groups 3, 4 (of {total}" in str(_assert_check_error(swapped, token))


def test_a_lost_character_is_reported_from_its_group_on() -> None:
    token = _fixed_token()
    text = to_compact(token)
    position = len(PREFIX) + 4 * GROUP_LENGTH + 1  # group 5
    error = _assert_check_error(text[:position] + text[position + 1 :], token)
    assert "from group 5 " in str(error)
    assert "missing or extra in group 5" in str(error)


def test_groups_in_the_wrong_order_are_caught() -> None:
    token = sample_token()
    text = to_compact(token)
    body = text[len(PREFIX) :]
    groups = [body[i : i + GROUP_LENGTH] for i in range(0, len(body), GROUP_LENGTH)]
    groups[2], groups[3] = groups[3], groups[2]
    _assert_check_error(PREFIX + "".join(groups), token)
    del groups[5]
    with pytest.raises(TokenMalformed):
        from_compact(PREFIX + "".join(groups))


@settings(max_examples=100, deadline=None)
@given(tokens(), st.data())
def test_any_lost_character_is_refused(token: Token, data: st.DataObject) -> None:
    text = to_compact(token)
    position = data.draw(st.integers(0, len(text) - 1))
    with pytest.raises(TokenMalformed):
        from_compact(text[:position] + text[position + 1 :])


@pytest.mark.parametrize("prefix", ["HT2:", "HX1:", "TH1:", "HT1", "HT:1", "ht1;"])
def test_a_mistyped_prefix_is_a_check_code_error(prefix: str) -> None:
    token = sample_token()
    error = _assert_check_error(prefix + to_compact(token)[len(PREFIX) :], token)
    assert PREFIX in str(error)


@pytest.mark.parametrize("prefix", ["ht1:", "H T 1 :", " ht-1:"])
def test_the_prefix_may_be_spaced_and_lower_case(prefix: str) -> None:
    token = sample_token()
    assert from_compact(prefix + to_compact(token)[len(PREFIX) :]) == token


def test_other_qr_content_is_not_called_a_typo() -> None:
    with pytest.raises(TokenMalformed, match="not an HI-TOKEN") as caught:
        from_compact("https://cloudpdi.example.jp/token")
    assert not isinstance(caught.value, TokenCheckCodeError)


@pytest.mark.parametrize(
    "text",
    ["", "hello world", "{}", "HT1:", "HT1:A", "X" * 70_000, "QRTOKEN:ABCDE"],
)
def test_garbage_is_malformed(text: str) -> None:
    with pytest.raises(TokenMalformed):
        from_compact(text)


def test_non_string_is_malformed() -> None:
    with pytest.raises(TokenMalformed):
        from_compact(b"HT1:AAAA")  # type: ignore[arg-type]


def _with_checks(payload: bytes) -> str:
    """Encode raw payload bytes as compact text with correct check characters."""
    return _checked(base64.b32encode(payload).decode("ascii").rstrip("="))


def _checked(data: str) -> str:
    groups = [data[i : i + 4] for i in range(0, len(data), 4)]
    return PREFIX + "".join(g + check_character(n, g) for n, g in enumerate(groups, 1))


def _payload(token: Token) -> bytes:
    data = "".join(group[:-1] for group in group_compact(to_compact(token)).split(" ")[1:])
    return base64.b32decode(data + "=" * (-len(data) % 8))


def test_checked_text_is_what_the_writer_produces() -> None:
    token = sample_token()
    assert _with_checks(_payload(token)) == to_compact(token)


def test_well_checked_but_invalid_payloads_are_malformed() -> None:
    token = sample_token()
    payload = _payload(token)
    data = base64.b32encode(payload).decode("ascii").rstrip("=")
    cases = {
        "trailing byte": _with_checks(payload + b"\0"),
        "unknown flag bits": _with_checks(bytes([payload[0] | 0x80]) + payload[1:]),
        "cut short": _with_checks(payload[: len(payload) // 2]),
        "no recipient flag": _with_checks(bytes([payload[0] & ~1]) + payload[1:]),
        "impossible base32 length": _checked(data[: len(data) - len(data) % 8] + "A"),
        "not base32": _checked("0" + data[1:]),
    }
    for name, text in cases.items():
        with pytest.raises(TokenMalformed) as caught:
            from_compact(text)
        assert not isinstance(caught.value, TokenCheckCodeError), name
        assert_no_leak(caught.value, token)


def test_non_canonical_payload_is_refused() -> None:
    # A base32 text whose last character has spare low bits; setting one keeps the bytes.
    token = next(
        t
        for t in (sample_token(patient_ref="P" * n) for n in range(1, 6))
        if len(_payload(t)) * 8 % 5
    )
    data = base64.b32encode(_payload(token)).decode("ascii").rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    twin = data[:-1] + alphabet[alphabet.index(data[-1]) | 1]
    assert twin != data
    with pytest.raises(TokenMalformed, match="canonical"):
        from_compact(_checked(twin))
