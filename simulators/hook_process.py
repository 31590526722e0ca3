"""Running a hook command: no shell, a time limit that ends the hook and every child it started.

A hook is someone else's program (a vendor's CLI, a script). It runs in a new session, so a
timeout ends its whole process group. Its standard error passes through, or, when the caller
keeps it, goes to a temporary file rather than a pipe: a child that outlives the hook then
cannot keep the caller waiting for the pipe to close.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Characters of a hook's standard error kept, from its end.
STDERR_TAIL = 2000


@dataclass(frozen=True)
class HookRun:
    """How a hook ended: its exit status (None when its time ran out) and its last words."""

    status: int | None
    stderr_tail: str = ""

    @property
    def timed_out(self) -> bool:
        return self.status is None


def run_hook(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    keep_stderr: bool = False,
) -> HookRun:
    """Run ``argv`` without a shell for at most ``timeout`` s; its standard output is dropped.

    Raises ``OSError`` when the program cannot be started.
    """
    with tempfile.TemporaryFile() as kept:
        process = subprocess.Popen(
            list(argv),
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=kept if keep_stderr else None,
            start_new_session=True,
        )
        try:
            status: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            status = None
        kept.seek(0)
        tail = kept.read().decode("utf-8", "replace")[-STDERR_TAIL:]
    return HookRun(status, tail)
