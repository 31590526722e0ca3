"""Token delivery: the route, separate from the payload, by which a token reaches its receiver.

Three channels (CPDI-TOK-03; the inbox contract is the reference binding's, ASSUMED):

- :class:`FolderDelivery` writes ``<token_id>.json`` (mode 0600), ``<token_id>-qr.png`` and
  ``<token_id>-slip.pdf`` (and ``<token_id>.jwe`` when sealed) into a folder;
- :class:`HttpInboxDelivery` POSTs the sealed form (``application/jose``) when there is one,
  else the canonical JSON (``application/json``), to a token inbox such as ``POST /tokens``;
- :class:`HookDelivery` runs a command (no shell) with the token file's path appended.

Every file holding the token is created readable by its owner only and appears complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from cloudpdi import __version__
from cloudpdi.errors import CloudPDIError
from cloudpdi.files import staged_path
from cloudpdi.repository_errors import RetriesExhausted
from cloudpdi.repository_retry import RETRY_STATUSES, Backoff, retry_after
from cloudpdi.slip import write_qr, write_slip
from cloudpdi.token import Token, to_json
from simulators.hook_process import run_hook

#: Media types of the token forms a token inbox accepts.
SEALED_MEDIA_TYPE = "application/jose"
JSON_MEDIA_TYPE = "application/json"

SEALED_FORM = "sealed"
JSON_FORM = "json"

_MAX_ANSWER_TEXT = 80


class DeliveryError(CloudPDIError):
    """At least one channel failed; ``outcomes`` says what happened on every channel."""

    def __init__(self, message: str, outcomes: Sequence[DeliveryOutcome]) -> None:
        super().__init__(message)
        self.outcomes = tuple(outcomes)


class InboxFailed(CloudPDIError):
    """The token inbox refused the token (4xx other than 408/429) or stayed unreachable."""


class HookFailed(CloudPDIError):
    """The hook command could not start, exited with a failure status or timed out."""


@dataclass(frozen=True)
class FolderDelivery:
    """Write the token files into ``path`` (created, owner-only, if missing)."""

    path: Path

    def __str__(self) -> str:
        return f"folder {self.path}"


@dataclass(frozen=True)
class HttpInboxDelivery:
    """POST the token to ``url``, a receiver's token inbox (e.g. ``http://host:port/tokens``)."""

    url: str
    timeout: float = 30.0
    #: Failed attempts in a row (connection errors, 5xx, 429) before giving up.
    retries: int = 3
    backoff: float = 0.5

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a token inbox is an http or https URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("a token inbox URL must not carry credentials")

    def __str__(self) -> str:
        return f"inbox {self.url}"


@dataclass(frozen=True)
class HookDelivery:
    """Run ``argv`` plus the token file's path, without a shell, for at most ``timeout`` s.

    The hook's standard output is discarded and its standard error passes through to ours.
    """

    argv: tuple[str, ...]
    timeout: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(self.argv))
        if not self.argv or not self.argv[0]:
            raise ValueError("a hook needs a command to run")
        if self.timeout <= 0:
            raise ValueError("a hook timeout must be positive")

    def __str__(self) -> str:
        return f"hook {self.argv[0]}"


Channel = FolderDelivery | HttpInboxDelivery | HookDelivery


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one channel did with the token: which form it carried, and whether it worked."""

    channel: str
    form: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class TokenFiles:
    """The token's files in one folder: canonical JSON, QR code, slip, and the sealed form."""

    json: Path
    qr: Path
    slip: Path
    sealed: Path | None = None

    @classmethod
    def named(cls, folder: Path, token_id: str, *, sealed: bool) -> TokenFiles:
        """Return the file names a token with ``token_id`` gets in ``folder``."""
        return cls(
            json=folder / f"{token_id}.json",
            qr=folder / f"{token_id}-qr.png",
            slip=folder / f"{token_id}-slip.pdf",
            sealed=folder / f"{token_id}.jwe" if sealed else None,
        )

    @property
    def electronic(self) -> Path:
        """The file an electronic channel carries: the sealed form if any, else the JSON."""
        return self.sealed or self.json

    @property
    def paths(self) -> list[Path]:
        """Every file, the JSON last: a watcher keyed on ``*.json`` then finds the rest."""
        sealed = [] if self.sealed is None else [self.sealed]
        return [self.qr, self.slip, *sealed, self.json]

    def moved_to(self, folder: Path) -> TokenFiles:
        """Return the same file names in ``folder``."""
        return TokenFiles.named(folder, self.json.stem, sealed=self.sealed is not None)


