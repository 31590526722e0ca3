"""The reference envelope ``aes256gcm-stream/1``: AES-256-GCM in the STREAM construction.

STREAM (Hoang, Reyhanitabar, Rogaway, Vizár 2015) cuts the plaintext into fixed-size chunks and
seals each with its position and an end flag in the nonce, so a reader that verifies chunk by
chunk, in constant memory, also detects reordering, duplication, truncation and appended data.
This binding is ASSUMED (DESIGN.md section 4); the layout below is complete enough for a third
party to implement it.

Key derivation (HKDF-SHA256, RFC 5869; the secret is the 32-byte value carried by the token)::

    key        = HKDF(IKM=secret, salt=UTF-8(document ID), info="aes256gcm-stream/1", L=32)
    commitment = HKDF(IKM=secret, salt=UTF-8(document ID),
                      info="aes256gcm-stream/1 key commitment", L=32)

Header (all integers big-endian; 70 bytes)::

    offset  size  field
    0       8     magic, ASCII "CPDIENV1"                 (common preamble, see envelope_base)
    8       1     18, length of the scheme ID
    9       18    scheme ID, ASCII "aes256gcm-stream/1"
    27      4     C, plaintext bytes per chunk, 1 .. 16 MiB (default 1 MiB)
    31      7     P, nonce prefix, random per envelope
    38      32    key commitment (so a wrong secret is named as such, and a ciphertext
                  cannot be crafted to open under two different keys: AES-GCM alone
                  does not commit to its key)

Chunks follow the header, numbered i = 0, 1, 2, ... Each is::

    AES-256-GCM(key, nonce = P || uint32(i) || flag, plaintext_i, associated data = header)
    = ciphertext_i || 16-byte tag

Every chunk but the last holds exactly C plaintext bytes and has flag 0x00; the last holds
0 .. C-1 bytes and has flag 0x01, so a plaintext that is a multiple of C (including the empty
plaintext) ends with an empty final chunk. A reader therefore reads C + 16 bytes at a time: a
full read is a non-final chunk, a short read is the final chunk and must end the data.

The key belongs to one (secret, document ID) pair, which a sender never reuses; the random
56-bit prefix still keeps nonces apart should the same pair seal a few envelopes (a retry).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from types import TracebackType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloudpdi.envelope_base import (
    EncryptResult,
    EnvelopeAuthenticationError,
    EnvelopeFormatError,
    EnvelopeKeyError,
    EnvelopeScheme,
    EnvelopeTruncatedError,
    ReadableInto,
    Writable,
    encode_preamble,
    format_digest,
    read_exact,
    read_full,
    read_preamble,
)
from cloudpdi.secret import SECRET_LENGTH, Secret

SCHEME_ID = "aes256gcm-stream/1"

DEFAULT_CHUNK_SIZE = 1 << 20
MIN_CHUNK_SIZE = 1
#: Upper bound on C, so a hostile header cannot make a reader allocate without limit.
MAX_CHUNK_SIZE = 1 << 24

KEY_LENGTH = 32
TAG_LENGTH = 16
NONCE_PREFIX_LENGTH = 7
COMMITMENT_LENGTH = 32
#: Chunk counters are 32-bit, so an envelope holds at most this many chunks.
MAX_CHUNKS = 1 << 32

_COMMITMENT_INFO = f"{SCHEME_ID} key commitment".encode("ascii")
_PREAMBLE = encode_preamble(SCHEME_ID)
_CHUNK_SIZE = struct.Struct(">I")
_NONCE_SUFFIX = struct.Struct(">IB")
_FINAL = 1
_NOT_FINAL = 0
_HEADER_REST_LENGTH = _CHUNK_SIZE.size + NONCE_PREFIX_LENGTH + COMMITMENT_LENGTH
HEADER_LENGTH = len(_PREAMBLE) + _HEADER_REST_LENGTH


def _derive(secret: Secret, document_id: str, info: bytes) -> bytes:
    """Return 32 bytes of HKDF-SHA256 output bound to this secret, document ID and purpose."""
    if not isinstance(secret, Secret):
        raise TypeError("the secret must be a cloudpdi.secret.Secret")
    if len(secret) != SECRET_LENGTH:
        raise EnvelopeKeyError(f"the secret must be {SECRET_LENGTH} bytes long")
    if not isinstance(document_id, str) or not document_id:
        raise EnvelopeKeyError("the document ID must be a non-empty string")
    kdf = HKDF(algorithm=SHA256(), length=KEY_LENGTH, salt=document_id.encode("utf-8"), info=info)
    return kdf.derive(secret.reveal())


def _cipher(secret: Secret, document_id: str) -> AESGCM:
    """Return the AEAD keyed for this secret and document ID."""
    return AESGCM(_derive(secret, document_id, SCHEME_ID.encode("ascii")))


def _commitment(secret: Secret, document_id: str) -> bytes:
    """Return the key commitment stored in the header."""
    return _derive(secret, document_id, _COMMITMENT_INFO)


def _check_chunk_size(chunk_size: int) -> None:
    """Refuse chunk sizes outside the range the header allows."""
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} bytes")


def _nonce(prefix: bytes, counter: int, flag: int) -> bytes:
    """Return the STREAM nonce of chunk ``counter``."""
    return prefix + _NONCE_SUFFIX.pack(counter, flag)


class EnvelopeWriter:
    """A non-seekable binary writer that encrypts what it is given into ``sink``.

    Full chunks are sealed and written as soon as they fill; :meth:`finish` (or :meth:`close`)
    seals the final chunk. Leaving a ``with`` block by an exception calls :meth:`abort`
    instead, and a writer that is dropped unfinished seals nothing more, so an interrupted
    producer never leaves a ciphertext that verifies. The sink is not closed. ``tell()``
    counts plaintext bytes, which is what ``zipfile.ZipFile(writer, "w")`` needs.
    """

    def __init__(
        self,
        sink: Writable,
        secret: Secret,
        document_id: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        _check_chunk_size(chunk_size)
        self._aead = _cipher(secret, document_id)
        self._prefix = os.urandom(NONCE_PREFIX_LENGTH)
        self._header = (
            _PREAMBLE
            + _CHUNK_SIZE.pack(chunk_size)
            + self._prefix
            + _commitment(secret, document_id)
        )
        self._sink = sink
        self._hash = hashlib.sha256()
        self._chunk_size = chunk_size
        self._buffer = bytearray(chunk_size)
        self._buffered = 0
        self._counter = 0
        self._plaintext_size = 0
        self._ciphertext_size = 0
        self._closed = False
        self._result: EncryptResult | None = None
        self._emit(self._header)

    @property
    def closed(self) -> bool:
        """True once finished or aborted."""
        return self._closed

    def writable(self) -> bool:
        return not self._closed

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        """Return the number of plaintext bytes written so far."""
        return self._plaintext_size

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        """Accept all of ``data``; seal every chunk that becomes full."""
        if self._closed:
            raise ValueError("write to a closed envelope writer")
        size = self._chunk_size
        view = memoryview(data).cast("B")
        written = len(view)
        while view:
            if not self._buffered and len(view) >= size:
                # Whole chunks are sealed straight from the caller's buffer, without a copy.
                self._seal(view[:size], _NOT_FINAL)
                view = view[size:]
                continue
            take = min(len(view), size - self._buffered)
            self._buffer[self._buffered : self._buffered + take] = view[:take]
            self._buffered += take
            view = view[take:]
            if self._buffered == size:
                self._seal(self._buffer, _NOT_FINAL)
                self._buffered = 0
        self._plaintext_size += written
        return written

    def flush(self) -> None:
        """Flush the sink; a partial chunk stays buffered until it fills or the stream ends."""
        flush = getattr(self._sink, "flush", None)
        if flush is not None:
            flush()

    def finish(self) -> EncryptResult:
        """Seal the final chunk, close the writer and return the ciphertext's digest and sizes."""
        if self._result is None:
            if self._closed:
                raise ValueError("the envelope writer was aborted; the envelope is incomplete")
            self._seal(memoryview(self._buffer)[: self._buffered], _FINAL)
            self._closed = True
            self._result = EncryptResult(
                format_digest(self._hash.hexdigest()),
                self._ciphertext_size,
                self._plaintext_size,
            )
        return self._result

    def close(self) -> None:
        """Finish the envelope (sealing the final chunk) unless it was aborted."""
        if not self._closed:
            self.finish()

    def abort(self) -> None:
        """Close without sealing the final chunk: what was written cannot pass verification."""
        self._closed = True

    def __enter__(self) -> EnvelopeWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def digest(self) -> str:
        """The ``"sha-256:<hex>"`` digest of the whole ciphertext, known once finished."""
        return self.result.digest

    @property
    def ciphertext_size(self) -> int:
        """Bytes written to the sink so far (header and sealed chunks)."""
        return self._ciphertext_size

    @property
    def result(self) -> EncryptResult:
        """The finished envelope's digest and sizes."""
        if self._result is None:
            raise ValueError("the envelope is not finished yet")
        return self._result

    def _seal(self, chunk: bytes | bytearray | memoryview, flag: int) -> None:
        if self._counter >= MAX_CHUNKS:
            raise ValueError("the plaintext is too large for this chunk size")
        nonce = _nonce(self._prefix, self._counter, flag)
        self._counter += 1
        self._emit(self._aead.encrypt(nonce, chunk, self._header))

    def _emit(self, data: bytes) -> None:
        self._hash.update(data)
        self._sink.write(data)
        self._ciphertext_size += len(data)


