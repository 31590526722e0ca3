"""Reading a token from what a receiver is handed: text, files, sealed tokens, QR images."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from joserfc import jwe, jws
from joserfc.jwk import ECKey
from PIL import Image, ImageFilter

from cloudpdi.seal import (
    CONTENT_ENCRYPTION,
    KEY_AGREEMENT,
    SIGNATURE_ALGORITHM,
    generate_facility_key,
    public_key_pem,
    save_private_key,
    seal_token,
)
from cloudpdi.slip import write_qr, write_slip
from cloudpdi.token import (
    Facility,
    Token,
    TokenCheckCodeError,
    TokenMalformed,
    TokenRecipientError,
    TokenSignatureError,
    to_compact,
    to_json,
)
from cloudpdi.token_input import (
    MAX_IMAGE_PIXELS,
    MAX_TEXT_BYTES,
    SealKeys,
    TokenForm,
    TokenInputError,
    UntrustedIssuerError,
    decode_qr,
    read_token,
    read_token_file,
    read_token_text,
    token_form,
)
from tests.test_token import assert_no_leak, sample_token
from tests.tools import require_tool

ISSUER_KEY = generate_facility_key()
OTHER_ISSUER_KEY = generate_facility_key()
RECIPIENT_KEY = generate_facility_key()
TOKEN = sample_token()
ISSUER_ID = TOKEN.issuer.id
OTHER_ID = "1399999999"
KEYS = SealKeys(
    recipient_key=RECIPIENT_KEY,
    trusted_issuers={ISSUER_ID: ISSUER_KEY, OTHER_ID: OTHER_ISSUER_KEY},
)


def sealed(
    token: Token = TOKEN, issuer: ECKey = ISSUER_KEY, recipient: ECKey = RECIPIENT_KEY
) -> str:
    return seal_token(token, issuer_key=issuer, recipient_public_key=recipient)


def sealed_without_kid(token: Token, issuer: ECKey) -> str:
    """A sealed token whose signature names no key: the reader goes by the issuer named."""
    signed = jws.serialize_compact(
        {"alg": SIGNATURE_ALGORITHM}, to_json(token).encode(), issuer, algorithms=["ES256"]
    )
    header = {"alg": KEY_AGREEMENT, "enc": CONTENT_ENCRYPTION, "cty": "JOSE"}
    return jwe.encrypt_compact(
        header, signed.encode(), RECIPIENT_KEY, algorithms=[KEY_AGREEMENT, CONTENT_ENCRYPTION]
    )


@pytest.mark.parametrize(
    ("text", "form"),
    [
        (to_compact(TOKEN), TokenForm.COMPACT),
        ("  " + to_compact(TOKEN).lower() + "\n", TokenForm.COMPACT),
        (to_json(TOKEN), TokenForm.JSON),
        ("\n" + to_json(TOKEN) + "\n", TokenForm.JSON),
        (sealed(), TokenForm.SEALED),
    ],
    # The texts are random: fixed IDs let every worker of a parallel run collect the same tests.
    ids=["compact", "compact-spaced-lower-case", "json", "json-between-blank-lines", "sealed"],
)
def test_every_text_form_reads_back(text: str, form: TokenForm) -> None:
    assert token_form(text) is form
    assert read_token_text(text, keys=KEYS) == TOKEN
    assert read_token(text, keys=KEYS) == TOKEN


def test_a_token_is_passed_through() -> None:
    assert read_token(TOKEN) is TOKEN


def test_a_forced_form_is_not_guessed() -> None:
    with pytest.raises(TokenMalformed):
        read_token_text(to_json(TOKEN), form=TokenForm.COMPACT)


def test_mistyped_compact_text_names_the_group_not_the_text() -> None:
    text = to_compact(TOKEN)
    typo = text[:10] + ("A" if text[10] != "A" else "B") + text[11:]
    with pytest.raises(TokenCheckCodeError, match="group") as caught:
        read_token_text(typo)
    assert_no_leak(caught.value, TOKEN)
    assert text[4:20] not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("token.txt", to_compact(TOKEN).encode()),
        ("token.json", b"\xef\xbb\xbf" + to_json(TOKEN).encode()),
        ("token.jwe", sealed().encode()),
    ],
    ids=["compact", "json-with-byte-order-mark", "sealed"],
)
def test_token_files_in_each_text_form(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    assert read_token(tmp_path / name, keys=KEYS) == TOKEN


def test_qr_png_written_by_write_qr(tmp_path: Path) -> None:
    write_qr(TOKEN, tmp_path / "qr.png")
    assert read_token_file(tmp_path / "qr.png") == TOKEN


def test_whole_token_slip_png(tmp_path: Path) -> None:
    write_slip(TOKEN, tmp_path / "slip.png")
    assert read_token(tmp_path / "slip.png") == TOKEN


def test_a_photographed_slip_rotated_scaled_and_blurred(tmp_path: Path) -> None:
    write_slip(TOKEN, tmp_path / "slip.png")
    with Image.open(tmp_path / "slip.png") as slip:
        photo = slip.convert("L").rotate(97, expand=True, fillcolor=180)
        photo = photo.resize((photo.width * 2 // 3, photo.height * 2 // 3))
        photo = photo.filter(ImageFilter.GaussianBlur(1.2))
        photo.save(tmp_path / "photo.jpg", quality=70)
    assert read_token_file(tmp_path / "photo.jpg") == TOKEN


def test_an_image_without_a_qr_code(tmp_path: Path) -> None:
    Image.new("L", (300, 300), 255).save(tmp_path / "blank.png")
    with pytest.raises(TokenInputError, match="no readable QR code"):
        read_token_file(tmp_path / "blank.png")


def test_an_image_with_two_tokens_is_refused(tmp_path: Path) -> None:
    other = sample_token()
    for name, token in (("a.png", TOKEN), ("b.png", other)):
        write_qr(token, tmp_path / name, scale=4)
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.png") as b:
        both = Image.new("L", (a.width + b.width + 40, max(a.height, b.height)), 255)
        both.paste(a, (0, 0))
        both.paste(b, (a.width + 40, 0))
    with pytest.raises(TokenInputError, match="2 different QR codes"):
        decode_qr(both)


def test_a_pdf_slip_is_refused_with_advice(tmp_path: Path) -> None:
    write_slip(TOKEN, tmp_path / "slip.pdf")
    with pytest.raises(TokenInputError, match="save it as PNG"):
        read_token_file(tmp_path / "slip.pdf")


def test_oversized_inputs_are_refused_before_parsing(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"H" * (MAX_TEXT_BYTES + 1))
    with pytest.raises(TokenInputError, match="larger than"):
        read_token_file(tmp_path / "big.txt")
    with pytest.raises(TokenInputError, match="longer than"):
        read_token_text("H" * (MAX_TEXT_BYTES + 1))
    side = int(MAX_IMAGE_PIXELS**0.5) + 1
    Image.new("1", (side, side), 1).save(tmp_path / "huge.png")
    with pytest.raises(TokenInputError, match="more than"):
        read_token_file(tmp_path / "huge.png")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(TokenInputError, match="cannot read the token file"):
        read_token_file(tmp_path / "missing.txt")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TokenInputError, match="neither UTF-8 text nor an image"):
        read_token_file(tmp_path / "binary")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(TokenInputError, match="cannot be decoded"):
        read_token_file(tmp_path / "broken.png")


# --- sealed tokens ---------------------------------------------------------------------


def test_sealed_token_needs_the_keys() -> None:
    with pytest.raises(TokenInputError, match="needs the facility key"):
        read_token_text(sealed())


def test_sealed_by_an_untrusted_issuer_is_refused() -> None:
    stranger = generate_facility_key()
    with pytest.raises(UntrustedIssuerError, match="no trusted issuer"):
        read_token_text(sealed(issuer=stranger), keys=KEYS)


def test_no_trusted_issuers_configured() -> None:
    keys = SealKeys(recipient_key=RECIPIENT_KEY)
    with pytest.raises(UntrustedIssuerError, match="no trusted issuer keys are configured"):
        read_token_text(sealed(), keys=keys)


def test_a_trusted_key_cannot_vouch_for_another_issuer() -> None:
    # OTHER_ID's key signs a token that claims to come from ISSUER_ID.
    with pytest.raises(TokenSignatureError, match="names another issuer"):
        read_token_text(sealed(issuer=OTHER_ISSUER_KEY), keys=KEYS)


def test_without_kid_the_named_issuer_key_must_verify() -> None:
    assert read_token_text(sealed_without_kid(TOKEN, ISSUER_KEY), keys=KEYS) == TOKEN
    with pytest.raises(TokenSignatureError):
        read_token_text(sealed_without_kid(TOKEN, OTHER_ISSUER_KEY), keys=KEYS)
    unknown = replace(TOKEN, issuer=Facility("1300000000", "unknown hospital"))
    with pytest.raises(UntrustedIssuerError, match="not a trusted issuer"):
        read_token_text(sealed_without_kid(unknown, ISSUER_KEY), keys=KEYS)


def test_sealed_for_another_recipient_or_altered() -> None:
    with pytest.raises(TokenRecipientError):
        read_token_text(sealed(recipient=generate_facility_key()), keys=KEYS)
    text = sealed()
    header, key, iv, ciphertext, tag = text.split(".")
    flipped = ciphertext[:-2] + ("A" if ciphertext[-2] != "A" else "B") + ciphertext[-1]
    with pytest.raises(TokenSignatureError, match="altered") as caught:
        read_token_text(".".join([header, key, iv, flipped, tag]), keys=KEYS)
    assert_no_leak(caught.value, TOKEN)


def test_seal_keys_load_from_pem_files(tmp_path: Path) -> None:
    save_private_key(RECIPIENT_KEY, tmp_path / "facility.pem")
    (tmp_path / "issuer.pem").write_text(public_key_pem(ISSUER_KEY))
    keys = SealKeys.load(tmp_path / "facility.pem", {ISSUER_ID: tmp_path / "issuer.pem"})
    assert read_token_text(sealed(), keys=keys) == TOKEN
    assert "PRIVATE" not in repr(keys)


@pytest.mark.external
def test_zxing_and_zbarimg_read_the_same_text(tmp_path: Path) -> None:
    write_slip(TOKEN, tmp_path / "slip.png")
    result = subprocess.run(
        [require_tool("zbarimg"), "--raw", "-q", str(tmp_path / "slip.png")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert decode_qr(tmp_path / "slip.png") == result.stdout.removesuffix("\n")
    assert decode_qr(io.BytesIO((tmp_path / "slip.png").read_bytes())) == to_compact(TOKEN)
