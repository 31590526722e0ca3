"""Downloading one document resumably: attempts, ``Range`` resumption, the running digest.

Used by :class:`cloudpdi.repository.RepositoryClient`; the bytes go to a sink the client
renames into place only after the digest matched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository_errors import RepositoryError, error_for
from cloudpdi.repository_retry import RETRY_STATUSES, Backoff, retry_after
from cloudpdi.repository_wire import parse_count

#: ``(done, total)`` bytes, called as a transfer advances.
Progress = Callable[[int, int], None]

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


@dataclass(frozen=True)
class _Failure:
    cause: str
    wait: float | None = None


class Download:
    """One download's state across attempts: how far it got, and the running digest."""

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        sink: BinaryIO,
        backoff: Backoff,
        progress: Progress | None,
    ) -> None:
        self.http = http
        self.url = url
        self.sink = sink
        self.backoff = backoff
        self.progress = progress
        self.hash = hashlib.sha256()
        self.offset = 0
        self.received = 0
        self.total: int | None = None
        self.etag: str | None = None

    @property
    def digest(self) -> str:
        """The digest of the bytes received so far."""
        return format_digest(self.hash.hexdigest())

    def run(self) -> None:
        """Attempt until the whole document is in the sink, or the retry budget is spent."""
        while True:
            started = self.offset
            try:
                failure = self._attempt()
            except httpx.TransportError as exc:
                failure = _Failure(f"connection failed ({type(exc).__name__})")
            if failure is None:
                return
            if self.offset > started:
                self.backoff.progressed()
            self.backoff.failed(failure.cause, failure.wait)

    def _attempt(self) -> _Failure | None:
        # Identity encoding: the digest is over the stored bytes, not a compressed form.
        headers = {"Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
            if self.etag is not None:
                headers["If-Range"] = self.etag
        with self.http.stream("GET", self.url, headers=headers) as response:
            if response.status_code in RETRY_STATUSES:
                return _Failure(f"HTTP {response.status_code}", retry_after(response))
            self._start(response)
            for piece in response.iter_raw():
                self._take(piece)
        if self.total is None:
            self.total = self.offset
        if self.offset < self.total:
            return _Failure("the response ended early")
        return None

    def _start(self, response: httpx.Response) -> None:
        if response.status_code == 200:
            if self.offset:
                # The server sent the whole document again: start over.
                self.sink.seek(0)
                self.sink.truncate()
                self.hash = hashlib.sha256()
                self.offset = 0
            self.total = parse_count(response.headers.get("content-length"))
            self.etag = response.headers.get("etag")
        elif response.status_code == 206 and self.offset:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
            if (
                match is None
                or int(match.group(1)) != self.offset
                or (self.total is not None and int(match.group(3)) != self.total)
            ):
                raise RepositoryError("the repository answered a range that was not asked for")
            self.total = int(match.group(3))
        else:
            response.read()
            raise error_for(response)

    def _take(self, piece: bytes) -> None:
        if self.total is not None and self.offset + len(piece) > self.total:
            raise RepositoryError("the repository sent more bytes than it announced")
        self.sink.write(piece)
        self.hash.update(piece)
        self.offset += len(piece)
        self.received += len(piece)
        if self.progress is not None:
            self.progress(self.offset, self.total or self.offset)