def _open_header(src: ReadableInto, secret: Secret, document_id: str) -> tuple[bytes, int, AESGCM]:
    """Read and check the header; return it, the chunk size and the keyed AEAD."""
    preamble = read_preamble(src, SCHEME_ID)
    rest = read_exact(src, _HEADER_REST_LENGTH, "header")
    (chunk_size,) = _CHUNK_SIZE.unpack_from(rest)
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise EnvelopeFormatError("the envelope header has an impossible chunk size")
    stored_commitment = rest[-COMMITMENT_LENGTH:]
    if not hmac.compare_digest(stored_commitment, _commitment(secret, document_id)):
        raise EnvelopeAuthenticationError(
            "wrong secret or document ID for this envelope (or its header was altered)"
        )
    return preamble + rest, chunk_size, _cipher(secret, document_id)


class Aes256GcmStream(EnvelopeScheme):
    """The ``aes256gcm-stream/1`` scheme (see the module docstring for the byte layout)."""

    scheme_id = SCHEME_ID

    def writer(
        self, sink: Writable, secret: Secret, document_id: str, *, chunk_size: int | None = None
    ) -> EnvelopeWriter:
        """Return an :class:`EnvelopeWriter` into ``sink``."""
        return EnvelopeWriter(
            sink,
            secret,
            document_id,
            chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
        )

    def decrypt_stream(
        self, src: ReadableInto, secret: Secret, document_id: str
    ) -> Iterator[bytes]:
        """Yield verified plaintext chunks of the envelope in ``src``.

        Each piece is authentic, but only the end of the iteration proves the envelope was
        complete: the last ``next()`` raises :class:`EnvelopeTruncatedError` or
        :class:`EnvelopeAuthenticationError` if the final chunk is missing or altered, so a
        caller that streams plaintext onward must be ready to discard all of it.
        """
        header, chunk_size, aead = _open_header(src, secret, document_id)
        prefix = header[-NONCE_PREFIX_LENGTH - COMMITMENT_LENGTH : -COMMITMENT_LENGTH]
        buffer = bytearray(chunk_size + TAG_LENGTH)
        view = memoryview(buffer)
        for counter in range(MAX_CHUNKS):
            count = read_full(src, view)
            if count < TAG_LENGTH:
                raise EnvelopeTruncatedError(
                    f"the envelope ends before chunk {counter}; its final chunk is missing"
                )
            flag = _NOT_FINAL if count == len(buffer) else _FINAL
            try:
                plaintext = aead.decrypt(_nonce(prefix, counter, flag), view[:count], header)
            except InvalidTag:
                raise EnvelopeAuthenticationError(
                    f"chunk {counter} failed authentication: the envelope was altered, "
                    "reordered or cut inside a chunk"
                ) from None
            yield plaintext
            if flag == _FINAL:
                return
        raise EnvelopeFormatError("the envelope has more chunks than its counter allows")
