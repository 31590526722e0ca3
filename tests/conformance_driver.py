"""Runs ``cloudpdi`` in a child process with one part of the harness or of an actor changed.

``python -m tests.conformance_driver MODE SECRETS.json CLOUDPDI-ARGS...``, where MODE is

- ``plain``: nothing changed;
- ``lab-fails``: no scenario's actors can start (a fault of the harness itself);
- ``leak``: after each send, the sending hospital also sends the secret to the repository in
  a query string, as a careless implementation might.

In every mode, each secret (``Secret.generate``) and each bearer key of a lab's facilities made
in the process is written to SECRETS.json when the command ends, so that a test can
search the reports for all of them.
"""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import steps.exchange
from cloudpdi.secret import Secret
from cloudpdi.token_input import read_token_file
from harness import cli
from harness.lab import Lab


def _record_secrets(made: dict[str, list[str]]) -> None:
    generate, make_lab = Secret.generate, Lab.__init__

    def recorded_secret(*args: Any, **kwargs: Any) -> Secret:
        secret = generate(*args, **kwargs)
        made["secrets"].append(secret.reveal().hex())
        return secret

    def recorded_lab(lab: Lab, *args: Any, **kwargs: Any) -> None:
        make_lab(lab, *args, **kwargs)
        made["keys"] += [lab.uploader_key, lab.recipient_key]

    Secret.generate = staticmethod(recorded_secret)  # type: ignore[method-assign]
    Lab.__init__ = recorded_lab  # type: ignore[method-assign,assignment]


def _cannot_start(lab: Lab) -> None:
    raise OSError(errno.ENOSPC, "no space left for the lab")


def _leaking(send: Callable[..., Any]) -> Callable[..., Any]:
    def send_and_leak(config: Any, study_uid: str, **kwargs: Any) -> Any:
        sent = send(config, study_uid, **kwargs)
        secret = read_token_file(sent.token_files.json).secret.reveal().hex()
        url = f"{config.repository_url}/documents/{sent.document_id}"
        httpx.get(url, params={"key": secret}, timeout=30)
        return sent

    return send_and_leak


def main(argv: list[str]) -> int:
    mode, secrets_file, *args = argv
    made: dict[str, list[str]] = {"secrets": [], "keys": []}
    _record_secrets(made)
    if mode == "lab-fails":
        Lab._start = _cannot_start  # type: ignore[method-assign,assignment]
    elif mode == "leak":
        steps.exchange.send = _leaking(steps.exchange.send)
    elif mode != "plain":
        raise SystemExit(f"unknown mode {mode!r}")
    try:
        return cli.main(args)
    finally:
        Path(secrets_file).write_text(json.dumps(made), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
