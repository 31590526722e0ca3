"""Our file sets against independent tools: dciodvfy (dicom3tools) and dcmtk's dcmmkdir.

dciodvfy checks the DICOMDIR against the Basic Directory IOD. dcmmkdir re-checks the whole file
set against STD-GEN-CD (see :mod:`tests.dcmmkdir`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread

from cloudpdi.container import Institution, build_file_set
from cloudpdi.pdi_rules import validate_file_set
from fixtures.documents import write_referral_pdf
from fixtures.studies import generate_study, make_study
from tests.dcmmkdir import dicom_files, recheck_file_set
from tests.tools import require_tool

pytestmark = pytest.mark.external

CT_INSTANCES = 500
MR_INSTANCES = 20


@pytest.fixture(scope="module")
def file_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 500-instance CT and a 20-instance MR series of one (Japanese) patient, and a letter."""
    root = tmp_path_factory.mktemp("interop")
    study = make_study(21)
    # Full-size 512 x 512 CT slices: about 250 MiB, as a real referral would carry.
    ct = generate_study("CT", CT_INSTANCES, root / "src", study=study, series_number=1)
    mr = generate_study("MR", MR_INSTANCES, root / "src", study=study, series_number=2)
    letter = write_referral_pdf(root / "referral.pdf", patient=study.patient, date=study.date)
    out = root / "fileset"
    build_file_set(
        ct + mr, out, documents=[letter], institution=Institution("Interop Hospital", "rad@x.jp")
    )
    return out


def test_dciodvfy_reports_no_error_in_the_dicomdir(file_set: Path) -> None:
    dciodvfy = require_tool("dciodvfy")
    run = subprocess.run(
        [dciodvfy, str(file_set / "DICOMDIR")], capture_output=True, text=True, timeout=300
    )
    output = run.stdout + run.stderr
    assert "BasicDirectory" in output  # dciodvfy recognised the IOD it checks against
    assert [line for line in output.splitlines() if "Error" in line] == []


def test_dcmmkdir_finds_every_file_already_recorded_and_consistent(
    file_set: Path, tmp_path: Path
) -> None:
    check = recheck_file_set(file_set, tmp_path)
    assert check.returncode == 0, check.unexpected[:20]
    assert check.unexpected == []
    on_disk = dicom_files(file_set)
    assert check.recorded == on_disk
    assert len(on_disk) == CT_INSTANCES + MR_INSTANCES
    assert check.records == len(dcmread(file_set / "DICOMDIR").DirectoryRecordSequence)


def test_validator_reports_no_error(file_set: Path) -> None:
    report = validate_file_set(file_set)
    assert report.errors == (), report.errors
