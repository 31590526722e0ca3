"""QR code and token slip, read back with an independent decoder (zbarimg)."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from cloudpdi.compact import to_compact
from cloudpdi.slip import (
    A5_PIXELS,
    QR_MAX_ALPHANUMERIC,
    SANS_FONT_PATHS,
    SlipFonts,
    Typeface,
    find_cjk_font,
    render_slip,
    slip_fields,
    token_qr,
    write_qr,
    write_slip,
)
from cloudpdi.token import Token, TokenTooLarge
from tests.secrecy import secret_forms
from tests.test_token import assert_no_leak, sample_token
from tests.tools import missing, require_tool

DEJAVU = next((path for path in SANS_FONT_PATHS if Path(path).is_file()), None)


def _zbar(path: Path) -> str:
    """Decode every symbol in an image with zbarimg; return its raw text."""
    result = subprocess.run(
        [require_tool("zbarimg"), "--raw", "-q", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.removesuffix("\n")


def _near_capacity_token() -> Token:
    """The largest token of ASCII description that still fits a version 40 QR code."""
    base = sample_token()
    low, high = 0, 4096
    while low < high:  # bisect on the description length
        middle = (low + high + 1) // 2
        candidate = replace(base, summary=replace(base.summary, description="d" * middle))
        if len(to_compact(candidate)) <= QR_MAX_ALPHANUMERIC:
            low = middle
        else:
            high = middle - 1
    return replace(base, summary=replace(base.summary, description="d" * low))


def _tokens() -> dict[str, Token]:
    token = sample_token()
    return {
        "full": token,
        "bare": replace(token, recipient=None, patient_ref=None),
        "near capacity": _near_capacity_token(),
    }


@pytest.mark.external
@pytest.mark.parametrize("name", ["full", "bare", "near capacity"])
def test_qr_png_decodes_to_exactly_the_compact_text(tmp_path: Path, name: str) -> None:
    token = _tokens()[name]
    path = tmp_path / "token.png"
    write_qr(token, path)
    assert _zbar(path) == to_compact(token)


def test_qr_is_alphanumeric_at_level_m() -> None:
    qr = token_qr(sample_token())
    assert qr.mode == "alphanumeric"
    assert qr.error == "M"
    assert token_qr(_near_capacity_token()).version == 40


def test_qr_svg_is_well_formed_xml(tmp_path: Path) -> None:
    path = tmp_path / "token.svg"
    write_qr(sample_token(), path)
    root = ET.parse(path).getroot()  # noqa: S314 - our own output, not untrusted input
    assert root.tag.endswith("svg")
    assert root.find(".//{http://www.w3.org/2000/svg}path") is not None


def test_absurdly_long_description_is_too_large(tmp_path: Path) -> None:
    base = sample_token()
    token = replace(base, summary=replace(base.summary, description="胸" * 4096))
    for write in (write_qr, write_slip):
        with pytest.raises(TokenTooLarge, match="at most 3391") as caught:
            write(token, tmp_path / "token.png")
        assert_no_leak(caught.value, token)
    assert not (tmp_path / "token.png").exists()


def test_unknown_file_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        write_qr(sample_token(), tmp_path / "token.jpg")
    with pytest.raises(ValueError, match=r"\.png or \.pdf"):
        write_slip(sample_token(), tmp_path / "slip.svg")


@pytest.mark.external
def test_slip_png_carries_a_readable_qr_code(tmp_path: Path) -> None:
    token = sample_token()
    path = tmp_path / "slip.png"
    write_slip(token, path)
    with Image.open(path) as image:
        assert image.size[0] == A5_PIXELS[0]
        assert image.size[1] >= A5_PIXELS[1]
        assert round(image.info["dpi"][0]) == 300
    assert _zbar(path) == to_compact(token)


@pytest.mark.external
def test_slip_of_the_largest_token_still_reads(tmp_path: Path) -> None:
    token = _near_capacity_token()
    path = tmp_path / "slip.png"
    write_slip(token, path)
    assert _zbar(path) == to_compact(token)


def test_slip_pdf_is_one_a5_page(tmp_path: Path) -> None:
    path = tmp_path / "slip.pdf"
    write_slip(sample_token(), path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert re.search(rb"/Type /Pages\b.*?/Count 1\b", data, re.DOTALL)
    box = re.search(rb"/MediaBox \[ ?0 0 ([\d.]+) ([\d.]+) ?\]", data)
    assert box is not None
    width_mm, height_mm = (float(value) / 72 * 25.4 for value in box.groups())
    assert abs(width_mm - 148) < 1
    assert abs(height_mm - 210) < 1


def test_slip_pdf_carries_its_printed_words_as_text_and_its_qr_code(tmp_path: Path) -> None:
    token = sample_token()
    path = tmp_path / "slip.pdf"
    write_slip(token, path)
    words = _pdf_tool("pdftotext", "-enc", "UTF-8", str(path), "-")
    for label, value in slip_fields(token):
        assert f"{label}: {value}" in words  # Japanese names too
    assert "".join(words.partition("HT1:")[2].split()) == to_compact(token).removeprefix("HT1:")
    _pdf_tool("pdftoppm", "-r", "150", "-png", "-singlefile", str(path), str(tmp_path / "page"))
    assert _zbar(tmp_path / "page.png") == to_compact(token)


def _pdf_tool(name: str, *arguments: str) -> str:
    """Run a poppler tool; return what it printed, failing on any complaint about the file."""
    result = subprocess.run(
        [require_tool(name), *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    return result.stdout


def test_slip_fields_show_the_token_but_not_its_secret() -> None:
    token = sample_token()
    shown = " ".join(f"{label} {value}" for label, value in slip_fields(token))
    for expected in ("東京中央病院", "1312345678", "横浜市民病院", "2025-03-08 09:30:00 UTC"):
        assert expected in shown
    assert "CT/SR, 1 study, 245 instances, 1 document, 131.1 MB" in shown
    assert f"Patient ref.: {token.patient_ref}".replace(":", "") in shown.replace(":", "")
    for form in secret_forms(token):
        assert form not in shown
    assert token.document_id not in shown
    bare = replace(token, patient_ref=None, recipient=None)
    labels = [label for label, _ in slip_fields(bare)]
    assert "Patient ref." not in labels
    assert "Recipient" not in labels


@pytest.mark.external
def test_characters_no_font_has_become_question_marks() -> None:
    if DEJAVU is None:
        missing("DejaVu Sans is not installed (Debian: fonts-dejavu-core)")
    latin_only = Typeface([DEJAVU], 30)
    assert "".join(run for run, _ in latin_only.runs("胸部 CT")) == "?? CT"
    default_only = Typeface([None], 30)
    assert "".join(run for run, _ in default_only.runs("胸部 CT")) == "?? CT"


@pytest.mark.external
def test_a_cjk_font_draws_japanese_when_installed() -> None:
    cjk = find_cjk_font()
    if cjk is None:
        missing("no Japanese font is installed (Debian: fonts-ipafont-gothic)")
    face = Typeface([DEJAVU, cjk], 30)
    runs = face.runs("胸部 CT")
    assert "".join(run for run, _ in runs) == "胸部 CT"
    assert {font.path for _, font in runs if "胸" in _} == {cjk}


@pytest.mark.external
def test_slip_without_any_font_file_still_renders(tmp_path: Path) -> None:
    token = sample_token()
    path = tmp_path / "slip.png"
    write_slip(token, path, fonts=SlipFonts(sans=None, cjk=None, mono=None))
    assert _zbar(path) == to_compact(token)


def test_slip_with_a_latin_font_only_renders() -> None:
    image = render_slip(sample_token(), fonts=SlipFonts(sans=DEJAVU, cjk=None, mono=DEJAVU))
    assert image.size[0] == A5_PIXELS[0]


def test_a_broken_font_file_falls_back_to_the_built_in_font(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    face = Typeface([str(broken)], 30)
    assert len(face.fonts) == 1
    assert "".join(run for run, _ in face.runs("胸部 CT")) == "?? CT"
    image = render_slip(sample_token(), fonts=SlipFonts(str(broken), str(broken), str(broken)))
    assert image.size[0] == A5_PIXELS[0]
