"""The aes256gcm-stream/1 envelope: round trips, the documented layout, tampering refused."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import os
import stat
import struct
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudpdi import envelope_aes256gcm
from cloudpdi.envelope import (
    SCHEME_ID,
    SCHEMES,
    EnvelopeAuthenticationError,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeKeyError,
    EnvelopeTruncatedError,
    EnvelopeWriter,
    ciphertext_digest,
    decrypt_stream,
    decrypt_to_file,
    encrypt_stream,
    get_scheme,
)
from cloudpdi.secret import Secret
from tests.tools import require_tool

SECRET = Secret(bytes(range(32)))
DOCUMENT_ID = "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"
HEADER_LENGTH = 70
TAG = 16
CHUNK = 64


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    """RFC 5869 HKDF-SHA256 with a 32-byte output, written from the RFC, not from our module."""
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


KEY = _hkdf(SECRET.reveal(), DOCUMENT_ID.encode(), b"aes256gcm-stream/1")


def _third_party_decrypt(data: bytes, secret: bytes, document_id: str) -> bytes:
    """Open an envelope using only the byte layout documented in envelope_aes256gcm."""
    assert data[:8] == b"CPDIENV1"
    assert data[8] == 18 and data[9:27] == b"aes256gcm-stream/1"
    (chunk_size,) = struct.unpack(">I", data[27:31])
    prefix, commitment = data[31:38], data[38:70]
    salt = document_id.encode("utf-8")
    key = _hkdf(secret, salt, b"aes256gcm-stream/1")
    assert commitment == _hkdf(secret, salt, b"aes256gcm-stream/1 key commitment")
    header, body, plaintext, counter = data[:70], data[70:], b"", 0
    while True:
        sealed, body = body[: chunk_size + TAG], body[chunk_size + TAG :]
        final = len(sealed) < chunk_size + TAG
        nonce = prefix + struct.pack(">IB", counter, int(final))
        decryptor = Cipher(algorithms.AES(key), modes.GCM(nonce, sealed[-TAG:])).decryptor()
        decryptor.authenticate_additional_data(header)
        plaintext += decryptor.update(sealed[:-TAG]) + decryptor.finalize()
        if final:
            assert body == b""
            return plaintext
        counter += 1


def _encrypt(plaintext: bytes, chunk_size: int = CHUNK, document_id: str = DOCUMENT_ID) -> bytes:
    sink = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), sink, SECRET, document_id, chunk_size=chunk_size)
    return sink.getvalue()


def _decrypt(ciphertext: bytes, secret: Secret = SECRET, document_id: str = DOCUMENT_ID) -> bytes:
    return b"".join(decrypt_stream(io.BytesIO(ciphertext), secret, document_id))


def _rejected(
    ciphertext: bytes, expected: type[EnvelopeError] = EnvelopeError, **kwargs: object
) -> EnvelopeError:
    """Assert that opening ``ciphertext`` fails with ``expected`` and leaks no key material."""
    with pytest.raises(expected) as caught:
        _decrypt(ciphertext, **kwargs)  # type: ignore[arg-type]
    text = f"{caught.value} {caught.value!r}"
    for material in (SECRET.reveal(), KEY):
        assert material.hex() not in text.lower()
        assert repr(material) not in text
    return caught.value


def _chunks(ciphertext: bytes, chunk_size: int = CHUNK) -> list[bytes]:
    body = ciphertext[HEADER_LENGTH:]
    step = chunk_size + TAG
    return [body[i : i + step] for i in range(0, len(body), step)]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_round_trip_and_ciphertext_size(size: int) -> None:
    plaintext = os.urandom(size)
    ciphertext = _encrypt(plaintext)
    assert _decrypt(ciphertext) == plaintext
    assert len(ciphertext) == HEADER_LENGTH + size + (size // CHUNK + 1) * TAG


@settings(max_examples=150, deadline=None)
@given(
    plaintext=st.binary(max_size=2000),
    chunk_size=st.integers(min_value=1, max_value=300),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_round_trip_with_any_chunk_size_and_write_pattern(
    plaintext: bytes, chunk_size: int, cuts: list[int]
) -> None:
    sink = io.BytesIO()
    bounds = [0, *sorted(min(cut, len(plaintext)) for cut in cuts), len(plaintext)]
    with EnvelopeWriter(sink, SECRET, DOCUMENT_ID, chunk_size=chunk_size) as writer:
        for start, end in itertools.pairwise(bounds):
            assert writer.write(plaintext[start:end]) == end - start
        assert writer.tell() == len(plaintext)
    ciphertext = sink.getvalue()
    assert _decrypt(ciphertext) == plaintext
    assert _third_party_decrypt(ciphertext, SECRET.reveal(), DOCUMENT_ID) == plaintext


def test_known_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins the wire format: a change to the layout or the key derivation breaks this vector."""
    monkeypatch.setattr(envelope_aes256gcm.os, "urandom", lambda n: bytes(range(0xA0, 0xA0 + n)))
    ciphertext = _encrypt(b"Cloud-PDI", chunk_size=4, document_id="doc-1")
    assert ciphertext.hex() == KNOWN_ANSWER
    assert _third_party_decrypt(ciphertext, SECRET.reveal(), "doc-1") == b"Cloud-PDI"


