"""Tests of the referral documents: the PDF, its Encapsulated PDF instance, the FHIR document."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import EncapsulatedPDFStorage

from fixtures.dataset import DEFAULT_PATIENT, PatientSpec, make_study
from fixtures.documents import (
    generate_encapsulated_pdf,
    write_fhir_document,
    write_referral_pdf,
)
from tests.dicom3tools import verifier_errors
from tests.tools import require_tool


def test_pdf_cross_reference_table_points_at_objects(tmp_path: Path) -> None:
    data = write_referral_pdf(tmp_path / "letter.pdf").read_bytes()
    assert data.startswith(b"%PDF-1.4\n")
    assert data.endswith(b"%%EOF\n")
    startxref = int(re.search(rb"startxref\n(\d+)\n", data).group(1))
    assert data[startxref:].startswith(b"xref\n0 7\n")
    offsets = re.findall(rb"(\d{10}) 00000 n \n", data[startxref:])
    assert len(offsets) == 6
    for number, offset in enumerate(offsets, start=1):
        assert data[int(offset) :].startswith(b"%d 0 obj\n" % number)


def test_pdf_escapes_parentheses_and_rejects_non_ascii(tmp_path: Path) -> None:
    data = write_referral_pdf(tmp_path / "a.pdf", text="see (1) and \\ here").read_bytes()
    assert b"(see \\(1\\) and \\\\ here) Tj" in data
    with pytest.raises(ValueError, match="ASCII"):
        write_referral_pdf(tmp_path / "b.pdf", text="紹介状")


@pytest.mark.external
def test_pdf_opens_in_poppler(tmp_path: Path) -> None:
    path = write_referral_pdf(tmp_path / "letter.pdf", text="Nodule in the left lung (8 mm).")
    info = subprocess.run(
        [require_tool("pdfinfo"), str(path)], capture_output=True, text=True, check=True
    )
    assert info.stderr == ""
    assert re.search(r"^Pages:\s+1$", info.stdout, re.MULTILINE)
    assert re.search(r"^PDF version:\s+1\.4$", info.stdout, re.MULTILINE)
    text = subprocess.run(
        [require_tool("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Patient: YAMADA TARO" in text
    assert "Nodule in the left lung (8 mm)." in text


def test_encapsulated_pdf_carries_the_document(tmp_path: Path) -> None:
    pdf = write_referral_pdf(tmp_path / "letter.pdf")
    study = make_study(4)
    ds = pydicom.dcmread(generate_encapsulated_pdf(pdf, tmp_path / "dicom", study=study))
    assert ds.SOPClassUID == ds.file_meta.MediaStorageSOPClassUID == EncapsulatedPDFStorage
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.Modality == "DOC"
    assert ds.StudyInstanceUID == study.study_uid
    assert str(ds.PatientName) == DEFAULT_PATIENT.name
    document = ds.EncapsulatedDocument[: ds.EncapsulatedDocumentLength]
    assert document == pdf.read_bytes()
    assert ds.ConceptNameCodeSequence[0].CodeValue == "57133-1"


@pytest.mark.external
def test_encapsulated_pdf_passes_dciodvfy(tmp_path: Path) -> None:
    pdf = write_referral_pdf(tmp_path / "letter.pdf")
    assert verifier_errors("dciodvfy", generate_encapsulated_pdf(pdf, tmp_path)) == []


def _bundle(tmp_path: Path, patient: PatientSpec = DEFAULT_PATIENT) -> dict:
    path = write_fhir_document(tmp_path / "doc.json", study=make_study(2, patient))
    return json.loads(path.read_text(encoding="utf-8"))


def test_fhir_document_is_a_document_bundle(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "document"
    assert bundle["identifier"]["value"].startswith("urn:uuid:")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00", bundle["timestamp"])
    resources = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert resources == ["Composition", "Patient", "Practitioner", "Organization"]
    composition = bundle["entry"][0]["resource"]
    assert composition["type"]["coding"][0]["code"] == "57133-1"
    assert composition["section"][0]["text"]["div"].startswith(
        '<div xmlns="http://www.w3.org/1999/xhtml">'
    )


def test_fhir_references_resolve_inside_the_bundle(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    composition = bundle["entry"][0]["resource"]
    references = [
        composition["subject"]["reference"],
        composition["custodian"]["reference"],
        *(author["reference"] for author in composition["author"]),
    ]
    assert set(references) <= full_urls
    assert len(full_urls) == len(bundle["entry"])


def test_fhir_patient_names_keep_each_representation(tmp_path: Path) -> None:
    patient = _bundle(tmp_path)["entry"][1]["resource"]
    by_representation = {
        name["extension"][0]["valueCode"]: (name["family"], name["given"])
        for name in patient["name"]
    }
    assert by_representation == {
        "ABC": ("YAMADA", ["TARO"]),
        "IDE": ("山田", ["太郎"]),
        "SYL": ("やまだ", ["たろう"]),
    }
    assert (patient["gender"], patient["birthDate"]) == ("male", "1965-04-12")


def test_fhir_document_is_deterministic(tmp_path: Path) -> None:
    study = make_study(9, PatientSpec("P9", "DOE^JANE", "19800101", "F"))
    first = write_fhir_document(tmp_path / "a.json", study=study, seed=9).read_bytes()
    again = write_fhir_document(tmp_path / "b.json", study=study, seed=9).read_bytes()
    other = write_fhir_document(tmp_path / "c.json", study=study, seed=10).read_bytes()
    assert first == again != other
