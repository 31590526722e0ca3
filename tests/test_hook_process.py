"""A hook runs without a shell, within its time limit: past it, the hook and every child it
started are ended, and a child still holding standard error cannot keep the caller waiting."""

from __future__ import annotations

import sys
import time

from simulators.hook_process import run_hook

#: A hook that starts a long-lived child sharing its standard error, then waits itself.
SPAWNS_A_CHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print('started', file=sys.stderr, flush=True); time.sleep(60)"
)


def test_a_hook_past_its_time_is_ended_with_its_children() -> None:
    started = time.monotonic()
    done = run_hook([sys.executable, "-c", SPAWNS_A_CHILD], timeout=1.0, keep_stderr=True)
    assert done.timed_out and done.status is None
    assert time.monotonic() - started < 10
    assert "started" in done.stderr_tail


def test_a_hook_that_ends_gives_its_status_and_last_words() -> None:
    done = run_hook(
        [sys.executable, "-c", "import sys; print('no study', file=sys.stderr); sys.exit(3)"],
        timeout=30,
        keep_stderr=True,
    )
    assert (done.status, done.timed_out) == (3, False)
    assert done.stderr_tail.strip() == "no study"