KNOWN_ANSWER = (
    "43504449454e56311261657332353667636d2d73747265616d2f31"  # preamble
    "00000004"  # chunk size
    "a0a1a2a3a4a5a6"  # nonce prefix
    "6103ce856472856def7d13d74d0cffe53fa9b581ac3567a1e4160b3bee0ebdc9"  # commitment
    "8b7f3cf583d2ea4646dc0f464eed0811963980c8"  # chunk 0
    "a2c153806b858f07c2d3aa5bb9778740e3549d10"  # chunk 1
    "8f1289b7b9c0a0ad48e7a6c3d7c9d38274"  # final chunk 2
)


@pytest.mark.external
def test_key_derivation_matches_openssl() -> None:
    """OpenSSL's HKDF, an independent implementation, gives the key and commitment we use."""
    openssl = require_tool("openssl")
    ciphertext = _encrypt(b"x")

    def openssl_hkdf(info: str) -> bytes:
        options = [f"hexkey:{SECRET.reveal().hex()}", f"salt:{DOCUMENT_ID}", f"info:{info}"]
        command = [openssl, "kdf", "-keylen", "32", "-kdfopt", "digest:SHA256"]
        for option in options:
            command += ["-kdfopt", option]
        result = subprocess.run([*command, "HKDF"], capture_output=True, text=True, check=True)
        return bytes.fromhex(result.stdout.strip().replace(":", ""))

    key = openssl_hkdf("aes256gcm-stream/1")
    assert key == _hkdf(SECRET.reveal(), DOCUMENT_ID.encode(), b"aes256gcm-stream/1")
    assert ciphertext[38:70] == openssl_hkdf("aes256gcm-stream/1 key commitment")


def test_each_envelope_has_a_fresh_nonce_prefix() -> None:
    first, second = _encrypt(b"same"), _encrypt(b"same")
    assert first[31:38] != second[31:38]
    assert first[HEADER_LENGTH:] != second[HEADER_LENGTH:]


def _small_envelope() -> bytes:
    return _encrypt(os.urandom(2 * 16 + 7), chunk_size=16)


