"""What the PDI validator reports: findings tied to requirement IDs, and the report around them.

A finding names the requirement it breaks (an ID of ``features/requirements.yaml``), how bad it
is, the file it is about and the problem in words. Messages never carry attribute values: a
file set holds patient data, and reports travel further than the data should.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: Format name and version of :meth:`ValidationReport.to_dict`; bump the version on any change
#: that a reader of old reports would misread.
REPORT_FORMAT = "cloudpdi-pdi-report"
REPORT_VERSION = 1

#: Findings kept per requirement and severity; the rest are counted, so that one systematic
#: fault in a study of thousands of files cannot bury every other finding.
DEFAULT_FINDING_CAP = 100
# Longest path a finding shows; real File IDs are at most 8 x 9 characters.
_MAX_PATH_SHOWN = 240


class Rule(StrEnum):
    """The PDI requirements a machine can check on a file set (SPEC_NOTES.md)."""

    STRUCT_01 = "PDI-STRUCT-01"
    DIR_01 = "PDI-DIR-01"
    DIR_02 = "PDI-DIR-02"
    DIR_03 = "PDI-DIR-03"
    DIR_04 = "PDI-DIR-04"
    NAME_01 = "PDI-NAME-01"
    NAME_02 = "PDI-NAME-02"
    NAME_03 = "PDI-NAME-03"
    NAME_04 = "PDI-NAME-04"
    FMI_01 = "PDI-FMI-01"
    FMI_03 = "PDI-FMI-03"
    TS_01 = "PDI-TS-01"
    CONT_01 = "PDI-CONT-01"
    WEB_01 = "PDI-WEB-01"
    AUTORUN_01 = "PDI-AUTORUN-01"
    README_01 = "PDI-README-01"
    CONS_01 = "PDI-CONS-01"
    MEDIA_ZIP_01 = "PDI-MEDIA-ZIP-01"


class Severity(StrEnum):
    """How bad a finding is: an ERROR breaks the requirement, a WARNING deserves a look."""

    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: the requirement it breaks, its severity, the file and what is wrong."""

    requirement: str
    severity: Severity
    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return the finding as plain data (part of the report's JSON shape)."""
        return {
            "requirement": self.requirement,
            "severity": str(self.severity),
            "path": self.path,
            "message": self.message,
        }


@dataclass(frozen=True)
class ValidationReport:
    """The findings on one file set, with what was checked and under which profile.

    ``files_checked`` counts the files looked at (every file but DICOMDIR), and
    ``instances_checked`` the DICOM files whose header was read. ``suppressed`` counts findings
    dropped by the per-requirement cap, keyed ``"<requirement> <severity>"``.
    """

    source: str
    findings: tuple[Finding, ...]
    files_checked: int
    instances_checked: int = 0
    profile: str = "STD-GEN-CD"
    suppressed: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """True when no requirement is broken (warnings and notes allowed)."""
        return not self.errors and not any(key.endswith(Severity.ERROR) for key in self.suppressed)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data: the documented, versioned JSON shape.

        Keys: ``format``, ``version``, ``source``, ``profile``, ``ok``, ``files_checked``,
        ``instances_checked``, ``counts`` (findings per severity, suppressed ones included),
        ``suppressed`` and ``findings`` (each with ``requirement``, ``severity``, ``path``,
        ``message``), sorted by requirement, severity, path and message.
        """
        counts = Counter(str(f.severity) for f in self.findings)
        for key, number in self.suppressed.items():
            counts[key.rsplit(" ", 1)[1]] += number
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "source": self.source,
            "profile": self.profile,
            "ok": self.ok,
            "files_checked": self.files_checked,
            "instances_checked": self.instances_checked,
            "counts": {str(s): counts.get(str(s), 0) for s in Severity},
            "suppressed": dict(sorted(self.suppressed.items())),
            "findings": [f.to_dict() for f in sorted(self.findings)],
        }

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON, byte-identical for the same findings."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


class FindingSink:
    """Collects findings as checks run, keeping at most ``cap`` per requirement and severity."""

    def __init__(self, cap: int = DEFAULT_FINDING_CAP) -> None:
        self.cap = cap
        #: Prepended to every path: where the file set lies inside what was given to check.
        self.prefix = ""
        self._findings: list[Finding] = []
        self._seen: set[Finding] = set()
        self._kept: Counter[str] = Counter()
        self.suppressed: Counter[str] = Counter()

    def add(self, rule: Rule, severity: Severity, path: str, message: str) -> None:
        """Record a finding, unless it is a duplicate or over the cap for its kind."""
        finding = Finding(str(rule), severity, _bounded(self.prefix + path), message)
        if finding in self._seen:
            return
        key = f"{rule} {severity}"
        if self._kept[key] >= self.cap:
            self.suppressed[key] += 1
            return
        self._seen.add(finding)
        self._kept[key] += 1
        self._findings.append(finding)

    def error(self, rule: Rule, path: str, message: str) -> None:
        self.add(rule, Severity.ERROR, path, message)

    def warning(self, rule: Rule, path: str, message: str) -> None:
        self.add(rule, Severity.WARNING, path, message)

    def info(self, rule: Rule, path: str, message: str) -> None:
        self.add(rule, Severity.INFO, path, message)

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The kept findings, sorted."""
        return tuple(sorted(self._findings))


def _bounded(path: str) -> str:
    """Shorten a hostile path so that it cannot flood a report."""
    return path if len(path) <= _MAX_PATH_SHOWN else path[: _MAX_PATH_SHOWN - 3] + "..."
