"""Entry points for the CLI: write every report of a run, or re-render them from the JSON.

``cloudpdi conformance run`` calls :func:`write_reports` after each run, so that every run leaves
the three reports without extra steps; ``cloudpdi report render RESULTS.json --html OUT.html``
calls :func:`render_report`, which reads (and schema-checks) the JSON first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reports.html import write_html
from reports.json_report import read_json, write_json
from reports.junit import write_junit
from reports.model import RunResult

RESULTS_NAME = "results.json"
HTML_NAME = "report.html"
JUNIT_NAME = "junit.xml"


@dataclass(frozen=True)
class ReportFiles:
    """Where the reports of one run were written."""

    json: Path
    html: Path
    junit: Path


def write_reports(result: RunResult, out: Path) -> ReportFiles:
    """Write the JSON, HTML and JUnit reports of ``result`` into folder ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / RESULTS_NAME, out / HTML_NAME, out / JUNIT_NAME)
    write_json(result, files.json)
    write_html(result, files.html)
    write_junit(result, files.junit)
    return files


def render_report(
    results_json: Path, *, html: Path | None = None, junit: Path | None = None
) -> RunResult:
    """Render the HTML and/or JUnit report of a results document; return the run it holds."""
    result = read_json(results_json)
    if html is not None:
        write_html(result, html)
    if junit is not None:
        write_junit(result, junit)
    return result
