"""The machine-readable symbol and the print form of an HI-TOKEN: QR code and token slip.

The QR code holds exactly the canonical compact text (:func:`cloudpdi.compact.to_compact`) in
alphanumeric mode at error correction level M. The slip is an A5 page at 300 dpi with the
QR code, the issuer, expiry and content summary, and the compact text in check groups for
typing by hand; the secret appears only inside those two, which is what a slip is for. As a
PDF it also carries its words as text (:mod:`cloudpdi.slip_pdf`).

Japanese text is drawn with a CJK font when one is installed (found with fontconfig or at
the Debian paths below); characters no installed font can draw are printed as ``?``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from cloudpdi.compact import GROUP_LENGTH
from cloudpdi.slip_pdf import PrintedLine, write_slip_pdf
from cloudpdi.token import Token, TokenTooLarge, format_timestamp, group_compact, to_compact

#: QR error correction level: 15 % of the symbol may be damaged (a folded or stained slip).
QR_ERROR = "M"
#: Alphanumeric characters a version 40 QR code holds at level M (ISO/IEC 18004 table 7).
QR_MAX_ALPHANUMERIC = 3391

DPI = 300
A5_PIXELS = (1748, 2480)
MARGIN = 110
TEXT_SIZE = 34
TITLE_SIZE = 52
CODE_SIZE = 32
MIN_MODULE_PIXELS = 6
MAX_DESCRIPTION_LINES = 4

WARNING = (
    "This slip is a key to medical data. Whoever holds it can download the data until "
    "it expires. Keep it safe and give it only to the receiving hospital."
)
WARNING_JA = (
    "この用紙は医療データを開く鍵です。有効期限まで、持っている人は誰でもデータを"
    "取得できます。大切に保管し、紹介先の医療機関にだけお渡しください。"
)

# Preferred Japanese fonts by Debian path: gothic (sans) before mincho, fallback last.
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
# Japanese closing punctuation (full-width on purpose) that must not start a line (kinsoku).
NO_LINE_START = frozenset("、。，．・：；？！）」』】〕ー")  # noqa: RUF001

SANS_FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)
MONO_FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",)


def token_qr(token: Token) -> segno.QRCode:
    """Return the QR code of the token's compact text, or raise TokenTooLarge."""
    return _qr(to_compact(token))


def _qr(text: str) -> segno.QRCode:
    if len(text) > QR_MAX_ALPHANUMERIC:
        raise TokenTooLarge(
            f"the token's compact text has {len(text)} characters; a QR code holds at most "
            f"{QR_MAX_ALPHANUMERIC} (shorten the description)"
        )
    return segno.make_qr(text, error=QR_ERROR, mode="alphanumeric", boost_error=False)


def write_qr(token: Token, path: str | os.PathLike[str], *, scale: int = 8) -> None:
    """Write the token's QR code as PNG or SVG, chosen by the file suffix."""
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in ("png", "svg"):
        raise ValueError("a QR code is written as .png or .svg")
    token_qr(token).save(os.fspath(path), kind=kind, scale=scale, border=4)


def _fontconfig(*arguments: str) -> list[str]:
    fc = shutil.which(arguments[0])
    if fc is None:
        return []
    try:
        result = subprocess.run(
            [fc, *arguments[1:]], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split(":")[0] for line in result.stdout.splitlines() if line.strip()]


def find_cjk_font() -> str | None:
    """Return the path of an installed font that draws Japanese, or None."""
    installed = set(_fontconfig("fc-list", ":lang=ja", "file"))
    preferred = [path for path in CJK_FONT_PATHS if Path(path).is_file()]
    others = sorted(path for path in installed if path not in preferred)
    return next(iter(preferred + others), None)


def _find_font(pattern: str, known: tuple[str, ...]) -> str | None:
    matches = _fontconfig("fc-match", "-f", "%{file}\n", pattern)
    return next((path for path in [*known, *matches] if Path(path).is_file()), None)


@dataclass(frozen=True)
class SlipFonts:
    """Font files for the slip; None means Pillow's built-in font."""

    sans: str | None
    cjk: str | None
    mono: str | None

    @classmethod
    def find(cls) -> SlipFonts:
        """Return the installed fonts: DejaVu (or fontconfig's choice) and a Japanese font."""
        return cls(
            sans=_find_font("sans-serif", SANS_FONT_PATHS),
            cjk=find_cjk_font(),
            mono=_find_font("monospace", MONO_FONT_PATHS),
        )


