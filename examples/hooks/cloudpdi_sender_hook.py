#!/usr/bin/env python3
"""A sender hook: the conformance harness makes a sender under test send, here cloudpdi's own.

The harness runs a sender's hook with what to send in ``CLOUDPDI_*`` environment variables
(see ``harness/drive.py``: ``SENDER_VARIABLES``). A vendor's hook maps them onto its product's
command line or API; this one maps them onto ``cloudpdi send``, so that the harness can test
its sender-under-test mode against a real sender in a separate process. The facility's own
credentials are the hook's arguments, never the harness's business:

    cloudpdi_sender_hook.py --uploader-key-file KEY --issuer-key ISSUER.pem
        [--pseudonym-key-file KEY] [--work-dir DIR] [-- MORE SEND OPTIONS]

Arguments after ``--`` go to ``cloudpdi send`` as they are.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.cli import main as cloudpdi

PREFIX = "CLOUDPDI_"
SECONDS_PER_DAY = 86_400


def told(name: str) -> str:
    """The value of a variable the harness must set; exit with a message if it did not."""
    value = os.environ.get(PREFIX + name, "")
    if not value:
        sys.exit(f"cloudpdi_sender_hook: the harness did not set {PREFIX}{name}")
    return value


def send_arguments(own: argparse.Namespace) -> list[str]:
    """The ``cloudpdi send`` command line for what the harness asked."""
    inbox = told("TOKEN_INBOX")
    delivery = (
        "--deliver-inbox" if inbox.startswith(("http://", "https://")) else "--deliver-folder"
    )
    # A referral of documents alone names no study.
    study = [uid] if (uid := os.environ.get(PREFIX + "STUDY_UID", "")) else []
    arguments = [
        "send",
        *study,
        *("--source", told("SOURCE_PACS")),
        *("--repository", told("REPOSITORY_URL")),
        *("--community", told("COMMUNITY_ID")),
        *("--recipient-id", told("RECIPIENT_ID")),
        *("--recipient-name", told("RECIPIENT_NAME")),
        *("--recipient-key", told("RECIPIENT_PUBLIC_KEY")),
        *("--uploader-key-file", str(own.uploader_key_file)),
        *("--issuer-key", str(own.issuer_key)),
        *("--work-dir", str(own.work_dir)),
        *(delivery, inbox),
    ]
    if own.issuer_id:
        arguments += ["--issuer-id", own.issuer_id]
    lifetime = os.environ.get(PREFIX + "LIFETIME_SECONDS")
    if lifetime:
        arguments += ["--lifetime-days", str(int(lifetime) / SECONDS_PER_DAY)]
    for document in filter(None, os.environ.get(PREFIX + "DOCUMENTS", "").split(os.pathsep)):
        arguments += ["--document", document]
    if os.environ.get(PREFIX + "WEB_CONTENT") == "1":
        arguments.append("--web-content")
    if os.environ.get(PREFIX + "PSEUDONYMS") == "1":
        if own.pseudonym_key_file is None:
            sys.exit("cloudpdi_sender_hook: told to use pseudonyms without a --pseudonym-key-file")
        arguments += ["--pseudonym-key-file", str(own.pseudonym_key_file)]
    if slip_folder := os.environ.get(PREFIX + "SLIP_FOLDER"):
        arguments += ["--slip-folder", slip_folder]
    return arguments + own.send_options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploader-key-file", type=Path, required=True)
    parser.add_argument("--issuer-key", type=Path, required=True)
    parser.add_argument("--issuer-id", help="the sending facility's ID (default: cloudpdi's)")
    parser.add_argument(
        "--pseudonym-key-file", type=Path, help="the facility's pseudonymisation key, if any"
    )
    parser.add_argument("--work-dir", type=Path, default=Path("cloudpdi-sender-hook"))
    parser.add_argument("send_options", nargs="*", help="more cloudpdi send options, after --")
    return cloudpdi(send_arguments(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
