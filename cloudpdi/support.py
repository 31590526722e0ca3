"""Recognise support images: AI/CAD results and other derived images that are not originals.

Operators ask that AI "support images" (CAD marks, measurements) shared with a partner are
never mistaken for diagnostic originals (SPEC_NOTES.md). No single attribute says so, and
senders mark them in different ways, so the verdict collects every sign DICOM offers:

- AI/CAD evidence: a CAD SR SOP class; "CAD" in Image Type; words such as "AI", "CAD",
  "computer-aided" or "not for diagnosis" (English or Japanese) in the descriptions;
- derived evidence: Image Type DERIVED or SECONDARY, a Secondary Capture or Segmentation SOP
  class, a Derivation Description or Derivation Code Sequence.

Signs that originals carry too (Burned In Annotation, Conversion Type, Modality OT, source
image references) are listed as reasons only beside one of the above.

Reasons name the attribute and the fixed word that matched, never the attribute's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import (
    ChestCADSRStorage,
    ColonCADSRStorage,
    MammographyCADSRStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    MultiFrameSingleBitSecondaryCaptureImageStorage,
    MultiFrameTrueColorSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
)

#: SOP classes that hold the findings of computer-aided detection (PS3.4 annex O).
CAD_SOP_CLASSES = frozenset({MammographyCADSRStorage, ChestCADSRStorage, ColonCADSRStorage})
#: Secondary Capture SOP classes: images made by converting or capturing, not by a modality.
SECONDARY_CAPTURE_SOP_CLASSES = frozenset(
    {
        SecondaryCaptureImageStorage,
        MultiFrameSingleBitSecondaryCaptureImageStorage,
        MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
        MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
        MultiFrameTrueColorSecondaryCaptureImageStorage,
    }
)
#: Free-text attributes where senders write that an image is an AI/CAD result.
DESCRIPTION_KEYWORDS = (
    "SeriesDescription",
    "ImageComments",
    "DerivationDescription",
    "ProtocolName",
    "StudyDescription",
)

# Words that mark AI/CAD output. "AI" and "CAD" must stand alone among Latin letters, so that
# "CHAIN" or "DECADE" do not match, while "AI解析" (Japanese) still does.
_AI_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (word, re.compile(pattern, re.IGNORECASE))
    for word, pattern in (
        ("NOT FOR DIAGNOSIS", r"NOT\s+FOR\s+(PRIMARY\s+)?DIAGNOS"),
        ("AI", r"(?<![A-Z])AI(?![A-Z])"),
        ("CAD", r"(?<![A-Z])CAD(?![A-Z])"),
        ("COMPUTER-AIDED", r"COMPUTER[\s-]*(AIDED|ASSISTED)"),
        ("ARTIFICIAL INTELLIGENCE", r"ARTIFICIAL\s+INTELLIGENCE"),
        ("人工知能", r"人工知能"),
        ("診断用ではない", r"診断用では(ない|ありません)|診断に使用しない"),
        ("支援画像", r"支援画像|参考画像"),
    )
)


class SupportKind(StrEnum):
    """What kind of non-original an instance is."""

    AI = "ai-support"
    DERIVED = "derived"


@dataclass(frozen=True)
class SupportVerdict:
    """Whether an instance is a support image, of which kind, and every sign that says so."""

    kind: SupportKind | None
    reasons: tuple[str, ...]

    @property
    def is_support(self) -> bool:
        """Tell whether the instance must be shown as "not an original"."""
        return self.kind is not None


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(item) for item in value)
    return str(value)


def _image_type(ds: Dataset) -> list[str]:
    value = ds.get("ImageType")
    if value is None:
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(item).strip().upper() for item in items]


def _ai_reasons(ds: Dataset, sop_class: str, image_type: list[str]) -> list[str]:
    reasons = []
    if sop_class in CAD_SOP_CLASSES:
        reasons.append("SOP Class is a CAD Structured Report")
    if "CAD" in image_type[2:]:
        reasons.append("Image Type names CAD")
    for keyword in DESCRIPTION_KEYWORDS:
        text = _text(ds, keyword)
        reasons.extend(
            f"{keyword} mentions {word!r}" for word, pattern in _AI_WORDS if pattern.search(text)
        )
    return reasons


def _derived_reasons(ds: Dataset, sop_class: str, image_type: list[str]) -> list[str]:
    reasons = []
    if image_type[:1] == ["DERIVED"]:
        reasons.append("Image Type is DERIVED")
    if image_type[1:2] == ["SECONDARY"]:
        reasons.append("Image Type is SECONDARY")
    if sop_class in SECONDARY_CAPTURE_SOP_CLASSES:
        reasons.append("SOP Class is Secondary Capture")
    if sop_class == SegmentationStorage:
        reasons.append("SOP Class is Segmentation")
    if _text(ds, "DerivationDescription").strip() or ds.get("DerivationCodeSequence"):
        reasons.append("has a Derivation Description or Derivation Code")
    return reasons


def _context_reasons(ds: Dataset) -> list[str]:
    """Signs that are common in originals too, so they only support another sign."""
    reasons = []
    # Encapsulated documents carry a Conversion Type too (SC Equipment module).
    conversion = _text(ds, "ConversionType").strip().upper()
    if conversion:
        reasons.append(f"Conversion Type is {conversion[:16]}")
    if _text(ds, "BurnedInAnnotation").strip().upper() == "YES":
        reasons.append("Burned In Annotation is YES")
    if _text(ds, "Modality").strip().upper() == "OT":
        reasons.append("Modality is OT (other)")
    if ds.get("SourceImageSequence"):
        reasons.append("references source images")
    return reasons


def classify_support(ds: Dataset) -> SupportVerdict:
    """Return whether ``ds`` is an AI/CAD support image or another derived image, and why."""
    sop_class = _text(ds, "SOPClassUID").strip()
    image_type = _image_type(ds)
    ai = _ai_reasons(ds, sop_class, image_type)
    derived = _derived_reasons(ds, sop_class, image_type)
    if not ai and not derived:
        return SupportVerdict(None, ())
    kind = SupportKind.AI if ai else SupportKind.DERIVED
    return SupportVerdict(kind, tuple(ai + derived + _context_reasons(ds)))


def is_support_image(ds: Dataset) -> bool:
    """Tell whether ``ds`` is an AI/CAD result or another derived, non-original image."""
    return classify_support(ds).is_support
