"""The evidence of one scenario: every exchange with a harness actor, tied to the step it served.

Recorded traffic is kept raw while the scenario runs, because the secret that must be redacted
from it is known only once a token exists. :meth:`EvidenceLog.close` redacts every item through
:meth:`reports.Evidence.capture` with all the secrets the scenario met (token secrets and the
facilities' bearer keys), so nothing unredacted leaves the scenario.

Each item names the step it was recorded in. The repository's spy keeps no clock and records a
request once it has been answered, so a request is stamped with the time it was collected, at
the end of a step; one answered in the last instant of a step may be collected with the next.
PACS events carry their own times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cloudpdi.pdi_findings import Finding, ValidationReport
from harness.pacs_actor import PacsActor
from reports import Evidence, EvidenceKind, redact
from reports.redact import SecretLike
from simulators.pacs_events import PacsEvent
from simulators.repository import Recorder
from simulators.repository.spy import RecordedRequest

#: PACS operations that concern the association rather than a DIMSE service.
ASSOCIATION_OPERATIONS = frozenset({"ASSOCIATE", "REJECT", "RELEASE", "ABORT"})
#: A PACS operation in which the PACS itself sends an instance (during C-GET or C-MOVE).
SUB_OPERATION = "C-STORE-SUBOP"
#: How a request without a known bearer key is attributed.
UNKNOWN_CALLER = "an unidentified client"
_BEARER = "bearer "


@dataclass(frozen=True)
class _Raw:
    """An evidence item before redaction."""

    kind: EvidenceKind
    time: datetime
    actor: str
    summary: str
    sizes: Mapping[str, int] = field(default_factory=dict)
    digests: Mapping[str, str] = field(default_factory=dict)
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Watch:
    """A growing list of records of one actor, and how many of them were collected already."""

    fetch: Callable[[], Sequence[Any]]
    convert: Callable[[Any, str], _Raw]
    seen: int = 0


class EvidenceLog:
    """Collects one scenario's evidence and findings; redacts them all when it is closed."""

    def __init__(self) -> None:
        self._secrets: list[SecretLike] = []
        self._raw: list[_Raw] = []
        self._findings: list[Finding] = []
        self._watches: list[_Watch] = []
        self._step = ""

    def add_secret(self, secret: SecretLike) -> None:
        """Name a secret that no evidence, message or finding may show."""
        self._secrets.append(secret)

    def watch_repository(self, recorder: Recorder, callers: Mapping[str, str]) -> None:
        """Collect every request the repository's spy records.

        ``callers`` maps a bearer key to the party that holds it, so that each request says
        who made it; the keys themselves never reach the evidence.
        """
        self._watches.append(
            _Watch(lambda: recorder.requests, lambda r, step: _http(r, callers, step))
        )

    def watch_pacs(self, pacs: PacsActor, name: str) -> None:
        """Collect every association event and operation the harness sees at PACS ``name``."""
        self._watches.append(_Watch(pacs.events, lambda e, step: _pacs(e, name, step)))

    def begin_step(self, step: str) -> None:
        """Collect what happened so far, then name ``step`` as the one now running."""
        self.collect()
        self._step = step

    def collect(self) -> None:
        """Take what the watched actors recorded since the last call, in the current step."""
        for watch in self._watches:
            records = watch.fetch()
            for record in records[watch.seen :]:
                self._raw.append(watch.convert(record, self._step))
            watch.seen = len(records)

    def record(
        self,
        kind: EvidenceKind,
        *,
        actor: str,
        summary: str,
        sizes: Mapping[str, int] | None = None,
        digests: Mapping[str, str] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record an observation a step made (a token hand-off, a search, a validation)."""
        detail = {**(detail or {}), "step": self._step}
        self._raw.append(
            _Raw(kind, datetime.now(UTC), actor, summary, sizes or {}, digests or {}, detail)
        )

    def add_validation(self, report: ValidationReport, actor: str, what: str) -> None:
        """Record a validator's verdict on ``what``, and keep each of its findings."""
        self._findings.extend(report.findings)
        counts = report.to_dict()["counts"]
        verdict = "valid" if report.ok else "has errors"
        self.record(
            EvidenceKind.VALIDATOR_FINDING,
            actor=actor,
            summary=f"PDI validation of {what}: {verdict}",
            detail={"counts": counts},
        )

    def redact(self, text: str) -> str:
        """Return ``text`` without any secret this log knows."""
        return str(redact(text, self._secrets))

    def close(self) -> tuple[tuple[Evidence, ...], tuple[Finding, ...]]:
        """Return every item and finding, redacted, in time order."""
        self.collect()
        secrets = list(self._secrets)
        evidence = tuple(
            Evidence.capture(
                raw.kind,
                actor=raw.actor,
                summary=raw.summary,
                secrets=secrets,
                sizes=raw.sizes,
                digests=raw.digests,
                detail=raw.detail,
                time=raw.time,
            )
            for raw in sorted(self._raw, key=lambda raw: raw.time)
        )
        findings = tuple(
            Finding(f.requirement, f.severity, self.redact(f.path), self.redact(f.message))
            for f in self._findings
        )
        return evidence, findings


def _http(request: RecordedRequest, callers: Mapping[str, str], step: str) -> _Raw:
    url = urlsplit(request.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    caller = _caller(request.headers, callers)
    return _Raw(
        EvidenceKind.HTTP,
        datetime.now(UTC),
        f"{caller} -> repository",
        f"{request.method} {target} -> {request.status}",
        sizes={"request body": request.body_size},
        digests={"request body": request.body_digest},
        detail={"headers": [list(pair) for pair in request.headers], "step": step},
    )


def _caller(headers: Iterable[tuple[str, str]], callers: Mapping[str, str]) -> str:
    for name, value in headers:
        if name.lower() == "authorization" and value.lower().startswith(_BEARER):
            return callers.get(value[len(_BEARER) :].strip(), UNKNOWN_CALLER)
    return UNKNOWN_CALLER


def _pacs(event: PacsEvent, name: str, step: str) -> _Raw:
    # In a sub-operation the PACS sends an instance to the peer; otherwise the peer called.
    if event.operation == SUB_OPERATION:
        actor = f"{name} -> {event.peer_ae}"
    else:
        actor = f"{event.peer_ae} -> {name}"
    kind = (
        EvidenceKind.DICOM_ASSOCIATION
        if event.operation in ASSOCIATION_OPERATIONS
        else EvidenceKind.DICOM_OPERATION
    )
    status = "" if event.status is None else f" -> status 0x{event.status:04X}"
    detail: dict[str, Any] = {"peer address": event.peer_address, "step": step}
    if event.sop_instance_uid:
        detail["SOP instance UID"] = event.sop_instance_uid
    if event.detail:
        detail["detail"] = event.detail
    return _Raw(
        kind,
        event.time,
        actor,
        f"{event.operation}{status}",
        sizes={"data": event.size} if event.size else {},
        detail=detail,
    )