def test_every_single_bit_flip_is_rejected() -> None:
    ciphertext = _small_envelope()
    for bit in range(len(ciphertext) * 8):
        tampered = bytearray(ciphertext)
        tampered[bit // 8] ^= 1 << (bit % 8)
        _rejected(bytes(tampered))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plaintext=st.binary(max_size=600),
    chunk_size=st.integers(min_value=1, max_value=200),
    data=st.data(),
)
def test_any_bit_flip_in_any_envelope_is_rejected(
    plaintext: bytes, chunk_size: int, data: st.DataObject
) -> None:
    ciphertext = bytearray(_encrypt(plaintext, chunk_size=chunk_size))
    bit = data.draw(st.integers(min_value=0, max_value=len(ciphertext) * 8 - 1))
    ciphertext[bit // 8] ^= 1 << (bit % 8)
    _rejected(bytes(ciphertext))


def test_truncation_at_every_length_is_rejected() -> None:
    ciphertext = _small_envelope()
    boundaries = {HEADER_LENGTH + i * (16 + TAG) for i in range(4)}
    for length in range(len(ciphertext)):
        error = _rejected(ciphertext[:length])
        if length < HEADER_LENGTH or length in boundaries:
            assert isinstance(error, EnvelopeTruncatedError), length


@settings(max_examples=40, deadline=None)
@given(extra=st.binary(min_size=1, max_size=100))
def test_appended_bytes_are_rejected(extra: bytes) -> None:
    _rejected(_small_envelope() + extra, EnvelopeAuthenticationError)


def test_an_envelope_followed_by_another_is_rejected() -> None:
    _rejected(_small_envelope() + _small_envelope(), EnvelopeAuthenticationError)


@pytest.mark.parametrize(
    "rearrange",
    [
        pytest.param(lambda c: [c[1], c[0], *c[2:]], id="swap-first-two"),
        pytest.param(lambda c: [c[0], c[0], *c[1:]], id="duplicate-first"),
        pytest.param(lambda c: [c[0], *c[2:]], id="drop-middle"),
        pytest.param(lambda c: [*c[:-1], c[-2], c[-1]], id="duplicate-before-final"),
        pytest.param(lambda c: [*c[:-2], c[-1], c[-2]], id="final-moved-forward"),
    ],
)
def test_reordered_duplicated_or_dropped_chunks_are_rejected(
    rearrange: Callable[[list[bytes]], list[bytes]],
) -> None:
    ciphertext = _encrypt(os.urandom(3 * CHUNK + 9))
    chunks = _chunks(ciphertext)
    assert len(chunks) == 4
    _rejected(ciphertext[:HEADER_LENGTH] + b"".join(rearrange(chunks)))


def test_chunks_from_another_envelope_with_the_same_key_are_rejected() -> None:
    first, second = _encrypt(os.urandom(200)), _encrypt(os.urandom(200))
    spliced = first[:HEADER_LENGTH] + _chunks(second)[0] + b"".join(_chunks(first)[1:])
    _rejected(spliced, EnvelopeAuthenticationError)


def test_wrong_secret_is_rejected_before_any_plaintext() -> None:
    pieces = decrypt_stream(io.BytesIO(_encrypt(b"data")), Secret.generate(), DOCUMENT_ID)
    with pytest.raises(EnvelopeAuthenticationError, match="wrong secret or document ID"):
        next(pieces)


def test_wrong_document_id_is_rejected() -> None:
    error = _rejected(_encrypt(b"data"), EnvelopeAuthenticationError, document_id="other")
    assert "wrong secret or document ID" in str(error)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04" + bytes(200), "not a Cloud-PDI envelope"),
        (b"CPDIENV1\x05other" + bytes(100), "uses scheme 'other'"),
        (b"CPDIENV1\x03\x00\x01\x02" + bytes(100), "not printable"),
        (b"CPDIENV1\x12aes256gcm-stream/1" + bytes(43), "impossible chunk size"),
    ],
)
def test_data_that_is_not_this_envelope_is_a_format_error(data: bytes, message: str) -> None:
    assert message in str(_rejected(data, EnvelopeFormatError))


def test_scheme_registry() -> None:
    assert SCHEME_ID in SCHEMES
    assert get_scheme(SCHEME_ID).scheme_id == SCHEME_ID
    with pytest.raises(EnvelopeFormatError, match="unknown envelope scheme"):
        get_scheme("rot13/1")
    with pytest.raises(EnvelopeFormatError):
        decrypt_to_file(io.BytesIO(b""), Path("unused"), SECRET, DOCUMENT_ID, scheme="rot13/1")


def test_unusable_keys_and_chunk_sizes_are_refused() -> None:
    with pytest.raises(EnvelopeKeyError, match="32 bytes"):
        EnvelopeWriter(io.BytesIO(), Secret(b"short"), DOCUMENT_ID)
    with pytest.raises(EnvelopeKeyError, match="document ID"):
        EnvelopeWriter(io.BytesIO(), SECRET, "")
    with pytest.raises(TypeError):
        EnvelopeWriter(io.BytesIO(), SECRET.reveal(), DOCUMENT_ID)  # type: ignore[arg-type]
    for size in (0, (1 << 24) + 1):
        with pytest.raises(ValueError, match="chunk size"):
            EnvelopeWriter(io.BytesIO(), SECRET, DOCUMENT_ID, chunk_size=size)


