"""Making a system under test act, and waiting for what it does.

A sender or receiver under test is triggered by a hook command (run without a shell, with a
time limit) or by the operator. What the harness tells it travels in ``CLOUDPDI_*``
environment variables (:data:`SENDER_VARIABLES`, :data:`RECEIVER_VARIABLES`); a receiver's hook
also gets the token file as its last argument. The harness then waits, with the configured
timeout, for the effect: a sender's token in its token inbox.

The operator is prompted on standard output with the same facts and answers one line on
standard input: ``done`` (or an empty line) when the product did it, ``refused`` when it
refused or could not. Standard input must be a terminal or a pipe (a script may stand in for
the person); anything else (``/dev/null``, as under CI) is refused before a case runs
(:func:`operator_input`), rather than leaving every case waiting for an answer.

Secrets never travel this way: a product's own credentials are its configuration's business.
"""

from __future__ import annotations

import os
import select
import shutil
import stat
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO, TypeVar

from cloudpdi.config_actors import DEFAULT_WAIT_TIMEOUT
from cloudpdi.config_rules import RESERVED_ENV_PREFIX
from cloudpdi.config_triggers import FolderInbox, Hook, Operator, QrImageInbox, Trigger
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
    "PSEUDONYMS": "1: refer to the patient by pseudonym (only when a scenario says)",
    "WEB_CONTENT": "1: add web content to the file set (only when a scenario says)",
    "SLIP_FOLDER": "an empty folder to print the token slip to file in ([sender.slip] set)",
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
#: How often the harness looks again while it waits for a SUT (a file, a PACS, a log).
POLL_INTERVAL = 0.1
T = TypeVar("T")


#: What an operator answers when the product did what the prompt asked (an empty line too).
DONE = frozenset({"", "done", "d", "yes", "y"})
#: What an operator answers when the product refused it or could not do it.
REFUSED = frozenset({"refused", "r", "no", "n"})
#: What the prompt tells the operator to answer.
HOW_TO_ANSWER = (
    "Answer 'done' (or press Enter) when it is done, or 'refused' if the product refused it "
    "or could not do it."
)


class HookCannotStart(CloudPDIError):
    """The hook command of the run configuration cannot be started."""


class NoOperator(CloudPDIError):
    """An operator is to be prompted, and no one can answer: standard input is not a terminal
    or a pipe, or it ended."""


@dataclass(frozen=True)
class Triggered:
    """What pulling a trigger did: a hook's exit status (None for the operator) and output."""

    how: str
    seconds: float
    exit_status: int | None = None
    stderr_tail: str = ""
    timed_out: bool = False
    #: The operator answered that the product refused it or could not do it.
    refused: bool = False

    @property
    def ok(self) -> bool:
        """Tell whether the trigger worked: the hook exited 0, or the operator answered done."""
        return not self.timed_out and not self.refused and self.exit_status in (0, None)

    def describe(self) -> str:
        """One line for the evidence and for failure messages."""
        if self.timed_out:
            return f"{self.how} did not finish within its time limit"
        if self.refused:
            return f"{self.how} answered that the product refused it or could not do it"
        if self.exit_status is None:
            return f"{self.how} answered that it is done after {self.seconds:.1f} s"
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
    wait: float = DEFAULT_WAIT_TIMEOUT,
    terminal: TextIO | None = None,
    answers: IO[str] | None = None,
) -> Triggered:
    """Run the hook (and wait for it), or prompt the operator and wait ``wait`` seconds for
    the answer (on ``answers``, standard input by default; the prompt on ``terminal``,
    standard output by default)."""
    if isinstance(trigger, Operator):
        answering = operator_input(answers)
        shown = terminal or sys.__stdout__ or sys.stdout
        _prompt(trigger, variables, arguments, prompt, shown)
        started = time.monotonic()
        answer = _read_answer(answering, wait, shown)
        seconds = time.monotonic() - started
        if answer is None:
            return Triggered(how="the operator", seconds=seconds, timed_out=True)
        return Triggered(how="the operator", seconds=seconds, refused=answer in REFUSED)
    return _run_hook(trigger, variables, arguments)


def check_operator(triggers: Sequence[tuple[str, Trigger]], stream: IO[str] | None = None) -> None:
    """Refuse, before any case runs, a run whose ``(setting, trigger)`` pairs prompt an operator
    while no one can answer on ``stream`` (standard input by default; :func:`operator_input`)."""
    prompted = [setting for setting, trigger in triggers if isinstance(trigger, Operator)]
    if prompted:
        try:
            operator_input(stream)
        except NoOperator as exc:
            raise NoOperator(f'{", ".join(prompted)} is kind = "operator", and {exc}') from None


