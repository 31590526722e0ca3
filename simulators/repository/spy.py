"""The spy: every request the repository received and every byte it stores, for secrecy tests.

Token-secrecy scenarios must show that nothing reaching the repository carries the secret, the
plaintext (``DICM``) or the patient's name. :class:`Recorder` keeps each request unredacted
(method, URL, headers, body); :func:`find_in_requests` and :func:`find_in_storage` search them
for byte patterns in constant memory per object.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cloudpdi.envelope_base import format_digest
from simulators.repository.storage import StorageBackend


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived; ``body`` is whole unless the recorder keeps only a sample."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    body_size: int
    body_digest: str
    status: int
    #: When the request began to arrive, and the seconds until it was answered in full: the
    #: time an upload or download took, as the repository (or the proxy before it) saw it.
    started: datetime | None = None
    seconds: float = 0.0
    #: Bytes of the answer's body sent (None: not counted, as for a request still answered).
    response_size: int | None = None

    @property
    def truncated(self) -> bool:
        """Tell whether only the first bytes of the body were kept."""
        return len(self.body) < self.body_size


class Recorder:
    """Collects requests; with ``max_body_bytes`` it keeps a sample, the size and the digest."""

    def __init__(self, max_body_bytes: int | None = None) -> None:
        self.max_body_bytes = max_body_bytes
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._recorded = threading.Condition(self._lock)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return a copy of what was recorded so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests are recorded; tell whether they were, within ``timeout``.

        A request is recorded once it has been answered, so its client may read the answer
        before the request is here.
        """
        with self._recorded:
            return self._recorded.wait_for(lambda: len(self._requests) >= count, timeout)

    def clear(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._requests.clear()

    def start(self) -> BodyCapture:
        """Return a capture to feed one request's body into as it arrives."""
        return BodyCapture(self.max_body_bytes)

    def record(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        capture: BodyCapture,
        status: int,
        *,
        response_size: int | None = None,
    ) -> None:
        """Keep one finished request, timed from when its capture started."""
        entry = RecordedRequest(
            method=method,
            url=url,
            headers=tuple(headers),
            body=bytes(capture.sample),
            body_size=capture.size,
            body_digest=format_digest(capture.hash.hexdigest()),
            status=status,
            started=capture.started,
            seconds=time.monotonic() - capture.clock,
            response_size=response_size,
        )
        with self._recorded:
            self._requests.append(entry)
            self._recorded.notify_all()


class BodyCapture:
    """The body of one request in progress: sample, size and running digest."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.started = datetime.now(UTC)
        self.clock = time.monotonic()
        self.sample = bytearray()
        self.size = 0
        self.hash = hashlib.sha256()

    def feed(self, piece: bytes) -> None:
        """Take the next piece of the body."""
        self.size += len(piece)
        self.hash.update(piece)
        room = len(piece) if self.limit is None else max(0, self.limit - len(self.sample))
        self.sample += piece[:room]


def scan(pieces: Iterable[bytes], needles: Mapping[str, bytes]) -> set[str]:
    """Return the names of the needles found in a stream of pieces, also across piece ends."""
    wanted = {name: needle for name, needle in needles.items() if needle}
    if not wanted:
        return set()
    overlap = max(len(needle) for needle in wanted.values()) - 1
    found: set[str] = set()
    tail = b""
    for piece in pieces:
        window = tail + piece
        found.update(name for name, needle in wanted.items() if needle in window)
        tail = window[len(window) - overlap :] if overlap else b""
    return found


def find_in_requests(recorder: Recorder, needles: Mapping[str, bytes]) -> list[str]:
    """Say where in the recorded requests each named needle occurs (empty: nowhere).

    Needles are named so that a finding never prints the secret it found.
    """
    places = []
    for number, request in enumerate(recorder.requests):
        parts = {
            "url": [request.url.encode("utf-8")],
            "headers": [f"{name}: {value}".encode() for name, value in request.headers],
            "body": [request.body],
        }
        for part, pieces in parts.items():
            for name in sorted(scan(_separated(pieces), needles)):
                places.append(f"request {number} ({request.method}) {part}: {name}")
    return places


def find_in_storage(storage: StorageBackend, needles: Mapping[str, bytes]) -> list[str]:
    """Say which stored objects contain which named needle (empty: none)."""
    places = []
    for key in storage.list_keys():
        for name in sorted(scan(storage.read(key), needles)):
            places.append(f"object {key}: {name}")
    return places


def _separated(pieces: list[bytes]) -> Iterator[bytes]:
    # A newline after each header stops a needle from matching across two of them.
    for piece in pieces:
        yield piece + b"\n"
