"""The versioned JSON results document, its published JSON Schema, and reading it back.

The document holds the run as recorded (``result``) and, for readers that do not want to
re-implement grading, the derived ``grading`` (roll-up rules verbatim and the results matrix),
``coverage`` and ``summary``. Reading validates against the schema shipped in this package
(``reports/schema/results-1.json``, JSON Schema draft 2020-12) and rebuilds only ``result``:
everything derived is recomputed from it, so an edited grade cannot sneak into a report.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from cloudpdi.files import write_private
from reports.codec import ResultsFormatError, from_data, to_data
from reports.coverage import requirement_coverage
from reports.grading import COUNTING_RULES, ROLL_UP_RULES, exit_code, results_matrix
from reports.model import RESULTS_FORMAT, RESULTS_VERSION, RunResult, Status

SCHEMA_RESOURCE = f"schema/results-{RESULTS_VERSION}.json"


@cache
def results_schema() -> dict[str, Any]:
    """Return the published JSON Schema of the results document."""
    text = resources.files("reports").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def to_document(result: RunResult) -> dict[str, Any]:
    """Return the results document of ``result`` as JSON data."""
    statuses = Counter(t.effective_status for t in result.tests)
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "result": to_data(result),
        "grading": {
            "counting_rules": list(COUNTING_RULES),
            "rules": [{"grade": r.grade.value, "words": r.words} for r in ROLL_UP_RULES],
            "matrix": to_data(results_matrix(result)),
        },
        "coverage": to_data(requirement_coverage(result)),
        "summary": {
            "tests": len(result.tests),
            "statuses": {s.value: statuses[s] for s in Status},
            "exit_code": exit_code(result),
        },
    }


def validate_document(document: Any) -> None:
    """Raise :class:`ResultsFormatError` naming where ``document`` breaks the schema.

    The message gives the location and the broken rule, never the offending value: results
    carry data from systems under test that need not be repeated in an error.
    """
    validator = Draft202012Validator(results_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
        raise ResultsFormatError(
            f"results document breaks its schema at ${where} (rule '{first.validator}'"
            f"{f', and {len(errors) - 1} more problems' if len(errors) > 1 else ''})"
        )


def from_document(document: Any) -> RunResult:
    """Validate a results document and rebuild the run it records."""
    validate_document(document)
    return from_data(RunResult, document["result"])


def dumps(result: RunResult) -> str:
    """Return the results document as JSON text, byte-identical for the same results."""
    return _serialise(to_document(result))


def write_json(result: RunResult, path: Path) -> None:
    """Write the results document to ``path``, whole or not at all, readable by the owner only.

    The document is checked against the schema first, so that no run leaves a document that
    :func:`read_json` would refuse.
    """
    document = to_document(result)
    validate_document(document)
    write_private(path, _serialise(document))


def read_json(path: Path) -> RunResult:
    """Read, validate and rebuild a results document written by :func:`write_json`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsFormatError(f"cannot read results document {path}: {exc}") from None
    return from_document(document)


def _serialise(document: dict[str, Any]) -> str:
    text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    return text + "\n"
