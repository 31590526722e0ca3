"""Patient reconciliation: the header rewrite that keeps originals and pixels, and the lookups."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

import cloudpdi.patient_header
import cloudpdi.reconcile
from cloudpdi.dimse import DicomPeer
from cloudpdi.patient_header import HeaderRewriteError, rewrite_patient
from cloudpdi.reconcile import (
    PatientIdentity,
    PatientQueryError,
    ReconcileConfig,
    ReconcileMode,
    Reconciler,
    Reconciliation,
    UnmatchedPatientError,
)
from fixtures.dataset import PatientSpec
from simulators.pacs import PacsConfig, PacsSimulator
from tests.dicom3tools import verifier_errors
from tests.dicom_samples import JAPANESE_PATIENT, rewritten, series_files

LOCAL = Reconciliation(
    original_id=JAPANESE_PATIENT.patient_id,
    original_issuer="SENDING-HOSPITAL",
    local_id="L-000123",
    local_issuer="RECEIVING-HOSPITAL",
    method=ReconcileMode.MAPPING,
)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CT instance of the Japanese patient, with an issuer and its qualifiers."""
    root = tmp_path_factory.mktemp("reconcile")
    plain = series_files(root / "plain", 1, patient=JAPANESE_PATIENT)[0]

    def add_issuer(ds: Dataset) -> None:
        ds.IssuerOfPatientID = "SENDING-HOSPITAL"
        qualifier = Dataset()
        qualifier.UniversalEntityID = "1.2.392.200119.6.102.11310000001"
        qualifier.UniversalEntityIDType = "ISO"
        ds.IssuerOfPatientIDQualifiersSequence = [qualifier]

    return rewritten(plain, root / "issuer.dcm", add_issuer)


def pixel_hash(path: Path) -> str:
    return hashlib.sha256(pydicom.dcmread(path).PixelData).hexdigest()


@pytest.mark.parametrize("syntax", [None, ImplicitVRLittleEndian, JPEGBaseline8Bit])
def test_rewrite_changes_only_the_patient_module(
    tmp_path: Path, source: Path, syntax: str | None
) -> None:
    src = rewritten(source, tmp_path / "src", transfer_syntax=syntax) if syntax else source
    out = tmp_path / "out"
    rewrite_patient(src, out, LOCAL)
    before, after = pydicom.dcmread(src), pydicom.dcmread(out)
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert after.file_meta == before.file_meta
    assert pixel_hash(out) == pixel_hash(src)
    for element in before:
        if element.tag.group != 0x0010:
            assert after[element.tag] == element, element.keyword
    # Everything after the Patient module, pixel data included, is the same bytes.
    tail = len(before.PixelData) + 12
    assert out.read_bytes()[-tail:] == src.read_bytes()[-tail:]
    assert str(after.PatientName) == str(before.PatientName)
    assert after.PatientBirthDate == before.PatientBirthDate


def test_rewrite_sets_local_identity_and_keeps_the_original(tmp_path: Path, source: Path) -> None:
    out = tmp_path / "out"
    rewrite_patient(source, out, LOCAL)
    ds = pydicom.dcmread(out)
    assert ds.PatientID == "L-000123"
    assert ds.IssuerOfPatientID == "RECEIVING-HOSPITAL"
    assert "IssuerOfPatientIDQualifiersSequence" not in ds
    (kept,) = ds.OtherPatientIDsSequence
    assert kept.PatientID == JAPANESE_PATIENT.patient_id
    assert kept.IssuerOfPatientID == "SENDING-HOSPITAL"
    assert kept.TypeOfPatientID == "TEXT"
    qualifier = kept.IssuerOfPatientIDQualifiersSequence[0]
    assert qualifier.UniversalEntityID == "1.2.392.200119.6.102.11310000001"


def test_without_a_local_issuer_the_foreign_issuer_is_removed(tmp_path: Path, source: Path) -> None:
    reconciliation = Reconciliation(
        JAPANESE_PATIENT.patient_id, "SENDING-HOSPITAL", "L-9", None, ReconcileMode.QUERY
    )
    rewrite_patient(source, tmp_path / "out", reconciliation)
    ds = pydicom.dcmread(tmp_path / "out")
    assert ds.PatientID == "L-9"
    assert "IssuerOfPatientID" not in ds
    assert ds.OtherPatientIDsSequence[0].IssuerOfPatientID == "SENDING-HOSPITAL"


