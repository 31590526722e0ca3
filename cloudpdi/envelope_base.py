"""What every envelope scheme shares: errors, results, the common preamble and the file helpers.

An envelope is the ciphertext the repository stores. Every envelope of this project starts with
the same preamble, so a reader can tell which scheme made it before it parses anything else::

    offset  size  field
    0       8     magic, ASCII "CPDIENV1" (the final "1" is the preamble version)
    8       1     L, length of the scheme ID in bytes, 1..255
    9       L     scheme ID, printable ASCII, e.g. "aes256gcm-stream/1"

What follows the preamble belongs to the scheme (see :mod:`cloudpdi.envelope_aes256gcm`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from cloudpdi.errors import CloudPDIError
from cloudpdi.secret import Secret

MAGIC = b"CPDIENV1"

#: Prefix of every digest string this module produces (the RFC 9530 algorithm name).
DIGEST_ALGORITHM = "sha-256"

#: Read size used when copying a plaintext source into a writer (aligned with the default
#: chunk size, so whole chunks are sealed straight from the read buffer).
COPY_SIZE = 1 << 20

_MAX_SCHEME_ID_LENGTH = 255


class EnvelopeError(CloudPDIError):
    """An envelope could not be written or opened."""


class EnvelopeFormatError(EnvelopeError):
    """The data is not an envelope, uses an unknown scheme, or has a malformed header."""


class EnvelopeAuthenticationError(EnvelopeError):
    """Authentication failed: wrong secret or document ID, or the ciphertext was altered."""


class EnvelopeTruncatedError(EnvelopeError):
    """The envelope ends before its final chunk: the download or upload was cut short."""


class EnvelopeKeyError(EnvelopeError, ValueError):
    """The secret or document ID cannot be used to derive a key (wrong length, empty)."""


@dataclass(frozen=True, slots=True)
class EncryptResult:
    """What a finished encryption produced: ciphertext digest and sizes."""

    digest: str
    size: int
    plaintext_size: int


@dataclass(frozen=True, slots=True)
class DecryptResult:
    """What a verified decryption produced: where the plaintext is, and what it came from."""

    path: Path
    digest: str
    size: int
    plaintext_size: int


class ReadableInto(Protocol):
    """A binary source that fills a caller's buffer (files, sockets, ``io.BytesIO``)."""

    def readinto(self, buffer: bytearray | memoryview, /) -> int | None: ...


class Writable(Protocol):
    """A binary sink (files, sockets, ``io.BytesIO``)."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


class SchemeWriter(Protocol):
    """The writable stream a scheme hands out to encrypt with."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...

    def finish(self) -> EncryptResult: ...

    def abort(self) -> None: ...

    def __enter__(self) -> SchemeWriter: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def format_digest(sha256_hex: str) -> str:
    """Return the ``"sha-256:<hex>"`` form used in tokens, reports and results."""
    return f"{DIGEST_ALGORITHM}:{sha256_hex}"


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of the bytes of the file at ``path``, in constant memory."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def ciphertext_digest(src: ReadableInto) -> str:
    """Return the ``"sha-256:<hex>"`` digest of everything left in ``src``, in constant memory."""
    reader = _HashingReader(src)
    view = memoryview(bytearray(COPY_SIZE))
    while read_full(reader, view):
        pass
    return format_digest(reader.hash.hexdigest())


def read_full(src: ReadableInto, view: memoryview) -> int:
    """Fill ``view`` from ``src`` across short reads; return the count (short only at the end)."""
    filled = 0
    while filled < len(view):
        count = src.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


def read_exact(src: ReadableInto, size: int, what: str) -> bytes:
    """Read exactly ``size`` bytes or raise :class:`EnvelopeTruncatedError` naming ``what``."""
    buffer = bytearray(size)
    if read_full(src, memoryview(buffer)) < size:
        raise EnvelopeTruncatedError(f"the envelope ends inside its {what}")
    return bytes(buffer)


