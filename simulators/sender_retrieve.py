"""The sender's first step: bring one study from the source PACS into a private folder.

C-GET (the default) brings the instances back on our own association. C-MOVE needs a storage
SCP the PACS can call: for the length of the retrieve we run a PACS simulator under the move
destination's AE title and port (the PACS must have it in its destination table). Either way
the files are the instances as received, never decoded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from cloudpdi.dimse import DicomPeer, DimseError, RetrieveError, find, get_study, move_study
from cloudpdi.dimse_files import is_safe_uid
from cloudpdi.errors import CloudPDIError
from simulators.pacs import PacsConfig, PacsSimulator
from simulators.sender_errors import RetrieveFailed, StudyNotFound

RetrieveMethod = Literal["get", "move"]
Progress = Callable[[int, int], None]

#: C-MOVE status: the Move Destination is unknown to the SCP (PS3.4 C.4.2.1.4).
MOVE_DESTINATION_UNKNOWN = 0xA801
#: Seconds between two looks at how many instances have arrived.
PROGRESS_INTERVAL = 0.2


def check_study_uid(study_uid: str) -> None:
    """Refuse a Study Instance UID that is not a well-formed UID."""
    if not is_safe_uid(study_uid):
        raise StudyNotFound("the Study Instance UID is not a valid UID (digits and dots)")


def retrieve_study(
    source: DicomPeer,
    study_uid: str,
    into: Path,
    *,
    calling_ae: str,
    method: RetrieveMethod = "get",
    move_destination: DicomPeer | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Retrieve study ``study_uid`` from ``source`` into ``into``; return the instance files."""
    check_study_uid(study_uid)
    expected = _expected_instances(source, study_uid, calling_ae)
    into.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with _counting(into, expected, progress):
            if method == "get":
                files = get_study(source, study_uid, into, calling_ae=calling_ae)
            else:
                if move_destination is None:
                    raise ValueError("a C-MOVE retrieve needs a move destination")
                files = _move(source, study_uid, into, calling_ae, move_destination)
    except RetrieveError as exc:
        if exc.status == MOVE_DESTINATION_UNKNOWN and move_destination is not None:
            raise RetrieveFailed(
                f"{source} does not know the move destination {move_destination.ae_title}: "
                f"add {move_destination} to its destination table"
            ) from exc
        raise RetrieveFailed(f"retrieving study {study_uid} failed: {exc}") from exc
    except CloudPDIError as exc:  # DIMSE failures, or our storage SCP could not listen
        raise RetrieveFailed(f"retrieving study {study_uid} failed: {exc}") from exc
    if not files:
        raise StudyNotFound(f"{source} sent no instance of study {study_uid}")
    if expected and len(files) < expected:
        raise RetrieveFailed(
            f"{source} sent {len(files)} of the {expected} instances of study {study_uid}"
        )
    if progress is not None:
        progress(len(files), max(expected, len(files)))
    return files


def _expected_instances(source: DicomPeer, study_uid: str, calling_ae: str) -> int:
    """Ask the PACS whether it has the study; return its instance count (0 if it won't say)."""
    keys = {"StudyInstanceUID": study_uid, "NumberOfStudyRelatedInstances": ""}
    try:
        matches = find(source, "STUDY", keys, calling_ae=calling_ae)
    except DimseError as exc:
        raise RetrieveFailed(f"cannot query {source} for study {study_uid}: {exc}") from exc
    if not matches:
        raise StudyNotFound(f"{source} has no study with Study Instance UID {study_uid}")
    count = str(matches[0].get("NumberOfStudyRelatedInstances", "") or "")
    return int(count) if count.isdigit() else 0


def _move(
    source: DicomPeer, study_uid: str, into: Path, calling_ae: str, destination: DicomPeer
) -> list[Path]:
    """C-MOVE the study to a storage SCP we run as ``destination``; return its files."""
    config = PacsConfig(
        storage_dir=into,
        ae_title=destination.ae_title,
        host=destination.host,
        port=destination.port,
    )
    with PacsSimulator(config) as scp:
        move_study(source, study_uid, destination.ae_title, calling_ae=calling_ae)
        paths = [scp.path_of(record.sop_instance_uid) for record in scp.instances()]
    return [path for path in paths if path is not None]


@contextmanager
def _counting(folder: Path, expected: int, progress: Progress | None) -> Iterator[None]:
    """Report how many instance files have landed in ``folder`` while the block runs."""
    if progress is None:
        yield
        return
    report = progress  # the closure below must not see an Optional
    stop = threading.Event()

    def watch() -> None:
        # The DIMSE client reports no per-instance progress: count the files as they land.
        while not stop.wait(PROGRESS_INTERVAL):
            arrived = sum(1 for _ in folder.rglob("*.dcm"))
            report(arrived, max(expected, arrived))

    thread = threading.Thread(target=watch, name="retrieve-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