def test_existing_other_patient_ids_are_kept(tmp_path: Path, source: Path) -> None:
    def earlier(ds: Dataset) -> None:
        item = Dataset()
        item.PatientID = "OLD-1"
        item.TypeOfPatientID = "TEXT"
        ds.OtherPatientIDsSequence = [item]

    src = rewritten(source, tmp_path / "src", earlier)
    rewrite_patient(src, tmp_path / "once", LOCAL)
    ids = [item.PatientID for item in pydicom.dcmread(tmp_path / "once").OtherPatientIDsSequence]
    assert ids == ["OLD-1", JAPANESE_PATIENT.patient_id]


@pytest.mark.external
def test_rewritten_instance_is_as_valid_as_the_original(tmp_path: Path, source: Path) -> None:
    rewrite_patient(source, tmp_path / "out", LOCAL)
    assert verifier_errors("dciodvfy", tmp_path / "out") == verifier_errors("dciodvfy", source)


def deflated(source: Path, dest: Path) -> None:
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.save_as(dest, enforce_file_format=True)


def big_endian(source: Path, dest: Path) -> None:
    # Only the header's word matters: the rewrite must refuse before reading the dataset.
    little = ExplicitVRLittleEndian.encode() + b"\x00"
    dest.write_bytes(source.read_bytes().replace(little, ExplicitVRBigEndian.encode() + b"\x00"))


@pytest.mark.parametrize("make", [deflated, big_endian])
def test_files_whose_tail_cannot_be_copied_are_refused(
    tmp_path: Path, source: Path, make: Callable[[Path, Path], None]
) -> None:
    make(source, tmp_path / "src")
    with pytest.raises(HeaderRewriteError, match="little endian, undeflated"):
        rewrite_patient(tmp_path / "src", tmp_path / "out", LOCAL)
    assert not (tmp_path / "out").exists()


def test_truncated_and_foreign_files_are_refused(tmp_path: Path, source: Path) -> None:
    data = source.read_bytes()
    truncated = tmp_path / "truncated"
    truncated.write_bytes(data[: data.index(b"\x10\x00\x20\x00") + 4])
    with pytest.raises(HeaderRewriteError, match="truncated"):
        rewrite_patient(truncated, tmp_path / "out1", LOCAL)
    text = tmp_path / "text"
    text.write_bytes(b"not dicom" * 100)
    with pytest.raises(HeaderRewriteError, match="not a DICOM Part 10 file"):
        rewrite_patient(text, tmp_path / "out2", LOCAL)


def bulky(ds: Dataset) -> None:
    """Add an 8 KiB private element before the Patient module ends."""
    ds.add_new(0x00090010, "LO", "BULK")
    ds.add_new(0x00091001, "OB", b"\x00" * 8192)