def encode_preamble(scheme_id: str) -> bytes:
    """Return the preamble bytes that open every envelope of ``scheme_id``."""
    encoded = scheme_id.encode("ascii")
    if not 0 < len(encoded) <= _MAX_SCHEME_ID_LENGTH:
        raise ValueError("a scheme ID is 1 to 255 ASCII characters")
    return MAGIC + bytes([len(encoded)]) + encoded


def read_preamble(src: ReadableInto, expected_scheme_id: str) -> bytes:
    """Read and check the preamble; return its bytes (they are part of the authenticated header)."""
    fixed = read_exact(src, len(MAGIC) + 1, "preamble")
    if fixed[: len(MAGIC)] != MAGIC:
        raise EnvelopeFormatError("not a Cloud-PDI envelope (the magic bytes do not match)")
    raw_id = read_exact(src, fixed[-1], "scheme ID")
    if not raw_id or not (raw_id.isascii() and raw_id.decode("ascii").isprintable()):
        raise EnvelopeFormatError("the envelope's scheme ID is empty or not printable ASCII")
    if raw_id.decode("ascii") != expected_scheme_id:
        raise EnvelopeFormatError(
            f"the envelope uses scheme {raw_id.decode('ascii')!r}, not {expected_scheme_id!r}"
        )
    return fixed + raw_id


class _HashingReader:
    """Wraps a source so that every byte read is also fed to SHA-256 (one pass, no copy)."""

    def __init__(self, src: ReadableInto) -> None:
        self._src = src
        self.hash = hashlib.sha256()
        self.size = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self._src.readinto(buffer) or 0
        with memoryview(buffer) as view:
            self.hash.update(view[:count])
        self.size += count
        return count


class EnvelopeScheme(ABC):
    """One envelope scheme: how to seal a plaintext stream and how to open it again."""

    #: The registered ID, also written into every envelope's preamble and carried by the token.
    scheme_id: str

    @abstractmethod
    def writer(
        self, sink: Writable, secret: Secret, document_id: str, *, chunk_size: int | None = None
    ) -> SchemeWriter:
        """Return a writable stream that encrypts into ``sink``; ``None`` picks the default."""

    @abstractmethod
    def decrypt_stream(
        self, src: ReadableInto, secret: Secret, document_id: str
    ) -> Iterator[bytes]:
        """Yield verified plaintext pieces; raise at the end if the envelope is incomplete."""

    def encrypt_stream(
        self,
        src: ReadableInto,
        sink: Writable,
        secret: Secret,
        document_id: str,
        *,
        chunk_size: int | None = None,
    ) -> EncryptResult:
        """Encrypt everything in ``src`` into ``sink``; return the ciphertext digest and sizes."""
        buffer = bytearray(COPY_SIZE)
        view = memoryview(buffer)
        with self.writer(sink, secret, document_id, chunk_size=chunk_size) as writer:
            while count := read_full(src, view):
                writer.write(view[:count])
            return writer.finish()

    def decrypt_to_file(
        self, src: ReadableInto, dest: Path, secret: Secret, document_id: str
    ) -> DecryptResult:
        """Decrypt ``src`` into ``dest``, which appears (atomically, mode 0600) only if it verified.

        The plaintext goes to a temporary file beside ``dest`` that is fsynced and renamed over
        ``dest`` at the end; on any failure the temporary file is removed and ``dest`` is left
        as it was.
        """
        dest = Path(dest)
        reader = _HashingReader(src)
        plaintext_size = 0
        handle, temporary = tempfile.mkstemp(
            dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"
        )
        try:
            with os.fdopen(handle, "wb") as out:
                for piece in self.decrypt_stream(reader, secret, document_id):
                    out.write(piece)
                    plaintext_size += len(piece)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, dest)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(dest.parent)
        digest = format_digest(reader.hash.hexdigest())
        return DecryptResult(dest, digest, reader.size, plaintext_size)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable; platforms that cannot open directories skip it."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
