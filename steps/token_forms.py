"""The forms of one token, read back as a patient or a receiving hospital reads them.

The sending hospital issues one token in several forms: the electronic token, the sealed
electronic token, the QR code (an image of its own, and printed on the token slip), the words
printed on the slip and, among them, the code for typing by hand. Each form is read here with
tools independent of the reference receiver (which decodes QR codes with zxing-cpp): poppler
renders the slip (``pdftoppm``) and extracts its words (``pdftotext``), and ZBar decodes QR
codes (``zbarimg``). The patient's side makes what a patient hands over: a scan of the slip, a
photo of its QR code, the code typed in by hand.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from cloudpdi.compact import CHECK_ALPHABET, PREFIX
from cloudpdi.errors import CloudPDIError
from cloudpdi.slip import slip_fields
from cloudpdi.token import Token, from_compact
from cloudpdi.token_input import SealKeys, read_token_file
from simulators.delivery import TokenFiles
from steps.errors import StepError

SLIP_QR = "QR code on the token slip"
WORDS = "words printed on the token slip"
TYPED = "code for typing by hand"
SEALED = "sealed electronic token"
QR_IMAGE = "QR code image"
ELECTRONIC = "electronic token"
#: Resolution of a scan of the token slip, as an office scanner makes it.
SCAN_DPI = 200
#: Resolution the harness reads the slip's QR code at: a phone camera sees no more.
SLIP_READ_DPI = 150
#: Seconds a command-line reader may take over one form.
TOOL_TIMEOUT = 60
# A line of the code for typing by hand: groups of code characters, separated by spaces.
_GROUPS = re.compile(rf"[{re.escape(CHECK_ALPHABET)}]+( [{re.escape(CHECK_ALPHABET)}]+)*")
_SLIP = "*-slip.pdf"
_QR = "*-qr.png"


@dataclass(frozen=True)
class Reading:
    """One form of the token as read back: the file it is in, and the token or the problem."""

    form: str
    source: Path
    token: Token | None = None
    problem: str = ""


def run_tool(name: str, *arguments: str) -> str:
    """Run a command-line reader; return what it printed, or raise why it could not read."""
    tool = shutil.which(name)
    if tool is None:
        raise StepError(f"{name} is not installed: the harness cannot read this form")
    result = subprocess.run(
        [tool, *arguments], capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise CloudPDIError(f"{name} read nothing ({result.stderr.strip() or result.returncode})")
    return result.stdout


def decode_qr(image: Path) -> str:
    """Decode the QR code in ``image`` with ZBar."""
    return run_tool("zbarimg", "--raw", "-q", str(image)).removesuffix("\n")


def render_page(pdf: Path, out: Path, *, dpi: int, png: bool = True) -> Path:
    """Render the first page of ``pdf`` in grey at ``dpi``: a PNG image, or a plain PGM one
    (quicker to write, for a reader that needs no image file a person would keep)."""
    kind = ["-png"] if png else []
    run_tool("pdftoppm", "-r", str(dpi), "-gray", *kind, "-singlefile", str(pdf), str(out))
    return out.with_suffix(".png" if png else ".pgm")


def printed_words(slip: Path) -> str:
    """Return the words printed on the token slip, as its text extracts."""
    return run_tool("pdftotext", "-enc", "UTF-8", str(slip), "-")


def printed_code(words: str) -> str:
    """Return the code for typing by hand among the printed words, line by line as printed."""
    start = words.find(PREFIX)
    if start < 0:
        raise CloudPDIError(f"no code starting {PREFIX} is printed on the token slip")
    first, *rest = words[start:].splitlines()
    return "\n".join([first, *takewhile(lambda line: _GROUPS.fullmatch(line.strip()), rest)])


def shown_items(token: Token) -> list[str]:
    """The items a token slip shows in words, as the reference binding's slip prints them."""
    return [f"{label}: {value}" for label, value in slip_fields(token)]


def without_spaces(text: str) -> str:
    """Return ``text`` without white space: a printed line may wrap anywhere, even in a word."""
    return "".join(text.split())


def issued_files(inbox: Path, token_id: str) -> TokenFiles:
    """The files of token ``token_id`` the sending hospital delivered into ``inbox``."""
    return TokenFiles.named(inbox, token_id, sealed=True)


#: What a reading says of a form the sending hospital did not hand over.
NOT_ISSUED = "it was not issued"
#: What a reading says of the words on a slip printed as an image: the harness reads no images
#: of text (it has no OCR), only the text of a PDF.
WORDS_IN_IMAGE = "its words are printed in an image, which the harness does not read"


