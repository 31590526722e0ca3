"""The results of a conformance run: what ran against which systems, and what came of it.

Plain frozen dataclasses, read by the grading and the renderers and written as the versioned
JSON document (:data:`RESULTS_FORMAT` version :data:`RESULTS_VERSION`). Nothing here holds a
secret: evidence is redacted as it is captured (:meth:`Evidence.capture`), and the run's
configuration summary must be redacted by whoever builds it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cloudpdi.errors import CloudPDIError
from cloudpdi.pdi_findings import Finding
from features.catalog import Requirement
from reports.redact import SecretLike, redact

#: Format name and version of the results document; bump the version on any change that a
#: reader of old documents would misread (the schema file carries the same number).
RESULTS_FORMAT = "cloudpdi-results"
RESULTS_VERSION = 1


class ResultsError(CloudPDIError):
    """Results break the model's rules (a NOT_RUN without reason, a duplicate test ID...)."""


class Status(StrEnum):
    """How a scenario or a step ended (ERROR: the harness failed, not the system under test)."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    NOT_RUN = "NOT_RUN"
    ERROR = "ERROR"


class NotRunCause(StrEnum):
    """Why a scenario did not run; grading treats a missing peer apart from the rest."""

    NO_PEER = "NO_PEER"
    PRECONDITION = "PRECONDITION"
    OPERATOR = "OPERATOR"


class EvidenceKind(StrEnum):
    """What an evidence item records."""

    HTTP = "http"
    DICOM_ASSOCIATION = "dicom-association"
    DICOM_OPERATION = "dicom-operation"
    TOKEN_HANDOFF = "token-handoff"  # noqa: S105 - a kind of evidence, not a password
    VALIDATOR_FINDING = "validator-finding"
    FILE = "file"
    #: A hook run or an operator prompt that made a system under test act.
    TRIGGER = "trigger"


@dataclass(frozen=True)
class Claim:
    """An actor, and optionally one of its options, that a system under test claims to support.

    ``option`` is empty for the actor's baseline; ``withdrawn`` records that the vendor
    withdrew the claim, which grades the row Withdrawn.
    """

    actor: str
    option: str = ""
    withdrawn: bool = False


@dataclass(frozen=True)
class SystemUnderTest:
    """A product tested in the run, as its vendor declared it."""

    vendor: str
    product: str
    version: str
    endpoint: str
    claims: tuple[Claim, ...] = ()


@dataclass(frozen=True)
class StepResult:
    """One Gherkin step as it ran: its text, outcome, duration in seconds and message."""

    text: str
    status: Status
    duration: float = 0.0
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "duration", _number(self.duration, "a step duration"))


@dataclass(frozen=True)
class Evidence:
    """One recorded exchange or observation, attached to the scenario that caused it.

    ``actor`` says who talked to whom (``"sender -> repository"``); ``sizes`` are byte counts
    (``{"request": 120, "response": 5}``), ``digests`` are named hex digests
    (``{"sha-256": "..."}``) and ``detail`` holds any further JSON data.
    """

    kind: EvidenceKind
    time: datetime
    actor: str
    summary: str
    sizes: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_aware(self.time, "evidence time")

    @classmethod
    def capture(
        cls,
        kind: EvidenceKind,
        *,
        actor: str,
        summary: str,
        secrets: Iterable[SecretLike],
        sizes: Mapping[str, int] | None = None,
        digests: Mapping[str, str] | None = None,
        detail: Mapping[str, Any] | None = None,
        time: datetime | None = None,
    ) -> Evidence:
        """Build an evidence item with every text redacted; the one way capture hooks make one."""
        secrets = list(secrets)
        try:
            # Through JSON and back, so that the model holds what a reader of the report gets.
            clean_detail = json.loads(
                json.dumps(redact(dict(detail or {}), secrets), allow_nan=False)
            )
        except (TypeError, ValueError):
            raise ResultsError("evidence detail must be JSON data (text, numbers, lists)") from None
        return cls(
            kind=kind,
            time=time or datetime.now(UTC),
            actor=redact(actor, secrets),
            summary=redact(summary, secrets),
            sizes=dict(sizes or {}),
            digests=redact(dict(digests or {}), secrets),
            detail=clean_detail,
        )


@dataclass(frozen=True)
class MonitorOverride:
    """A monitor's verdict on a test instance; the automatic status stays on record beside it."""

    status: Status
    comment: str
    monitor: str
    time: datetime

    def __post_init__(self) -> None:
        _require_aware(self.time, "an override's time")
        if not self.comment.strip() or not self.monitor.strip():
            raise ResultsError("a monitor override needs the monitor's name and a comment")


