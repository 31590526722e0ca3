"""Access to the independent tools (dcmtk, dicom3tools, zbar-tools) that tests check us against."""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

#: dcmtk 3.6 leaves Nagle's algorithm on unless this is in its environment; without it every
#: small DIMSE response waits for a delayed ACK (about 40 ms per instance).
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}
_VERSION_TIMEOUT = 60


#: Seconds a stopped server process gets to exit before it is killed.
STOP_WAIT = 10.0


def free_port() -> int:
    """Return a free loopback port below the kernel's ephemeral range.

    A test starts a server on it, often in another process, and may start one there again:
    no outgoing connection and no server binding port 0 (a parallel worker's) is handed a port
    from below that range meanwhile.
    """
    low = _ephemeral_low()
    for port in secrets.SystemRandom().sample(range(max(1024, low - 10_000), low), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out for outgoing connections (Linux; else IANA's)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_WAIT) -> None:
    """Terminate a server process and wait for it; kill it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def require_tool(name: str) -> str:
    """Return the path of executable ``name``; fail in CI, skip elsewhere, when it is missing.

    CI installs every tool, so a missing one there is a broken set-up, not a reason to skip.
    """
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (bash .ci/run installs it)")
    return path


def dcmtk(name: str) -> str:
    """Return the path of dcmtk's ``name`` (storescu, storescp, findscu, ...), as require_tool.

    pynetdicom installs command-line apps with dcmtk's names, which may come first on PATH:
    an interop test must talk to the independent implementation, not to pynetdicom again.
    """
    require_tool(name)
    path = _dcmtk_path(name)
    if path is None:
        missing(f"{name} on PATH is not dcmtk's (pynetdicom installs one of the same name)")
    return path


@functools.cache
def _dcmtk_path(name: str) -> str | None:
    for directory in os.get_exec_path():
        candidate = shutil.which(name, path=directory)
        if candidate is None:
            continue
        version = subprocess.run(
            [candidate, "--version"], capture_output=True, text=True, timeout=_VERSION_TIMEOUT
        )
        if "dcmtk" in version.stdout + version.stderr:
            return candidate
    return None


def missing(reason: str) -> NoReturn:
    """Fail in CI, which installs every tool and font the tests need; skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)
