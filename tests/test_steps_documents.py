"""The checks behind the document and support-image steps fail when they must."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from fixtures.dataset import make_study
from fixtures.studies import generate_study
from fixtures.support_images import generate_support_image
from steps.documents import (
    BURNED_IN,
    DOCUMENTS,
    instances_by_uid,
    lost_signs,
    make_document,
    same_document,
    unmarked,
)
from steps.errors import StepError


@pytest.mark.parametrize("written", sorted(DOCUMENTS))
def test_a_document_is_found_unchanged_and_not_once_a_byte_changed(
    written: str, tmp_path: Path
) -> None:
    document = make_document(written, tmp_path / "made", make_study(7), 7)
    copy = tmp_path / "copy"
    content = document.path.read_bytes()
    copy.write_bytes(content)
    assert same_document(copy, document)
    copy.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))
    assert not same_document(copy, document)
    copy.write_bytes(content.replace(b"\r", b""))  # line ends rewritten, or none there
    assert same_document(copy, document) == (b"\r" not in content)


def test_an_unknown_document_is_a_harness_error(tmp_path: Path) -> None:
    with pytest.raises(StepError, match="no way to make 'a discharge summary'"):
        make_document("a discharge summary", tmp_path, make_study(1), 1)


@pytest.fixture
def support_image(tmp_path: Path) -> Path:
    (source,) = generate_study("CT", 1, tmp_path / "ct", seed=3, rows=64, columns=64)
    return generate_support_image(source, tmp_path / "support", seed=3)


def test_a_support_image_copied_as_it_is_keeps_every_sign(
    support_image: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.dcm"
    copy.write_bytes(support_image.read_bytes())
    uid = str(dcmread(support_image).SOPInstanceUID)
    assert lost_signs(support_image, copy) == []
    assert unmarked({uid: support_image}, instances_by_uid([copy, tmp_path / "none"])) == []


def test_a_support_image_made_to_look_original_is_caught(
    support_image: Path, tmp_path: Path
) -> None:
    ds = dcmread(support_image)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    del ds.BurnedInAnnotation
    pixels = ds.pixel_array.copy()
    pixels[:8] = 0  # the banner painted over
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    copy = tmp_path / "copy.dcm"
    ds.save_as(copy)
    assert lost_signs(support_image, copy) == ["ImageType", "BurnedInAnnotation", BURNED_IN]
    uid = str(ds.SOPInstanceUID)
    (problem,) = unmarked({uid: support_image}, {uid: copy})
    assert problem.startswith(f"AI support image {uid} lost: ImageType")
    assert unmarked({uid: support_image}, {}) == [f"AI support image {uid} is not there"]
