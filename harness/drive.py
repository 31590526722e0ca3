"""Making a system under test act, and waiting for what it does.

A sender or receiver under test is triggered by a hook command (run without a shell, with a
time limit) or by the operator (prompted on the terminal). What the harness tells it travels in
``CLOUDPDI_*`` environment variables (:data:`SENDER_VARIABLES`, :data:`RECEIVER_VARIABLES`);
a receiver's hook also gets the token file as its last argument. The harness then waits, with
the configured timeout, for the effect: a sender's token in its token inbox.

Secrets never travel this way: a product's own credentials are its configuration's business.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cloudpdi.config_actors import FolderInbox, Hook, Operator, QrImageInbox, Trigger
from cloudpdi.config_rules import RESERVED_ENV_PREFIX
from cloudpdi.errors import CloudPDIError
from simulators.hook_process import run_hook

#: What a sender's trigger is told (the ``CLOUDPDI_`` prefix added).
SENDER_VARIABLES = {
    "STUDY_UID": "the Study Instance UID to send (unset: the documents travel alone)",
    "SOURCE_PACS": "where the study is, as AE@HOST:PORT",
    "REPOSITORY_URL": "the base URL of the repository to upload to",
    "COMMUNITY_ID": "the community the token names",
    "RECIPIENT_ID": "the receiving facility's ID",
    "RECIPIENT_NAME": "the receiving facility's name",
    "RECIPIENT_PUBLIC_KEY": "the receiving facility's public key (PEM), to seal the token to",
    "TOKEN_INBOX": "where to deliver the token: a URL to POST it to, or a folder",
    "LIFETIME_SECONDS": "how long the transfer must live (only when a scenario sets it)",
    "DOCUMENTS": "documents to send with the study, joined by the path separator (if any)",
    "SCENARIO": "the scenario being run, for the product's own logs",
}
#: What a receiver's trigger is told; the token file is also the hook's last argument.
RECEIVER_VARIABLES = {
    "TOKEN_FILE": "the token as the patient hands it over (sealed, JSON, text or an image)",
    "DESTINATION_PACS": "the PACS to import into, as AE@HOST:PORT",
    "REPOSITORY_URL": "the repository of the token's community",
    "COMMUNITY_ID": "the community that repository serves",
    "SCENARIO": "the scenario being run, for the product's own logs",
}
#: How often a folder or an image file is looked at while waiting.
POLL_INTERVAL = 0.1


class HookCannotStart(CloudPDIError):
    """The hook command of the run configuration cannot be started."""


@dataclass(frozen=True)
class Triggered:
    """What pulling a trigger did: a hook's exit status (None for the operator) and output."""

    how: str
    seconds: float
    exit_status: int | None = None
    stderr_tail: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """Tell whether the trigger worked: the hook exited 0, or the operator was asked."""
        return not self.timed_out and self.exit_status in (0, None)

    def describe(self) -> str:
        """One line for the evidence and for failure messages."""
        if self.timed_out:
            return f"{self.how} did not finish within its time limit"
        if self.exit_status is None:
            return f"{self.how}: the operator was asked"
        return f"{self.how} exited with status {self.exit_status} after {self.seconds:.1f} s"


def environment(variables: Mapping[str, str | None]) -> dict[str, str]:
    """The ``CLOUDPDI_*`` variables of a trigger, leaving out the ones without a value."""
    return {f"{RESERVED_ENV_PREFIX}{name}": value for name, value in variables.items() if value}


def pull(
    trigger: Trigger,
    variables: Mapping[str, str],
    *,
    arguments: Sequence[str] = (),
    prompt: str,
    terminal: TextIO = sys.stderr,
) -> Triggered:
    """Run the hook (and wait for it) or prompt the operator (and return at once)."""
    if isinstance(trigger, Operator):
        _prompt(trigger, variables, arguments, prompt, terminal)
        return Triggered(how="the operator", seconds=0.0)
    return _run_hook(trigger, variables, arguments)


def _run_hook(hook: Hook, variables: Mapping[str, str], arguments: Sequence[str]) -> Triggered:
    # The harness's own environment, minus anything of ours a parent run may have left.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(RESERVED_ENV_PREFIX)}
    started = time.monotonic()
    how = f"the hook {Path(hook.argv[0]).name}"
    try:
        done = run_hook(
            [*hook.argv, *arguments],
            timeout=hook.timeout,
            env={**inherited, **hook.env, **variables},
            keep_stderr=True,
        )
    except OSError as exc:
        # The configuration names a program that is not there: the harness's problem, not a
        # verdict on the product.
        raise HookCannotStart(f"{how} cannot start: {exc.strerror}") from None
    return Triggered(
        how=how,
        seconds=time.monotonic() - started,
        exit_status=done.status,
        stderr_tail=done.stderr_tail,
        timed_out=done.timed_out,
    )


def _prompt(
    operator: Operator,
    variables: Mapping[str, str],
    arguments: Sequence[str],
    prompt: str,
    terminal: TextIO,
) -> None:
    print(f"\n>>> {operator.prompt or prompt}", file=terminal)
    for name, value in sorted(variables.items()):
        print(f"    {name} = {value}", file=terminal)
    for argument in arguments:
        print(f"    {argument}", file=terminal)
    terminal.flush()


def wait_for_file(inbox: FolderInbox | QrImageInbox, since: float, timeout: float) -> Path | None:
    """Wait for a token file newer than ``since`` (a ``time.time()``) in a folder or at a path."""
    deadline = time.monotonic() + timeout
    while True:
        found = _newest(inbox, since)
        if found is not None and _settled(found):
            return found
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_INTERVAL)


def _newest(inbox: FolderInbox | QrImageInbox, since: float) -> Path | None:
    if isinstance(inbox, QrImageInbox):
        candidates = [inbox.path] if inbox.path.is_file() else []
    elif inbox.path.is_dir():
        candidates = [path for path in inbox.path.iterdir() if path.is_file()]
    else:
        candidates = []
    fresh = [path for path in candidates if path.stat().st_mtime >= since]
    return max(fresh, key=lambda path: path.stat().st_mtime, default=None)


def _settled(path: Path) -> bool:
    """Tell whether a file has bytes and stopped growing (a product may write it in pieces)."""
    size = path.stat().st_size
    time.sleep(POLL_INTERVAL)
    return size > 0 and path.stat().st_size == size


def take(path: Path, folder: Path, *, stem: str = "delivered") -> Path:
    """Copy a token file the SUT delivered into ``folder`` (private) as ``stem`` and its suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{stem}{path.suffix or '.txt'}"
    shutil.copyfile(path, copy)
    copy.chmod(0o600)
    return copy
