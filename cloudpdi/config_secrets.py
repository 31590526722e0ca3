"""Bearer keys by reference: a run configuration names where a key is, never the key.

A reference is an environment variable (``{ env = "NAME" }``) or a file holding the key
(``{ file = "PATH" }``). :func:`resolve_secret` reads it when the harness needs the key, and its
errors say which reference failed and why without ever quoting what was read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cloudpdi.config_rules import RunConfigError, check_env_name
from cloudpdi.errors import CloudPDIError


class SecretUnavailable(CloudPDIError):
    """A referenced secret is missing, unreadable or empty."""


@dataclass(frozen=True)
class SecretRef:
    """Where a bearer key is: exactly one of an environment variable and a file."""

    env: str | None = None
    file: Path | None = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise RunConfigError("", 'give exactly one of env = "NAME" and file = "PATH"')
        if self.env is not None:
            check_env_name("env", self.env)

    def __str__(self) -> str:
        return f"environment variable {self.env}" if self.env is not None else f"file {self.file}"

    def summary(self) -> dict[str, str]:
        """The reference as a report shows it: where the key is, not what it is."""
        return {"env": self.env} if self.env is not None else {"file": str(self.file)}


def resolve_secret(ref: SecretRef) -> str:
    """Return the key ``ref`` points at, without surrounding whitespace.

    Raises :class:`SecretUnavailable` when the variable is unset, the file unreadable, or
    either holds nothing.
    """
    if ref.file is None:
        value = os.environ.get(str(ref.env), "")
    else:
        try:
            value = ref.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc.__class__.__name__
            raise SecretUnavailable(f"cannot read the key from {ref}: {reason}") from None
    value = value.strip()
    if not value:
        raise SecretUnavailable(f"no key in {ref}: it is unset or empty")
    return value