def test_a_header_beyond_the_first_read_is_read_in_more_steps(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = rewritten(source, tmp_path / "src", bulky)
    monkeypatch.setattr(cloudpdi.patient_header, "FIRST_READ", 1024)
    rewrite_patient(src, tmp_path / "out", LOCAL)
    ds = pydicom.dcmread(tmp_path / "out")
    assert ds.PatientID == LOCAL.local_id
    assert ds[0x00091001].value == b"\x00" * 8192
    assert pixel_hash(tmp_path / "out") == pixel_hash(src)


def test_a_header_larger_than_the_limit_is_refused(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = rewritten(source, tmp_path / "src", bulky)
    monkeypatch.setattr(cloudpdi.patient_header, "MAX_HEADER_BYTES", 4096)
    with pytest.raises(HeaderRewriteError, match="larger than 4096 bytes"):
        rewrite_patient(src, tmp_path / "out", LOCAL)
    assert not (tmp_path / "out").exists()


def identity(patient: PatientSpec, issuer: str | None = None) -> PatientIdentity:
    return PatientIdentity(
        patient.patient_id, issuer, patient.name, patient.birth_date, patient.sex
    )


def test_mapping_finds_the_local_id_once_per_patient() -> None:
    reconciler = Reconciler(
        ReconcileConfig(mode=ReconcileMode.MAPPING, mapping={"JP0001": "L-1"}, local_issuer="RH")
    )
    found = reconciler.resolve(identity(JAPANESE_PATIENT, "SH"))
    assert found == Reconciliation("JP0001", "SH", "L-1", "RH", ReconcileMode.MAPPING)
    assert found.changed
    with pytest.raises(UnmatchedPatientError, match="no entry") as caught:
        reconciler.resolve(identity(PatientSpec("SECRET-ID-9", "DOE^JOHN", "19800202", "M")))
    assert "SECRET-ID-9" not in str(caught.value)


def test_reconciliation_off_resolves_nothing() -> None:
    assert Reconciler(ReconcileConfig()).resolve(identity(JAPANESE_PATIENT)) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "mapping", "mapping": {"A": "山田"}}, "printable ASCII"),
        ({"mode": "mapping", "mapping": {"A": "B\\C"}}, "no backslash"),
        ({"mode": "mapping", "mapping": {"A": "X" * 65}}, "1 to 64"),
        ({"mode": "mapping"}, "needs a mapping"),
        ({"mode": "sometimes"}, "not a valid ReconcileMode"),
    ],
)
def test_configuration_is_checked(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReconcileConfig(**options)  # type: ignore[arg-type]


def test_query_needs_a_pacs() -> None:
    with pytest.raises(ValueError, match="needs the local PACS"):
        Reconciler(ReconcileConfig(mode=ReconcileMode.QUERY))


# Local patients: the Japanese patient under a local ID (only the alphabetic name group is
# recorded), two namesakes born the same day (one of each sex), and patients named in kanji
# only, kept in ISO 2022 IR 87 or in UTF-8, each born the same day as someone else.
KNOWN = PatientSpec("L-000777", "YAMADA^HANAKO", JAPANESE_PATIENT.birth_date, "F")
TWIN_F = PatientSpec("L-1", "SATO^AKI", "19900101", "F")
TWIN_M = PatientSpec("L-2", "SATO^AKI", "19900101", "M")
TWIN_F2 = PatientSpec("L-3", "SUZUKI^REN", "19910101", "")
TWIN_F3 = PatientSpec("L-4", "SUZUKI^REN", "19910101", "")
KANJI_IR87 = PatientSpec("L-5", "=山田^太郎", "19650412", "M")
KANJI_SAME_DAY = PatientSpec("L-6", "=山田^次郎", "19650412", "M")
KANJI_UTF8 = PatientSpec("L-7", "=田中^一郎", "19650413", "M")
KANJI_UTF8_SAME_DAY = PatientSpec("L-8", "=田中^二郎", "19650413", "M")
#: Specific Character Set of names in kanji: ISO 2022 with JIS X 0208 (PS3.3 C.12.1.1.2).
ISO_2022_IR_87 = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
UTF8 = "ISO_IR 192"


def in_utf8(ds: Dataset) -> None:
    ds.SpecificCharacterSet = UTF8


@pytest.fixture(scope="module")
def local_pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PacsSimulator]:
    root = tmp_path_factory.mktemp("local-pacs")
    patients = [KNOWN, TWIN_F, TWIN_M, TWIN_F2, TWIN_F3, KANJI_IR87, KANJI_SAME_DAY]
    load = [
        series_files(root / f"src{number}", 1, seed=number, patient=patient)[0]
        for number, patient in enumerate(patients)
    ]
    for number, patient in enumerate([KANJI_UTF8, KANJI_UTF8_SAME_DAY], start=len(patients)):
        kept = series_files(root / f"src{number}", 1, seed=number, patient=patient)[0]
        load.append(rewritten(kept, root / f"utf8-{number}.dcm", in_utf8))
    with PacsSimulator(PacsConfig(storage_dir=root / "pacs", load=tuple(load))) as pacs:
        yield pacs


def querying(pacs: PacsSimulator) -> Reconciler:
    return Reconciler(ReconcileConfig(mode=ReconcileMode.QUERY), pacs=pacs.peer)


def test_query_finds_the_local_patient_by_name_and_birth_date(local_pacs: PacsSimulator) -> None:
    found = querying(local_pacs).resolve(identity(JAPANESE_PATIENT))
    assert found is not None
    assert (found.original_id, found.local_id) == (JAPANESE_PATIENT.patient_id, "L-000777")
    assert found.method is ReconcileMode.QUERY


@pytest.mark.parametrize(
    ("received", "local_id"),
    [
        # Kept in ISO 2022 IR 87 and in UTF-8; received, as every name, decoded.
        (PatientSpec("EXT-1", "=山田^太郎", "19650412", "M"), KANJI_IR87.patient_id),
        (PatientSpec("EXT-2", "=田中^一郎", "19650413", "M"), KANJI_UTF8.patient_id),
        # Only the first group received is compared, with any group on record.
        (PatientSpec("EXT-3", "=田中^一郎=たなか^いちろう", "19650413", ""), KANJI_UTF8.patient_id),
        # Case, spaces around components and trailing empty components do not count.
        (PatientSpec("EXT-4", " Yamada ^Hanako^^", KNOWN.birth_date, "F"), KNOWN.patient_id),
    ],
)
def test_query_matches_the_decoded_name_of_each_answer(
    local_pacs: PacsSimulator, received: PatientSpec, local_id: str
) -> None:
    found = querying(local_pacs).resolve(identity(received))
    assert found is not None and found.local_id == local_id