def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont | None:
    # A broken font file costs some characters ('?'), never the slip.
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return None


class Typeface:
    """Draws text with the first font that has each character; '?' where none has it."""

    def __init__(self, paths: list[str | None], size: int) -> None:
        self.size = size
        fonts = [font for path in paths if path and (font := _load_font(path, size))]
        self.fonts = fonts or [ImageFont.load_default(size=size)]
        # A character a font lacks renders as that font's .notdef glyph.
        self._notdef = [self._glyph(font, "\U0010fffd") for font in self.fonts]
        self._chosen: dict[str, ImageFont.FreeTypeFont | None] = {}

    @staticmethod
    def _glyph(font: ImageFont.FreeTypeFont, char: str) -> tuple[tuple[int, int], bytes]:
        mask = font.getmask(char)
        return mask.size, bytes(mask)

    def _font_for(self, char: str) -> ImageFont.FreeTypeFont | None:
        if char.isspace():
            return self.fonts[0]
        if char not in self._chosen:
            self._chosen[char] = next(
                (
                    font
                    for font, notdef in zip(self.fonts, self._notdef, strict=True)
                    if self._glyph(font, char) != notdef
                ),
                None,
            )
        return self._chosen[char]

    def runs(self, text: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        """Return the text cut into runs of one font each, undrawable characters as '?'."""
        runs: list[tuple[str, ImageFont.FreeTypeFont]] = []
        for char in text:
            font = self._font_for(char)
            if font is None:
                char, font = "?", self.fonts[0]
            if runs and runs[-1][1] is font:
                runs[-1] = (runs[-1][0] + char, font)
            else:
                runs.append((char, font))
        return runs

    def width(self, text: str) -> float:
        """Return the drawn width of ``text`` in pixels."""
        return sum(font.getlength(run) for run, font in self.runs(text))

    def draw(
        self, canvas: ImageDraw.ImageDraw, x: float, baseline: float, text: str, fill: str
    ) -> None:
        """Draw ``text`` with its left end on the baseline at (x, baseline)."""
        for run, font in self.runs(text):
            canvas.text((x, baseline), run, font=font, fill=fill, anchor="ls")
            x += font.getlength(run)

    def wrap(self, text: str, width: float) -> list[str]:
        """Break ``text`` into lines no wider than ``width``, at spaces where possible."""
        lines, line = [], ""
        for char in text:
            # Japanese closing punctuation never starts a line (kinsoku); it may overhang.
            if line and char not in NO_LINE_START and self.width(line + char) > width:
                cut = line.rfind(" ")
                if cut > 0:
                    lines.append(line[:cut])
                    line = line[cut + 1 :]
                else:
                    lines.append(line)
                    line = ""
            line += char
        return [*lines, line] if line else lines


@dataclass
class _Line:
    text: str
    face: Typeface
    fill: str = "black"
    gap_before: int = 0

    @property
    def height(self) -> int:
        return int(self.face.size * 1.35) + self.gap_before


def _human_size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    value, unit = float(size), "bytes"
    for unit in ("KB", "MB", "GB", "TB", "PB"):  # noqa: B007 - the last unit is the answer
        value /= 1000
        if value < 1000:
            break
    return f"{value:.1f} {unit}"


def _count(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _moment(token_time: datetime) -> str:
    return format_timestamp(token_time).replace("T", " ").replace("Z", " UTC")


def slip_fields(token: Token) -> list[tuple[str, str]]:
    """Return the labelled human-readable lines of a slip; the secret is not among them."""
    summary = token.summary
    content = ", ".join(
        [
            "/".join(summary.modalities) or "no images",
            _count(summary.study_count, "study", "studies"),
            _count(summary.instance_count, "instance", "instances"),
            _count(summary.document_count, "document", "documents"),
            _human_size(summary.total_bytes),
        ]
    )
    fields = [("Issuer", f"{token.issuer.name} ({token.issuer.id})")]
    if token.recipient is not None:
        fields.append(("Recipient", f"{token.recipient.name} ({token.recipient.id})"))
    fields += [
        ("Issued", _moment(token.issued_at)),
        ("Expires", _moment(token.expires_at)),
        ("Content", content),
    ]
    if token.patient_ref is not None:
        fields.append(("Patient ref.", token.patient_ref))
    fields.append(("Token ID", token.token_id))
    return fields


def _layout(token: Token, width: int, fonts: SlipFonts) -> list[_Line]:
    body = Typeface([fonts.sans, fonts.cjk], TEXT_SIZE)
    title = Typeface([fonts.sans, fonts.cjk], TITLE_SIZE)
    lines = [_Line("HI-TOKEN  Cloud-PDI token slip", title)]
    warning = WARNING + (" " + WARNING_JA if fonts.cjk else "")
    lines += [_Line(text, body, "#b00000") for text in body.wrap("WARNING: " + warning, width)]
    lines[1].gap_before = 20
    first = len(lines)
    for label, value in slip_fields(token):
        lines += [_Line(text, body) for text in body.wrap(f"{label}: {value}", width)]
    lines[first].gap_before = 30
    if token.summary.description:
        wrapped = body.wrap("Description: " + token.summary.description, width)
        if len(wrapped) > MAX_DESCRIPTION_LINES:
            wrapped = [
                *wrapped[: MAX_DESCRIPTION_LINES - 1],
                wrapped[MAX_DESCRIPTION_LINES - 1] + " ...",
            ]
        lines += [_Line(text, body) for text in wrapped]
    return lines


def _code_lines(text: str, width: int, fonts: SlipFonts) -> list[_Line]:
    mono = Typeface([fonts.mono], CODE_SIZE)
    per_line = max(1, int(width // mono.width("W" * (GROUP_LENGTH + 1))))
    grouped = group_compact(text, per_line=per_line)
    label = Typeface([fonts.sans], TEXT_SIZE)
    lines = [_Line("Manual entry (spaces and case do not matter):", label, gap_before=20)]
    return lines + [_Line(line, mono) for line in grouped.splitlines()]


def _qr_image(qr: segno.QRCode, module_pixels: int) -> Image.Image:
    rows = list(qr.matrix_iter(scale=1, border=4))
    side = len(rows)
    pixels = bytes(0 if dark else 255 for row in rows for dark in row)
    image = Image.frombytes("L", (side, side), pixels)
    return image.resize((side * module_pixels, side * module_pixels), Image.Resampling.NEAREST)


def render_slip(token: Token, *, fonts: SlipFonts | None = None) -> Image.Image:
    """Return the token slip as an RGB image at 300 dpi: A5, taller only if the token is huge."""
    return _draw_slip(token, fonts or SlipFonts.find())[0]


def _draw_slip(token: Token, fonts: SlipFonts) -> tuple[Image.Image, list[PrintedLine]]:
    """Draw the slip; return it with every line of text as drawn, for the PDF's text layer."""
    text = to_compact(token)
    qr = _qr(text)
    page_width, page_height = A5_PIXELS
    width = page_width - 2 * MARGIN
    top = _layout(token, width, fonts)
    bottom = _code_lines(text, width, fonts)
    text_height = sum(line.height for line in top + bottom)
    modules = qr.symbol_size(scale=1, border=4)[0]
    room = page_height - 2 * MARGIN - text_height - 60
    module_pixels = max(MIN_MODULE_PIXELS, min(width, room) // modules)
    qr_image = _qr_image(qr, module_pixels)
    height = max(page_height, 2 * MARGIN + text_height + 60 + qr_image.height)
    page = Image.new("RGB", (page_width, height), "white")
    canvas = ImageDraw.Draw(page)
    printed: list[PrintedLine] = []

    def draw(line: _Line, y: float) -> None:
        baseline = y - line.face.size * 0.35
        line.face.draw(canvas, MARGIN, baseline, line.text, line.fill)
        width = line.face.width(line.text)
        printed.append(PrintedLine(line.text, MARGIN, baseline, line.face.size, width))

    y = MARGIN
    for line in top:
        y += line.height
        draw(line, y)
    y += 30
    page.paste(qr_image, ((page_width - qr_image.width) // 2, y))
    y += qr_image.height + 30
    for line in bottom:
        y += line.height
        draw(line, y)
    return page, printed


def write_slip(
    token: Token, path: str | os.PathLike[str], *, fonts: SlipFonts | None = None
) -> None:
    """Write the printable token slip as PNG or PDF (with its words as text), by file suffix."""
    kind = Path(path).suffix.lower()
    if kind not in (".png", ".pdf"):
        raise ValueError("a token slip is written as .png or .pdf")
    image, printed = _draw_slip(token, fonts or SlipFonts.find())
    if kind == ".pdf":
        write_slip_pdf(image, printed, DPI, path)
    else:
        image.save(path, "PNG", dpi=(DPI, DPI))
