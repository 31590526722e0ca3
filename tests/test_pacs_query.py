"""C-FIND at the PACS: matching rules, and queries at every level of both models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, build_context
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from cloudpdi import dimse
from fixtures.dataset import DEFAULT_PATIENT, PatientSpec, make_study
from fixtures.studies import generate_study
from simulators.pacs import PacsConfig, PacsSimulator
from simulators.pacs_match import matches

JAPANESE_KANJI = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
DOE = PatientSpec("EN0002", "DOE^JOHN", "19800202", "M")


@pytest.mark.parametrize(
    ("vr", "key", "stored", "expected"),
    [
        ("LO", "", "anything", True),
        ("LO", "*", "", True),
        ("LO", "CPDI0001", "CPDI0001", True),
        ("LO", "CPDI0001", "CPDI00010", False),
        ("LO", "CPDI*", "CPDI0001", True),
        ("LO", "CPDI?001", "CPDI0001", True),
        ("LO", "CPDI?01", "CPDI0001", False),
        ("LO", "cpdi*", "CPDI0001", False),
        ("LO", "A.B*", "AXB", False),
        ("LO", "X*", "", False),
        ("PN", "yamada*", "YAMADA^TARO=山田^太郎=やまだ^たろう", True),
        ("PN", "山田*", "YAMADA^TARO=山田^太郎=やまだ^たろう", True),
        ("PN", "やまだ^たろう", "YAMADA^TARO=山田^太郎=やまだ^たろう", True),
        ("PN", "YAMADA^TARO=山田^太郎=*", "YAMADA^TARO=山田^太郎=やまだ^たろう", True),
        ("PN", "YAMADA^TARO=佐藤*", "YAMADA^TARO=山田^太郎=やまだ^たろう", False),
        ("PN", "DOE^JOHN", "DOE^JOHN^^", True),
        ("PN", "SATO*", "YAMADA^TARO=山田^太郎=やまだ^たろう", False),
        ("UI", "1.2.3", "1.2.3", True),
        ("UI", "1.2.3", "1.2.34", False),
        ("UI", ["1.2.4", "1.2.3"], "1.2.3", True),
        ("UI", "1.2.*", "1.2.3", False),
        ("DA", "20240210", "20240210", True),
        ("DA", "20240210", "20240211", False),
        ("DA", "20240201-20240229", "20240210", True),
        ("DA", "20240201-20240229", "20240301", False),
        ("DA", "20240201-", "20991231", True),
        ("DA", "-20240131", "20240210", False),
        ("DA", "2024.02.01-2024.02.29", "20240210", True),
        ("DA", "20240201-", "", False),
        ("TM", "10", "105959.999", True),
        ("TM", "10", "110000", False),
        ("TM", "0930-1015", "101500", True),
        ("TM", "0930-1015", "101600", False),
        ("TM", "09:30-", "093000", True),
        ("CS", ["CT", "MR"], ["CR", "MR"], True),
        ("CS", "CT", ["CR", "MR"], False),
        ("IS", "1", "1", True),
        ("IS", "1", "01", True),
        ("IS", "1", "2", False),
    ],
)
def test_matching_rules(vr: str, key: object, stored: str | list[str], expected: bool):
    assert matches(vr, key, stored) is expected


# Text without the wildcard characters, so a literal key stands for itself.
_TEXT = st.text(st.characters(categories=["L", "N", "P", "S"], exclude_characters="*?\\"))


@settings(max_examples=60)
@given(text=_TEXT, cut=st.integers(min_value=0, max_value=64))
def test_prefix_with_star_matches_and_literal_matches_itself(text: str, cut: int):
    assert matches("LO", text[:cut] + "*", text)
    assert matches("LO", text, text)
    assert matches("LO", text + "?", text + "x")
    assert not text or not matches("LO", text + "x", text)


@dataclass(frozen=True)
class Archive:
    """A PACS holding two patients: one study for YAMADA, two for DOE."""

    pacs: PacsSimulator
    yamada_study: str
    doe_studies: tuple[str, str]
    ct_series: str


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    root = tmp_path_factory.mktemp("archive")
    small = {"rows": 32, "columns": 32}
    yamada = make_study(11, DEFAULT_PATIENT)  # 2024-01-12
    doe_ct, doe_cr = make_study(40, DOE), make_study(200, DOE)  # 2024-02-10, 2024-07-19
    files = [
        *generate_study("CT", 2, root / "a", study=yamada, seed=11, **small),
        *generate_study("MR", 1, root / "b", study=yamada, seed=11, series_number=2, **small),
        *generate_study("CT", 1, root / "c", study=doe_ct, seed=40, **small),
        *generate_study("CR", 1, root / "d", study=doe_cr, seed=200, **small),
    ]
    with PacsSimulator(PacsConfig(storage_dir=root / "pacs")) as pacs:
        pacs.import_files(files)
        yield Archive(
            pacs,
            yamada.study_uid,
            (doe_ct.study_uid, doe_cr.study_uid),
            str(dcmread(files[0]).SeriesInstanceUID),
        )


def _study_uids(answers: list[Dataset]) -> set[str]:
    return {answer.StudyInstanceUID for answer in answers}


def test_study_level_by_japanese_name_returns_keys_in_its_character_set(archive: Archive):
    keys = {
        "PatientName": "山田*",
        "StudyInstanceUID": "",
        "ModalitiesInStudy": "",
        "NumberOfStudyRelatedInstances": "",
        "NumberOfStudyRelatedSeries": "",
        "StudyDate": "",
    }
    (answer,) = dimse.find(archive.pacs.peer, "STUDY", keys)

    assert answer.StudyInstanceUID == archive.yamada_study
    assert str(answer.PatientName) == DEFAULT_PATIENT.name
    assert list(answer.SpecificCharacterSet) == JAPANESE_KANJI
    assert sorted(answer.ModalitiesInStudy) == ["CT", "MR"]
    assert int(answer.NumberOfStudyRelatedInstances) == 3
    assert int(answer.NumberOfStudyRelatedSeries) == 2
    assert answer.StudyDate == "20240112"
    assert answer.QueryRetrieveLevel == "STUDY"
    assert answer.RetrieveAETitle == "CPDI_PACS"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"PatientName": "doe*"}, {1, 2}),
        ({"PatientName": "やまだ^たろう"}, {0}),
        ({"StudyDate": "20240201-20240731"}, {1, 2}),
        ({"StudyDate": "-20240131"}, {0}),
        ({"StudyDate": "20240701-"}, {2}),
        ({"StudyDate": "20240210"}, {1}),
        ({"ModalitiesInStudy": "CR"}, {2}),
        ({"ModalitiesInStudy": ["CT", "MR"]}, {0, 1}),
        ({"AccessionNumber": "A00000004?"}, {1}),
        ({"PatientID": "EN0002", "StudyDate": "-20240301"}, {1}),
        ({"StudyDescription": "NOTHING LIKE THIS"}, set()),
    ],
)
def test_study_level_matching_over_the_network(archive: Archive, keys, expected):
    studies = [archive.yamada_study, *archive.doe_studies]
    answers = dimse.find(archive.pacs.peer, "STUDY", {"StudyInstanceUID": "", **keys})

    assert _study_uids(answers) == {studies[index] for index in expected}


def test_study_level_list_of_uids(archive: Archive):
    wanted = [archive.yamada_study, archive.doe_studies[1]]
    answers = dimse.find(archive.pacs.peer, "STUDY", {"StudyInstanceUID": wanted})

    assert _study_uids(answers) == set(wanted)


def test_keys_the_index_lacks_come_back_empty_and_do_not_filter(archive: Archive):
    keys = {"StudyInstanceUID": archive.yamada_study, "InstitutionName": "X*", "Modality": "CR"}
    (answer,) = dimse.find(archive.pacs.peer, "STUDY", keys)

    assert answer.InstitutionName == ""
    assert answer.Modality == ""


def test_patient_root_patient_and_study_levels(archive: Archive):
    keys = {"PatientID": "", "PatientName": "", "NumberOfPatientRelatedStudies": ""}
    patients = dimse.find(archive.pacs.peer, "PATIENT", keys, model="PATIENT")
    studies = {p.PatientID: int(p.NumberOfPatientRelatedStudies) for p in patients}

    assert studies == {"CPDI0001": 1, "EN0002": 2}
    doe = dimse.find(
        archive.pacs.peer, "STUDY", {"PatientID": "EN0002", "StudyInstanceUID": ""}, "PATIENT"
    )
    assert _study_uids(doe) == set(archive.doe_studies)


def test_series_and_image_levels(archive: Archive):
    keys = {
        "StudyInstanceUID": archive.yamada_study,
        "SeriesInstanceUID": "",
        "Modality": "",
        "NumberOfSeriesRelatedInstances": "",
    }
    series = dimse.find(archive.pacs.peer, "SERIES", keys)
    counts = {s.Modality: int(s.NumberOfSeriesRelatedInstances) for s in series}
    assert counts == {"CT": 2, "MR": 1}
    (mr,) = dimse.find(archive.pacs.peer, "SERIES", {**keys, "Modality": "MR"})
    assert mr.Modality == "MR"

    image_keys = {
        "StudyInstanceUID": archive.yamada_study,
        "SeriesInstanceUID": archive.ct_series,
        "SOPInstanceUID": "",
        "SOPClassUID": "",
        "InstanceNumber": "",
        "AvailableTransferSyntaxUID": "",
    }
    for model in ("STUDY", "PATIENT"):
        images = dimse.find(archive.pacs.peer, "IMAGE", image_keys, model)
        assert sorted(int(i.InstanceNumber) for i in images) == [1, 2]
        assert {i.SOPClassUID for i in images} == {"1.2.840.10008.5.1.4.1.1.2"}
        assert {i.AvailableTransferSyntaxUID for i in images} == {"1.2.840.10008.1.2.1"}


@pytest.mark.parametrize("charset", [None, JAPANESE_KANJI])
def test_japanese_query_values_match_decoded(archive: Archive, charset):
    keys: dict[str, object] = {"PatientName": "山田^太郎", "StudyInstanceUID": ""}
    if charset is not None:
        keys["SpecificCharacterSet"] = charset
    answers = dimse.find(archive.pacs.peer, "STUDY", keys)

    assert _study_uids(answers) == {archive.yamada_study}


@pytest.mark.parametrize("level", ["PATIENT", "", "BOGUS"])
def test_levels_the_model_lacks_are_refused(archive: Archive, level: str):
    host, port = archive.pacs.address
    ae = AE("RAW")
    assoc = ae.associate(
        host, port, [build_context(StudyRootQueryRetrieveInformationModelFind)], ae_title="X"
    )
    identifier = Dataset()
    identifier.QueryRetrieveLevel = level or None
    identifier.StudyInstanceUID = ""
    try:
        responses = assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind)
        statuses = [int(status.Status) for status, _ in responses]
    finally:
        assoc.release()
    assert statuses == [0xA900]


def test_client_refuses_a_level_outside_the_model(archive: Archive):
    with pytest.raises(ValueError, match="PATIENT"):
        dimse.find(archive.pacs.peer, "PATIENT", {"PatientID": ""})  # Study Root
    with pytest.raises(ValueError, match="unknown DICOM keyword"):
        dimse.find(archive.pacs.peer, "STUDY", {"NotAKeyword": ""})


def test_find_events_count_matches(archive: Archive):
    dimse.find(archive.pacs.peer, "STUDY", {"PatientName": "DOE*"}, calling_ae="VIEWER")

    event = [e for e in archive.pacs.events() if e.operation == "C-FIND"][-1]
    assert (event.peer_ae, event.status, event.detail) == ("VIEWER", 0, "STUDY root: 2 matches")
