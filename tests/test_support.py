"""Recognising AI support images and other derived images, by our marking and by others'."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    CTImageStorage,
    EncapsulatedPDFStorage,
    MammographyCADSRStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
)

from cloudpdi.support import SupportKind, classify_support, is_support_image
from fixtures.studies import generate_demo_studies, generate_study
from fixtures.support_images import generate_support_image


def dataset(sop_class: str = CTImageStorage, **attributes: object) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_fixture_support_image_is_ai_support_for_every_marker(tmp_path: Path) -> None:
    source = generate_study("CT", 1, tmp_path / "ct", rows=32, columns=32)[0]
    ds = pydicom.dcmread(generate_support_image(source, tmp_path / "ai"))
    verdict = classify_support(ds)
    assert verdict.kind is SupportKind.AI
    assert is_support_image(ds)
    for reason in (
        "SeriesDescription mentions 'NOT FOR DIAGNOSIS'",
        "SeriesDescription mentions 'AI'",
        "Image Type is DERIVED",
        "Image Type is SECONDARY",
        "SOP Class is Secondary Capture",
        "Conversion Type is WSD",
        "Burned In Annotation is YES",
        "Modality is OT (other)",
    ):
        assert reason in verdict.reasons


def test_originals_of_the_demo_study_are_not_flagged(tmp_path: Path) -> None:
    studies = generate_demo_studies(tmp_path, ct_instances=2, mr_instances=1)
    flagged = {
        path.name: classify_support(pydicom.dcmread(path)).kind for path in studies.dicom_files
    }
    assert flagged.pop(studies.support_image.name) is SupportKind.AI
    # The Encapsulated PDF carries a Conversion Type (SC Equipment), which is not a sign.
    assert pydicom.dcmread(studies.encapsulated_pdf).SOPClassUID == EncapsulatedPDFStorage
    assert set(flagged.values()) == {None}


@pytest.mark.parametrize(
    ("ds", "kind", "reason"),
    [
        # Another vendor's CAD output: only Image Type says so.
        (
            dataset(ImageType=["DERIVED", "SECONDARY", "CAD"]),
            SupportKind.AI,
            "Image Type names CAD",
        ),
        (dataset(MammographyCADSRStorage), SupportKind.AI, "SOP Class is a CAD Structured Report"),
        (
            dataset(SeriesDescription="Lung nodule computer-aided detection"),
            SupportKind.AI,
            "SeriesDescription mentions 'COMPUTER-AIDED'",
        ),
        (dataset(ImageComments="AI解析結果"), SupportKind.AI, "ImageComments mentions 'AI'"),
        (
            # Full-width parentheses on purpose: how Japanese text is typed.
            dataset(SeriesDescription="参考画像（診断用ではありません）"),  # noqa: RUF001
            SupportKind.AI,
            "SeriesDescription mentions '診断用ではない'",
        ),
        (
            dataset(ImageType=["DERIVED", "SECONDARY", "MPR"]),
            SupportKind.DERIVED,
            "Image Type is DERIVED",
        ),
        (
            dataset(SecondaryCaptureImageStorage),
            SupportKind.DERIVED,
            "SOP Class is Secondary Capture",
        ),
        (dataset(SegmentationStorage), SupportKind.DERIVED, "SOP Class is Segmentation"),
        (
            dataset(DerivationDescription="subtraction"),
            SupportKind.DERIVED,
            "has a Derivation Description or Derivation Code",
        ),
    ],
)
def test_detects_derived_and_ai_images_marked_in_other_ways(
    ds: Dataset, kind: SupportKind, reason: str
) -> None:
    verdict = classify_support(ds)
    assert verdict.kind is kind
    assert reason in verdict.reasons


@pytest.mark.parametrize(
    "ds",
    [
        dataset(ImageType=["ORIGINAL", "PRIMARY", "AXIAL"], SeriesDescription="CHEST CT"),
        # "AI" and "CAD" inside longer words are not markers.
        dataset(SeriesDescription="BRAIN MAIN DECADE CHAIN"),
        # Signs common in originals do not flag an instance on their own.
        dataset(BurnedInAnnotation="YES", Modality="OT", ConversionType="DV"),
        dataset(),
    ],
)
def test_originals_are_not_support_images(ds: Dataset) -> None:
    verdict = classify_support(ds)
    assert verdict.kind is None
    assert verdict.reasons == ()
    assert not is_support_image(ds)


def test_reasons_never_quote_the_attribute_text() -> None:
    private = "YAMADA TARO 19650412 AI follow-up"
    verdict = classify_support(dataset(SeriesDescription=private))
    assert verdict.kind is SupportKind.AI
    assert not any("YAMADA" in reason or "1965" in reason for reason in verdict.reasons)
