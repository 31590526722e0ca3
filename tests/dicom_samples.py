"""Small DICOM source files for the container and DICOMDIR tests, built on the fixture generator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID

from fixtures.dataset import PatientSpec
from fixtures.studies import generate_study

JAPANESE_PATIENT = PatientSpec("JP0001", "YAMADA^HANAKO=山田^花子=やまだ^はなこ", "19700101", "F")
ASCII_PATIENT = PatientSpec("EN0002", "DOE^JOHN", "19800202", "M")


def series_files(
    out: Path,
    count: int = 2,
    *,
    modality: str = "CT",
    seed: int = 0,
    patient: PatientSpec = ASCII_PATIENT,
) -> list[Path]:
    """Write one small series (a study of its own, derived from ``seed``) into ``out``."""
    return generate_study(modality, count, out, seed=seed, patient=patient, rows=32, columns=32)


def rewritten(
    src: Path,
    dst: Path,
    edit: Callable[[Dataset], None] = lambda ds: None,
    *,
    transfer_syntax: str | None = None,
) -> Path:
    """Copy ``src`` to ``dst`` with ``edit`` applied, optionally under another transfer syntax.

    A compressed transfer syntax gets a token encapsulated frame: only headers are read.
    """
    ds = dcmread(src)
    edit(ds)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if transfer_syntax is not None:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
        if UID(transfer_syntax).is_compressed and "PixelData" in ds:
            ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst, enforce_file_format=True)
    return dst
