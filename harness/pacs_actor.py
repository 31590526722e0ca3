"""The PACSs of a scenario: the harness's own simulator, or a hospital's PACS under test.

The steps need four things of a PACS: its DICOM address (for the sender's and receiver's
configurations), to load instances into it (a referral's study, the hospital's own patient
records), to list the instances it holds, and each instance's file (to compare pixels and
patient identity). :class:`PacsActor` names them; :class:`~simulators.pacs.PacsSimulator`
has them, and :class:`RemotePacs` gives them for a PACS reached through DICOM only: C-STORE to
load, C-FIND to list, C-GET to bring an instance's file back.

A PACS under test keeps the studies of earlier scenarios, earlier runs and other work. With a
PACS under test every scenario makes its studies from a fresh seed (:func:`scenario_seed`), so
with fresh UIDs, and a remote PACS is looked at through the studies the scenario put into
either PACS (:class:`ScenarioStudies`): what it lists is the instances of those studies, never
the whole archive. The scenario's patient is born on a day derived from the seed
(:func:`patient_birth_date`), and no two scenarios of a run are born within a day of each
other: the receiving hospital finds a referred patient by name and birth date, and a PACS
under test keeps every earlier scenario's patient of the same name. dcmqrscp does return Issuer
of Patient ID, but the sending hospital's images carry none, so a study imported without
reconciliation (under the sending hospital's Patient ID) cannot be told from the patient's
record by its issuer: only the birth date keeps them apart.

What the harness cannot see from outside (what the PACS was sent by others, the transfer
syntax it keeps), and a PACS that will not hold what a scenario needs, raise
:class:`~harness.under_test.ActorUnderTest`: the scenario is NOT RUN with the reason.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from pydicom.dataset import Dataset

from cloudpdi.config import RunConfig
from cloudpdi.config_actors import PacsSut
from cloudpdi.dicomfile import read_header
from cloudpdi.dimse import (
    ContextRefusedError,
    DicomPeer,
    Level,
    echo,
    find,
    get_study,
    store_files,
)
from harness.under_test import ActorUnderTest
from simulators.pacs_events import EventLog, PacsEvent
from simulators.pacs_index import InstanceRecord
from simulators.pacs_store import SUCCESS as STORE_SUCCESS
from simulators.pacs_store import StoreOutcome

#: C-STORE status "Refused: SOP Class not supported" (PS3.4 B.2.3): what we report for a file
#: whose SOP Class and transfer syntax the PACS accepted no presentation context for.
SOP_CLASS_NOT_SUPPORTED = 0x0122
#: Where the PACS's events say the harness's own calls came from.
HARNESS_ADDRESS = "the harness"
#: Seeds of the synthetic studies are below this (the range of ``--conformance-seed``).
MAX_SEED = 2**31
#: The scenario's patient is born on one of these days: a wide range, so that a PACS under
#: test is unlikely to hold a patient of an earlier run born the same day.
FIRST_BIRTH_DATE = datetime.date(1900, 1, 1)
BIRTH_DATE_DAYS = (datetime.date(2020, 1, 1) - FIRST_BIRTH_DATE).days
#: Days of birth (counted from FIRST_BIRTH_DATE) the fresh seeds of this run have taken.
_BIRTH_DAYS_TAKEN: set[int] = set()


class PacsActor(Protocol):
    """What the steps use of a PACS, simulated or under test."""

    @property
    def peer(self) -> DicomPeer:
        """The PACS as a client addresses it."""
        ...

    def import_files(self, paths: list[Path]) -> list[StoreOutcome]:
        """Load Part 10 files into the PACS as they are; one outcome per file."""
        ...

    def instances(self) -> list[InstanceRecord]:
        """The instances the PACS holds that the scenario may look at."""
        ...

    def path_of(self, sop_instance_uid: str) -> Path | None:
        """A file holding the instance as the PACS keeps it, or None if it holds none."""
        ...

    def events(self) -> list[PacsEvent]:
        """The associations and operations the harness saw at the PACS, oldest first."""
        ...


class ScenarioStudies:
    """The Study Instance UIDs a scenario put into its PACSs: what a remote PACS is asked for.

    Studies loaded into a PACS under test are noted as they are loaded; a simulated PACS is
    the scenario's own, so every study it holds is followed (a study loaded into the sending
    hospital's simulated PACS is looked for in the receiving PACS under test).
    """

    def __init__(self) -> None:
        self._uids: dict[str, None] = {}
        self._followed: list[PacsActor] = []

    def add_files(self, paths: list[Path]) -> None:
        """Note the study of each Part 10 file."""
        for path in paths:
            study = read_header(path, tags=("StudyInstanceUID",)).get("StudyInstanceUID")
            if study:
                self._uids[str(study)] = None

    def follow(self, pacs: PacsActor) -> None:
        """Count every study the scenario's own (simulated) ``pacs`` holds as the scenario's."""
        self._followed.append(pacs)

    def __iter__(self) -> Iterator[str]:
        # A copy: a study may join while a caller walks the list.
        uids = dict(self._uids)
        for pacs in self._followed:
            uids.update(dict.fromkeys(record.study_instance_uid for record in pacs.instances()))
        return iter(list(uids))


class RemotePacs:
    """A PACS under test, addressed by AE title, host and port, looked at through DICOM only.

    ``studies`` is shared with the scenario's other PACS: the receiving PACS is asked for the
    studies the sending one was loaded with. Files brought back by C-GET are kept in
    ``cache_dir``, one folder per study; an instance once brought back is not asked for again
    (a SOP Instance UID names one instance for good).
    """

    def __init__(
        self,
        peer: DicomPeer,
        *,
        calling_ae: str,
        cache_dir: Path,
        studies: ScenarioStudies,
    ) -> None:
        self._peer = peer
        self.calling_ae = calling_ae
        self._cache_dir = cache_dir
        self._studies = studies
        self._files: dict[str, Path] = {}
        self._events = EventLog()

    @property
    def peer(self) -> DicomPeer:
        return self._peer

    def check(self) -> None:
        """C-ECHO the PACS, so that a scenario starts only when it answers."""
        echo(self._peer, calling_ae=self.calling_ae)
        self._record("C-ECHO", status=0x0000)

    def import_files(self, paths: list[Path]) -> list[StoreOutcome]:
        """C-STORE the files to the PACS as they are; their studies join the scenario's.

        A PACS under test that will not keep what a scenario needs it to hold cannot take part
        in that scenario: its refusal raises :class:`ActorUnderTest`, naming the instance.
        """
        self._studies.add_files(paths)
        try:
            result = store_files(self._peer, paths, calling_ae=self.calling_ae)
        except ContextRefusedError as exc:
            raise ActorUnderTest(
                f"the PACS under test does not take these instances: {exc}"
            ) from exc
        outcomes = []
        for instance in result.instances:
            status = SOP_CLASS_NOT_SUPPORTED if instance.status is None else instance.status
            self._record(
                "C-STORE",
                status=status,
                uid=instance.sop_instance_uid,
                size=instance.path.stat().st_size,
            )
            if not instance.stored:
                raise ActorUnderTest(
                    f"the PACS under test {self._peer} does not take instance "
                    f"{instance.sop_instance_uid} in its transfer syntax (0x{status:04X})"
                )
            # A warning (e.g. attributes coerced) still means the PACS keeps the instance; the
            # comparisons say whether it kept it unchanged.
            warning = f"stored with warning 0x{status:04X}" if status != STORE_SUCCESS else ""
            outcomes.append(StoreOutcome(status=STORE_SUCCESS, detail=warning))
        return outcomes

    def instances(self) -> list[InstanceRecord]:
        """The instances the PACS holds of the scenario's studies, by C-FIND series by series.

        A query names the study and the series at each level below (hierarchical query,
        PS3.4 C.4.1.3.1), which every Query/Retrieve SCP answers.
        """
        records = []
        for study in self._studies:
            series_keys = {"StudyInstanceUID": study, "SeriesInstanceUID": ""}
            for series in self._find("SERIES", series_keys):
                series_uid = str(series.get("SeriesInstanceUID", "") or "")
                image_keys = {
                    "StudyInstanceUID": study,
                    "SeriesInstanceUID": series_uid,
                    "SOPInstanceUID": "",
                    "SOPClassUID": "",
                }
                for image in self._find("IMAGE", image_keys):
                    uid = str(image.get("SOPInstanceUID", "") or "")
                    cached = self._files.get(uid)
                    records.append(
                        InstanceRecord(
                            sop_instance_uid=uid,
                            sop_class_uid=str(image.get("SOPClassUID", "") or ""),
                            study_instance_uid=study,
                            series_instance_uid=series_uid,
                            transfer_syntax_uid="",
                            path=str(cached or ""),
                            size=cached.stat().st_size if cached else 0,
                            received="",
                            calling_ae="",
                        )
                    )
        return records

    def path_of(self, sop_instance_uid: str) -> Path | None:
        """The instance's file, brought back by C-GET of the scenario's studies if need be."""
        if sop_instance_uid not in self._files:
            self._retrieve()
        return self._files.get(sop_instance_uid)

    def events(self) -> list[PacsEvent]:
        """The harness's own calls to the PACS: what others sent it is not seen from outside."""
        return self._events.snapshot()

    def _retrieve(self) -> None:
        for study in self._studies:
            try:
                paths = get_study(
                    self._peer, study, self._cache_dir / study, calling_ae=self.calling_ae
                )
            except ContextRefusedError as exc:
                raise ActorUnderTest(
                    f"this check compares the instances the PACS under test holds, and {exc}: "
                    "the harness brings instances back by C-GET"
                ) from exc
            size = sum(path.stat().st_size for path in paths)
            self._record(
                "C-GET", status=0x0000, size=size, detail=f"study {study}, {len(paths)} instances"
            )
            for path in paths:
                self._files[path.stem] = path

    def _find(self, level: Level, keys: Mapping[str, str]) -> list[Dataset]:
        matches = find(self._peer, level, keys, calling_ae=self.calling_ae)
        self._record("C-FIND", status=0x0000, detail=f"{level} level, {len(matches)} matches")
        return matches

    def _record(
        self,
        operation: str,
        *,
        status: int,
        uid: str | None = None,
        size: int = 0,
        detail: str = "",
    ) -> None:
        self._events.record(
            operation,
            self.calling_ae,
            HARNESS_ADDRESS,
            status=status,
            sop_instance_uid=uid,
            size=size,
            detail=detail,
        )