@dataclass(frozen=True)
class TestInstance:
    """One scenario as it ran against the systems under test.

    ``reason`` explains a NOT_RUN (with its ``not_run_cause``) or an ERROR; ``required``
    scenarios decide the grade of their actor and option, optional ones are only reported.
    """

    # Not a pytest test class, although its name (Gazelle's word) starts with "Test".
    __test__ = False

    id: str
    name: str
    feature: str
    actor: str
    status: Status
    option: str = ""
    tags: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    required: bool = True
    reason: str = ""
    not_run_cause: NotRunCause | None = None
    steps: tuple[StepResult, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    findings: tuple[Finding, ...] = ()
    started: datetime | None = None
    finished: datetime | None = None
    override: MonitorOverride | None = None

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise ResultsError("a test instance needs an ID")
        if self.status in (Status.NOT_RUN, Status.ERROR) and not self.reason.strip():
            raise ResultsError(f"test {self.id} is {self.status} and must say why")
        if (self.status is Status.NOT_RUN) != (self.not_run_cause is not None):
            raise ResultsError(f"test {self.id}: a cause goes with NOT_RUN, and only with it")
        _require_aware(self.started, f"test {self.id} start")
        _require_aware(self.finished, f"test {self.id} finish")
        if self.started and self.finished and self.finished < self.started:
            raise ResultsError(f"test {self.id} finished before it started")

    @property
    def effective_status(self) -> Status:
        """The status that counts: the monitor's, when overridden, else the automatic one."""
        return self.override.status if self.override else self.status

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, when both are known."""
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


@dataclass(frozen=True)
class Series:
    """Points of a measurement over time or size, drawn as a line chart."""

    x_label: str
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        points = tuple((_number(x, "a series"), _number(y, "a series")) for x, y in self.points)
        object.__setattr__(self, "points", points)


@dataclass(frozen=True)
class PerformanceFigure:
    """A measured figure (throughput, latency...) with what it was measured on."""

    name: str
    value: float
    unit: str
    context: str = ""
    series: Series | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _number(self.value, f"figure {self.name!r}"))


@dataclass(frozen=True)
class RunResult:
    """A whole run: who ran what against which systems, every test instance and the figures.

    ``requirements`` is the catalog as it stood for the run, so that a report rendered later
    shows the coverage against the requirements the run was judged by.
    """

    run_id: str
    started: datetime
    finished: datetime
    operator: str
    harness_version: str
    binding: str
    suite_version: str
    suts: tuple[SystemUnderTest, ...] = ()
    configuration: dict[str, str] = field(default_factory=dict)
    tests: tuple[TestInstance, ...] = ()
    performance: tuple[PerformanceFigure, ...] = ()
    requirements: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for test in self.tests:
            if test.id in seen:
                raise ResultsError(f"test ID {test.id} appears twice")
            seen.add(test.id)
        _require_aware(self.started, "the run's start")
        _require_aware(self.finished, "the run's finish")
        if self.finished < self.started:
            raise ResultsError("the run finished before it started")

    def test(self, test_id: str) -> TestInstance:
        """Return the test instance with ``test_id``."""
        for test in self.tests:
            if test.id == test_id:
                return test
        raise KeyError(test_id)

    def with_override(self, test_id: str, override: MonitorOverride) -> RunResult:
        """Return the run with a monitor's override recorded on test ``test_id``."""
        self.test(test_id)
        tests = tuple(replace(t, override=override) if t.id == test_id else t for t in self.tests)
        return replace(self, tests=tests)


def _number(value: float, what: str) -> float:
    """Return ``value`` as a float, so that 3 and 3.0 make the same document; refuse NaN and inf."""
    number = float(value)
    if not math.isfinite(number):
        raise ResultsError(f"{what} holds a number that is not finite")
    return number


def _require_aware(moment: datetime | None, what: str) -> None:
    """Refuse a time without zone: a report read in another country must not shift it."""
    if moment is not None and moment.utcoffset() is None:
        raise ResultsError(f"{what} needs a time zone")