def operator_input(stream: IO[str] | None = None) -> IO[str]:
    """Standard input (or ``stream``), when an operator or a script standing in can answer on it.

    A terminal, a pipe or a file of answers will do; ``/dev/null`` (a CI job's standard input)
    or a closed stream will not: no one could ever answer, so :class:`NoOperator` says so.
    """
    chosen = stream if stream is not None else sys.__stdin__
    if chosen is None or chosen.closed:
        raise NoOperator("standard input is closed, so no operator can answer the prompts")
    try:
        mode = os.fstat(chosen.fileno()).st_mode
    except (OSError, ValueError) as exc:
        raise NoOperator(
            f"standard input cannot be read ({exc}), so no operator can answer"
        ) from None
    if chosen.isatty() or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode):
        return chosen
    raise NoOperator(
        "standard input is neither a terminal nor a pipe (it is /dev/null or a device, as in a "
        "CI job), so no operator can answer the prompts: run on a terminal, or pipe the answers in"
    )


def _read_answer(stream: IO[str], timeout: float, terminal: TextIO) -> str | None:
    """One line the operator typed, lower-cased and stripped; None if none came in time.

    Read a byte at a time from the file descriptor, so nothing of the next answer is taken
    into a buffer that waiting (``select``) would not see.
    """
    descriptor = stream.fileno()
    deadline = time.monotonic() + timeout
    line = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([descriptor], [], [], left)
        if not ready:
            return None
        byte = os.read(descriptor, 1)
        if not byte:
            raise NoOperator("standard input ended: no operator is left to answer the prompts")
        if byte == b"\n":
            answer = line.decode("utf-8", errors="replace").strip().lower()
            if answer in DONE | REFUSED:
                return answer
            line.clear()
            # Anything else is not an answer: ask again rather than guess.
            print(f"    {HOW_TO_ANSWER}", file=terminal, flush=True)
            continue
        line += byte


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
    print(f">>> {HOW_TO_ANSWER}", file=terminal)
    terminal.flush()


def poll(
    look: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float,
    interval: float = POLL_INTERVAL,
) -> T:
    """Look until what is seen is ``done`` or ``timeout`` seconds pass; return the last look."""
    deadline = time.monotonic() + timeout
    while True:
        seen = look()
        if done(seen) or time.monotonic() >= deadline:
            return seen
        time.sleep(interval)


def wait_for_file(inbox: FolderInbox | QrImageInbox, since: float, timeout: float) -> Path | None:
    """Wait for a token file newer than ``since`` (a ``time.time()``) in a folder or at a path."""
    found = wait_for_files(lambda: _newest(inbox, since), timeout)
    return found[0] if found else None


def wait_for_files(listed: Callable[[], list[Path]], timeout: float) -> list[Path]:
    """Wait up to ``timeout`` seconds for the files ``listed`` returns to be complete.

    A product may write a file in pieces: the files are complete once each has bytes and
    neither their list nor their sizes change over one poll interval. At the deadline: none.
    """
    deadline = time.monotonic() + timeout
    while True:
        sizes = _sizes(listed())
        if sizes and all(sizes.values()):
            time.sleep(POLL_INTERVAL)
            if _sizes(listed()) == sizes:
                return sorted(sizes)
        if time.monotonic() >= deadline:
            return []
        time.sleep(POLL_INTERVAL)


def _sizes(paths: list[Path]) -> dict[Path, int]:
    return {path: path.stat().st_size for path in paths}


def _newest(inbox: FolderInbox | QrImageInbox, since: float) -> list[Path]:
    """The newest file written since ``since`` at the inbox, if there is one."""
    if isinstance(inbox, QrImageInbox):
        candidates = [inbox.path] if inbox.path.is_file() else []
    elif inbox.path.is_dir():
        candidates = [path for path in inbox.path.iterdir() if path.is_file()]
    else:
        candidates = []
    fresh = [path for path in candidates if path.stat().st_mtime >= since]
    return [max(fresh, key=lambda path: path.stat().st_mtime)] if fresh else []


def take(path: Path, folder: Path, *, stem: str = "delivered") -> Path:
    """Copy a token file the SUT delivered into ``folder`` (private) as ``stem`` and its suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{stem}{path.suffix or '.txt'}"
    shutil.copyfile(path, copy)
    copy.chmod(0o600)
    return copy
