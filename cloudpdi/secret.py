"""A container for the per-transfer secret that refuses to show itself by accident.

The secret must never reach a log, an exception message or a report, so its ``repr`` and
``str`` are redacted; code that needs the bytes asks for them with :meth:`Secret.reveal`.
"""

from __future__ import annotations

import hmac
import os

#: Length of a Cloud-PDI transfer secret in bytes (256 bits, reference binding).
SECRET_LENGTH = 32

REDACTED = "***redacted***"


class Secret:
    """Opaque wrapper around secret bytes; compares in constant time, prints redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError("a secret is made from bytes")
        if not value:
            raise ValueError("a secret cannot be empty")
        self._value = bytes(value)

    @classmethod
    def generate(cls, length: int = SECRET_LENGTH) -> Secret:
        """Return a fresh random secret from the operating system's CSPRNG."""
        return cls(os.urandom(length))

    def reveal(self) -> bytes:
        """Return the secret bytes; call only where the key material is needed."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __reduce__(self) -> object:
        raise TypeError("a Secret is not picklable, so that it is not written out by accident")
