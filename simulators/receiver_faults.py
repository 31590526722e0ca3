"""The receiver's deliberate misbehaviour with downloads (:mod:`simulators.faults`).

Test-only. A receiver with :attr:`~simulators.faults.Fault.RECEIVER_SKIPS_DIGEST_CHECK`
downloads with the library's resumable download but never compares the digest, and then
opens the download with a token that expects whatever came: any envelope that decrypts under
the token's secret and document ID is imported, whether or not it is the one the token names.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import httpx

from cloudpdi.repository import DownloadResult
from cloudpdi.repository_download import Download
from cloudpdi.repository_retry import Backoff
from cloudpdi.repository_wire import DOCUMENTS_PATH
from cloudpdi.token import Token
from simulators.receiver_config import ReceiverConfig

#: Failures in a row, first wait and longest wait (s) of the download's retries.
_RETRIES, _BACKOFF, _MAX_BACKOFF = 6, 0.5, 30.0


def download_unverified(
    config: ReceiverConfig, repository: str, token: Token, dest: Path
) -> tuple[DownloadResult, Token]:
    """Download the token's document into ``dest`` unchecked; return it and a token that fits it."""
    key = config.recipient_key
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    backoff = Backoff(_RETRIES, _BACKOFF, _MAX_BACKOFF, time.sleep)
    http = httpx.Client(base_url=repository, headers=headers, timeout=config.repository_timeout)
    with http, dest.open("wb") as sink:
        transfer = Download(http, f"{DOCUMENTS_PATH}/{token.document_id}", sink, backoff, None)
        transfer.run()
    resent = transfer.received - transfer.offset
    download = DownloadResult(
        dest, transfer.offset, transfer.digest, transfer.received, resent, backoff.total
    )
    return download, replace(token, content_digest=transfer.digest)
