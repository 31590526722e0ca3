"""A PACS under test: dcmtk's dcmqrscp as the sending and the receiving hospital's PACS.

``cloudpdi conformance run`` with ``[source_pacs]`` and ``[destination_pacs]`` in mode "sut"
loads each scenario's study into dcmqrscp by C-STORE, the simulated sender retrieves it from
there, the simulated receiver imports into the other dcmqrscp AE, and the steps judge what
arrived by C-FIND and C-GET. dcmtk's findscu then checks, independently, that the images are
really in dcmqrscp. The checks made through a remote PACS are shown able to fail.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import RLELossless

from cloudpdi import dimse
from cloudpdi.config import RunConfigError, load_run_config
from cloudpdi.reconcile import PatientIdentity, Reconciler, UnmatchedPatientError
from fixtures.dataset import PatientSpec
from fixtures.encodings import reencode
from fixtures.studies import generate_study
from harness import conformance
from harness.pacs_actor import (
    RemotePacs,
    ScenarioStudies,
    patient_birth_date,
    scenario_seed,
    simulated_only,
    stores_received,
)
from harness.under_test import ActorUnderTest
from simulators.pacs import PacsConfig, PacsSimulator
from steps.importing import compare_study
from steps.patients import RECONCILE_BY_QUERY
from tests.test_exchange_processes import CLOUDPDI
from tests.tools import DCMTK_ENV, dcmtk, free_port, stop_process

pytestmark = pytest.mark.external

SOURCE_AE = "CPDI_SOURCE"
#: What pads a value to even length (PS3.5 6.2): a space, or NUL after a UID.
UI_PADDING = " \x00"
DESTINATION_AE = "CPDI_DEST"
#: Seconds dcmqrscp may take to answer C-ECHO after it starts, and a conformance run to end.
START_WAIT = 20.0
RUN_WAIT = 600.0
#: The selected cases: the sender sends studies of four modalities (taken from dcmqrscp), and
#: the receiver imports a patient's images under the local patient ID (into dcmqrscp).
TAGS = "@CPDI-REPO-01 or @PDI-IMP-01"
#: The sender's referrals of sender/transfer.feature, by instance count.
SENT_STUDIES = Counter({20: 1, 12: 1, 2: 1, 1: 1})
#: The referrals of cross/patient_reconciliation.feature and cross/support_images.feature
#: imported under the local patient ID, by instance count (3 CT images, and 3 more support
#: images beside them).
RECONCILED_STUDIES = Counter({3: 5, 6: 1})


@dataclass(frozen=True)
class Archive:
    """A running dcmqrscp with two AE titles, each with its own storage area."""

    port: int
    source: dimse.DicomPeer
    destination: dimse.DicomPeer


def _dcmqrscp_config(folder: Path, port: int) -> Path:
    folder.mkdir(parents=True)
    areas = {title: folder / title.lower() for title in (SOURCE_AE, DESTINATION_AE)}
    for area in areas.values():
        area.mkdir(parents=True)
    # Quota: 1000 studies of up to 1 GB each per AE; peers: ANY (every calling AE title).
    rows = "\n".join(f"{title} {area} RW (1000, 1024mb) ANY" for title, area in areas.items())
    config = folder / "dcmqrscp.cfg"
    config.write_text(
        f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\n"
        "HostTable BEGIN\nHostTable END\n\nVendorTable BEGIN\nVendorTable END\n\n"
        f"AETable BEGIN\n{rows}\nAETable END\n",
        encoding="utf-8",
    )
    return config


@contextmanager
def dcmqrscp(folder: Path, *options: str) -> Iterator[Archive]:
    """dcmqrscp on a free loopback port, bit-preserving, with its own storage in ``folder``."""
    port = free_port()
    config = _dcmqrscp_config(folder, port)
    log_path = folder / "dcmqrscp.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [dcmtk("dcmqrscp"), "-c", str(config), "+B", *options, str(port)],
            env=DCMTK_ENV,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    found = Archive(
        port,
        dimse.DicomPeer(SOURCE_AE, "127.0.0.1", port),
        dimse.DicomPeer(DESTINATION_AE, "127.0.0.1", port),
    )
    try:
        deadline = time.monotonic() + START_WAIT
        while True:
            try:
                dimse.echo(found.source)
                break
            except dimse.AssociationError:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "dcmqrscp did not answer C-ECHO"
                time.sleep(0.1)
        yield found
    finally:
        stop_process(process)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    """dcmqrscp serving C-STORE, C-FIND and C-GET under both AE titles."""
    with dcmqrscp(tmp_path / "dcmqrscp") as running:
        yield running


def pacs_run(folder: Path, port: int, extra: str = "") -> Path:
    """A run configuration with both PACSs under test on ``port``; ``extra`` adds to it."""
    config = folder / "run.toml"
    config.write_text(
        'version = 1\n\n[run]\noutput = "out"\nseed = 11\n\n'
        '[[sut]]\nvendor = "OFFIS"\nproduct = "dcmtk dcmqrscp"\nversion = "3.6"\n'
        "[sut.claims]\nsource_pacs = []\ndestination_pacs = []\n\n"
        f'[source_pacs]\nmode = "sut"\nae_title = "{SOURCE_AE}"\nhost = "127.0.0.1"\n'
        f'port = {port}\ncalling_ae = "CPDI_HARNESS"\n\n'
        f'[destination_pacs]\nmode = "sut"\nae_title = "{DESTINATION_AE}"\n'
        f'host = "127.0.0.1"\nport = {port}\ncalling_ae = "CPDI_HARNESS"\n\n{extra}',
        encoding="utf-8",
    )
    return config


def findscu(peer: dimse.DicomPeer, level: str, keys: dict[str, str]) -> list[dict[str, str]]:
    """The matches dcmtk's findscu gets from ``peer`` (Study Root) for ``keys`` at ``level``."""
    command = [dcmtk("findscu"), "-S", "-aet", "CHECKER", "-aec", peer.ae_title]
    command += ["-k", f"QueryRetrieveLevel={level}"]
    for key, value in keys.items():
        command += ["-k", f"{key}={value}" if value else key]
    done = subprocess.run(
        [*command, peer.host, str(peer.port)],
        capture_output=True,
        text=True,
        errors="replace",  # names in ISO 2022 or Shift_JIS are printed as stored
        timeout=60,
        env=DCMTK_ENV,
        check=True,
    )
    matches: list[dict[str, str]] = []
    # findscu logs each match as "Find Response: N (Pending)" and a dump of it, one attribute a
    # line: "I: (0010,0020) LO [R0001234]   #   8, 1 PatientID".
    for line in (done.stdout + done.stderr).splitlines():
        words = line.split()
        if "Find Response:" in line:
            matches.append({})
        elif matches and words and words[-1] in keys and "[" in line:
            matches[-1][words[-1]] = line[line.index("[") + 1 : line.rindex("]")].strip(UI_PADDING)
    return matches