def is_pdf(slip: Path) -> bool:
    """Tell whether a token slip was printed as a PDF document (else it is an image)."""
    return slip.suffix == ".pdf"


def slip_image(slip: Path, scratch: Path) -> Path:
    """The token slip as an image: the slip itself, or its PDF page rendered as a phone sees it."""
    if not is_pdf(slip):
        return slip
    return render_page(slip, scratch / "slip", dpi=SLIP_READ_DPI, png=False)


def read_forms(files: TokenFiles, keys: SealKeys | None, scratch: Path) -> dict[str, Reading]:
    """Read every form of the token in ``files`` that carries a whole token.

    The words printed on the slip carry only some items, so they are read apart
    (:func:`printed_words`); the code for typing by hand among them carries every item.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    readers: dict[str, tuple[Path | None, Callable[[Path], Token]]] = {
        ELECTRONIC: (files.json, read_token_file),
        SEALED: (files.sealed, lambda path: read_token_file(path, keys=keys)),
        QR_IMAGE: (files.qr, lambda path: from_compact(decode_qr(path))),
        SLIP_QR: (files.slip, lambda path: from_compact(decode_qr(slip_image(path, scratch)))),
        TYPED: (files.slip, lambda path: from_compact(printed_code(printed_words(path)))),
    }
    readings = {}
    for form, (source, read) in readers.items():
        if source is None or not source.is_file():
            readings[form] = Reading(form, source or files.json, problem=NOT_ISSUED)
            continue
        if form == TYPED and not is_pdf(source):
            readings[form] = Reading(form, source, problem=WORDS_IN_IMAGE)
            continue
        try:
            readings[form] = Reading(form, source, token=read(source))
        except CloudPDIError as exc:
            readings[form] = Reading(form, source, problem=str(exc))
    return readings


#: Makes, from the token inbox, the folder the receiving hospital is handed the token in.
Handing = Callable[[Path, Path], Path]


def as_delivered(inbox: Path, folder: Path) -> Path:
    """The token inbox itself: the electronic token as the sending hospital delivered it."""
    return inbox


def sealed_token(inbox: Path, folder: Path) -> Path:
    """Only the sealed electronic tokens of the inbox, so that no other form stands in."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in inbox.glob("*.jwe"):
        shutil.copyfile(path, folder / path.name)
    return folder


def slip_scan(inbox: Path, folder: Path) -> Path:
    """A grey scan of the printed token slip, as an office scanner makes it."""
    folder.mkdir(parents=True, exist_ok=True)
    render_page(_delivered(inbox, _SLIP, "token slip"), folder / "scan", dpi=SCAN_DPI)
    return folder


def qr_photo(inbox: Path, folder: Path) -> Path:
    """A photo of the QR code: smaller, a little turned, on a grey desk, in dull light."""
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(_delivered(inbox, _QR, "QR code")) as symbol:
        grey = symbol.convert("L")
    small = grey.resize((grey.width * 3 // 4, grey.height * 3 // 4), Image.Resampling.BILINEAR)
    turned = small.rotate(5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=200)
    dull = ImageOps.autocontrast(turned).point(lambda level: 40 + level * 170 // 255)
    photo = ImageOps.expand(dull, border=60, fill=190)
    photo.save(folder / "photo.png")
    return folder


def typed_code(inbox: Path, folder: Path) -> Path:
    """The code for typing by hand, typed as printed on the slip (in lower case)."""
    return _typed(inbox, folder, printed_code(printed_words(_delivered(inbox, _SLIP, "slip"))))


def typed_code_one_wrong(inbox: Path, folder: Path) -> Path:
    """The code for typing by hand, typed with one character wrong (in its third group)."""
    code = printed_code(printed_words(_delivered(inbox, _SLIP, "token slip")))
    # The first character after the prefix and two groups of five: inside the third group.
    where = code.index(PREFIX) + len(PREFIX)
    where += next(i for i, char in enumerate(code[where:]) if char.isalnum()) + 12
    wrong = "B" if code[where] == "A" else "A"
    return _typed(inbox, folder, code[:where] + wrong + code[where + 1 :])


def _typed(inbox: Path, folder: Path, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # Case does not matter to a reader of the code: typing it in lower case shows that.
    (folder / "typed.txt").write_text(code.lower() + "\n", encoding="utf-8")
    return folder


def _delivered(inbox: Path, pattern: str, what: str) -> Path:
    """The one file of ``pattern`` the sending hospital delivered; not run without one."""
    found = sorted(inbox.glob(pattern))
    if len(found) != 1:
        pytest.skip(f"the sending hospital delivered {len(found)} {what} files, not one")
    return found[0]