def on_the_wire(patient: PatientSpec, charset: str | list[str]) -> Dataset:
    """A C-FIND answer as it arrives: encoded in the record's own character set, undecoded."""
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName, ds.PatientID = patient.name, patient.patient_id
    ds.PatientBirthDate, ds.PatientSex = patient.birth_date, patient.sex
    encoded = DicomBytesIO()
    encoded.is_little_endian, encoded.is_implicit_VR = True, False
    write_dataset(encoded, ds)
    return read_dataset(io.BytesIO(encoded.getvalue()), False, True)


def resolved_from(
    monkeypatch: pytest.MonkeyPatch, answers: list[Dataset], received: PatientSpec
) -> tuple[str, list[Mapping[str, object]]]:
    """The local ID found when the local PACS gives ``answers``, and the keys it was asked."""
    asked: list[Mapping[str, object]] = []

    def answering(
        _peer: DicomPeer, _level: str, keys: Mapping[str, object], *_: object, **__: object
    ) -> list[Dataset]:
        asked.append(keys)
        return answers

    monkeypatch.setattr(cloudpdi.reconcile, "find", answering)
    reconciler = Reconciler(ReconcileConfig(mode=ReconcileMode.QUERY), pacs=DicomPeer("P", "h", 1))
    found = reconciler.resolve(identity(received))
    assert found is not None
    return found.local_id, asked


def test_query_asks_by_birth_date_and_compares_names_in_any_character_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received = PatientSpec("EXT-1", "=山田^太郎", "19650412", "M")
    in_iso_2022 = on_the_wire(KANJI_IR87, ISO_2022_IR_87)
    in_utf8 = on_the_wire(dataclasses.replace(KANJI_IR87, patient_id="L-9"), UTF8)
    same_day = on_the_wire(KANJI_SAME_DAY, ISO_2022_IR_87)
    # The same name is other bytes in each answer.
    raw = [ds.get_item("PatientName").value for ds in (in_iso_2022, in_utf8)]
    assert raw[0] != raw[1] and "山田".encode() in raw[1]
    local_id, asked = resolved_from(monkeypatch, [in_iso_2022, same_day], received)
    assert local_id == KANJI_IR87.patient_id
    assert (asked[0]["PatientName"], asked[0]["PatientBirthDate"]) == ("", "19650412")
    assert resolved_from(monkeypatch, [same_day, in_utf8], received)[0] == "L-9"
    with pytest.raises(UnmatchedPatientError, match="2 local patients"):
        resolved_from(monkeypatch, [in_iso_2022, same_day, in_utf8], received)


def test_query_tells_namesakes_apart_by_sex(local_pacs: PacsSimulator) -> None:
    received = PatientSpec("EXT-5", "SATO^AKI", "19900101", "M")
    found = querying(local_pacs).resolve(identity(received))
    assert found is not None and found.local_id == "L-2"


@pytest.mark.parametrize(
    ("received", "message"),
    [
        (PatientSpec("EXT-6", "SUZUKI^REN", "19910101", "F"), "2 local patients"),
        (PatientSpec("EXT-7", "NOBODY^KNOWN", "19910101", "F"), "no local patient"),
        (PatientSpec("EXT-10", "=山田^花子", KANJI_IR87.birth_date, "M"), "no local patient"),
        (PatientSpec("EXT-11", "=田中^一郎", "19650414", "M"), "no local patient"),
        (PatientSpec("EXT-8", "SUZUKI^REN", "", "F"), "no Patient's Name and Birth Date"),
        (PatientSpec("EXT-9", "SUZ*", "19910101", "F"), "wildcard"),
    ],
)
def test_query_refuses_anything_but_one_match(
    local_pacs: PacsSimulator, received: PatientSpec, message: str
) -> None:
    with pytest.raises(UnmatchedPatientError, match=message):
        querying(local_pacs).resolve(identity(received))


def test_wildcard_names_are_never_sent_as_queries() -> None:
    # Port 9 answers nothing: a query would fail with an association error, not this one.
    unreachable = DicomPeer("NOWHERE", "127.0.0.1", 9)
    reconciler = Reconciler(ReconcileConfig(mode=ReconcileMode.QUERY), pacs=unreachable)
    with pytest.raises(UnmatchedPatientError, match="wildcard"):
        reconciler.resolve(identity(PatientSpec("E", "*", "19910101", "F")))


def test_an_unreachable_pacs_is_not_an_unmatched_patient() -> None:
    unreachable = DicomPeer("NOWHERE", "127.0.0.1", 9)
    reconciler = Reconciler(ReconcileConfig(mode=ReconcileMode.QUERY), pacs=unreachable)
    for _ in range(2):  # the failure is remembered and raised again for the next instance
        with pytest.raises(PatientQueryError, match="could not be asked"):
            reconciler.resolve(identity(JAPANESE_PATIENT))
