"""Building PDI file sets: layout and naming, documents, README.TXT, refusals, streamed ZIP."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian, JPEGBaseline8Bit

from cloudpdi.container import (
    MEDIA_PROFILES,
    BuildResult,
    DocumentError,
    Institution,
    OutputExistsError,
    SourceError,
    TransferSyntaxError,
    build_file_set,
    collect_dicom_sources,
    scan_sources,
    write_file_set_zip,
)
from cloudpdi.dicomdir import DuplicateInstanceError
from cloudpdi.dicomfile import MAX_INFLATED_BYTES, DicomFileError, HeaderTooLargeError
from cloudpdi.fileset import open_file_set
from cloudpdi.pdi_findings import Severity
from cloudpdi.pdi_rules import validate_file_set
from fixtures.documents import write_fhir_document, write_referral_pdf
from fixtures.studies import make_study
from tests.dcmmkdir import dicom_files, recheck_file_set
from tests.dicom3tools import verifier_errors
from tests.dicom_samples import ASCII_PATIENT, JAPANESE_PATIENT, rewritten, series_files
from tests.hostile_dicom import SPECIFIC_CHARACTER_SET, claim_length, write_deflate_bomb

INSTITUTION = Institution(
    "Sender Hospital", contact="radiology@example.org", address="1-1 Chiyoda, Tokyo"
)
CREATED = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
DICOM_FILE_ID = re.compile(r"DICOM(/[A-Z0-9_]{1,8}){1,7}")
NAME_83 = re.compile(r"[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?")
# A ZIP entry written to an unseekable sink carries a data descriptor (APPNOTE 4.4.4, bit 3).
DATA_DESCRIPTOR_FLAG = 0x08


def _build(sources: list[Path], out: Path, **options: object) -> BuildResult:
    return build_file_set(
        sources,
        out,
        institution=INSTITUTION,
        created=CREATED,
        **options,  # type: ignore[arg-type]
    )


def _contents(path: Path) -> dict[str, bytes]:
    with open_file_set(path) as file_set:
        return {entry.path: file_set.open(entry.path).read() for entry in file_set}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Unseekable:
    """A sink that can only be written to, like a socket or an encrypting stream."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def flush(self) -> None:
        """Nothing is buffered."""

    def tell(self) -> int:
        raise io.UnsupportedOperation("unseekable sink")

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("unseekable sink")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two patients: the Japanese one with a CT and an MR study, the other with one CT study."""
    root = tmp_path_factory.mktemp("sources")
    return [
        *series_files(root / "ct", 3, seed=11, patient=JAPANESE_PATIENT),
        *series_files(root / "mr", 2, modality="MR", seed=12, patient=JAPANESE_PATIENT),
        *series_files(root / "other", 2, seed=13, patient=ASCII_PATIENT),
    ]


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("documents")
    study = make_study(11, JAPANESE_PATIENT)
    (root / "again").mkdir()
    return [
        write_referral_pdf(root / "referral.pdf", patient=JAPANESE_PATIENT, date=study.date),
        write_fhir_document(root / "fhir bundle.json", study=study, seed=11),
        write_referral_pdf(root / "紹介状.pdf", patient=JAPANESE_PATIENT, date=study.date),
        write_referral_pdf(root / "again" / "Referral.PDF", patient=ASCII_PATIENT, date="20240101"),
    ]


@pytest.fixture(scope="module")
def folder(
    tmp_path_factory: pytest.TempPathFactory, sources: list[Path], documents: list[Path]
) -> tuple[Path, BuildResult]:
    out = tmp_path_factory.mktemp("built") / "fileset"
    return out, _build(sources, out, documents=documents)


def test_layout_follows_pdi_naming_rules(folder: tuple[Path, BuildResult]) -> None:
    out, _ = folder
    paths = sorted(_contents(out))
    assert {p.split("/")[0] for p in paths} == {"DICOMDIR", "README.TXT", "DICOM", "DOCUMENT"}
    dicom = [p for p in paths if p.startswith("DICOM/")]
    assert all(DICOM_FILE_ID.fullmatch(p) for p in dicom)
    assert dicom[0] == "DICOM/PT000001/ST000001/SE000001/IM000001"
    assert "DICOM/PT000001/ST000002/SE000001/IM000002" in dicom  # the MR study
    assert "DICOM/PT000002/ST000001/SE000001/IM000002" in dicom  # the other patient


def test_dicom_files_are_the_sources_byte_for_byte(
    folder: tuple[Path, BuildResult], sources: list[Path]
) -> None:
    out, _ = folder
    by_uid = {dcmread(s, stop_before_pixels=True).SOPInstanceUID: s for s in sources}
    records = dcmread(out / "DICOMDIR").DirectoryRecordSequence
    images = [r for r in records if r.DirectoryRecordType == "IMAGE"]
    assert len(images) == len(sources)
    for record in images:
        copied = out.joinpath(*record.ReferencedFileID).read_bytes()
        assert copied == by_uid[record.ReferencedSOPInstanceUIDInFile].read_bytes()


def test_patients_and_studies_are_counted_and_directoried(
    folder: tuple[Path, BuildResult], sources: list[Path]
) -> None:
    out, result = folder
    assert (result.instances, result.patients, result.studies, result.series) == (7, 2, 3, 3)
    assert result.modalities == ("CT", "MR")
    assert result.transfer_syntaxes == ("1.2.840.10008.1.2.1",)
    assert result.profile == "STD-GEN-CD"
    assert result.bytes == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    records = dcmread(out / "DICOMDIR").DirectoryRecordSequence
    patients = [r for r in records if r.DirectoryRecordType == "PATIENT"]
    assert [p.PatientID for p in patients] == ["JP0001", "EN0002"]
    assert str(patients[0].PatientName) == JAPANESE_PATIENT.name
    assert patients[0].SpecificCharacterSet == ["ISO 2022 IR 6", "ISO 2022 IR 87"]


def test_documents_sit_outside_the_dicom_tree_under_83_names(
    folder: tuple[Path, BuildResult], documents: list[Path]
) -> None:
    out, result = folder
    names = sorted(p.name for p in (out / "DOCUMENT").iterdir())
    assert names == ["DOCUMENT.PDF", "FHIRBUND.JSN", "REFERRAL.PDF", "REFERR_1.PDF"]
    assert all(NAME_83.fullmatch(name) for name in names)
    assert result.documents == 4
    sent = {_sha(p.read_bytes()) for p in documents}
    assert {_sha((out / "DOCUMENT" / n).read_bytes()) for n in names} == sent
    referenced = {
        r.ReferencedFileID[0]
        for r in dcmread(out / "DICOMDIR").DirectoryRecordSequence
        if "ReferencedFileID" in r
    }
    assert referenced == {"DICOM"}


def test_readme_names_institution_application_and_content_but_no_patient(
    folder: tuple[Path, BuildResult],
) -> None:
    out, _ = folder
    readme = (out / "README.TXT").read_bytes()
    assert b"\r\n" in readme
    text = readme.decode("utf-8")
    for expected in (
        "Sender Hospital",
        "radiology@example.org",
        "1-1 Chiyoda, Tokyo",
        "cloudpdi 0.1.0",
        "STD-GEN-CD",
        "2024-05-01T09:30:00+00:00",
        "7 DICOM instances: 2 patient(s), 3 study(ies)",
        "DOCUMENT\\REFERRAL.PDF",
        "DOCUMENT\\FHIRBUND.JSN",
    ):
        assert expected in text
    for private in ("JP0001", "EN0002", "YAMADA", "山田", "DOE"):
        assert private not in text


def test_streamed_zip_in_an_unseekable_sink_equals_the_folder_build(
    folder: tuple[Path, BuildResult],
    sources: list[Path],
    documents: list[Path],
    tmp_path: Path,
) -> None:
    out, built = folder
    sink = _Unseekable()
    result = write_file_set_zip(
        sources,
        sink,
        documents=documents,
        institution=INSTITUTION,
        created=CREATED,
    )
    assert result == built
    archive_path = tmp_path / "streamed.zip"
    archive_path.write_bytes(sink.data)
    assert _contents(archive_path) == _contents(out)
    with zipfile.ZipFile(archive_path) as archive:
        infos = archive.infolist()
        assert infos[0].filename == "DICOMDIR"
        assert all(info.flag_bits & DATA_DESCRIPTOR_FLAG for info in infos)
        assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}


def test_zip_file_build_equals_the_folder_build_and_can_store(
    folder: tuple[Path, BuildResult], sources: list[Path], documents: list[Path], tmp_path: Path
) -> None:
    out, built = folder
    result = _build(sources, tmp_path / "set.zip", documents=documents, deflate_level=None)
    assert result == built
    assert _contents(tmp_path / "set.zip") == _contents(out)
    with zipfile.ZipFile(tmp_path / "set.zip") as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}


def test_deflate_level_applies_to_every_entry(sources: list[Path]) -> None:
    sizes = {}
    for level in (1, 9):
        sink = io.BytesIO()
        write_file_set_zip(
            sources, sink, institution=INSTITUTION, created=CREATED, deflate_level=level
        )
        with zipfile.ZipFile(sink) as archive:
            sizes[level] = {i.filename: i.compress_size for i in archive.infolist()}
    smaller = [name for name in sizes[1] if sizes[9][name] < sizes[1][name]]
    assert {name.split("/")[0] for name in smaller} >= {"DICOMDIR", "DICOM"}


def test_validator_finds_nothing_wrong(folder: tuple[Path, BuildResult], tmp_path: Path) -> None:
    out, _ = folder
    shutil.make_archive(str(tmp_path / "copy"), "zip", out)
    for built in (out, tmp_path / "copy.zip"):
        report = validate_file_set(built)
        assert report.ok, report.findings


def _leave_type_2_keys_empty(ds: Dataset) -> None:
    for keyword in ("PatientID", "StudyDate", "StudyTime", "StudyID"):
        setattr(ds, keyword, "")
    ds.SeriesNumber = None
    ds.InstanceNumber = None


@pytest.fixture(scope="module")
def unnumbered(
    tmp_path_factory: pytest.TempPathFactory, sources: list[Path]
) -> tuple[list[Path], Path, BuildResult]:
    """Sources that leave every Type 2 hierarchy key empty, and the folder built from them."""
    root = tmp_path_factory.mktemp("unnumbered")
    blanked = [
        rewritten(source, root / "src" / f"U{index}", _leave_type_2_keys_empty)
        for index, source in enumerate(sources)
    ]
    return blanked, root / "fileset", _build(blanked, root / "fileset")


def test_empty_type_2_keys_build_with_invented_values_noted(
    unnumbered: tuple[list[Path], Path, BuildResult],
) -> None:
    blanked, out, result = unnumbered
    assert (result.instances, result.patients, result.studies, result.series) == (7, 2, 3, 3)
    # Two patients without an ID, told apart by name and birth date, in records and folders.
    records = dcmread(out / "DICOMDIR").DirectoryRecordSequence
    patients = [r.PatientID for r in records if r.DirectoryRecordType == "PATIENT"]
    assert patients == ["CLOUDPDI-P000001", "CLOUDPDI-P000002"]
    assert sorted(p.name for p in (out / "DICOM").iterdir()) == ["PT000001", "PT000002"]
    assert len(result.notes) == 2 + 3 * 3 + 3 + 7
    assert {(n.record, n.keyword) for n in result.notes} == {
        ("PATIENT", "PatientID"),
        ("STUDY", "StudyDate"),
        ("STUDY", "StudyTime"),
        ("STUDY", "StudyID"),
        ("SERIES", "SeriesNumber"),
        ("IMAGE", "InstanceNumber"),
    }
    assert {n.source for n in result.notes} == {str(source) for source in blanked}
    copied = {_sha(p.read_bytes()) for p in (out / "DICOM").rglob("*") if p.is_file()}
    assert copied == {_sha(source.read_bytes()) for source in blanked}


def test_values_present_are_never_invented(folder: tuple[Path, BuildResult]) -> None:
    _, result = folder
    assert result.notes == ()


def test_invented_values_validate_as_notes_not_errors(
    unnumbered: tuple[list[Path], Path, BuildResult],
) -> None:
    _, out, _ = unnumbered
    report = validate_file_set(out)
    assert report.errors == (), report.errors
    assert {(f.requirement, f.severity) for f in report.findings} == {
        ("PDI-CONS-01", Severity.INFO)
    }
    assert len(report.findings) == 7 * 6  # every file: its six empty keys
    assert all("invented" in f.message for f in report.findings)


@pytest.mark.external
def test_invented_values_pass_dciodvfy_and_dcmmkdir(
    unnumbered: tuple[list[Path], Path, BuildResult], tmp_path: Path
) -> None:
    _, out, _ = unnumbered
    assert verifier_errors("dciodvfy", out / "DICOMDIR") == []
    # dcmmkdir wants +I (invent) to accept files whose Type 2 keys are empty at all.
    check = recheck_file_set(out, tmp_path, "+I")
    assert check.returncode == 0, check.unexpected[:20]
    assert check.unexpected == []
    assert check.recorded == dicom_files(out)
    assert check.records == len(dcmread(out / "DICOMDIR").DirectoryRecordSequence)


def test_progress_is_reported_for_every_file(sources: list[Path], tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    _build(sources[:3], tmp_path / "out", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_transfer_syntax_outside_the_profile_is_refused_listing_files(
    sources: list[Path], tmp_path: Path
) -> None:
    jpeg = rewritten(sources[0], tmp_path / "src" / "JPEGFILE", transfer_syntax=JPEGBaseline8Bit)
    with pytest.raises(TransferSyntaxError) as refused:
        _build([jpeg, *sources[3:]], tmp_path / "out")
    message = str(refused.value)
    assert "JPEGFILE" in message and "JPEG Baseline" in message
    assert "STD-GEN-DVD-JPEG" in message and "STD-GEN-USB-JPEG" in message
    assert not (tmp_path / "out").exists()
    profile = MEDIA_PROFILES["STD-GEN-DVD-JPEG"]
    result = _build([jpeg, *sources[3:]], tmp_path / "dvd", profile=profile)
    assert JPEGBaseline8Bit in result.transfer_syntaxes
    assert result.profile == "STD-GEN-DVD-JPEG"


def test_implicit_vr_is_refused_by_every_profile(sources: list[Path], tmp_path: Path) -> None:
    implicit = rewritten(sources[0], tmp_path / "IMPLICIT", transfer_syntax=ImplicitVRLittleEndian)
    with pytest.raises(TransferSyntaxError, match="Implicit VR Little Endian") as refused:
        _build([implicit], tmp_path / "out")
    assert "use STD" not in str(refused.value)


def test_duplicate_sop_instances_are_refused(sources: list[Path], tmp_path: Path) -> None:
    twin = tmp_path / "twin.dcm"
    shutil.copyfile(sources[0], twin)
    with pytest.raises(DuplicateInstanceError, match=r"twin\.dcm") as refused:
        _build([*sources, twin], tmp_path / "out")
    assert str(sources[0]) in str(refused.value)
    assert not (tmp_path / "out").exists()


def _claim_4_gib(source: Path, out: Path) -> None:
    out.write_bytes(claim_length(source.read_bytes(), SPECIFIC_CHARACTER_SET, 0xFFFFFFF0))


def _inflate_past_the_limit(source: Path, out: Path) -> None:
    write_deflate_bomb(source, out, MAX_INFLATED_BYTES)


def _inflate_within_the_limit(source: Path, out: Path) -> None:
    write_deflate_bomb(source, out, 48 * 1024 * 1024)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (_claim_4_gib, DicomFileError, "HOSTILE: an element's length runs past the end"),
        (_inflate_past_the_limit, HeaderTooLargeError, "HOSTILE: deflated dataset inflates past"),
        (_inflate_within_the_limit, TransferSyntaxError, "HOSTILE .Deflated Explicit VR"),
    ],
    ids=["4-gib-length", "deflate-bomb", "small-deflate-bomb"],
)
def test_hostile_source_is_refused_clearly_in_bounded_memory(
    make: Callable[[Path, Path], None],
    error: type[Exception],
    message: str,
    sources: list[Path],
    tmp_path: Path,
) -> None:
    make(sources[0], tmp_path / "HOSTILE")
    tracemalloc.start()
    try:
        with pytest.raises(error, match=message):
            _build([*sources[1:], tmp_path / "HOSTILE"], tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    assert not (tmp_path / "out").exists()


def test_output_must_be_new_or_an_empty_folder(sources: list[Path], tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old").write_text("x")
    with pytest.raises(OutputExistsError):
        _build(sources[:1], tmp_path / "full")
    (tmp_path / "old.zip").write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        _build(sources[:1], tmp_path / "old.zip")
    assert (tmp_path / "old.zip").read_bytes() == b"x"
    (tmp_path / "empty").mkdir()
    assert _build(sources[:1], tmp_path / "empty").instances == 1


def test_bad_documents_are_refused(sources: list[Path], tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no document"):
        _build(sources[:1], tmp_path / "a", documents=[tmp_path / "missing.pdf"])
    with pytest.raises(DocumentError, match="is a DICOM file"):
        _build(sources[:1], tmp_path / "b", documents=[sources[1]])


def test_non_dicom_sources_are_refused(
    sources: list[Path], documents: list[Path], folder: tuple[Path, BuildResult], tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match="not a DICOM Part 10 file"):
        _build([documents[0]], tmp_path / "a")
    out, _ = folder
    with pytest.raises(SourceError, match="is a DICOMDIR"):
        _build([out / "DICOMDIR"], tmp_path / "b")


def test_scan_skips_non_dicom_files_in_folders_but_not_named_ones(
    folder: tuple[Path, BuildResult], documents: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    out, result = folder
    scan = scan_sources([out, out / "DICOM"])  # a folder reached twice counts once
    assert len(scan.dicom) == result.instances
    assert scan.dicom == sorted(scan.dicom)
    skipped = {p.relative_to(out).as_posix() for p in scan.skipped}
    assert skipped == {"DICOMDIR", "README.TXT"} | {
        f"DOCUMENT/{p.name}" for p in (out / "DOCUMENT").iterdir()
    }
    with caplog.at_level(logging.WARNING, logger="cloudpdi.sources"):
        assert collect_dicom_sources([out]) == scan.dicom
    assert "DICOMDIR" in caplog.text and "and 1 more" in caplog.text
    with pytest.raises(SourceError, match="not a DICOM Part 10 file"):
        scan_sources([documents[0]])
    with pytest.raises(SourceError, match="no file or folder"):
        scan_sources([out / "missing"])
