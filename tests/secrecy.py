"""The spellings a leaked secret would take, for tests that prove it never appears."""

from __future__ import annotations

import base64

from cloudpdi.token import Token


def secret_forms(token: Token) -> list[str]:
    """The token's secret as text, in every encoding a leak would plausibly use."""
    raw = token.secret.reveal()
    return [
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b32encode(raw).decode().rstrip("="),
    ]


def secret_needles(token: Token) -> dict[str, bytes]:
    """The secret's raw bytes and text forms, named, for searching requests and stored bytes."""
    return {"raw": token.secret.reveal()} | {
        f"form{index}": form.encode() for index, form in enumerate(secret_forms(token))
    }