def simulated_only(pacs: PacsActor, check: str) -> None:
    """Raise :class:`ActorUnderTest` if ``pacs`` is under test: ``check`` needs what only the
    harness's own PACS shows."""
    if isinstance(pacs, RemotePacs):
        raise ActorUnderTest(f"{check}, which a PACS under test does not show from outside")


def stores_received(pacs: PacsActor) -> list[PacsEvent]:
    """Every C-STORE the PACS served, of any study: only the harness's own PACS logs them."""
    simulated_only(pacs, "this check counts every instance the receiving PACS was sent")
    return [event for event in pacs.events() if event.operation == "C-STORE"]


def scenario_seed(config: RunConfig, run_seed: int) -> int:
    """The seed of a scenario's synthetic studies: the run's, or a fresh one per scenario when
    a PACS is under test.

    The studies' UIDs and the patient's birth date derive from the seed. A PACS under test
    keeps what earlier scenarios and earlier runs stored, so the same UIDs twice would mix
    their images with this scenario's, and the same patient twice would make the receiving
    hospital find two.
    """
    if any(isinstance(actor, PacsSut) for actor in (config.source_pacs, config.destination_pacs)):
        return _fresh_seed()
    return run_seed


def patient_birth_date(seed: int) -> str:
    """The birth date (DA) of the patient of the scenario whose seed is ``seed``."""
    born = FIRST_BIRTH_DATE + datetime.timedelta(days=seed % BIRTH_DATE_DAYS)
    return born.strftime("%Y%m%d")


def _fresh_seed() -> int:
    """A random seed whose patient is born two days or more from every other of this run.

    A scenario may put on record a namesake born the day after its patient, who must not be
    another scenario's patient. A run has some hundreds of scenarios among tens of thousands
    of days, so a draw is rarely taken twice. The days taken are this process's: one
    conformance run.
    """
    while True:
        seed = secrets.randbelow(MAX_SEED)
        day = seed % BIRTH_DATE_DAYS
        if _BIRTH_DAYS_TAKEN.isdisjoint((day - 1, day, day + 1)):
            _BIRTH_DAYS_TAKEN.add(day)
            return seed
