"""Tokens with one fault, made in the issuer's name, for the receiving hospital to refuse.

Each fault spoils one thing and nothing else: a broken item is written into the issuer's own
token, which is then signed with the issuer's key and sealed to the receiving hospital as the
sending hospital seals every token (or left plain, if the sending hospital sent it plain), so
that the broken item is the only reason to refuse it. A fault of the seal spoils only the seal.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey

from cloudpdi.seal import generate_facility_key, seal_signed, sign_token_text
from cloudpdi.token import TOKEN_VERSION, Facility, Token, format_timestamp, to_json

#: A secret of fewer bits than the 128 a token's secret needs at the least.
SHORT_SECRET_BYTES = 15
#: An envelope scheme ID of the right shape that no specification defines.
UNDEFINED_SCHEME = "cpdi-undefined/1"
#: A facility the receiving hospital has never heard of, with a key of its own.
UNTRUSTED_FACILITY = Facility(id="1319999999", name="untrusted clinic")


@dataclass(frozen=True)
class Issuer:
    """What making a token in the sending hospital's name takes: its key and the recipient's."""

    key: ECKey
    recipient_public_key: ECKey

    def seal(self, text: str) -> str:
        """Sign ``text`` as the issuer and seal it to the receiving hospital."""
        return seal_signed(
            sign_token_text(text, issuer_key=self.key),
            recipient_public_key=self.recipient_public_key,
        )


@dataclass(frozen=True)
class Faulty:
    """A faulty token: its text, whether it is sealed, and a secret the issuer's lacks."""

    text: str
    sealed: bool
    new_secret: bytes | None = None


#: Spoils one item of the issuer's token (its canonical items, as a mapping).
ItemFault = Callable[[dict[str, Any]], bytes | None]


def _without(name: str) -> ItemFault:
    def spoil(items: dict[str, Any]) -> bytes | None:
        del items[name]
        return None

    return spoil


def _set(name: str, value: object) -> ItemFault:
    def spoil(items: dict[str, Any]) -> bytes | None:
        items[name] = value
        return None

    return spoil


def _short_secret(items: dict[str, Any]) -> bytes:
    secret = os.urandom(SHORT_SECRET_BYTES)
    items["secret"] = base64.urlsafe_b64encode(secret).decode("ascii").rstrip("=")
    return secret


def _issued_a_day_ahead(items: dict[str, Any]) -> bytes | None:
    issued = datetime.strptime(items["issued_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    expires = datetime.strptime(items["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    ahead = datetime.now(UTC) + timedelta(days=1)
    items["issued_at"] = format_timestamp(ahead)
    items["expires_at"] = format_timestamp(ahead + (expires - issued))
    return None


#: Broken token items, by the words a scenario says them in.
ITEM_FAULTS: dict[str, ItemFault] = {
    "has no document ID": _without("document_id"),
    "has no secret": _without("secret"),
    "has a secret shorter than 128 bits": _short_secret,
    "names no community": _without("community_id"),
    "has an expiry that is not a date and time": _set("expires_at", "in two weeks"),
    "names an envelope scheme nobody defined": _set("envelope_scheme", UNDEFINED_SCHEME),
    "names a token version nobody defined": _set("version", TOKEN_VERSION + 1),
    "was issued a day ahead": _issued_a_day_ahead,
}


def broken_item(token: Token, fault: str, issuer: Issuer | None) -> Faulty:
    """The issuer's ``token`` with one item broken, sealed by ``issuer`` (None: left plain)."""
    items = json.loads(to_json(token))
    new_secret = ITEM_FAULTS[fault](items)
    text = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if issuer is None:
        return Faulty(text, sealed=False, new_secret=new_secret)
    return Faulty(issuer.seal(text), sealed=True, new_secret=new_secret)


def _another_hospitals_key(token: Token, issuer: Issuer) -> str:
    other = replace(issuer, recipient_public_key=generate_facility_key())
    return other.seal(to_json(token))


def _untrusted_signer(token: Token, issuer: Issuer) -> str:
    stranger = replace(issuer, key=generate_facility_key())
    return stranger.seal(to_json(replace(token, issuer=UNTRUSTED_FACILITY)))


def _altered(token: Token, issuer: Issuer) -> str:
    sealed = issuer.seal(to_json(token))
    # One character of the ciphertext (the fourth part), not its last: that one may carry
    # padding bits, and a change there would be a change of spelling, not of content.
    start = sum(len(part) + 1 for part in sealed.split(".")[:3])
    where = start + len(sealed.split(".")[3]) // 2
    changed = "B" if sealed[where] == "A" else "A"
    return sealed[:where] + changed + sealed[where + 1 :]


def _unsigned(token: Token, issuer: Issuer) -> str:
    signed = sign_token_text(to_json(token), issuer_key=issuer.key)
    header_and_payload = signed[: signed.rindex(".") + 1]
    return seal_signed(header_and_payload, recipient_public_key=issuer.recipient_public_key)


#: Faults of the seal of a sealed token, by the words a scenario says them in.
SEAL_FAULTS: dict[str, Callable[[Token, Issuer], str]] = {
    "is sealed to another hospital's key": _another_hospitals_key,
    "is signed by a facility the receiving hospital does not trust": _untrusted_signer,
    "was altered on the way": _altered,
    "has lost the sending hospital's signature": _unsigned,
}


def faulty_token(token: Token, fault: str, issuer: Issuer | None) -> Faulty:
    """The issuer's ``token`` with ``fault``, sealed by ``issuer`` (None: sent plain).

    A fault of the seal needs the issuer; ask :data:`SEAL_FAULTS` before asking for one.
    """
    if fault in SEAL_FAULTS:
        if issuer is None:
            raise ValueError(f"a token that {fault} is a sealed token")
        return Faulty(SEAL_FAULTS[fault](token, issuer), sealed=True)
    return broken_item(token, fault, issuer)
