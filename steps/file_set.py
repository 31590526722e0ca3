"""What the file-set steps work with: syntaxes by name, broken file sets, an independent checker.

The independent media checker is dicom3tools' ``dciodvfy``: it checks the DICOMDIR against the
Basic Directory IOD with its own reader, sharing no code with our builder or validator.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from PIL import Image
from pydicom import dcmread
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    RLELossless,
)

from cloudpdi.pdi_findings import ValidationReport
from cloudpdi.pdi_layout import INDEX
from fixtures.broken import BrokenCase
from harness.lab import Lab
from harness.pacs_actor import simulated_only
from steps.envelope import Envelope, Envelopes

__all__ = ["SYNTAXES", "Broken", "Envelopes", "checker_errors", "held_syntaxes", "web_views"]

#: The transfer syntaxes a scenario may say a PACS holds images in, by the names people use.
SYNTAXES = {
    "Explicit VR Little Endian": ExplicitVRLittleEndian,
    "Implicit VR Little Endian": ImplicitVRLittleEndian,
    "Deflated Explicit VR Little Endian": DeflatedExplicitVRLittleEndian,
    "RLE Lossless": RLELossless,
    "JPEG Lossless": JPEGLosslessSV1,
    "JPEG Baseline": JPEGBaseline8Bit,
    "JPEG 2000 Lossless": JPEG2000Lossless,
}
#: The independent checker of DICOM objects (dicom3tools), and how long it may take.
MEDIA_CHECKER = "dciodvfy"
_CHECKER_TIMEOUT = 120


@dataclass(frozen=True)
class Broken:
    """A file set from the envelope broken one way, and the judgement on it."""

    case: BrokenCase
    #: The envelope whose file set was broken (its own judgement is the clean one).
    envelope: Envelope
    #: None when the file set could not be broken that way (``problem`` says why).
    validation: ValidationReport | None
    problem: str = ""


def checker_errors(dicomdir: Path) -> list[str]:
    """Return the errors dciodvfy reports about ``dicomdir`` (its warnings are left out).

    Raises FileNotFoundError when dciodvfy is not installed.
    """
    tool = shutil.which(MEDIA_CHECKER)
    if tool is None:
        raise FileNotFoundError(f"{MEDIA_CHECKER} (dicom3tools) is not on PATH")
    done = subprocess.run(
        [tool, str(dicomdir)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=_CHECKER_TIMEOUT,
        check=False,
    )
    # dicom3tools report on standard error, one finding a line.
    return [line for line in done.stderr.splitlines() if line.startswith("Error")]


def held_syntaxes(lab: Lab, files: Iterable[Path]) -> set[str]:
    """The transfer syntaxes the sending hospital's PACS holds the instances of ``files`` in."""
    # A PACS under test may send an instance back in another syntax than the one it keeps.
    simulated_only(lab.source, "this scenario needs the transfer syntax a PACS keeps images in")
    held = set()
    for path in files:
        uid = str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        stored = lab.source.path_of(uid)
        if stored is None:
            held.add("")
        else:
            held.add(str(dcmread(stored, stop_before_pixels=True).file_meta.TransferSyntaxUID))
    return held


def web_views(envelope: Envelope) -> list[str]:
    """The distinct pictures INDEX.HTM shows that open as images, as paths in the file set.

    A picture counts once however often the page shows it, and only if it lies inside the
    file set: a page that shows pictures from elsewhere mirrors nothing of the medium.
    """
    root = envelope.folder
    index = None if root is None else root / INDEX
    if root is None or index is None or not index.is_file():
        return []
    finder = _ImageSources()
    finder.feed(index.read_text(encoding="utf-8", errors="replace"))
    views = []
    for source in dict.fromkeys(finder.sources):
        target = (root / unquote(source)).resolve()
        if not target.is_relative_to(root.resolve()) or not target.is_file():
            continue
        try:
            with Image.open(target) as picture:
                picture.verify()
        except (OSError, SyntaxError, ValueError):
            continue  # not a picture a browser could show
        views.append(target.relative_to(root.resolve()).as_posix())
    return sorted(set(views))


class _ImageSources(HTMLParser):
    """Collects the ``src`` of every ``img`` element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.extend(value for name, value in attrs if name == "src" and value)
