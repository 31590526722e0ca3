"""The receiver C-STOREs into dcmtk's storescp: an independent PACS gets the same pixels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from cloudpdi.dimse import DicomPeer
from cloudpdi.token import Token
from fixtures.studies import DemoStudies
from simulators.receiver import receive
from simulators.repository import RepositoryServer
from tests.test_dcmtk_interop import storescp
from tests.test_receiver import LOCAL_ID, demo, pixel_hashes, receiver_config, repository, token

__all__ = ["demo", "repository", "storescp", "token"]

pytestmark = pytest.mark.external


def test_receiver_stores_into_dcmtk_storescp(
    tmp_path: Path,
    demo: DemoStudies,
    repository: RepositoryServer,
    token: Token,
    storescp: tuple[str, int, Path],
) -> None:
    title, port, out = storescp
    peer = DicomPeer(title, "127.0.0.1", port)
    result = receive(replace(receiver_config(tmp_path, repository), destination_pacs=peer), token)
    assert result.ok
    received = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(received) == len(demo.dicom_files)
    assert pixel_hashes(received) == pixel_hashes(demo.dicom_files)
    for path in received:
        ds = pydicom.dcmread(path)
        assert ds.PatientID == LOCAL_ID
        assert ds.OtherPatientIDsSequence[-1].PatientID == "CPDI0001"
