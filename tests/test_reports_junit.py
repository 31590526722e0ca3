"""JUnit XML, read back by an independent parser (junitparser) as a CI server would."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from reports.junit import to_junit, write_junit
from tests.test_reports_sample import JAPANESE, SAMPLE_SECRET, XSS, sample_run


@pytest.fixture(scope="module")
def xml(tmp_path_factory: pytest.TempPathFactory) -> JUnitXml:
    path = tmp_path_factory.mktemp("junit") / "junit.xml"
    write_junit(sample_run(), path)
    return JUnitXml.fromfile(str(path))


def _cases(xml: JUnitXml) -> dict[str, TestCase]:
    return {case.name.split(" ", 1)[0]: case for suite in xml for case in suite}


def test_totals_match_the_effective_statuses(xml: JUnitXml) -> None:
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (12, 2, 1, 3)


def test_one_suite_per_feature_with_its_own_counts(xml: JUnitXml) -> None:
    suites: dict[str, TestSuite] = {suite.name: suite for suite in xml}
    assert list(suites) == ["sender conformance", "repository conformance", "receiver conformance"]
    sender = suites["sender conformance"]
    assert (sender.tests, sender.failures, sender.errors, sender.skipped) == (5, 2, 0, 0)
    repository = suites["repository conformance"]
    assert (repository.tests, repository.failures, repository.errors, repository.skipped) == (
        4,
        0,
        1,
        2,
    )
    assert sender.time == pytest.approx(150.0)


def test_cases_carry_classname_name_and_outcome(xml: JUnitXml) -> None:
    cases = _cases(xml)
    failed = cases["S-02"]
    assert failed.classname == "sender"
    assert cases["S-10"].classname == "sender.QR slip"
    (failure,) = failed.result
    assert isinstance(failure, Failure)
    # The BEL character in the step message cannot be XML; it arrives as U+FFFD.
    assert failure.message.endswith("plaintext DICM preamble found\ufffd at offset 128")
    assert failure.message.startswith("Then the repository holds only ciphertext: ")
    assert f"PDI-DIR-01 ERROR DICOMDIR: bad {XSS}" in failure.text
    (error,) = cases["R-02"].result
    assert isinstance(error, Error)
    assert error.message == "simulated sender crashed: OSError"
    (skipped,) = cases["R-10"].result
    assert isinstance(skipped, Skipped)
    assert skipped.message == "NO_PEER: no clock-controlled peer available"
    assert cases["S-01"].is_passed
    assert JAPANESE in cases["V-01"].name


def test_a_monitor_override_passes_the_case_and_is_recorded(xml: JUnitXml) -> None:
    case = _cases(xml)["S-11"]
    assert case.is_passed
    assert "monitor override by M. Tanaka 田中" in case.system_out
    assert "FAILED -> PASSED: QR read fine" in case.system_out
    assert "requirements: CPDI-TOK-05" in case.system_out


def test_xml_is_well_formed_despite_control_characters_and_markup() -> None:
    text = to_junit(sample_run())
    assert "\x07" not in text
    assert "<script>" not in text
    assert SAMPLE_SECRET.hex() not in text
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>")


def test_written_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(sample_run(), path)
    assert path.stat().st_mode & 0o077 == 0
