"""The sender's test-only file set editor, and the file sets the conformance steps make with it."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread

from cloudpdi.package import unpack
from cloudpdi.pdi_rules import validate_file_set
from cloudpdi.repository import RepositoryClient
from cloudpdi.token_input import read_token_file
from fixtures.broken import BROKEN_CASES, make_clean_file_set
from fixtures.broken_edits import zip_file_set
from fixtures.studies import generate_study
from harness.lab import Lab
from simulators.sender import send
from steps.file_set_makers import (
    MEDIA_TOOL,
    broken_by,
    made_by_media_tool,
    payload_content,
    payload_for,
)
from tests.tools import require_tool


def test_the_edited_file_set_is_what_is_encrypted_and_the_token_describes_it(
    tmp_path: Path,
) -> None:
    files = generate_study("CT", 2, tmp_path / "study", seed=3, rows=32, columns=32)

    def without_readme(root: Path, dest: Path) -> None:
        (root / "README.TXT").unlink()
        zip_file_set(root, dest)

    with Lab(tmp_path / "lab") as lab:
        lab.source.import_files(files)
        sent = send(
            lab.sender_config(file_set_editor=without_readme),
            str(dcmread(files[0]).StudyInstanceUID),
        )
        token = read_token_file(sent.token_files.json)
        package = tmp_path / "package"
        with RepositoryClient(lab.repository_url, uploader_key=lab.recipient_key) as client:
            client.download(token.document_id, package, expected_digest=token.content_digest)
        unpacked = unpack(package, token, tmp_path / "out", recipient_id=lab.recipient.id)
    assert sent.ciphertext_size == package.stat().st_size
    assert (unpacked.out / "DICOMDIR").is_file()
    assert not (unpacked.out / "README.TXT").exists()
    assert [f.requirement for f in unpacked.validation.errors] == ["PDI-README-01"]


def test_a_broken_case_becomes_the_zip_file_set_sent(tmp_path: Path) -> None:
    clean = make_clean_file_set(tmp_path / "clean")
    broken_by(BROKEN_CASES["zip-path-traversal"])(clean, tmp_path / "sent.zip")
    with zipfile.ZipFile(tmp_path / "sent.zip") as archive:
        assert "../ESCAPE.TXT" in archive.namelist()


@pytest.mark.parametrize("case", ["autorun-inf", "executable-at-root"])
def test_content_that_would_start_by_itself_leaves_the_marker_when_it_is_run(
    tmp_path: Path, case: str
) -> None:
    marker = tmp_path / "marker"
    payload = payload_for(BROKEN_CASES[case], marker)
    assert payload is not None
    clean = make_clean_file_set(tmp_path / "clean")
    broken_by(BROKEN_CASES[case], payload)(clean, tmp_path / "sent.zip")
    with zipfile.ZipFile(tmp_path / "sent.zip") as archive:
        held = {name: archive.read(name) for name in payload.files}
    assert held == {name: payload_content(name, marker) for name in payload.files}
    assert held["VIEWER.EXE"].startswith(b"MZ")
    # What a receiver that ran the program would do: a shell runs it line by line.
    (tmp_path / "VIEWER.EXE").write_bytes(held["VIEWER.EXE"])
    subprocess.run(["sh", str(tmp_path / "VIEWER.EXE")], capture_output=True, check=False)
    assert marker.read_text() == "ran\n"


def test_a_file_set_without_anything_that_starts_by_itself_has_no_payload(tmp_path: Path) -> None:
    assert payload_for(BROKEN_CASES["no-dicomdir"], tmp_path / "marker") is None


def test_the_independent_media_tool_writes_a_sound_dicomdir_of_the_same_files(
    tmp_path: Path,
) -> None:
    require_tool(MEDIA_TOOL)
    clean = make_clean_file_set(tmp_path / "clean")
    ours = (clean / "DICOMDIR").read_bytes()
    edited = tmp_path / "edited"
    shutil.copytree(clean, edited)
    made_by_media_tool(edited, tmp_path / "sent.zip")
    theirs = (edited / "DICOMDIR").read_bytes()
    assert theirs != ours
    assert b"DCMTK" in theirs  # dcmmkdir's own File-set ID and implementation
    assert validate_file_set(tmp_path / "sent.zip").ok
