"""Instances of every kind the PACS must keep byte for byte, and helpers to compare them.

The sample study holds CT, MR and CR images, an AI support image (Secondary Capture, RGB),
an Encapsulated PDF, a real baseline JPEG instance (compressed with Pillow), a deflated
instance and a JPEG 2000 one (a token codestream: nothing here ever decodes pixels).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
)

from fixtures.dataset import StudySpec, derive_uid, make_study
from fixtures.documents import generate_encapsulated_pdf, write_referral_pdf
from fixtures.studies import generate_study
from fixtures.support_images import generate_support_image
from simulators.pacs import PacsConfig, PacsSimulator

# Preamble, "DICM", then (0002,0000) UL with a 4-byte value: 12 bytes of element.
_GROUP_LENGTH_END = 128 + 4 + 12


def dataset_bytes(data: bytes) -> bytes:
    """Return the encoded dataset of a Part 10 file: everything after the File Meta."""
    (meta_length,) = struct.unpack_from("<I", data, _GROUP_LENGTH_END - 4)
    return data[_GROUP_LENGTH_END + meta_length :]


def file_dataset_bytes(path: Path) -> bytes:
    """Return the encoded dataset of the Part 10 file at ``path``."""
    return dataset_bytes(path.read_bytes())


def jpeg_instance(source: Path, out: Path) -> Path:
    """Write ``source``'s first frame as a baseline JPEG Secondary Capture instance."""
    ds = dcmread(source)
    pixels = ds.pixel_array.astype(np.float64)
    scaled = (255 * (pixels - pixels.min()) / max(np.ptp(pixels), 1)).astype(np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(scaled).save(encoded, format="JPEG", quality=90)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = derive_uid("jpeg", ds.SOPInstanceUID)
    ds.SeriesInstanceUID = derive_uid("jpeg-series", ds.SeriesInstanceUID)
    ds.SeriesNumber = 50
    ds.ConversionType = "WSD"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "01"
    ds.PixelData = encapsulate([encoded.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.save_as(out, enforce_file_format=True)
    return out


def recoded_instance(source: Path, out: Path, transfer_syntax: str, tag: str) -> Path:
    """Write a copy of ``source`` with new UIDs under ``transfer_syntax``.

    A compressed syntax gets a token encapsulated frame: the PACS must not care.
    """
    ds = dcmread(source)
    ds.SOPInstanceUID = derive_uid(tag, ds.SOPInstanceUID)
    ds.SeriesInstanceUID = derive_uid(f"{tag}-series", ds.SeriesInstanceUID)
    if transfer_syntax == JPEG2000Lossless:
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60) + b"\xff\xd9"])
        ds["PixelData"].VR = "OB"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.save_as(out, enforce_file_format=True)
    return out


@dataclass(frozen=True)
class SampleStudy:
    """One patient's study with an instance of every kind the PACS must keep."""

    study: StudySpec
    ct: list[Path]
    mr: list[Path]
    cr: Path
    support: Path
    pdf: Path
    jpeg: Path
    deflated: Path
    jpeg2000: Path

    @property
    def files(self) -> list[Path]:
        """Every file of the study."""
        extra = [self.cr, self.support, self.pdf, self.jpeg, self.deflated, self.jpeg2000]
        return [*self.ct, *self.mr, *extra]


def write_sample_study(root: Path, seed: int = 11) -> SampleStudy:
    """Write the sample study under ``root``."""
    study = make_study(seed)
    small = {"rows": 64, "columns": 64, "seed": seed, "study": study}
    ct = generate_study("CT", 3, root / "ct", series_number=1, **small)
    mr = generate_study("MR", 2, root / "mr", series_number=2, **small)
    (cr,) = generate_study("CR", 1, root / "cr", series_number=3, **small)
    referral = write_referral_pdf(root / "REFERRAL.PDF", patient=study.patient, date=study.date)
    return SampleStudy(
        study=study,
        ct=ct,
        mr=mr,
        cr=cr,
        support=generate_support_image(ct[0], root / "support", seed=seed),
        pdf=generate_encapsulated_pdf(referral, root / "pdf", study=study, seed=seed),
        jpeg=jpeg_instance(ct[1], root / "jpeg.dcm"),
        deflated=recoded_instance(
            mr[0], root / "deflated.dcm", DeflatedExplicitVRLittleEndian, "deflated"
        ),
        jpeg2000=recoded_instance(ct[2], root / "j2k.dcm", JPEG2000Lossless, "j2k"),
    )


@pytest.fixture(scope="session")
def sample_study(tmp_path_factory: pytest.TempPathFactory) -> SampleStudy:
    """The sample study, written once per session."""
    return write_sample_study(tmp_path_factory.mktemp("pacs-samples"))


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[PacsSimulator]:
    """A running, empty PACS on a free loopback port."""
    with PacsSimulator(PacsConfig(storage_dir=tmp_path / "pacs")) as running:
        yield running
