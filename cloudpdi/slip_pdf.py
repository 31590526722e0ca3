"""The token slip as a one-page PDF: the slip as drawn, and the words printed on it as text.

The page shows the drawn slip as a lossless image (Flate, so that the QR code keeps its sharp
edges); over each printed line lies the same line as invisible text (text render mode 3, as a
scanned document carries its recognised text: PDF 32000-1 9.3.6), so that a reader can search,
copy or extract the words printed on the slip. The text uses a Type0 font in Identity-H whose
character codes are the Unicode code points, and a ToUnicode CMap says so (9.10.3), so that
Japanese names extract as they print. Only the image is drawn: no font is embedded.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

#: Points per inch: PDF user space units (PDF 32000-1 8.3.2.3).
POINTS_PER_INCH = 72
#: Advance of every character of the text layer, in thousandths of the font size.
CHARACTER_WIDTH = 500
#: Text render mode "neither fill nor stroke": present for search and extraction, never seen.
INVISIBLE = 3
#: Character mappings per bfchar block of a CMap (a limit of the CMap format).
BFCHAR_BLOCK = 100
_REPLACEMENT = "?"


@dataclass(frozen=True)
class PrintedLine:
    """One line of text as drawn on the slip image: where it starts and how large, in pixels."""

    text: str
    x: float
    baseline: float
    size: float
    width: float


def _code(char: str) -> str:
    """The character code of ``char`` in the text layer: its code point, if two bytes hold it."""
    point = ord(char)
    if point > 0xFFFF or 0xD800 <= point <= 0xDFFF:
        point = ord(_REPLACEMENT)
    return f"{point:04X}"


def _string(text: str) -> str:
    return "<" + "".join(_code(char) for char in text) + ">"


def _content(lines: Sequence[PrintedLine], scale: float, page_height: float) -> bytes:
    """Draw the slip image over the page, then lay each printed line over it, invisibly."""
    parts = []
    for line in lines:
        if not line.text:
            continue
        size = line.size * scale
        natural = len(line.text) * size * CHARACTER_WIDTH / 1000
        # Stretch the text to the printed width, so that a selection covers what it copies.
        stretch = 100 * line.width * scale / natural if natural else 100
        parts.append(
            f"BT {INVISIBLE} Tr /F1 {size:.2f} Tf {stretch:.2f} Tz "
            f"1 0 0 1 {line.x * scale:.2f} {page_height - line.baseline * scale:.2f} Tm "
            f"{_string(line.text)} Tj ET"
        )
    return "\n".join(parts).encode("ascii")


def _to_unicode(text: str) -> bytes:
    """A ToUnicode CMap mapping the code of every character used back to that character."""
    codes = sorted({_code(char) for char in text})
    blocks = []
    for start in range(0, len(codes), BFCHAR_BLOCK):
        chunk = codes[start : start + BFCHAR_BLOCK]
        pairs = "\n".join(f"<{code}> <{code}>" for code in chunk)
        blocks.append(f"{len(chunk)} beginbfchar\n{pairs}\nendbfchar")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def _stream(dictionary: str, data: bytes) -> bytes:
    return (
        f"<< {dictionary} /Length {len(data)} >>\nstream\n".encode("ascii") + data + b"\nendstream"
    )


def write_slip_pdf(
    image: Image.Image, lines: Sequence[PrintedLine], dpi: int, path: str | os.PathLike[str]
) -> None:
    """Write ``image`` (the drawn slip, at ``dpi``) as one PDF page with ``lines`` as text."""
    rgb = image.convert("RGB")
    scale = POINTS_PER_INCH / dpi
    page_width, page_height = rgb.width * scale, rgb.height * scale
    drawing = f"q {page_width:.2f} 0 0 {page_height:.2f} 0 0 cm /Slip Do Q\n".encode(
        "ascii"
    ) + _content(lines, scale, page_height)
    words = "".join(line.text for line in lines)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_width:.2f} {page_height:.2f}] "
            "/Resources << /XObject << /Slip 4 0 R >> /Font << /F1 5 0 R >> >> "
            "/Contents 8 0 R >>"
        ).encode("ascii"),
        _stream(
            f"/Type /XObject /Subtype /Image /Width {rgb.width} /Height {rgb.height} "
            "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode",
            zlib.compress(rgb.tobytes()),
        ),
        b"<< /Type /Font /Subtype /Type0 /BaseFont /Helvetica /Encoding /Identity-H "
        b"/DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        (
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Helvetica "
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/FontDescriptor 9 0 R /DW {CHARACTER_WIDTH} /CIDToGIDMap /Identity >>"
        ).encode("ascii"),
        _stream("", _to_unicode(words)),
        _stream("/Filter /FlateDecode", zlib.compress(drawing)),
        b"<< /Type /FontDescriptor /FontName /Helvetica /Flags 32 "
        b"/FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 900 /Descent -200 "
        b"/CapHeight 700 /StemV 80 >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    out += b"".join(f"{offset:010d} 00000 n \n".encode("ascii") for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode("ascii")
    Path(path).write_bytes(bytes(out))
