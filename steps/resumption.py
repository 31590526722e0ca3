"""A connection to the repository broken once, and whether the transfer then resumed.

The break happens on the line, in the lab's relay in front of the repository, so any client
meets it. Whether the transfer resumed is judged from what the repository saw (its spy), not
from what a client says: an upload resumes when, after the request the break cut short, the
same resumable upload goes on from an offset no earlier than where that request started, with
no new upload and no whole-body upload; a download resumes when every later request for the
document asks for a range that starts after byte 0 and within the bytes the line let through.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.lab import Lab
from simulators.relay import Break, Direction
from simulators.repository import Recorder
from simulators.repository.spy import RecordedRequest
from steps.errors import StepError

#: Decimal kilobytes, as :data:`cloudpdi.config_budgets.MEGABYTE` counts megabytes.
KILOBYTE = 1000
#: Seconds the spy may take to record the last answered request.
SETTLE_TIMEOUT = 5.0
UPLOADS = "/uploads"
DOCUMENTS = "/documents/"
_RANGE_START = re.compile(r"bytes=(\d+)-\d*")

Requests = list[RecordedRequest]


@dataclass(frozen=True)
class ArmedBreak:
    """A break the lab's relay will make, and how many requests the repository had seen then."""

    line: Break
    requests_before: int

    @property
    def direction(self) -> Direction:
        return self.line.direction


@dataclass(frozen=True)
class Resumption:
    """The request the break cut short and the request that took the transfer on."""

    broken: RecordedRequest
    resumed: RecordedRequest | None
    #: Where the transfer went on (an upload offset or a range start), if it did.
    resumed_at: int | None

    def describe(self) -> str:
        """Say what the repository saw, for the evidence."""
        where = "nowhere" if self.resumed_at is None else f"byte {self.resumed_at}"
        cut = f"{self.broken.method} {self.broken.url} cut after {self.broken.body_size} bytes"
        if self.broken.method == "GET":
            cut = f"GET {self.broken.url} cut"
        return f"{cut}; went on from {where}"


def spy(lab: Lab) -> Recorder:
    """The repository's spy; without one nothing can be judged."""
    if lab.recorder is None:
        raise StepError("the repository has no spy to tell what it saw")
    return lab.recorder


def arm(lab: Lab, direction: Direction, after: int) -> ArmedBreak:
    """Make the lab's relay close the connection after ``after`` more bytes go ``direction``."""
    before = len(spy(lab).requests)
    return ArmedBreak(lab.relay.break_once(direction, after), before)


def judge(lab: Lab, armed: ArmedBreak) -> Resumption | None:
    """Find, in what the repository saw since the break was armed, how the transfer went on.

    ``None``: the repository saw no transfer the break cut short.
    """
    if not armed.line.fired.is_set():
        raise StepError(
            f"the connection never broke: fewer than {armed.line.after} bytes went "
            f"{armed.direction} after the break was set"
        )
    find = upload_resumption if armed.direction is Direction.UPLOAD else download_resumption
    requests = settled(spy(lab), lambda seen: _complete(find(seen[armed.requests_before :])))
    return find(requests[armed.requests_before :])


def settled(recorder: Recorder, holds: Callable[[Requests], bool]) -> Requests:
    """The requests recorded once ``holds`` is true of them, or after :data:`SETTLE_TIMEOUT`."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    requests = recorder.requests
    while not holds(requests) and (left := deadline - time.monotonic()) > 0:
        recorder.wait_for(len(requests) + 1, left)
        requests = recorder.requests
    return requests


def _complete(found: Resumption | None) -> bool:
    return found is not None and found.resumed is not None


def _declared(request: RecordedRequest) -> int | None:
    value = header(request, "content-length")
    return int(value) if value is not None and value.isdigit() else None


def header(request: RecordedRequest, name: str) -> str | None:
    """The value of one header of a recorded request, if it was sent."""
    return next((value for key, value in request.headers if key.lower() == name), None)


def _cut_short(request: RecordedRequest) -> bool:
    declared = _declared(request)
    return (
        request.method in ("PATCH", "PUT")
        and declared is not None
        and (request.body_size < declared)
    )


def upload_resumption(requests: Requests) -> Resumption | None:
    broken_at = next((n for n, request in enumerate(requests) if _cut_short(request)), None)
    if broken_at is None:
        return None
    broken, later = requests[broken_at], requests[broken_at + 1 :]
    # Starting again: a new resumable upload, or the whole document in one request once more.
    again = next((r for r in later if r.method in ("POST", "PUT") and _is_upload(r)), None)
    if again is not None:
        return Resumption(broken, again, 0)
    going_on = next((r for r in later if r.method == "PATCH"), None)
    offset = None if going_on is None else _offset(going_on)
    return Resumption(broken, going_on, offset)


def _is_upload(request: RecordedRequest) -> bool:
    return request.url.split("?")[0] == UPLOADS or request.url.startswith(DOCUMENTS)


def _offset(request: RecordedRequest) -> int | None:
    value = header(request, "upload-offset")
    return int(value) if value is not None and value.isdigit() else None


def download_resumption(requests: Requests) -> Resumption | None:
    gets = [r for r in requests if r.method == "GET" and r.url.startswith(DOCUMENTS)]
    if not gets:
        return None
    broken = gets[0]
    going_on = next((r for r in gets[1:] if r.url == broken.url), None)
    return Resumption(broken, going_on, None if going_on is None else range_start(going_on))


def range_start(request: RecordedRequest) -> int:
    """The first byte a GET asks for: 0 without a ``Range`` of the form ``bytes=N-``."""
    match = _RANGE_START.fullmatch((header(request, "range") or "").strip())
    return int(match.group(1)) if match else 0


def check_resumed(armed: ArmedBreak, found: Resumption | None) -> Resumption:
    """Fail unless the transfer went on from where it broke; return what was seen."""
    if found is None:
        raise AssertionError(
            f"the repository saw no {armed.direction} cut short by the break"
            if armed.direction is Direction.UPLOAD
            else "the repository was not asked for the document after the break was set"
        )
    resumed = found.resumed
    assert resumed is not None, f"the {armed.direction} did not go on after the break"
    if armed.direction is Direction.UPLOAD:
        _check_upload(found, resumed)
    else:
        _check_download(armed, found)
    return found


def _check_upload(found: Resumption, resumed: RecordedRequest) -> None:
    broken = found.broken
    assert broken.method == "PATCH", (
        f"the upload was one {broken.method} of the whole document, which cannot resume"
    )
    assert resumed.method == "PATCH", (
        f"after the break the upload started again ({resumed.method} {resumed.url})"
    )
    assert resumed.url == broken.url, "after the break the upload went on as another upload"
    start = _offset(broken) or 0
    assert found.resumed_at is not None and found.resumed_at >= start, (
        f"after the break the upload went back to byte {found.resumed_at}, before byte {start} "
        "where the broken request started"
    )


def _check_download(armed: ArmedBreak, found: Resumption) -> None:
    at = found.resumed_at or 0
    assert at > 0, "after the break the download started again from byte 0"
    assert at <= armed.line.after, (
        f"after the break the download asked for byte {at} on, past the {armed.line.after} "
        "bytes that reached it"
    )
