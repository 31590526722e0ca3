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
    DuplicatePatientIDError,
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


def _blank(*keywords: str) -> Callable[[Dataset], None]:
    def edit(ds: Dataset) -> None:
        for keyword in keywords:
            setattr(ds, keyword, None)

    return edit


def _blank_in_sr(*keywords: str) -> Callable[[Dataset], None]:
    def edit(ds: Dataset) -> None:
        _verified_sr(ds)
        _blank(*keywords)(ds)

    return edit


@pytest.mark.parametrize(
    ("edit", "keyword"),
    [
        (_blank("StudyInstanceUID"), "StudyInstanceUID"),
        (_blank("SeriesInstanceUID"), "SeriesInstanceUID"),
        (_blank("Modality"), "Modality"),
        # Type 2 in images, Type 1 in SR documents (PS3.3 C.17.1, C.17.2).
        (_blank_in_sr("SeriesNumber"), "SeriesNumber"),
        (_blank_in_sr("InstanceNumber"), "InstanceNumber"),
    ],
    ids=["study-instance", "series-instance", "modality", "sr-series", "sr-number"],
)
def test_empty_key_of_type_1_in_the_instance_is_refused_naming_file_and_attribute(
    edit: Callable[[Dataset], None], keyword: str, sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    source = rewritten(sources["other"][0], tmp_path / "NOTYPE1", edit)
    builder = DicomDirBuilder()
    with pytest.raises(MissingKeyError, match=rf"NOTYPE1.*{keyword}"):
        builder.add(("DICOM", "A"), read_header(source, DIRECTORY_TAGS), source=str(source))
    assert builder.notes == ()


def test_empty_sop_instance_uid_is_refused(sources: dict[str, list[Path]]) -> None:
    # pydicom will not write such a file: blank the UID in the header read.
    header = read_header(sources["other"][0], DIRECTORY_TAGS)
    header.SOPInstanceUID = ""
    with pytest.raises(MissingKeyError, match=r"NOUID.*SOPInstanceUID"):
        DicomDirBuilder().add(("DICOM", "A"), header, source="NOUID")


_TYPE_2_KEYS = ("PatientID", "StudyDate", "StudyTime", "StudyID", "SeriesNumber", "InstanceNumber")


def test_empty_type_2_keys_get_documented_values_and_notes(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    blanked = [
        rewritten(source, tmp_path / "src" / f"B{index}", _blank(*_TYPE_2_KEYS))
        for index, source in enumerate(sources["ct"][:2])
    ]
    file_ids = _lay_out(tmp_path / "set", blanked)
    builder = DicomDirBuilder()
    for file_id, source in zip(file_ids, blanked, strict=True):
        builder.add(file_id, read_header(source, DIRECTORY_TAGS), source=source.name)
    builder.write(tmp_path / "set" / "DICOMDIR")
    records = _records(tmp_path / "set")
    (patient,) = _of_type(records, "PATIENT")
    (study,) = _of_type(records, "STUDY")
    (series,) = _of_type(records, "SERIES")
    assert patient.PatientID == "CLOUDPDI-P000001"
    assert str(patient.PatientName) == JAPANESE_PATIENT.name  # copied as ever
    assert (study.StudyDate, study.StudyTime, study.StudyID) == (
        "19000101",
        "000000",
        "CLOUDPDI-S000001",
    )
    assert series.SeriesNumber == 1
    assert [image.InstanceNumber for image in _of_type(records, "IMAGE")] == [1, 2]
    assert [(n.source, n.record, n.keyword, n.value) for n in builder.notes] == [
        ("B0", "PATIENT", "PatientID", "CLOUDPDI-P000001"),
        ("B0", "STUDY", "StudyDate", "19000101"),
        ("B0", "STUDY", "StudyTime", "000000"),
        ("B0", "STUDY", "StudyID", "CLOUDPDI-S000001"),
        ("B0", "SERIES", "SeriesNumber", "1"),
        ("B0", "IMAGE", "InstanceNumber", "1"),
        ("B1", "IMAGE", "InstanceNumber", "2"),
    ]
    assert str(builder.notes[3]) == (
        "B0: StudyID is empty, the DICOMDIR STUDY record holds the invented value "
        "'CLOUDPDI-S000001'"
    )


def test_invented_values_number_records_among_their_siblings(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    # The CT study keeps its values; the MR study (second of the patient) leaves them empty.
    mr = [
        rewritten(source, tmp_path / "src" / f"MR{index}", _blank("StudyID", "InstanceNumber"))
        for index, source in enumerate(sources["mr"])
    ]
    builder = DicomDirBuilder()
    for index, source in enumerate([*sources["ct"], *mr]):
        builder.add(("DICOM", f"F{index}"), read_header(source, DIRECTORY_TAGS))
    assert [(n.source, n.keyword, n.value) for n in builder.notes] == [
        ("DICOM/F3", "StudyID", "CLOUDPDI-S000002"),
        ("DICOM/F3", "InstanceNumber", "1"),
        ("DICOM/F4", "InstanceNumber", "2"),
    ]


def test_patients_without_id_are_told_apart_by_name_and_birth_date(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    def anonymous(birth_date: str) -> Callable[[Dataset], None]:
        def edit(ds: Dataset) -> None:
            ds.PatientID = ""
            ds.PatientBirthDate = birth_date

        return edit

    files = [
        rewritten(sources["ct"][0], tmp_path / "src" / "A", anonymous("19700101")),
        sources["other"][0],
        # The same name and birth date: the same patient, however many studies.
        rewritten(sources["mr"][0], tmp_path / "src" / "B", anonymous("19700101")),
        # The same name, another birth date: another patient.
        rewritten(sources["mr"][1], tmp_path / "src" / "C", anonymous("19710101")),
    ]
    write_dicomdir(tmp_path / "set", _lay_out(tmp_path / "set", files))
    records = _records(tmp_path / "set")
    patients = _of_type(records, "PATIENT")
    assert [p.PatientID for p in patients] == ["CLOUDPDI-P000001", "EN0002", "CLOUDPDI-P000003"]
    assert [depth for depth, r in records if r.DirectoryRecordType == "STUDY"] == [1, 1, 1, 1]
    first = next(i for i, (_, r) in enumerate(records) if r is patients[1])
    assert len(_of_type(records[:first], "STUDY")) == 2  # CT and MR under the first patient


def test_invented_patient_id_never_repeats_a_real_one(
    sources: dict[str, list[Path]], tmp_path: Path
) -> None:
    def taken(ds: Dataset) -> None:
        ds.PatientID = "CLOUDPDI-P000002"

    real = rewritten(sources["other"][0], tmp_path / "REAL", taken)
    unknown = rewritten(sources["ct"][0], tmp_path / "UNKNOWN", _blank("PatientID"))
    builder = DicomDirBuilder()
    builder.add(("DICOM", "A"), read_header(real, DIRECTORY_TAGS), source="REAL")
    with pytest.raises(DuplicatePatientIDError, match="UNKNOWN and REAL"):
        builder.add(("DICOM", "B"), read_header(unknown, DIRECTORY_TAGS), source="UNKNOWN")


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