def findscu_studies(peer: dimse.DicomPeer) -> list[tuple[dict[str, str], int]]:
    """Every study ``peer`` holds, with its patient, and its instances counted series by series
    (dcmqrscp answers hierarchical queries only, and not NumberOfStudyRelatedInstances)."""
    studies = []
    for study in findscu(
        peer, "STUDY", {"StudyInstanceUID": "", "PatientID": "", "PatientName": ""}
    ):
        uid = study["StudyInstanceUID"]
        count = 0
        for series in findscu(peer, "SERIES", {"StudyInstanceUID": uid, "SeriesInstanceUID": ""}):
            keys = {**series, "StudyInstanceUID": uid, "SOPInstanceUID": ""}
            count += len(findscu(peer, "IMAGE", keys))
        studies.append((study, count))
    return studies


def test_a_run_with_both_pacs_under_test_exchanges_through_dcmqrscp(
    tmp_path: Path, archive: Archive
) -> None:
    config = pacs_run(tmp_path, archive.port)
    done = subprocess.run(
        [*CLOUDPDI, "conformance", "run", "--config", str(config), "--tags", TAGS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_WAIT,
        check=False,
        env={**os.environ, "CI": "true"},
    )
    output = done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["result"]
    statuses = {test["id"]: test["status"] for test in result["tests"]}
    failed = {case for case, status in statuses.items() if status != "PASSED"}
    assert not failed, output
    assert sum(case.startswith("sender/transfer.feature::") for case in statuses) == 4
    # The PACS is not graded: the report header names it, with its endpoints, as a system used.
    header = result["configuration"]
    assert header["actors.source_pacs.endpoint"] == str(archive.source)
    assert str(archive.destination) in header["systems_under_test"]
    # findscu sees the referrals in the sending PACS and, whole, in the receiving PACS: the
    # sender's under the sending hospital's patient ID (no patient on record, nothing to
    # reconcile), the reconciled patients' under the local patient ID (named in kanji, kana
    # and Latin letters: found, though dcmqrscp keeps their names in ISO 2022 IR 87); no other.
    held = {study["StudyInstanceUID"]: count for study, count in findscu_studies(archive.source)}
    assert Counter(held.values()) & SENT_STUDIES == SENT_STUDIES, held
    arrived = [
        (study["PatientID"], count)
        for study, count in findscu_studies(archive.destination)
        if study["StudyInstanceUID"] in held and count == held[study["StudyInstanceUID"]]
    ]
    sent_whole = [("CPDI0001", count) for count in SENT_STUDIES]
    reconciled = [("R0001234", count) for count in RECONCILED_STUDIES.elements()]
    assert sorted(arrived) == sorted([*sent_whole, *reconciled]), arrived


def fresh_study(folder: Path, modality: str, count: int) -> list[Path]:
    """A study of ``count`` images with fresh UIDs: the PACS keeps every other test's."""
    return generate_study(modality, count, folder, seed=secrets.randbelow(2**31))


def _remote(peer: dimse.DicomPeer, folder: Path, studies: ScenarioStudies) -> RemotePacs:
    return RemotePacs(peer, calling_ae="CPDI_HARNESS", cache_dir=folder, studies=studies)


def test_checks_through_a_remote_pacs_see_a_missing_or_changed_image(
    tmp_path: Path, archive: Archive
) -> None:
    files = fresh_study(tmp_path / "study", "CT", 3)
    studies = ScenarioStudies()
    source = _remote(archive.source, tmp_path / "source", studies)
    destination = _remote(archive.destination, tmp_path / "destination", studies)
    assert all(outcome.status == 0 for outcome in source.import_files(files))
    # The receiving PACS gets one image with other pixels and lacks another.
    changed = dcmread(files[0])
    changed.PixelData = bytes(len(changed.PixelData))
    changed_path = tmp_path / "changed.dcm"
    changed.save_as(changed_path)
    destination.import_files([changed_path, files[1]])
    study_uid = str(changed.StudyInstanceUID)
    comparison = compare_study(source, destination, study_uid)
    assert comparison.missing == (str(dcmread(files[2]).SOPInstanceUID),)
    assert list(comparison.changed.values()) == [("PixelData",)]
    assert len(destination.instances()) == 2
    # Another scenario sees none of this scenario's studies, though the PACS keeps them.
    elsewhere = _remote(archive.destination, tmp_path / "elsewhere", ScenarioStudies())
    assert elsewhere.instances() == []
    # What others sent the PACS is not seen from outside: that check is NOT RUN.
    with pytest.raises(ActorUnderTest, match="PACS under test"):
        stores_received(destination)


RECEIVER_UNDER_TEST = (
    '[[sut]]\nvendor = "V"\nproduct = "P"\nversion = "1"\n[sut.claims]\nreceiver = []\n\n'
    '[receiver]\nmode = "sut"\n[receiver.token_delivery]\nkind = "operator"\n'
)


def test_a_pacs_under_test_runs_alone_or_beside_the_actor_under_test(tmp_path: Path) -> None:
    config = conformance.run_config(pacs_run(tmp_path, free_port()))
    assert [actor.name for actor in config.suts] == ["source_pacs", "destination_pacs"]
    assert conformance.graded_suts(config) == []
    (tmp_path / "run.toml").unlink()
    beside = conformance.run_config(pacs_run(tmp_path, free_port(), RECEIVER_UNDER_TEST))
    assert conformance.graded_suts(beside) == ["receiver"]


def test_one_address_for_both_pacs_is_refused(tmp_path: Path) -> None:
    text = pacs_run(tmp_path, free_port()).read_text(encoding="utf-8")
    one = tmp_path / "one.toml"
    one.write_text(text.replace(DESTINATION_AE, SOURCE_AE), encoding="utf-8")
    with pytest.raises(RunConfigError, match=r"destination_pacs.*is the source PACS"):
        load_run_config(one)


def test_a_pacs_under_test_that_refuses_c_get_leaves_the_comparison_not_run(
    tmp_path: Path,
) -> None:
    files = fresh_study(tmp_path / "study", "CR", 1)
    with dcmqrscp(tmp_path / "dcmqrscp", "--disable-get") as no_get:
        source = _remote(no_get.source, tmp_path / "source", ScenarioStudies())
        assert [outcome.status for outcome in source.import_files(files)] == [0]
        assert len(source.instances()) == 1
        with pytest.raises(ActorUnderTest, match="C-GET"):
            source.path_of(str(dcmread(files[0]).SOPInstanceUID))


def test_a_pacs_under_test_that_refuses_an_instance_leaves_the_scenario_not_run(
    tmp_path: Path, archive: Archive
) -> None:
    files = fresh_study(tmp_path / "study", "CR", 1)
    # dcmqrscp takes uncompressed images only unless told otherwise.
    compressed = reencode(files[0], RLELossless, tmp_path / "rle.dcm")
    source = _remote(archive.source, tmp_path / "source", ScenarioStudies())
    with pytest.raises(ActorUnderTest, match="PACS under test does not take"):
        source.import_files([compressed])
    # Which syntax a PACS under test keeps an image in is not seen from outside.
    with pytest.raises(ActorUnderTest, match="PACS under test does not show"):
        simulated_only(source, "this check needs the transfer syntax")


def test_the_reference_receiver_finds_a_patient_dcmqrscp_keeps_in_iso_2022(
    tmp_path: Path, archive: Archive
) -> None:
    # dcmqrscp compares a name key byte for byte in the character set a record was stored in:
    # the receiver asks by birth date and compares the decoded names itself.
    born = patient_birth_date(secrets.randbelow(2**31))
    records = [
        PatientSpec("R-KANJI", "=山田^太郎", born, "M"),
        PatientSpec("R-OTHER", "=山田^次郎", born, "M"),
    ]
    for number, record in enumerate(records):
        files = generate_study("CR", 1, tmp_path / record.patient_id, seed=number, patient=record)
        assert dcmread(files[0]).SpecificCharacterSet == ["ISO 2022 IR 6", "ISO 2022 IR 87"]
        dimse.store_files(archive.destination, files)
    reconciler = Reconciler(RECONCILE_BY_QUERY, pacs=archive.destination)
    received = PatientIdentity("CPDI0001", None, "=山田^太郎", born, "M")
    found = reconciler.resolve(received)
    assert found is not None and found.local_id == "R-KANJI"
    with pytest.raises(UnmatchedPatientError, match="no local patient"):
        reconciler.resolve(PatientIdentity("CPDI0002", None, "=山田^花子", born, "M"))


def test_scenarios_with_a_pacs_under_test_never_share_a_patient_born_within_a_day(
    tmp_path: Path,
) -> None:
    under_test = conformance.run_config(pacs_run(tmp_path, free_port()))
    # Some thousands of scenarios: drawn at random, as many birth dates would meet.
    days = sorted(
        datetime.date.fromisoformat(patient_birth_date(scenario_seed(under_test, 11)))
        for _ in range(2000)
    )
    assert min(later - earlier for earlier, later in itertools.pairwise(days)).days >= 2
    # Every scenario of a simulated run has the run's seed, and so the same patient.
    simulated = conformance.run_config(None)
    assert {scenario_seed(simulated, 11) for _ in range(3)} == {11}


def test_a_pacs_under_test_is_asked_for_the_studies_of_a_simulated_pacs_beside_it(
    tmp_path: Path, archive: Archive
) -> None:
    files = fresh_study(tmp_path / "study", "CR", 2)
    # As a receiver imports them: the receiving PACS under test holds the sent images.
    dimse.store_files(archive.destination, files)
    studies = ScenarioStudies()
    destination = _remote(archive.destination, tmp_path / "destination", studies)
    with PacsSimulator(PacsConfig(storage_dir=tmp_path / "source", load=tuple(files))) as source:
        # They are the scenario's once the simulated sending PACS it loaded is followed.
        assert destination.instances() == []
        studies.follow(source)
        assert len(destination.instances()) == len(files)
