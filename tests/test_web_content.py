"""Tests of the PDI Web Content option: INDEX.HTM at the root, a view of every image in IHE_PDI."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.uid import RLELossless

from cloudpdi.container import build_file_set
from cloudpdi.package import pack, unpack
from cloudpdi.pdi_rules import validate_file_set
from cloudpdi.token import Facility
from cloudpdi.web_content import MAX_RENDERING_SIDE, render_image
from fixtures.broken import CLEAN_INSTITUTION
from fixtures.documents import generate_encapsulated_pdf, write_referral_pdf
from fixtures.encodings import reencode
from fixtures.studies import generate_study, make_study

SMALL = {"rows": 64, "columns": 48}
_IMG = re.compile(r'<img src="([^"]+)"')


def _images(folder: Path) -> list[Path]:
    return generate_study("CT", 2, folder / "ct", seed=5, **SMALL) + generate_study(
        "MR", 1, folder / "mr", seed=5, series_number=2, study=make_study(5), **SMALL
    )


def test_every_image_gets_a_view_in_ihe_pdi_and_the_file_set_stays_valid(tmp_path: Path) -> None:
    sources = _images(tmp_path / "src")
    out = tmp_path / "fileset"
    build_file_set(sources, out, institution=CLEAN_INSTITUTION, web_content=True)
    report = validate_file_set(out)
    assert report.ok, report.errors
    page = (out / "INDEX.HTM").read_text(encoding="utf-8")
    views = _IMG.findall(page)
    assert len(views) == len(sources)
    assert all(view.startswith("IHE_PDI/") and view.endswith(".JPG") for view in views)
    for view in views:
        with Image.open(out / view) as picture:
            assert picture.format == "JPEG"
    # The views mirror the DICOM tree, one for each File ID.
    dicom = sorted(p.relative_to(out / "DICOM") for p in (out / "DICOM").rglob("IM*"))
    assert sorted(Path(view).relative_to("IHE_PDI").with_suffix("") for view in views) == dicom
    assert "CT series 1" in page and "MR series 2" in page


def test_without_the_option_there_is_no_web_content(tmp_path: Path) -> None:
    out = tmp_path / "fileset"
    build_file_set(_images(tmp_path / "src"), out, institution=CLEAN_INSTITUTION)
    assert not (out / "INDEX.HTM").exists() and not (out / "IHE_PDI").exists()


def test_documents_get_no_view_and_undecodable_images_are_listed_without_one(
    tmp_path: Path,
) -> None:
    images = _images(tmp_path / "src")
    letter = generate_encapsulated_pdf(
        write_referral_pdf(tmp_path / "letter.pdf"), tmp_path / "pdf", study=make_study(5), seed=5
    )
    # An image whose pixels cannot be decoded here: its pixel data is cut short.
    broken = dcmread(images[0])
    broken.PixelData = broken.PixelData[:10]
    broken.save_as(images[0], enforce_file_format=True)
    out = tmp_path / "fileset"
    build_file_set([*images, letter], out, institution=CLEAN_INSTITUTION, web_content=True)
    page = (out / "INDEX.HTM").read_text(encoding="utf-8")
    assert len(_IMG.findall(page)) == len(images) - 1
    assert page.count("no browser view") == 1
    assert validate_file_set(out).ok


def test_the_zip_file_set_carries_the_web_content(tmp_path: Path) -> None:
    out = tmp_path / "fileset.zip"
    build_file_set(_images(tmp_path / "src"), out, institution=CLEAN_INSTITUTION, web_content=True)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert "INDEX.HTM" in names
    assert sum(name.startswith("IHE_PDI/") for name in names) == 3
    assert validate_file_set(out).ok


def test_pack_adds_web_content_that_unpack_accepts(tmp_path: Path) -> None:
    facility = Facility(id="HOSP-A", name="Hospital A")
    packed = pack(
        _images(tmp_path / "src"),
        tmp_path / "package.cpdi",
        community_id="COMMUNITY",
        repository="https://repository.example/",
        issuer=facility,
        institution=CLEAN_INSTITUTION,
        expires_at=datetime.now(UTC) + timedelta(days=1),
        web_content=True,
    )
    unpacked = unpack(tmp_path / "package.cpdi", packed.token, tmp_path / "out")
    assert unpacked.validation.ok
    assert (unpacked.out / "INDEX.HTM").is_file()


@pytest.mark.parametrize("monochrome1", [False, True])
def test_a_rendering_is_windowed_to_8_bits_and_bounded_in_size(
    monochrome1: bool, tmp_path: Path
) -> None:
    source = generate_study("CR", 1, tmp_path / "cr", seed=2)[0]
    if monochrome1:
        dataset = dcmread(source)
        dataset.PhotometricInterpretation = "MONOCHROME1"
        dataset.save_as(source, enforce_file_format=True)
    picture = Image.open(io.BytesIO(render_image(source)))
    assert picture.mode == "L"
    assert max(picture.size) == MAX_RENDERING_SIDE
    grey = np.asarray(picture)
    assert grey.min() < 30 and grey.max() > 225  # the full grey range is used


def test_a_compressed_image_pydicom_decodes_is_rendered(tmp_path: Path) -> None:
    source = generate_study("CT", 1, tmp_path / "ct", seed=2, **SMALL)[0]
    rle = reencode(source, RLELossless, tmp_path / "rle")
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(render_image(rle)))),
        np.asarray(Image.open(io.BytesIO(render_image(source)))),
    )
