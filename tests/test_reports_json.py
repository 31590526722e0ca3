"""The JSON results document: schema, round trip, and refusal of broken documents."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reports.codec import ResultsFormatError
from reports.grading import ROLL_UP_RULES
from reports.json_report import (
    dumps,
    from_document,
    read_json,
    results_schema,
    to_document,
    validate_document,
    write_json,
)
from reports.model import RESULTS_VERSION, PerformanceFigure, ResultsError
from tests.test_reports_sample import JAPANESE, SAMPLE_SECRET, XSS, sample_run


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return to_document(sample_run())


def test_the_published_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = results_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["version"] == {"const": RESULTS_VERSION}


def test_the_document_validates_against_the_schema(document: dict[str, Any]) -> None:
    assert not list(Draft202012Validator(results_schema()).iter_errors(document))
    validate_document(document)


def test_write_then_read_gives_the_same_run(tmp_path: Path) -> None:
    result = sample_run()
    path = tmp_path / "results.json"
    write_json(result, path)
    assert read_json(path) == result
    assert path.stat().st_mode & 0o077 == 0
    # Stable bytes: the same results always give the same file.
    assert path.read_text(encoding="utf-8") == dumps(read_json(path))


def test_the_document_carries_the_rules_matrix_and_summary(document: dict[str, Any]) -> None:
    assert document["format"] == "cloudpdi-results"
    assert [r["words"] for r in document["grading"]["rules"]] == [r.words for r in ROLL_UP_RULES]
    matrix = {(r["actor"], r["option"]): r["grade"] for r in document["grading"]["matrix"]}
    assert matrix[("repository", "Expiry")] == "No Peer"
    assert document["summary"] == {
        "tests": 12,
        "statuses": {"PASSED": 6, "FAILED": 2, "NOT_RUN": 3, "ERROR": 1},
        "exit_code": 4,
    }
    override = next(t for t in document["result"]["tests"] if t["id"] == "S-11")
    assert override["status"] == "FAILED"
    assert override["override"]["status"] == "PASSED"


def test_text_is_kept_as_given_and_the_secret_never_appears() -> None:
    text = dumps(sample_run())
    assert JAPANESE in text
    assert XSS in text  # JSON holds data; escaping is the HTML renderer's job
    assert SAMPLE_SECRET.hex() not in text
    assert "Bearer abc.def" not in text


def test_derived_sections_are_recomputed_on_read(document: dict[str, Any]) -> None:
    edited = copy.deepcopy(document)
    edited["grading"]["matrix"][0]["grade"] = "Pass"
    assert to_document(from_document(edited))["grading"]["matrix"][0]["grade"] == "Fail"


def _break(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("version",), 2, "$.version"),
        (("result", "tests", 0, "status"), "GREAT", "$.result.tests[0].status"),
        (("result", "tests", 1, "name"), _DELETE, "$.result.tests[1]"),
        (("result", "suts", 0, "price"), 10, "$.result.suts[0]"),
        (("result", "started"), "2025-05-12T09:30:00", "$.result.started"),
        (("result", "tests", 0, "evidence", 0, "sizes", "request"), -1, "$.result.tests[0]"),
        (("grading", "matrix", 0, "grade"), "Excellent", "$.grading.matrix[0].grade"),
    ],
)
def test_a_broken_document_fails_naming_where_not_what(
    document: dict[str, Any], path: tuple[Any, ...], value: Any, where: str
) -> None:
    broken = _break(document, path, value)
    with pytest.raises(ResultsFormatError) as caught:
        from_document(broken)
    message = str(caught.value)
    assert where in message
    assert "GREAT" not in message and "Excellent" not in message


def test_a_document_the_schema_accepts_but_the_model_refuses_is_refused(
    document: dict[str, Any],
) -> None:
    # NOT_RUN without a cause passes the schema's types but breaks the model's rule.
    broken = _break(document, ("result", "tests", 0, "status"), "NOT_RUN")
    with pytest.raises(ResultsError):
        from_document(broken)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="cannot read"):
        read_json(path)
    with pytest.raises(ResultsFormatError, match="cannot read"):
        read_json(tmp_path / "missing.json")
    path.write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="schema"):
        read_json(path)


def test_figures_must_be_finite() -> None:
    with pytest.raises(ResultsError):
        PerformanceFigure("throughput", float("nan"), "MiB/s")


def test_a_run_the_schema_refuses_is_not_written(tmp_path: Path) -> None:
    test = sample_run().test("S-01")
    negative = replace(test.evidence[0], sizes={"request": -1})
    result = sample_run(tests=(replace(test, evidence=(negative,)),))
    with pytest.raises(ResultsFormatError, match="sizes"):
        write_json(result, tmp_path / "results.json")
    assert not (tmp_path / "results.json").exists()


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(ResultsError, match="time zone"):
        sample_run(started=datetime(2025, 5, 12, 9, 30))
