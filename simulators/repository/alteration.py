"""Documents served other than they were uploaded: the repository's test-only alterations.

A receiver must refuse a download that is not the ciphertext its token describes before it
uses any of it (CPDI-INT-01). To show that it does, a test tells a running repository
(:meth:`simulators.repository.RepositoryServer.alter_downloads`) to alter every document as
it serves it. The repository then serves the altered bytes as the document, with their own
size, digest and ETag, as a repository whose storage was damaged or mixed up would: only the
token's digest gives the alteration away. Never set outside tests.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import replace

from cloudpdi.envelope import encrypt_stream
from cloudpdi.envelope_base import format_digest
from cloudpdi.secret import Secret
from simulators.repository.metadata import DocumentRecord

#: ``alteration(document ID, the stored bytes)`` returns the bytes to serve instead.
Alteration = Callable[[str, bytes], bytes]
#: ``read(start, end)`` yields the bytes of a document from ``start`` up to ``end``.
Reader = Callable[[int, int], Iterator[bytes]]
#: The parts an alteration sees a document as: cut off, swapped or replaced whole.
PARTS = 4
#: Bytes added at the end of a document.
ADDED_BYTES = 64


def _part(data: bytes) -> int:
    return max(1, len(data) // PARTS)


def change_middle_byte(document_id: str, data: bytes) -> bytes:
    """Flip every bit of the byte in the middle."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def cut_last_part(document_id: str, data: bytes) -> bytes:
    """Leave the last part out."""
    return data[: len(data) - _part(data)]


def swap_parts(document_id: str, data: bytes) -> bytes:
    """Swap the second and third parts, so that every byte is there but out of order."""
    part = _part(data)
    return data[:part] + data[2 * part : 3 * part] + data[part : 2 * part] + data[3 * part :]


def add_bytes_at_end(document_id: str, data: bytes) -> bytes:
    """Add random bytes after the last one."""
    return data + os.urandom(ADDED_BYTES)


def replace_first_part(document_id: str, data: bytes) -> bytes:
    """Replace the first part with as many random bytes."""
    part = _part(data)
    return os.urandom(part) + data[part:]


def another_transfer(document_id: str, data: bytes) -> bytes:
    """Serve a sound envelope of another transfer under this document ID, with another secret."""
    other = io.BytesIO()
    encrypt_stream(io.BytesIO(os.urandom(len(data))), other, Secret.generate(), document_id)
    return other.getvalue()


class AlteredDocuments:
    """Serves documents altered, each altered once so that every request serves the same bytes.

    A resumed download asks for the rest of what it was served first: it must get it.
    """

    def __init__(self, alteration: Alteration) -> None:
        self.alteration = alteration
        # By the stored bytes' digest: a document's altered bytes, made at its first request.
        self._served: dict[str, bytes] = {}

    def serve(
        self, record: DocumentRecord, stored: Callable[[], bytes]
    ) -> tuple[DocumentRecord, Reader]:
        """Return the record that describes the altered document, and how to read its bytes.

        ``stored`` reads the document as it was uploaded.
        """
        served = self._served.get(record.digest)
        if served is None:
            served = self._served[record.digest] = self.alteration(record.document_id, stored())

        def read(start: int, end: int) -> Iterator[bytes]:
            yield served[start:end]

        digest = format_digest(hashlib.sha256(served).hexdigest())
        return replace(record, size=len(served), digest=digest), read
