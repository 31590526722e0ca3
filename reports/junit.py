"""JUnit XML for CI servers: one test suite per feature, one test case per scenario.

Effective statuses map to JUnit's words: FAILED is a ``failure``, ERROR an ``error`` and
NOT_RUN ``skipped`` with its reason. A monitor override and the requirement IDs go into
``system-out``, which every JUnit reader shows and none needs to understand.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree as ET

from cloudpdi.files import write_private
from reports.model import RunResult, Status, TestInstance

# Characters XML 1.0 cannot carry at all, even escaped; a SUT's message may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def to_junit(result: RunResult) -> str:
    """Return the JUnit XML document of ``result``."""
    root = ET.Element("testsuites", name=_text(f"cloudpdi run {result.run_id}"))
    features: dict[str, list[TestInstance]] = {}
    for test in result.tests:
        features.setdefault(test.feature, []).append(test)
    total: Counter[str] = Counter()
    for feature, tests in features.items():
        suite = _suite(root, feature, tests, result)
        for key in ("tests", "failures", "errors", "skipped"):
            total[key] += int(suite.get(key, "0"))
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(total[key]))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(result: RunResult, path: Path) -> None:
    """Write the JUnit XML of ``result`` to ``path``, whole or not at all."""
    write_private(path, to_junit(result))


def _suite(
    root: ET.Element, feature: str, tests: list[TestInstance], result: RunResult
) -> ET.Element:
    statuses = Counter(t.effective_status for t in tests)
    seconds = sum(t.duration or 0.0 for t in tests)
    suite = ET.SubElement(
        root,
        "testsuite",
        name=_text(feature),
        tests=str(len(tests)),
        failures=str(statuses[Status.FAILED]),
        errors=str(statuses[Status.ERROR]),
        skipped=str(statuses[Status.NOT_RUN]),
        time=f"{seconds:.3f}",
        timestamp=result.started.isoformat(timespec="seconds"),
    )
    for test in tests:
        _case(suite, test)
    return suite


def _case(suite: ET.Element, test: TestInstance) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=_text(f"{test.actor}.{test.option}" if test.option else test.actor),
        name=_text(f"{test.id} {test.name}"),
        time=f"{test.duration or 0.0:.3f}",
    )
    status = test.effective_status
    if status is Status.FAILED:
        ET.SubElement(
            case, "failure", message=_text(_failure_message(test)), type="FAILED"
        ).text = _text(_details(test))
    elif status is Status.ERROR:
        message = test.reason or (test.override.comment if test.override else "harness error")
        ET.SubElement(case, "error", message=_text(message), type="ERROR").text = _text(
            _details(test)
        )
    elif status is Status.NOT_RUN:
        cause = test.not_run_cause.value if test.not_run_cause else "NOT_RUN"
        ET.SubElement(case, "skipped", message=_text(f"{cause}: {test.reason}"))
    ET.SubElement(case, "system-out").text = _text(_notes(test))


def _failure_message(test: TestInstance) -> str:
    """The first failed step, else the check after the steps (a transfer budget), else the
    first finding, else the monitor's comment."""
    for step in test.steps:
        if step.status is Status.FAILED:
            return f"{step.text}: {step.message}" if step.message else step.text
    if test.reason:
        return test.reason
    if test.findings:
        first = test.findings[0]
        return f"{first.requirement}: {first.message}"
    return test.override.comment if test.override else "failed"


def _details(test: TestInstance) -> str:
    lines = [
        f"[{s.status}] {s.text}" + (f" - {s.message}" if s.message else "") for s in test.steps
    ]
    lines += [f"{f.requirement} {f.severity} {f.path}: {f.message}" for f in test.findings]
    return "\n".join(lines)


def _notes(test: TestInstance) -> str:
    lines = [
        f"requirements: {' '.join(test.requirements) or '-'}",
        f"tags: {' '.join(test.tags) or '-'}",
    ]
    lines.append(f"required: {'yes' if test.required else 'no (optional)'}")
    if test.override:
        o = test.override
        lines.append(
            f"monitor override by {o.monitor} at {o.time.isoformat(timespec='seconds')}: "
            f"{test.status} -> {o.status}: {o.comment}"
        )
    return "\n".join(lines)


def _text(value: str) -> str:
    """Return ``value`` with the characters XML cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value)
