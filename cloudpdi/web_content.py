"""Web content of a PDI file set: the study as a browser shows it (IHE RAD TF-1 PDI Web Content).

The option puts ``INDEX.HTM`` at the root of the file set and everything else it needs under
``IHE_PDI/``: a JPEG rendering of every image, in folders that mirror the DICOM tree
(``DICOM/PT000001/ST000001/SE000001/IM000001`` is shown by
``IHE_PDI/PT000001/ST000001/SE000001/IM000001.JPG``). ``INDEX.HTM`` lists the patient's
studies and series as the DICOMDIR does, with every image in order. Renderings are made one
image at a time while the file set is written, so memory does not grow with the study.
"""

from __future__ import annotations

import html
import io
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from cloudpdi.errors import CloudPDIError
from cloudpdi.pdi_layout import WEB_FOLDER

#: Extension of a rendering (ISO 9660 8.3: three letters).
RENDERING_EXTENSION = ".JPG"
#: Longest side of a rendering in pixels: enough to read on a screen, small beside the DICOM.
MAX_RENDERING_SIDE = 1024
JPEG_QUALITY = 85
_MONOCHROME1 = "MONOCHROME1"


class RenderingError(CloudPDIError):
    """An image cannot be rendered for a browser (pixel data that cannot be decoded here)."""


@dataclass(frozen=True)
class WebImage:
    """One image as the web content shows it: where its rendering lies, under which headings."""

    #: Path of the rendering in the file set, as components.
    parts: tuple[str, ...]
    patient: str
    study: str
    series: str
    caption: str

    @property
    def href(self) -> str:
        return "/".join(self.parts)


def web_image(file_id: Sequence[str], header: Dataset) -> WebImage:
    """Describe the rendering of the image at ``file_id`` (``DICOM/PT.../IM...``)."""
    *folders, name = file_id[1:]
    study_date = str(header.get("StudyDate", ""))
    series_number = header.get("SeriesNumber", "")
    return WebImage(
        parts=(WEB_FOLDER, *folders, name + RENDERING_EXTENSION),
        patient=f"{header.get('PatientName', '')} ({header.get('PatientID', '')})",
        study=" ".join(filter(None, [study_date, str(header.get("StudyDescription", ""))]))
        or str(header.get("StudyInstanceUID", "")),
        series=f"{header.get('Modality', '')} series {series_number} "
        f"{header.get('SeriesDescription', '')}".strip(),
        caption=f"Image {header.get('InstanceNumber', '')}".strip(),
    )


def render_image(source: Path) -> bytes:
    """Return a JPEG of the first frame of the DICOM image at ``source``, windowed for display.

    The modality LUT (rescale) and the image's own VOI LUT or window are applied as a viewer
    would; without either, the pixel range is stretched to 8 bits.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's notes on odd values do not stop a rendering
        dataset = dcmread(source)
        try:
            pixels = dataset.pixel_array
        except (RuntimeError, NotImplementedError, ValueError, AttributeError) as exc:
            raise RenderingError(f"cannot decode the pixels of {source.name}: {exc}") from None
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[0]
    if int(dataset.get("SamplesPerPixel", 1)) == 1:
        image = Image.fromarray(_grey(dataset, pixels), mode="L")
    else:
        image = Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")
    image.thumbnail((MAX_RENDERING_SIDE, MAX_RENDERING_SIDE))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _grey(dataset: Dataset, pixels: np.ndarray) -> np.ndarray:
    """Map stored values to 8-bit grey as a viewer shows them (white is high but in MONO1)."""
    values = apply_modality_lut(pixels, dataset)
    if "WindowCenter" in dataset or "VOILUTSequence" in dataset:
        values = apply_voi_lut(values, dataset)
    values = values.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0.0
    grey = scaled.round().astype(np.uint8)
    if str(dataset.get("PhotometricInterpretation", "")) == _MONOCHROME1:
        grey = 255 - grey
    return grey


def index_page(images: Sequence[WebImage], rendered: Collection[str], institution: str) -> bytes:
    """Return INDEX.HTM: every patient, study and series in order, each image with its caption.

    ``rendered`` holds the paths of the renderings made; an image without one is listed with
    a note, so that the page still accounts for every image of the DICOM content.
    """
    lines = [
        "<!DOCTYPE html>",
        '<html lang="ja">',
        '<head><meta charset="utf-8"><title>DICOM images</title></head>',
        "<body>",
        f"<h1>{html.escape(institution)}</h1>",
        "<p>The DICOM images of this file set, as a browser shows them. Open DICOMDIR in a "
        "DICOM viewer for the images themselves.</p>",
    ]
    shown: tuple[str, ...] = ()
    for image in images:
        headings = (image.patient, image.study, image.series)
        for depth, text in enumerate(headings):
            if headings[: depth + 1] != shown[: depth + 1]:
                lines.append(f"<h{depth + 2}>{html.escape(text)}</h{depth + 2}>")
        shown = headings
        caption = html.escape(image.caption)
        if image.href in rendered:
            view = f'<img src="{html.escape(image.href)}" alt="{caption}">'
        else:
            view = "<p>(no browser view of this image: open it in a DICOM viewer)</p>"
        lines.append(f"<figure>{view}<figcaption>{caption}</figcaption></figure>")
    lines += ["</body>", "</html>", ""]
    return "\r\n".join(lines).encode("utf-8")
