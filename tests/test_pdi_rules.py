"""The PDI validator: report and JSON shape, single rules, profiles, hostile input, streaming.

Broken file sets per rule are in test_broken_fixtures.py; here are the behaviours around them:
what a report looks like, that a hostile DICOMDIR or instance yields findings instead of
exceptions or hangs, and that reading stays bounded whatever the files claim.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset

from cloudpdi.fileset import FileSetFormatError
from cloudpdi.media import MEDIA_PROFILES
from cloudpdi.pdi_findings import REPORT_FORMAT, FindingSink, Rule, Severity
from cloudpdi.pdi_instances import attribute_name, attribute_text, read_instance
from cloudpdi.pdi_rules import (
    UnknownProfileError,
    ValidationReport,
    allowed_transfer_syntaxes,
    validate_file_set,
)
from features.catalog import load_catalog
from fixtures.broken import make_broken_file_set, make_clean_file_set
from fixtures.broken_edits import set_record_attribute
from fixtures.studies import generate_study
from tests.hostile_dicom import SPECIFIC_CHARACTER_SET, claim_length, write_deflate_bomb

IMAGE = "DICOM/PT000001/ST000001/SE000001/IM000001"
SECOND_IMAGE = "DICOM/PT000001/ST000001/SE000001/IM000002"
# Explicit VR LE header of Offset of the Next Directory Record / of Referenced Lower-Level
# Directory Entity, each followed by its 4-byte value.
_LINK_HEADERS = (b"\x04\x00\x00\x14UL\x04\x00", b"\x04\x00\x20\x14UL\x04\x00")
_FIRST_ROOT_HEADER = b"\x04\x00\x00\x12UL\x04\x00"
_HOSTILE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clean_file_set(tmp_path_factory.mktemp("clean") / "SET")


@pytest.fixture
def copy(clean_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean_root, tmp_path / "SET"))


def _kinds(report: ValidationReport) -> set[tuple[str, Severity]]:
    return {(f.requirement, f.severity) for f in report.findings}


def _sole_finding(root: Path) -> tuple[str, Severity, str, str]:
    """Validate ``root``, which must give one finding: its requirement, severity, path, message."""
    [finding] = validate_file_set(root).findings
    return finding.requirement, finding.severity, finding.path, finding.message


def _value_offsets(data: bytes, header: bytes) -> list[int]:
    return [m.end() for m in re.finditer(re.escape(header), data)]


# --- report model -------------------------------------------------------------------------


def test_every_rule_is_a_catalog_requirement() -> None:
    catalog = load_catalog()
    assert all(str(rule) in catalog for rule in Rule)


def test_json_report_is_stable_and_has_the_documented_shape(
    clean_root: Path, tmp_path: Path
) -> None:
    broken = make_broken_file_set("record-study-date", clean_root, tmp_path / "B")
    first, second = validate_file_set(broken).to_json(), validate_file_set(broken).to_json()
    assert first == second
    document = json.loads(first)
    assert set(document) == {
        "format",
        "version",
        "source",
        "profile",
        "ok",
        "files_checked",
        "instances_checked",
        "counts",
        "suppressed",
        "findings",
    }
    assert document["format"] == REPORT_FORMAT
    assert document["ok"] is False
    assert document["counts"] == {"ERROR": 4, "WARNING": 0, "INFO": 0}
    assert document["files_checked"] == 6  # README, a document and four instances
    findings = document["findings"]
    assert all(set(f) == {"requirement", "severity", "path", "message"} for f in findings)
    keys = [(f["requirement"], f["path"], f["message"]) for f in findings]
    assert keys == sorted(keys)


def test_finding_cap_keeps_the_first_and_counts_the_rest(clean_root: Path, tmp_path: Path) -> None:
    broken = make_broken_file_set("record-study-date", clean_root, tmp_path / "B")
    report = validate_file_set(broken, finding_cap=1)
    assert len(report.errors) == 1
    assert report.suppressed == {"PDI-CONS-01 ERROR": 3}
    assert not report.ok
    assert report.to_dict()["counts"]["ERROR"] == 4


def test_sink_drops_exact_duplicates() -> None:
    sink = FindingSink()
    sink.error(Rule.DIR_03, "A", "same")
    sink.error(Rule.DIR_03, "A", "same")
    sink.warning(Rule.DIR_03, "A", "same")
    assert [f.severity for f in sink.findings] == [Severity.ERROR, Severity.WARNING]


def test_messages_name_files_but_never_patient_data(clean_root: Path, tmp_path: Path) -> None:
    broken = make_broken_file_set("patient-name-differs", clean_root, tmp_path / "B")
    text = validate_file_set(broken).to_json()
    header = dcmread(broken / SECOND_IMAGE, stop_before_pixels=True)
    assert SECOND_IMAGE in text
    for value in ("SUZUKI", "鈴木", "YAMADA", "山田", header.PatientID, header.PatientBirthDate):
        assert value not in text
    assert header.StudyInstanceUID not in text and header.SOPInstanceUID not in text


# --- profiles -----------------------------------------------------------------------------


def test_profiles_allow_what_ps3_11_says() -> None:
    assert allowed_transfer_syntaxes("STD-GEN-CD") == {"1.2.840.10008.1.2.1"}
    assert "1.2.840.10008.1.2.4.50" in allowed_transfer_syntaxes("STD-GEN-DVD-JPEG")
    assert "1.2.840.10008.1.2.4.90" in allowed_transfer_syntaxes("STD-GEN-USB-J2K")
    assert "1.2.840.10008.1.2.4.50" not in allowed_transfer_syntaxes("STD-GEN-DVD-J2K")
    with pytest.raises(UnknownProfileError, match="STD-GEN-CD"):
        validate_file_set(Path("."), profile="STD-GEN-FLOPPY")


@pytest.mark.parametrize("profile", sorted(MEDIA_PROFILES))
def test_profiles_accept_clean_and_refuse_deflated(
    profile: str, clean_root: Path, tmp_path: Path
) -> None:
    assert validate_file_set(clean_root, profile=profile).ok
    broken = make_broken_file_set("deflated", clean_root, tmp_path / "B")
    assert _kinds(validate_file_set(broken, profile=profile)) == {("PDI-TS-01", Severity.ERROR)}


# --- single rules and layouts ---------------------------------------------------------------


def test_missing_path_is_an_error_not_a_finding(tmp_path: Path) -> None:
    with pytest.raises(FileSetFormatError):
        validate_file_set(tmp_path / "nothing")


def test_file_set_one_folder_down_is_checked_from_its_dicomdir(
    clean_root: Path, tmp_path: Path
) -> None:
    shutil.copytree(clean_root, tmp_path / "OUTER" / "SET")
    (tmp_path / "OUTER" / "SET" / "README.TXT").unlink()
    report = validate_file_set(tmp_path / "OUTER")
    assert [(f.requirement, f.path) for f in report.findings] == [
        ("PDI-DIR-01", "SET/DICOMDIR"),
        ("PDI-README-01", "SET/README.TXT"),
    ]
    assert report.instances_checked == 4


def test_folder_without_dicom_content(tmp_path: Path) -> None:
    (tmp_path / "README.TXT").write_bytes(b"hello")
    assert _kinds(validate_file_set(tmp_path)) == {
        ("PDI-DIR-01", Severity.ERROR),
        ("PDI-STRUCT-01", Severity.WARNING),
    }


def test_lower_case_dicomdir_is_used_and_reported(copy: Path) -> None:
    (copy / "DICOMDIR").rename(copy / "dicomdir")
    report = validate_file_set(copy)
    assert [(f.requirement, f.path) for f in report.findings] == [("PDI-DIR-01", "dicomdir")]
    assert report.instances_checked == 4


def test_dicom_file_in_web_folder_is_reported(copy: Path) -> None:
    (copy / "IHE_PDI").mkdir()
    (copy / "INDEX.HTM").write_bytes(b"<html></html>")
    (copy / IMAGE).rename(copy / "IHE_PDI" / "IM000001")
    report = validate_file_set(copy)
    assert ("PDI-WEB-01", "IHE_PDI/IM000001") in {(f.requirement, f.path) for f in report.findings}


def test_hostile_long_names_are_shortened_in_findings(copy: Path) -> None:
    deep = copy.joinpath(*["A" * 200] * 3)
    deep.mkdir(parents=True)
    (deep / "X").write_bytes(b"x")
    report = validate_file_set(copy)
    assert report.findings and all(len(f.path) <= 240 for f in report.findings)


def test_web_content_under_ihe_pdi_with_index_is_clean(copy: Path) -> None:
    (copy / "IHE_PDI").mkdir()
    (copy / "IHE_PDI" / "STUDY.HTM").write_bytes(b"<html></html>")
    (copy / "INDEX.HTM").write_bytes(b"<html></html>")
    assert validate_file_set(copy).findings == ()


def test_viewer_in_a_folder_is_only_noted(copy: Path) -> None:
    (copy / "VIEWER").mkdir()
    (copy / "VIEWER" / "VIEWER.EXE").write_bytes(b"MZ")
    report = validate_file_set(copy)
    assert _kinds(report) == {("PDI-AUTORUN-01", Severity.INFO)}
    assert report.ok


def test_empty_readme_is_a_warning(copy: Path) -> None:
    (copy / "README.TXT").write_bytes(b"")
    assert _kinds(validate_file_set(copy)) == {("PDI-README-01", Severity.WARNING)}


def test_reference_in_other_letter_case_is_reported(copy: Path) -> None:
    image = copy / IMAGE
    image.rename(image.with_name(image.name.lower()))
    report = validate_file_set(copy)
    assert _kinds(report) == {("PDI-NAME-01", Severity.ERROR), ("PDI-DIR-03", Severity.ERROR)}
    assert "letter case" in " ".join(f.message for f in report.findings)


def test_missing_meta_element_is_reported(copy: Path) -> None:
    ds = dcmread(copy / IMAGE)
    del ds.file_meta.ImplementationClassUID
    dcmwrite(copy / IMAGE, ds, enforce_file_format=False)
    [finding] = validate_file_set(copy).findings
    assert (finding.requirement, finding.path) == ("PDI-FMI-01", IMAGE)
    assert "Implementation Class UID" in finding.message


def test_names_differing_only_in_kanji_are_inconsistent(copy: Path) -> None:
    ds = dcmread(copy / SECOND_IMAGE)
    alphabetic, _, phonetic = str(ds.PatientName).split("=")
    ds.PatientName = f"{alphabetic}=山本^太郎={phonetic}"
    dcmwrite(copy / SECOND_IMAGE, ds, enforce_file_format=True)
    report = validate_file_set(copy)
    assert _kinds(report) == {("PDI-CONS-01", Severity.ERROR)}
    assert any("DICOMDIR PATIENT record" in f.message for f in report.findings)


def test_record_may_keep_only_the_alphabetic_name(copy: Path) -> None:
    alphabetic = str(dcmread(copy / IMAGE, stop_before_pixels=True).PatientName).split("=")[0]
    set_record_attribute(copy, "PatientName", alphabetic, "PATIENT")
    assert validate_file_set(copy).findings == ()
    set_record_attribute(copy, "PatientName", f"{alphabetic}=山本^太郎", "PATIENT")
    assert _kinds(validate_file_set(copy)) == {("PDI-CONS-01", Severity.ERROR)}


def _leave_empty(path: Path, keyword: str) -> None:
    ds = dcmread(path)
    setattr(ds, keyword, "")
    dcmwrite(path, ds, enforce_file_format=True)


@pytest.mark.parametrize("keyword", ["StudyID", "SeriesNumber", "InstanceNumber", "PatientID"])
def test_record_value_where_the_file_is_legally_empty_is_noted_as_invented(
    copy: Path, keyword: str
) -> None:
    # Type 2 in the file, Type 1 in the record: a writer must invent the record's value.
    _leave_empty(copy / SECOND_IMAGE, keyword)
    requirement, severity, path, message = _sole_finding(copy)
    assert (requirement, severity, path) == ("PDI-CONS-01", Severity.INFO, SECOND_IMAGE)
    assert f"invented {attribute_name(keyword)}: the file leaves it empty" in message


def test_invented_value_where_the_file_has_one_is_an_error(copy: Path) -> None:
    set_record_attribute(copy, "StudyID", "CLOUDPDI-S000001", "STUDY")
    report = validate_file_set(copy)
    assert _kinds(report) == {("PDI-CONS-01", Severity.ERROR)}
    assert len(report.errors) == 4  # every file of the study
    assert all("disagree on Study ID" in f.message for f in report.errors)


def test_record_value_where_the_file_is_empty_is_an_error_for_other_keys(copy: Path) -> None:
    # Accession Number is Type 2 in the record too: the record should have stayed empty.
    _leave_empty(copy / SECOND_IMAGE, "AccessionNumber")
    requirement, severity, path, message = _sole_finding(copy)
    assert (requirement, severity, path) == ("PDI-CONS-01", Severity.ERROR, SECOND_IMAGE)
    assert "Accession Number a value the file leaves empty" in message


def test_person_names_and_numbers_compare_by_meaning() -> None:
    ds = Dataset()
    ds.PatientName = "YAMADA^TARO^^^=山田^太郎"
    ds.InstanceNumber = "007"
    ds.PatientID = ""
    assert attribute_text(ds, "PatientName") == "YAMADA^TARO=山田^太郎"
    assert attribute_text(ds, "InstanceNumber") == "7"
    assert attribute_text(ds, "PatientID") is None
    assert attribute_text(ds, "StudyDate") is None


# --- hostile DICOMDIR ------------------------------------------------------------------------


def test_root_record_linked_to_itself_ends(copy: Path) -> None:
    data = bytearray((copy / "DICOMDIR").read_bytes())
    [first] = _value_offsets(bytes(data), _FIRST_ROOT_HEADER)
    root = struct.unpack_from("<I", data, first)[0]
    next_of_root = next(o for o in _value_offsets(bytes(data), _LINK_HEADERS[0]) if o > root)
    struct.pack_into("<I", data, next_of_root, root)
    (copy / "DICOMDIR").write_bytes(bytes(data))
    report = validate_file_set(copy)
    assert any("loop" in f.message for f in report.errors if f.requirement == "PDI-DIR-02")


@_HOSTILE
@given(data=st.data())
def test_any_link_values_give_findings_not_exceptions(
    clean_root: Path, copy: Path, data: st.DataObject
) -> None:
    original = (clean_root / "DICOMDIR").read_bytes()
    content = bytearray(original)
    links = [o for header in _LINK_HEADERS for o in _value_offsets(original, header)]
    starts = [0, *range(300, len(content), 2)]
    for offset in data.draw(st.lists(st.sampled_from(links), min_size=1, max_size=6)):
        value = data.draw(st.one_of(st.sampled_from(starts), st.integers(0, 2**32 - 1)))
        struct.pack_into("<I", content, offset, value)
    (copy / "DICOMDIR").write_bytes(bytes(content))
    report = validate_file_set(copy)
    assert report.files_checked == 6
    # Any changed link loses a record, reaches one twice or points at no record.
    assert (report.findings != ()) is (bytes(content) != original)


@_HOSTILE
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_truncated_dicomdir_is_reported(
    clean_root: Path, tmp_path_factory: pytest.TempPathFactory, fraction: float
) -> None:
    target = tmp_path_factory.mktemp("cut") / "SET"
    shutil.copytree(clean_root, target)
    data = (clean_root / "DICOMDIR").read_bytes()
    (target / "DICOMDIR").write_bytes(data[: int(len(data) * fraction)])
    report = validate_file_set(target)
    assert ("PDI-DIR-02", Severity.ERROR) in _kinds(report)


@_HOSTILE
@given(garbage=st.binary(min_size=0, max_size=400))
def test_garbage_after_dicm_gives_findings(copy: Path, garbage: bytes) -> None:
    (copy / "DICOMDIR").write_bytes(b"\x00" * 128 + b"DICM" + garbage)
    report = validate_file_set(copy)
    assert not report.ok


def test_huge_length_claim_in_a_record_is_not_read(copy: Path) -> None:
    data = bytearray((copy / "DICOMDIR").read_bytes())
    # Referenced File ID (0004,1500) CS: make its 2-byte length claim the maximum.
    at = data.index(b"\x04\x00\x00\x15CS") + 6
    struct.pack_into("<H", data, at, 0xFFFF)
    (copy / "DICOMDIR").write_bytes(bytes(data))
    report = validate_file_set(copy)
    assert ("PDI-DIR-02", Severity.ERROR) in _kinds(report)


# --- hostile and large instances -------------------------------------------------------------


def test_instance_claiming_a_4_gib_element_is_a_finding(copy: Path) -> None:
    part10 = (copy / IMAGE).read_bytes()
    (copy / IMAGE).write_bytes(claim_length(part10, SPECIFIC_CHARACTER_SET, 0xFFFFFFF0))
    requirement, severity, path, message = _sole_finding(copy)
    assert (requirement, severity, path) == ("PDI-FMI-01", Severity.ERROR, IMAGE)
    assert "past the end of the file" in message


def test_deflate_bomb_is_inflated_only_as_far_as_the_header(copy: Path) -> None:
    # A private value of 48 MiB of zeros: deflated, the whole file stays small.
    write_deflate_bomb(copy / IMAGE, copy / IMAGE, 48 * 1024 * 1024)
    assert (copy / IMAGE).stat().st_size < 1024 * 1024
    tracemalloc.start()
    try:
        report = validate_file_set(copy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ("PDI-TS-01", Severity.ERROR) in _kinds(report)
    assert peak < 8 * 1024 * 1024


class _CountingReader(io.BufferedReader):
    """Counts the bytes the validator actually asks for."""

    requested = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.requested += len(data)
        return data


def test_header_read_stops_long_before_the_pixel_data(tmp_path: Path) -> None:
    [path] = generate_study("CT", 1, tmp_path, rows=256, columns=256)
    with _CountingReader(io.FileIO(path)) as stream:
        header = read_instance(stream)
        requested = stream.requested
    assert header.attributes["Modality"] == "CT"
    assert requested < 8 * 1024 < path.stat().st_size // 10
