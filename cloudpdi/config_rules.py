"""The rules every run configuration setting obeys, and the error that names the broken one.

Checks raise :class:`RunConfigError` with the setting's key and the problem, never its value:
a value may be a key someone pasted in the wrong place. The loader adds the file and the full
key path (``sender.trigger.argv``); code that builds a configuration gets the short key.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cloudpdi.dimse_peer import check_ae_title
from cloudpdi.errors import CloudPDIError

#: Where simulated actors listen unless told otherwise.
LOOPBACK = "127.0.0.1"
#: Why a simulated actor may listen on loopback only; said in the error that refuses another host.
LOOPBACK_REASON = (
    "a simulated actor listens on loopback only (127.0.0.0/8 or ::1): it is a test double, not "
    "hardened for a network, and it holds test keys; a SUT on another machine reaches it "
    "through an SSH tunnel or a reverse proxy"
)
#: Why key material never sits in a run configuration.
INLINE_KEY_REASON = (
    "a run configuration is shared, versioned and summarised in reports, so key material "
    "stays outside it: give a PEM file's path, or a bearer key by reference "
    '({ env = "NAME" } or { file = "PATH" })'
)
#: Environment variables the harness itself sets for hooks; a configuration may not add them.
RESERVED_ENV_PREFIX = "CLOUDPDI_"
#: What marks PEM text: certificates and keys pasted inline start with it.
PEM_MARKER = "-----BEGIN"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_MAX_HOST_LENGTH = 253
_MAX_PORT = 65535


class RunConfigError(CloudPDIError):
    """A run configuration setting is missing, mistyped or breaks a rule (its value unquoted)."""

    def __init__(self, key: str, problem: str, *, file: Path | None = None) -> None:
        self.key = key
        self.problem = problem
        self.file = file
        super().__init__(": ".join(str(part) for part in (file, key, problem) if part))

    def under(self, prefix: str, file: Path | None) -> RunConfigError:
        """Return this error for the same setting seen from a table at key path ``prefix``."""
        key = ".".join(part for part in (prefix, self.key) if part)
        return RunConfigError(key, self.problem, file=file)


def check_text(key: str, value: str) -> str:
    """Return ``value`` unless it is blank or holds pasted PEM key material."""
    if not value.strip():
        raise RunConfigError(key, "must not be blank")
    if PEM_MARKER in value:
        raise RunConfigError(key, f"looks like inline key material; {INLINE_KEY_REASON}")
    return value


def check_positive(key: str, value: float, what: str = "number") -> float:
    """Return ``value`` as a float if it is finite and positive; ``what`` names its unit."""
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise RunConfigError(key, f"must be a positive {what}")
    return float(value)


def check_seconds(key: str, value: float) -> float:
    """Return ``value`` if it is a finite, positive number of seconds."""
    return check_positive(key, value, "number of seconds")


def check_port(key: str, port: int, *, listen: bool) -> int:
    """Return ``port``; 0 (a free port chosen at start) only where the harness listens."""
    low = 0 if listen else 1
    if isinstance(port, bool) or not low <= port <= _MAX_PORT:
        raise RunConfigError(key, f"must be a TCP port from {low} to {_MAX_PORT}")
    return port


def check_loopback(key: str, host: str) -> str:
    """Return ``host`` if it is a loopback IP address, the only place a simulator listens."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RunConfigError(key, f"must be a loopback IP address: {LOOPBACK_REASON}")
    return host


def check_host(key: str, host: str) -> str:
    """Return ``host`` if it is an IP address or a DNS host name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.removesuffix(".").split(".")
        if len(host) > _MAX_HOST_LENGTH or not all(_HOST_LABEL.fullmatch(x) for x in labels):
            raise RunConfigError(key, "must be an IP address or a host name") from None
    return host


def check_url(key: str, url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL without credentials or fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RunConfigError(key, "must be an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RunConfigError(key, "must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise RunConfigError(key, f"must not carry credentials; {INLINE_KEY_REASON}")
    if parts.fragment:
        raise RunConfigError(key, "must not have a #fragment")
    if port == 0:
        raise RunConfigError(key, f"must name a TCP port from 1 to {_MAX_PORT}")
    return url


def check_ae(key: str, title: str) -> str:
    """Return ``title`` if it is a DICOM AE title (PS3.5 6.2: 1 to 16 characters)."""
    try:
        return check_ae_title(title)
    except ValueError as exc:
        raise RunConfigError(key, str(exc)) from None


def check_env_name(key: str, name: str) -> str:
    """Return ``name`` if it is a portable environment variable name."""
    if not _ENV_NAME.fullmatch(name):
        raise RunConfigError(key, "must be an environment variable name (A-Z, 0-9, _)")
    return name


def is_name(value: object) -> bool:
    """Tell whether ``value`` is a name of the suite's own (an option, a size class): lower-case
    words joined by - or _."""
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of ``mapping``, for the frozen configuration."""
    return MappingProxyType(dict(mapping))