def write_token_files(token: Token, folder: Path, *, sealed: str | None = None) -> TokenFiles:
    """Write the token's QR code, slip, sealed form and JSON into ``folder``, owner-only."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = TokenFiles.named(folder, token.token_id, sealed=sealed is not None)
    _write_private(files.qr, lambda path: write_qr(token, path))
    _write_private(files.slip, lambda path: write_slip(token, path))
    if files.sealed is not None and sealed is not None:
        _write_private(files.sealed, _text_writer(sealed))
    _write_private(files.json, _text_writer(to_json(token)))
    return files


def copy_token_files(files: TokenFiles, folder: Path) -> TokenFiles:
    """Copy token files into ``folder``, each readable by the owner only and appearing whole."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    copies = files.moved_to(folder)
    for source, target in zip(files.paths, copies.paths, strict=True):
        _write_private(target, partial(shutil.copyfile, source))
    return copies


def _text_writer(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(text + "\n", encoding="utf-8")

    return write


def _write_private(path: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a private staged file that then becomes ``path``."""
    with staged_path(path) as staged:
        write(staged)  # opening the existing file for writing keeps its mode 0600


def deliver_token(
    token: Token,
    channels: Sequence[Channel],
    *,
    sealed: str | None = None,
    files: TokenFiles | None = None,
) -> list[DeliveryOutcome]:
    """Deliver ``token`` on every channel; raise :class:`DeliveryError` if any of them failed.

    Electronic channels carry ``sealed`` when given, else the canonical JSON. ``files`` are
    the token's files already written (by :func:`write_token_files` with the same ``sealed``);
    without them, they are written to a private temporary folder for the folder and hook
    channels and removed afterwards.
    """
    form = SEALED_FORM if sealed is not None else JSON_FORM
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="cloudpdi-token-") as scratch:
        if files is None and not all(isinstance(c, HttpInboxDelivery) for c in channels):
            files = write_token_files(token, Path(scratch), sealed=sealed)
        for channel in channels:
            try:
                if isinstance(channel, HttpInboxDelivery):
                    detail = _to_inbox(sealed or to_json(token), form, channel)
                elif isinstance(channel, FolderDelivery):
                    assert files is not None
                    detail = _to_folder(files, channel)
                else:
                    assert files is not None
                    detail = _run_hook(channel, files.electronic)
            except (OSError, CloudPDIError) as exc:
                outcomes.append(DeliveryOutcome(str(channel), form, False, str(exc)))
            else:
                outcomes.append(DeliveryOutcome(str(channel), form, True, detail))
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        reasons = "; ".join(f"{outcome.channel}: {outcome.detail}" for outcome in failed)
        raise DeliveryError(
            f"{len(failed)} of {len(outcomes)} deliveries failed ({reasons})", outcomes
        )
    return outcomes


def _to_folder(files: TokenFiles, channel: FolderDelivery) -> str:
    copies = copy_token_files(files, channel.path)
    return f"wrote {', '.join(path.name for path in copies.paths)}"


def _to_inbox(body: str, form: str, channel: HttpInboxDelivery) -> str:
    media_type = SEALED_MEDIA_TYPE if form == SEALED_FORM else JSON_MEDIA_TYPE
    headers = {"Content-Type": media_type, "User-Agent": f"cloudpdi/{__version__}"}
    backoff = Backoff(channel.retries, channel.backoff, 10 * channel.backoff, time.sleep)
    with httpx.Client(timeout=channel.timeout) as client:
        while True:
            try:
                answer = client.post(channel.url, content=body.encode("utf-8"), headers=headers)
            except httpx.TransportError as exc:
                _retry(backoff, f"connection failed ({type(exc).__name__})")
                continue
            if answer.status_code in RETRY_STATUSES:
                _retry(backoff, f"HTTP {answer.status_code}", retry_after(answer))
                continue
            if not answer.is_success:
                raise InboxFailed(f"the inbox answered {answer.status_code} {_answer_text(answer)}")
            return f"{answer.status_code} {_answer_text(answer)}"


def _retry(backoff: Backoff, cause: str, wait: float | None = None) -> None:
    try:
        backoff.failed(cause, wait)
    except RetriesExhausted as exc:
        raise InboxFailed(f"the inbox is unreachable: {exc}") from None


def _answer_text(answer: httpx.Response) -> str:
    """Return the inbox's ``status`` (or ``error``) and ``token_id``, printable and short."""
    try:
        document = json.loads(answer.content)
    except ValueError:
        return answer.reason_phrase
    if not isinstance(document, dict):
        return answer.reason_phrase
    words = [
        str(document[key])
        for key in ("status", "error", "token_id")
        if isinstance(document.get(key), str)
    ]
    text = " ".join(words) or answer.reason_phrase
    return "".join(char for char in text[:_MAX_ANSWER_TEXT] if char.isprintable())


def _run_hook(channel: HookDelivery, token_file: Path) -> str:
    try:
        done = run_hook([*channel.argv, str(token_file)], timeout=channel.timeout)
    except OSError as exc:
        raise HookFailed(f"cannot run {channel.argv[0]}: {exc.strerror}") from None
    if done.timed_out:
        raise HookFailed(f"timed out after {channel.timeout:g} s and was killed")
    if done.status != 0:
        raise HookFailed(f"exited with status {done.status}")
    return "exited with status 0"
