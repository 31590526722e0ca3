"""The DICOMDIR writer: records, keys, offsets, character sets, refusals."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import (
    BasicTextSRStorage,
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RTPlanStorage,
)

from cloudpdi.dicomdir import (
    DIRECTORY_TAGS,
    DicomDirBuilder,
    DuplicateInstanceError,
    InvalidFileIDError,
    MissingKeyError,
    UnsupportedInstanceError,
    write_dicomdir,
)
from cloudpdi.dicomfile import read_header
from fixtures.documents import generate_encapsulated_pdf, write_referral_pdf
from tests.dicom_samples import JAPANESE_PATIENT, rewritten, series_files

PATIENT_NAME = 0x00100010


def _lay_out(root: Path, sources: list[Path]) -> list[tuple[str, ...]]:
    """Copy sources under root/DICOM/Fnnn and return their File IDs, in order."""
    file_ids = []
    for index, source in enumerate(sources):
        file_id = ("DICOM", f"F{index:03d}")
        (root / "DICOM").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root.joinpath(*file_id))
        file_ids.append(file_id)
    return file_ids


def _records(root: Path) -> list[tuple[int, Dataset]]:
    """Follow the DICOMDIR's offsets from the root as a reader does: (depth, record) in order."""
    dicomdir = dcmread(root / "DICOMDIR")
    by_offset = {record.seq_item_tell: record for record in dicomdir.DirectoryRecordSequence}
    visited: list[tuple[int, Dataset]] = []
    last_root = 0

    def chain(offset: int, depth: int) -> None:
        nonlocal last_root
        while offset:
            record = by_offset[offset]
            visited.append((depth, record))
            if depth == 0:
                last_root = offset
            chain(record.OffsetOfReferencedLowerLevelDirectoryEntity, depth + 1)
            offset = record.OffsetOfTheNextDirectoryRecord

    chain(dicomdir.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity, 0)
    assert len(visited) == len(by_offset), "every record is reached exactly once"
    assert last_root == dicomdir.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity
    return visited


