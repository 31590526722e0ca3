"""Content encryption for Cloud-PDI payloads: the envelope schemes, by scheme ID.

The token names the scheme that sealed the payload; :func:`get_scheme` turns that ID into the
scheme's operations. The module-level functions use the reference scheme
``aes256gcm-stream/1`` unless told otherwise. Everything streams in constant memory.

Typical use::

    with EnvelopeWriter(upload, secret, document_id) as writer:
        with zipfile.ZipFile(writer, "w") as archive:
            ...
    token_digest = writer.digest

    decrypt_to_file(download, Path("payload.zip"), secret, document_id)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cloudpdi.envelope_aes256gcm import (
    DEFAULT_CHUNK_SIZE,
    SCHEME_ID,
    Aes256GcmStream,
    EnvelopeWriter,
)
from cloudpdi.envelope_base import (
    DecryptResult,
    EncryptResult,
    EnvelopeAuthenticationError,
    EnvelopeError,
    EnvelopeFormatError,
    EnvelopeKeyError,
    EnvelopeScheme,
    EnvelopeTruncatedError,
    ReadableInto,
    Writable,
    ciphertext_digest,
)
from cloudpdi.secret import Secret

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "SCHEMES",
    "SCHEME_ID",
    "DecryptResult",
    "EncryptResult",
    "EnvelopeAuthenticationError",
    "EnvelopeError",
    "EnvelopeFormatError",
    "EnvelopeKeyError",
    "EnvelopeScheme",
    "EnvelopeTruncatedError",
    "EnvelopeWriter",
    "ciphertext_digest",
    "decrypt_stream",
    "decrypt_to_file",
    "encrypt_stream",
    "get_scheme",
]

_REGISTRY: dict[str, EnvelopeScheme] = {scheme.scheme_id: scheme for scheme in (Aes256GcmStream(),)}

#: IDs of the registered schemes, as tokens carry them.
SCHEMES: tuple[str, ...] = tuple(_REGISTRY)


def get_scheme(scheme_id: str) -> EnvelopeScheme:
    """Return the scheme registered under ``scheme_id``, or raise :class:`EnvelopeFormatError`."""
    try:
        return _REGISTRY[scheme_id]
    except KeyError:
        raise EnvelopeFormatError(f"unknown envelope scheme {scheme_id!r}") from None


def encrypt_stream(
    src: ReadableInto,
    sink: Writable,
    secret: Secret,
    document_id: str,
    *,
    chunk_size: int | None = None,
    scheme: str = SCHEME_ID,
) -> EncryptResult:
    """Encrypt all of ``src`` into ``sink``; return the ciphertext digest and sizes."""
    return get_scheme(scheme).encrypt_stream(src, sink, secret, document_id, chunk_size=chunk_size)


def decrypt_stream(
    src: ReadableInto, secret: Secret, document_id: str, *, scheme: str = SCHEME_ID
) -> Iterator[bytes]:
    """Yield verified plaintext pieces; the last step raises if the envelope is incomplete.

    A caller that passes pieces on before the iteration ends must be able to discard them all:
    only a clean end of iteration proves that nothing was cut off.
    """
    return get_scheme(scheme).decrypt_stream(src, secret, document_id)


def decrypt_to_file(
    src: ReadableInto, dest: Path, secret: Secret, document_id: str, *, scheme: str = SCHEME_ID
) -> DecryptResult:
    """Decrypt into ``dest``, which is created (atomically) only if the whole envelope verified."""
    return get_scheme(scheme).decrypt_to_file(src, dest, secret, document_id)
