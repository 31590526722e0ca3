"""How a sender or receiver under test is made to act, and where the harness waits for its token.

A hook command (run without a shell) or the operator triggers a SUT; a sender's token arrives
at an HTTP inbox the harness serves, a folder it watches, or a QR image file it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from cloudpdi.config_rules import (
    LOOPBACK,
    RESERVED_ENV_PREFIX,
    RunConfigError,
    check_env_name,
    check_loopback,
    check_port,
    check_seconds,
    check_text,
)

#: Seconds a hook command may run unless configured.
DEFAULT_HOOK_TIMEOUT = 120.0
#: Where the harness's HTTP token inbox takes tokens (the receiver simulator's inbox route).
TOKEN_INBOX_PATH = "/tokens"  # noqa: S105 -- a URL path, not a password


def address(host: str, port: int) -> str:
    """``host:port`` as a report shows it (IPv6 in brackets; port 0 as ``auto``)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port if port else 'auto'}"


@dataclass(frozen=True)
class Hook:
    """A command the harness runs, without a shell, to make a SUT act."""

    kind: ClassVar[str] = "hook"

    argv: tuple[str, ...]
    #: Added to the harness's environment; values may be credentials, so reports show names only.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = DEFAULT_HOOK_TIMEOUT

    def __post_init__(self) -> None:
        if isinstance(self.argv, str) or not self.argv:
            raise RunConfigError("argv", "must be a non-empty list of strings (no shell is used)")
        for index, argument in enumerate(self.argv):
            if not isinstance(argument, str) or not argument:
                raise RunConfigError(f"argv[{index}]", "must be a non-empty string")
            check_text(f"argv[{index}]", argument)
        for name, value in self.env.items():
            check_env_name(f"env.{name}", name)
            if name.upper().startswith(RESERVED_ENV_PREFIX):
                raise RunConfigError(
                    f"env.{name}", f"{RESERVED_ENV_PREFIX}* variables are set by the harness"
                )
            if not isinstance(value, str):
                raise RunConfigError(f"env.{name}", "must be a string")
            check_text(f"env.{name}", value)
        check_seconds("timeout", self.timeout)
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))

    def __str__(self) -> str:
        return f"hook {self.argv[0]}"

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "argv": list(self.argv),
            "env": sorted(self.env),
            "timeout": self.timeout,
        }


@dataclass(frozen=True)
class Operator:
    """A person makes the SUT act when prompted; ``prompt`` replaces the harness's own text."""

    kind: ClassVar[str] = "operator"

    prompt: str | None = None

    def __post_init__(self) -> None:
        if self.prompt is not None:
            check_text("prompt", self.prompt)

    def __str__(self) -> str:
        return "operator"

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "prompt": self.prompt}


Trigger = Hook | Operator


@dataclass(frozen=True)
class HttpInbox:
    """The harness listens for ``POST /tokens`` here (loopback, like every simulator)."""

    kind: ClassVar[str] = "http"

    host: str = LOOPBACK
    port: int = 0

    def __post_init__(self) -> None:
        check_loopback("host", self.host)
        check_port("port", self.port, listen=True)

    def __str__(self) -> str:
        return f"http inbox {address(self.host, self.port)}{TOKEN_INBOX_PATH}"

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "host": self.host, "port": self.port}


@dataclass(frozen=True)
class FolderInbox:
    """The harness watches this folder for a token file."""

    kind: ClassVar[str] = "folder"

    path: Path

    def __str__(self) -> str:
        return f"folder {self.path}"

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path)}


@dataclass(frozen=True)
class QrImageInbox:
    """The harness waits for this image file and reads the token from its QR code."""

    kind: ClassVar[str] = "qr_image"

    path: Path

    def __str__(self) -> str:
        return f"QR image {self.path}"

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path)}


TokenInbox = HttpInbox | FolderInbox | QrImageInbox