def _of_type(records: list[tuple[int, Dataset]], kind: str) -> list[Dataset]:
    return [record for _, record in records if record.DirectoryRecordType == kind]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Two studies of a Japanese patient (CT and MR) and one study of another patient."""
    root = tmp_path_factory.mktemp("sources")
    return {
        "ct": series_files(root / "ct", 3, seed=1, patient=JAPANESE_PATIENT),
        "mr": series_files(root / "mr", 2, modality="MR", seed=2, patient=JAPANESE_PATIENT),
        "other": series_files(root / "other", 2, seed=3),
    }


# DICOMDIR records and offsets


def test_records_form_one_tree_with_one_patient_per_patient_id(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    files = sources["ct"] + sources["other"] + sources["mr"]
    write_dicomdir(tmp_path, _lay_out(tmp_path, files), file_set_id="TEST")
    records = _records(tmp_path)
    depth_of = {"PATIENT": 0, "STUDY": 1, "SERIES": 2, "IMAGE": 3}
    assert all(depth == depth_of[record.DirectoryRecordType] for depth, record in records)
    patients = _of_type(records, "PATIENT")
    assert [p.PatientID for p in patients] == [JAPANESE_PATIENT.patient_id, "EN0002"]
    assert len(_of_type(records, "STUDY")) == 3
    assert len(_of_type(records, "IMAGE")) == len(files)
    assert dcmread(tmp_path / "DICOMDIR").FileSetID == "TEST"


def test_leaf_records_reference_each_file_and_its_meta(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    file_ids = _lay_out(tmp_path, sources["ct"])
    write_dicomdir(tmp_path, file_ids)
    images = _of_type(_records(tmp_path), "IMAGE")
    for record, file_id in zip(images, file_ids, strict=True):
        assert tuple(record.ReferencedFileID) == file_id
        meta = dcmread(tmp_path.joinpath(*file_id)).file_meta
        assert record.ReferencedSOPClassUIDInFile == meta.MediaStorageSOPClassUID
        assert record.ReferencedSOPInstanceUIDInFile == meta.MediaStorageSOPInstanceUID
        assert record.ReferencedTransferSyntaxUIDInFile == meta.TransferSyntaxUID
        assert record.InstanceNumber == dcmread(tmp_path.joinpath(*file_id)).InstanceNumber


def test_japanese_name_is_copied_byte_for_byte_with_its_character_set(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    write_dicomdir(tmp_path, _lay_out(tmp_path, sources["ct"] + sources["other"]))
    records = _records(tmp_path)
    japanese, ascii_only = _of_type(records, "PATIENT")
    instance = read_header(sources["ct"][0])
    assert japanese.get_item(PATIENT_NAME).value == instance.get_item(PATIENT_NAME).value
    assert b"\x1b$B" in japanese.get_item(PATIENT_NAME).value  # JIS X 0208 escape (IR 87)
    assert japanese.SpecificCharacterSet == ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    assert str(japanese.PatientName) == JAPANESE_PATIENT.name
    # F.5: Specific Character Set only on records whose keys need it.
    assert "SpecificCharacterSet" not in ascii_only
    assert all("SpecificCharacterSet" not in r for r in _of_type(records, "IMAGE"))


def test_type_2_keys_are_present_even_when_the_instance_lacks_them(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    def drop(ds: Dataset) -> None:
        del ds.AccessionNumber
        del ds.StudyDescription

    source = rewritten(sources["other"][0], tmp_path / "src" / "A", drop)
    write_dicomdir(tmp_path / "set", _lay_out(tmp_path / "set", [source]))
    (study,) = _of_type(_records(tmp_path / "set"), "STUDY")
    assert study["AccessionNumber"].is_empty
    assert study["StudyDescription"].is_empty


def test_missing_type_1_key_is_refused_naming_file_and_attribute(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    def blank(ds: Dataset) -> None:
        ds.StudyID = ""

    source = rewritten(sources["other"][0], tmp_path / "NOSTUDYID", blank)
    builder = DicomDirBuilder()
    with pytest.raises(MissingKeyError, match=r"NOSTUDYID.*StudyID"):
        builder.add(("DICOM", "A"), read_header(source, DIRECTORY_TAGS), source=str(source))


def test_duplicate_sop_instance_is_refused(sources: dict[str, list[Path]]) -> None:
    header = read_header(sources["other"][0], DIRECTORY_TAGS)
    builder = DicomDirBuilder()
    builder.add(("DICOM", "A"), header, source="first")
    with pytest.raises(DuplicateInstanceError, match="second and first"):
        builder.add(("DICOM", "B"), header, source="second")


@pytest.mark.parametrize(
    "file_id",
    [("DICOM", "im1"), ("DICOM", "IMAGE0001"), ("DICOM", "IM.DCM"), ("D",) * 9, ()],
)
def test_file_ids_must_follow_ps3_10(file_id: tuple[str, ...], sources: dict) -> None:
    header = read_header(sources["other"][0], DIRECTORY_TAGS)
    with pytest.raises(InvalidFileIDError):
        DicomDirBuilder().add(file_id, header)


def test_encapsulated_pdf_gets_an_encap_doc_record(tmp_path: Path) -> None:
    pdf = write_referral_pdf(tmp_path / "REFERRAL.PDF", patient=JAPANESE_PATIENT, date="20240101")
    source = generate_encapsulated_pdf(pdf, tmp_path / "src")
    write_dicomdir(tmp_path / "set", _lay_out(tmp_path / "set", [source]))
    (doc,) = _of_type(_records(tmp_path / "set"), "ENCAP DOC")
    assert doc.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert (
        doc.ConceptNameCodeSequence[0].CodeMeaning
        == dcmread(source).ConceptNameCodeSequence[0].CodeMeaning
    )


def _verified_sr(ds: Dataset) -> None:
    for keyword in ("Rows", "Columns", "PixelData", "BitsAllocated", "BitsStored", "HighBit"):
        delattr(ds, keyword)
    ds.SOPClassUID = BasicTextSRStorage
    ds.Modality = "SR"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    ds.VerifyingObserverSequence = [_observer("20240102101010"), _observer("20240103090000")]
    ds.ConceptNameCodeSequence = [_code("18748-4", "LN", "Diagnostic imaging report")]
    modifier = Dataset()
    modifier.RelationshipType = "HAS CONCEPT MOD"
    modifier.ValueType = "CODE"
    finding = Dataset()
    finding.RelationshipType = "CONTAINS"
    finding.ValueType = "TEXT"
    ds.ContentSequence = [modifier, finding]


def _observer(when: str) -> Dataset:
    observer = Dataset()
    observer.VerificationDateTime = when
    observer.VerifyingObserverName = "SATO^HANAKO"
    return observer


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
    return code


def test_verified_sr_record_has_latest_verification_and_concept_modifiers(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    source = rewritten(sources["other"][0], tmp_path / "src" / "SR", _verified_sr)
    write_dicomdir(tmp_path / "set", _lay_out(tmp_path / "set", [source]))
    (sr,) = _of_type(_records(tmp_path / "set"), "SR DOCUMENT")
    assert sr.VerificationDateTime == "20240103090000"
    assert sr.CompletionFlag == "COMPLETE"
    assert [item.RelationshipType for item in sr.ContentSequence] == ["HAS CONCEPT MOD"]


def test_instance_without_supported_record_type_is_refused(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    def rt_plan(ds: Dataset) -> None:
        _verified_sr(ds)
        ds.SOPClassUID = RTPlanStorage

    source = rewritten(sources["other"][0], tmp_path / "RTPLAN", rt_plan)
    with pytest.raises(UnsupportedInstanceError, match=rf"RTPLAN.*{re.escape(RTPlanStorage)}"):
        DicomDirBuilder().add(("A",), read_header(source, DIRECTORY_TAGS), source=str(source))


@pytest.mark.parametrize(
    ("syntax", "edit"),
    [
        (ImplicitVRLittleEndian, None),
        (DeflatedExplicitVRLittleEndian, None),
        (DeflatedExplicitVRLittleEndian, _verified_sr),
    ],
    ids=["implicit", "deflated", "deflated-sr"],
)
def test_implicit_vr_or_deflated_source_gives_the_same_records(
    syntax: str,
    edit: Callable[[Dataset], None] | None,
    sources: dict[str, list[Path]],
    tmp_path: Path,
) -> None:
    explicit = sources["ct"][0]
    if edit is not None:
        explicit = rewritten(explicit, tmp_path / "src" / "E", edit)
    other = rewritten(explicit, tmp_path / "src" / "O", transfer_syntax=syntax)
    write_dicomdir(tmp_path / "a", _lay_out(tmp_path / "a", [explicit]))
    write_dicomdir(tmp_path / "b", _lay_out(tmp_path / "b", [other]))
    a, b = _records(tmp_path / "a"), _records(tmp_path / "b")
    for (_, left), (_, right) in zip(a, b, strict=True):
        assert _values(left) == _values(right)


def _values(record: Dataset) -> dict[str, object]:
    # Offsets move with the length of the DICOMDIR's own UID, which hashes every record.
    return {
        e.keyword: e.value
        for e in record
        if e.keyword != "ReferencedTransferSyntaxUIDInFile" and not e.keyword.startswith("OffsetOf")
    }


def test_pydicom_reads_the_file_set(sources: dict[str, list[Path]], tmp_path: Path) -> None:
    files = sources["ct"] + sources["mr"] + sources["other"]
    write_dicomdir(tmp_path, _lay_out(tmp_path, files))
    file_set = FileSet(dcmread(tmp_path / "DICOMDIR"))
    assert len(file_set) == len(files)
    assert len(file_set.find(PatientID=JAPANESE_PATIENT.patient_id)) == 5
    assert {str(i.path) for i in file_set} == {
        str(tmp_path / "DICOM" / f"F{i:03d}") for i in range(7)
    }


def test_same_content_gives_the_same_bytes(sources: dict[str, list[Path]]) -> None:
    def encoded() -> bytes:
        builder = DicomDirBuilder("SAME")
        for index, source in enumerate(sources["ct"]):
            builder.add(("DICOM", f"F{index}"), read_header(source, DIRECTORY_TAGS))
        return builder.encode()

    first = encoded()
    assert first == encoded()
    assert first[128:132] == b"DICM"
    assert dcmread(io.BytesIO(first)).file_meta.MediaStorageSOPInstanceUID.startswith("2.25.")


def test_write_dicomdir_indexes_the_dicom_folder_by_default(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    _lay_out(tmp_path, sources["other"])
    (tmp_path / "README.TXT").write_text("not indexed")
    write_dicomdir(tmp_path)
    images = _of_type(_records(tmp_path), "IMAGE")
    assert [tuple(r.ReferencedFileID) for r in images] == [("DICOM", "F000"), ("DICOM", "F001")]
