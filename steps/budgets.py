"""Transfer budgets: the throughput and latency a case that moves a study must achieve.

The run configuration's size classes (``[budgets.transfer.NAME]``) are judged on what the
harness sees from outside every product: the requests at the repository (its spy, or the
recording proxy in front of a repository under test) and the operations at the two PACSs.

- Each upload (tus PATCHes of one upload, or a PUT of one document) and each download (the GETs
  of one document) the repository answered in full is one transfer: its payload bytes over the
  seconds from its first request's start to its last request's end is its throughput, judged
  against the budget of the size class its payload falls in.
- Latency is the seconds from the start of the send (the sender's first operation at the
  source PACS, or its first upload if it asked the PACS nothing) to the end of the import (the
  last instance stored in the receiving PACS), judged against the class of the largest upload.

Budgets apply only to a case that moves a study: one in which the receiving PACS stored
instances after a download. A refusal (an expired token, a damaged download) imports nothing,
so its transfers are neither judged nor recorded. A missed budget makes the case FAIL, naming
the size class, the budget and the figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cloudpdi.config_budgets import MEGABYTE, Budgets, TransferBudget
from reports import EvidenceKind
from simulators.pacs_events import PacsEvent
from simulators.repository.spy import RecordedRequest
from steps.evidence import SUB_OPERATION, EvidenceLog

UPLOAD = "upload"
DOWNLOAD = "download"
#: The DIMSE service that stores an instance, and its status Success (PS3.7 C.4.2.1.4).
C_STORE = "C-STORE"
_SUCCESS = 0x0000
#: Requests that carry an upload's payload (tus 1.0.0 PATCH, or a whole-body PUT).
_UPLOAD_METHODS = frozenset({"PATCH", "PUT"})
_UPLOAD_PATHS = ("/uploads/", "/documents/")
_DOWNLOAD_PATH = "/documents/"
#: A transfer timed at zero seconds (a loopback clock's grain) is timed at this instead.
_SHORTEST = 1e-6
#: Who the evidence names for the figures.
JUDGE = "transfer budget"


@dataclass(frozen=True)
class Transfer:
    """One upload or download as the repository saw it: payload bytes and the time it took."""

    direction: str
    #: The resource it moved: an upload's or a document's path.
    target: str
    size: int
    started: datetime
    seconds: float

    @property
    def throughput(self) -> float:
        """Payload megabytes per second (MB = 1,000,000 bytes)."""
        return self.size / MEGABYTE / max(self.seconds, _SHORTEST)

    def describe(self) -> str:
        """The figures, as a report line says them."""
        return (
            f"{self.direction} of {self.target}: {self.size / MEGABYTE:.3f} MB in "
            f"{self.seconds:.3f} s = {self.throughput:.3f} MB/s"
        )


@dataclass(frozen=True)
class Verdict:
    """One figure held against the budget of its size class."""

    budget: TransferBudget
    what: str
    met: bool

    @property
    def size_class(self) -> str:
        return self.budget.name

    def limits(self) -> dict[str, float]:
        """The limits of the size class, for the evidence."""
        return {
            key: value
            for key, value in self.budget.summary().items()
            if key != "name" and value is not None
        }


def transfers(requests: Iterable[RecordedRequest]) -> list[Transfer]:
    """Group the requests answered in full into uploads and downloads, in the order they began."""
    groups: dict[tuple[str, str], list[tuple[RecordedRequest, int]]] = {}
    for request in requests:
        found = _payload(request)
        if found is not None:
            direction, payload = found
            path = urlsplit(request.url).path
            groups.setdefault((direction, path), []).append((request, payload))
    moved = []
    for (direction, path), members in groups.items():
        spans = [
            (request.started, request.started + timedelta(seconds=request.seconds))
            for request, _ in members
            if request.started is not None
        ]
        if not spans:
            continue
        start, end = min(span[0] for span in spans), max(span[1] for span in spans)
        size = sum(payload for _, payload in members)
        moved.append(Transfer(direction, path, size, start, (end - start).total_seconds()))
    return sorted(moved, key=lambda transfer: transfer.started)


def _payload(request: RecordedRequest) -> tuple[str, int] | None:
    """The direction and payload bytes of a request answered in full, or None."""
    if not 200 <= request.status < 300:
        return None
    path = urlsplit(request.url).path
    if request.method in _UPLOAD_METHODS and path.startswith(_UPLOAD_PATHS):
        return (UPLOAD, request.body_size) if request.body_size else None
    if request.method == "GET" and path.startswith(_DOWNLOAD_PATH) and request.response_size:
        return DOWNLOAD, request.response_size
    return None


def latency(
    moved: Sequence[Transfer], source: Iterable[PacsEvent], destination: Iterable[PacsEvent]
) -> float | None:
    """Seconds from the start of the send to the end of the import; None: no study moved."""
    downloads = [t.started for t in moved if t.direction == DOWNLOAD]
    uploads = [t.started for t in moved if t.direction == UPLOAD]
    if not downloads or not uploads:
        return None
    stored = [
        event.time
        for event in destination
        if event.operation == C_STORE and event.status == _SUCCESS and event.time >= min(downloads)
    ]
    if not stored:
        return None
    # The sender's own operations at the source PACS (not what that PACS sent in answer).
    asked = [event.time for event in source if event.operation != SUB_OPERATION]
    start = min([*asked, min(uploads)])
    return (max(stored) - start).total_seconds()


def judge(budgets: Budgets, moved: Sequence[Transfer], seconds: float | None) -> list[Verdict]:
    """Hold each transfer's throughput, and the case's latency, against their size class."""
    verdicts = []
    for transfer in moved:
        budget = budgets.transfer_budget(transfer.size)
        if budget is None or budget.min_throughput_mb_s is None:
            continue
        minimum = budget.min_throughput_mb_s
        verdicts.append(
            Verdict(
                budget,
                f"{transfer.describe()} (minimum {minimum:g} MB/s)",
                transfer.throughput >= minimum,
            )
        )
    largest = max((t.size for t in moved if t.direction == UPLOAD), default=None)
    budget = None if largest is None else budgets.transfer_budget(largest)
    if seconds is not None and budget is not None and budget.max_latency_s is not None:
        verdicts.append(
            Verdict(
                budget,
                f"latency from the start of the send to the end of the import: {seconds:.3f} s "
                f"(maximum {budget.max_latency_s:g} s)",
                seconds <= budget.max_latency_s,
            )
        )
    return verdicts


def check_transfer_budgets(
    budgets: Budgets,
    requests: Sequence[RecordedRequest],
    source: Sequence[PacsEvent],
    destination: Sequence[PacsEvent],
    evidence: EvidenceLog,
) -> None:
    """Record the figures of a case that moved a study; fail the check if a budget is missed."""
    if not budgets.transfers:
        return
    moved = transfers(requests)
    seconds = latency(moved, source, destination)
    if seconds is None:
        return
    verdicts = judge(budgets, moved, seconds)
    for verdict in verdicts:
        evidence.record(
            EvidenceKind.HTTP,
            actor=JUDGE,
            summary=f"size class {verdict.size_class}: {verdict.what}: "
            + ("met" if verdict.met else "MISSED"),
            detail={"size class": verdict.size_class, "budget": verdict.limits()},
        )
    missed = [verdict for verdict in verdicts if not verdict.met]
    assert not missed, "transfer budget missed: " + "; ".join(
        f"size class {verdict.size_class}: {verdict.what}" for verdict in missed
    )