class _Trickle(io.RawIOBase):
    """A source that hands out at most 5 bytes per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(5, len(buffer), len(self._data))
        buffer[:count] = self._data[:count]
        self._data = self._data[count:]
        return count


def test_short_reads_from_the_source_are_reassembled() -> None:
    plaintext = os.urandom(5 * CHUNK + 3)
    ciphertext = _encrypt(plaintext)
    assert b"".join(decrypt_stream(_Trickle(ciphertext), SECRET, DOCUMENT_ID)) == plaintext
    sink = io.BytesIO()
    encrypt_stream(_Trickle(plaintext), sink, SECRET, DOCUMENT_ID, chunk_size=CHUNK)
    assert _decrypt(sink.getvalue()) == plaintext


def test_writer_reports_digest_and_sizes_of_what_reached_the_sink() -> None:
    sink = io.BytesIO()
    writer = EnvelopeWriter(sink, SECRET, DOCUMENT_ID, chunk_size=CHUNK)
    writer.write(b"a" * 100)
    with pytest.raises(ValueError, match="not finished"):
        _ = writer.digest
    result = writer.finish()
    ciphertext = sink.getvalue()
    assert writer.digest == result.digest == "sha-256:" + hashlib.sha256(ciphertext).hexdigest()
    assert writer.ciphertext_size == result.size == len(ciphertext)
    assert result.plaintext_size == 100
    assert writer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")


def test_an_exception_inside_the_writer_leaves_an_envelope_that_fails() -> None:
    sink = io.BytesIO()
    with pytest.raises(RuntimeError), EnvelopeWriter(sink, SECRET, DOCUMENT_ID) as writer:
        writer.write(b"partial payload")
        raise RuntimeError("the producer failed")
    with pytest.raises(ValueError, match="aborted"):
        writer.finish()
    _rejected(sink.getvalue(), EnvelopeTruncatedError)


def test_a_dropped_unfinished_writer_leaves_an_envelope_that_fails() -> None:
    sink = io.BytesIO()
    writer = EnvelopeWriter(sink, SECRET, DOCUMENT_ID, chunk_size=CHUNK)
    writer.write(os.urandom(3 * CHUNK))
    del writer
    _rejected(sink.getvalue(), EnvelopeTruncatedError)


def test_a_zip_written_straight_into_the_writer_round_trips() -> None:
    members = {"DICOMDIR": os.urandom(3000), "DICOM/ST1/SE1/IM1": b"\x00" * 50_000, "E": b""}
    sink = io.BytesIO()
    with (
        EnvelopeWriter(sink, SECRET, DOCUMENT_ID, chunk_size=1024) as writer,
        zipfile.ZipFile(writer, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name, data in members.items():
            archive.writestr(name, data)
        with archive.open("STREAMED", "w") as member:
            member.write(b"written through ZipFile.open")
    with zipfile.ZipFile(io.BytesIO(_decrypt(sink.getvalue()))) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in members} == members
        assert archive.read("STREAMED") == b"written through ZipFile.open"


def test_ciphertext_digest_hashes_what_is_left_in_the_stream() -> None:
    data = os.urandom(3000)
    assert ciphertext_digest(io.BytesIO(data)) == "sha-256:" + hashlib.sha256(data).hexdigest()
    stream = io.BytesIO(data)
    stream.seek(1000)
    assert ciphertext_digest(stream) == "sha-256:" + hashlib.sha256(data[1000:]).hexdigest()


def test_decrypt_to_file_writes_only_verified_plaintext(tmp_path: Path) -> None:
    plaintext = os.urandom(4 * CHUNK + 1)
    ciphertext = _encrypt(plaintext)
    dest = tmp_path / "payload.zip"
    result = decrypt_to_file(io.BytesIO(ciphertext), dest, SECRET, DOCUMENT_ID)
    assert dest.read_bytes() == plaintext
    assert result.path == dest
    assert result.digest == "sha-256:" + hashlib.sha256(ciphertext).hexdigest()
    assert (result.size, result.plaintext_size) == (len(ciphertext), len(plaintext))
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(tmp_path.iterdir()) == [dest]


def _failures(ciphertext: bytes) -> Iterator[tuple[str, bytes, dict[str, object]]]:
    flipped = bytearray(ciphertext)
    flipped[-1] ^= 1
    yield "tampered", bytes(flipped), {}
    yield "truncated", ciphertext[: HEADER_LENGTH + CHUNK + TAG], {}
    yield "wrong-secret", ciphertext, {"secret": Secret.generate()}
    yield "not-an-envelope", b"garbage", {}


def test_decrypt_to_file_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    ciphertext = _encrypt(os.urandom(4 * CHUNK + 1))
    kept = tmp_path / "kept.zip"
    kept.write_bytes(b"earlier download")
    for name, data, overrides in _failures(ciphertext):
        arguments: dict[str, object] = {"secret": SECRET, "document_id": DOCUMENT_ID}
        arguments.update(overrides)
        with pytest.raises(EnvelopeError):
            decrypt_to_file(io.BytesIO(data), tmp_path / f"{name}.zip", **arguments)  # type: ignore[arg-type]
        with pytest.raises(EnvelopeError):
            decrypt_to_file(io.BytesIO(data), kept, **arguments)  # type: ignore[arg-type]
        assert sorted(tmp_path.iterdir()) == [kept], name
        assert kept.read_bytes() == b"earlier download"


def test_reprs_never_show_the_secret() -> None:
    writer = EnvelopeWriter(io.BytesIO(), SECRET, DOCUMENT_ID)
    for text in (repr(writer), repr(get_scheme(SCHEME_ID)), repr(writer.__dict__)):
        for material in (SECRET.reveal(), KEY):
            assert material.hex() not in text
            assert repr(material) not in text
