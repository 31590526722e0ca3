"""Conformance run results: the model, its grading, and the JSON, JUnit and HTML reports.

This package reads only the results model (DESIGN.md): it imports neither the simulators nor
the harness, so a report can be rendered anywhere from a results document.
"""

from reports.codec import ResultsFormatError
from reports.coverage import CoverageRow, Verdict, requirement_coverage
from reports.grading import (
    COUNTING_RULES,
    EXIT_FAILED,
    EXIT_HARNESS_ERROR,
    EXIT_PASSED,
    ROLL_UP_RULES,
    Grade,
    MatrixRow,
    RollUpRule,
    Tally,
    exit_code,
    grade,
    results_matrix,
)
from reports.html import render_html, write_html
from reports.json_report import (
    read_json,
    results_schema,
    to_document,
    validate_document,
    write_json,
)
from reports.junit import to_junit, write_junit
from reports.model import (
    RESULTS_FORMAT,
    RESULTS_VERSION,
    Claim,
    Evidence,
    EvidenceKind,
    MonitorOverride,
    NotRunCause,
    PerformanceFigure,
    ResultsError,
    RunResult,
    Series,
    Status,
    StepResult,
    SystemUnderTest,
    TestInstance,
)
from reports.redact import RedactionError, redact
from reports.render import ReportFiles, render_report, write_reports

__all__ = [
    "COUNTING_RULES",
    "EXIT_FAILED",
    "EXIT_HARNESS_ERROR",
    "EXIT_PASSED",
    "RESULTS_FORMAT",
    "RESULTS_VERSION",
    "ROLL_UP_RULES",
    "Claim",
    "CoverageRow",
    "Evidence",
    "EvidenceKind",
    "Grade",
    "MatrixRow",
    "MonitorOverride",
    "NotRunCause",
    "PerformanceFigure",
    "RedactionError",
    "ReportFiles",
    "ResultsError",
    "ResultsFormatError",
    "RollUpRule",
    "RunResult",
    "Series",
    "Status",
    "StepResult",
    "SystemUnderTest",
    "Tally",
    "TestInstance",
    "Verdict",
    "exit_code",
    "grade",
    "read_json",
    "redact",
    "render_html",
    "render_report",
    "requirement_coverage",
    "results_matrix",
    "results_schema",
    "to_document",
    "to_junit",
    "validate_document",
    "write_html",
    "write_json",
    "write_junit",
    "write_reports",
]
