"""The token slip a sender under test prints to file: which of its forms the harness reads, and
when their checks run, fail or are NOT RUN (``steps.token_forms``, ``steps.definitions.tokens``).

The whole exchange through a hook is in ``tests/test_conformance_sut.py``; these cover a slip
printed as an image, which cloudpdi's own sender never prints, and a slip never printed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cloudpdi.config_actors import SenderSut
from cloudpdi.config_triggers import Hook, HttpInbox
from cloudpdi.slip import write_slip
from harness.lab import ActorUnderTest
from simulators.delivery import write_token_files
from steps.definitions.tokens import NO_SLIP_FOLDER, _delivered_by_sut
from steps.sut import delivered_slip
from steps.token_forms import ELECTRONIC, NOT_ISSUED, SLIP_QR, TYPED, WORDS, WORDS_IN_IMAGE, Reading
from steps.token_forms import read_forms as read_token_forms
from tests.test_delivery import make_token
from tests.tools import require_tool


def sender(slip_folder: Path | None) -> SenderSut:
    """A sender under test behind a hook, given a slip folder or not."""
    return SenderSut(
        name="sender",
        trigger=Hook(argv=("send",)),
        token_inbox=HttpInbox(),
        slip_folder=slip_folder,
    )


def forms_with_image_slip(tmp_path: Path) -> dict[str, Reading]:
    """The forms a sender under test hands over, read back: its electronic token, and its slip
    printed as a PNG image of the page."""
    require_tool("zbarimg")
    token = make_token()
    files = write_token_files(token, tmp_path / "issued")
    files.qr.unlink()
    image = files.slip.with_suffix(".png")
    write_slip(token, image)
    files.slip.unlink()
    readings = read_token_forms(replace(files, slip=image), None, tmp_path / "scratch")
    assert readings[ELECTRONIC].token == token
    return readings


def test_a_slip_printed_as_an_image_shows_its_qr_code_but_not_its_words(tmp_path: Path) -> None:
    readings = forms_with_image_slip(tmp_path)

    assert readings[SLIP_QR].token == readings[ELECTRONIC].token
    assert readings[TYPED].problem == WORDS_IN_IMAGE
    # The QR code is compared; the words, which the harness cannot read, are NOT RUN.
    compared = _delivered_by_sut(readings, SLIP_QR, sender(tmp_path))
    assert set(compared) == {ELECTRONIC, SLIP_QR}
    for form in (WORDS, TYPED):
        with pytest.raises(ActorUnderTest, match="as an image"):
            _delivered_by_sut(readings, form, sender(tmp_path))


def test_a_slip_not_printed_fails_when_a_folder_was_given_and_is_not_run_without(
    tmp_path: Path,
) -> None:
    readings = forms_with_image_slip(tmp_path)
    unprinted = {
        form: Reading(form, reading.source, problem=NOT_ISSUED)
        if form in (SLIP_QR, TYPED)
        else reading
        for form, reading in readings.items()
    }

    # Given a folder, the slip it did not print stays among the forms: their comparison fails.
    compared = _delivered_by_sut(unprinted, SLIP_QR, sender(tmp_path))
    assert compared[SLIP_QR].token is None and compared[SLIP_QR].problem == NOT_ISSUED
    for form in (SLIP_QR, WORDS, TYPED, ELECTRONIC):
        with pytest.raises(ActorUnderTest, match=NO_SLIP_FOLDER.replace("[", r"\[")):
            _delivered_by_sut(unprinted, form, sender(None))


def test_the_slip_kept_beside_the_token_is_the_pdf_when_there_is_one(tmp_path: Path) -> None:
    issued = tmp_path / "delivered.jwe"

    assert delivered_slip(issued) == tmp_path / "delivered-slip.pdf"  # printed none: missing
    (tmp_path / "delivered-slip.png").write_bytes(b"png")
    assert delivered_slip(issued) == tmp_path / "delivered-slip.png"
    (tmp_path / "delivered-slip.pdf").write_bytes(b"pdf")
    assert delivered_slip(issued) == tmp_path / "delivered-slip.pdf"
