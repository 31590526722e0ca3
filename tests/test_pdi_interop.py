"""Our file sets against independent tools: dciodvfy (dicom3tools) and dcmtk's dcmmkdir.

dciodvfy checks the DICOMDIR against the Basic Directory IOD. dcmmkdir re-checks the whole file
set against STD-GEN-CD: run in append mode (``+A``) on a hard-linked copy (dcmmkdir renames the
DICOMDIR it loads, even with ``-w``), it parses our DICOMDIR, follows its offsets, re-reads
every file, and reports each one whose SOP Instance is missing from our records or whose
patient, study or series keys differ from them (``-a`` makes that fatal). A correct file set
gives exactly one "already exists" warning per file and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread

from cloudpdi.container import Institution, build_file_set
from cloudpdi.pdi_rules import validate_file_set
from fixtures.documents import write_referral_pdf
from fixtures.studies import generate_study, make_study
from tests.tools import require_tool

pytestmark = pytest.mark.external

CT_INSTANCES = 500
MR_INSTANCES = 20
ALREADY_EXISTS = re.compile(
    r"W: file (DICOM/\S+): directory record for this SOP instance already exists"
)


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
    dcmmkdir = require_tool("dcmmkdir")
    copy = tmp_path / "copy"
    shutil.copytree(file_set, copy, copy_function=os.link)
    # dcmmkdir replaces the DICOMDIR: give it a copy of its own, not a link to ours.
    (copy / "DICOMDIR").unlink()
    shutil.copyfile(file_set / "DICOMDIR", copy / "DICOMDIR")
    run = subprocess.run(
        [dcmmkdir, "+A", "-nb", "-Pgp", "+r", "-a", "+id", ".", "DICOM"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = (run.stdout + run.stderr).splitlines()
    assert run.returncode == 0, lines[:20]
    unexpected = [line for line in lines if not ALREADY_EXISTS.fullmatch(line)]
    assert unexpected == []
    recorded = {ALREADY_EXISTS.fullmatch(line).group(1) for line in lines}  # type: ignore[union-attr]
    on_disk = {
        p.relative_to(file_set).as_posix() for p in (file_set / "DICOM").rglob("*") if p.is_file()
    }
    assert recorded == on_disk
    assert len(on_disk) == CT_INSTANCES + MR_INSTANCES
    ours = dcmread(file_set / "DICOMDIR").DirectoryRecordSequence
    theirs = dcmread(copy / "DICOMDIR").DirectoryRecordSequence
    assert len(theirs) == len(ours)


def test_validator_reports_no_error(file_set: Path) -> None:
    report = validate_file_set(file_set)
    assert report.errors == (), report.errors
