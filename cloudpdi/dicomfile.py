"""Bounded header-only reads of DICOM Part 10 files (PS3.10 chapter 7), safe on hostile input.

Building a DICOMDIR, checking a transfer syntax or validating a received file set needs the
File Meta Information and a handful of attributes, never the pixel data. Reading stops before
the pixel data, or as soon as the last requested tag has been passed, so the cost of a read does
not grow with the size of the image.

Files are untrusted, whether a sender chose them or a file set brought them. A length field
never sizes a read or an allocation on its own say: a read that runs past the end of the file
is refused, and a file whose header needs more than :data:`MAX_HEADER_BYTES` of reads is
refused. A deflated dataset (PS3.5 A.5) is inflated as far as it is read, never more than
:data:`MAX_INFLATED_BYTES`, so a small file cannot expand without bound in memory or time.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterable
from typing import BinaryIO

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from cloudpdi.errors import CloudPDIError

#: Length of the File Preamble before the "DICM" prefix (PS3.10 7.1).
PREAMBLE_LENGTH = 128
#: The DICOM prefix that follows the preamble (PS3.10 7.1).
DICM_PREFIX = b"DICM"
#: Pixel Data, Float Pixel Data and Double Float Pixel Data, and everything after them, are
#: never read: the first of these tags ends a header read.
FIRST_PIXEL_DATA_TAG = 0x7FE00008
#: Bytes a file's header may make us read before we give up on it: far more than any real header.
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: Bytes of a deflated dataset that may be inflated, read or passed over, to find its header.
MAX_INFLATED_BYTES = 64 * 1024 * 1024

_PART10_LEAD_IN = PREAMBLE_LENGTH + len(DICM_PREFIX)
_TRANSFER_SYNTAX_UID = 0x00020010
# Compressed bytes taken from the file at a time when inflating.
_DEFLATED_CHUNK = 64 * 1024

TagLike = int | str | BaseTag


class DicomFileError(CloudPDIError):
    """A file is not a readable DICOM Part 10 file."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        #: What is wrong, without the file's name: for reports that name the file themselves.
        self.problem = problem
        super().__init__(f"{name}: {problem}")


class NotPart10Error(DicomFileError):
    """A file lacks the 128-byte preamble and "DICM" prefix of a Part 10 file."""


class HeaderTooLargeError(DicomFileError):
    """Reading the header would take more than the read or inflate limit."""


def is_dicom_part10(stream: BinaryIO) -> bool:
    """Tell whether ``stream`` starts with a preamble and "DICM" (PS3.10 7.1).

    Reads 132 bytes from the current position; a seekable stream is put back where it was.
    """
    start = stream.tell() if stream.seekable() else None
    lead_in = stream.read(_PART10_LEAD_IN)
    if start is not None:
        stream.seek(start)
    return len(lead_in) == _PART10_LEAD_IN and lead_in[PREAMBLE_LENGTH:] == DICM_PREFIX


def read_header(
    source: str | os.PathLike[str] | BinaryIO,
    tags: Iterable[TagLike] | None = None,
    *,
    size: int | None = None,
) -> FileDataset:
    """Read the File Meta Information and the dataset up to the pixel data, never the pixels.

    ``tags`` (tag numbers or keywords) limits the dataset to those attributes (and Specific
    Character Set, so text decodes) and stops reading after the last of them. A stream must be
    seekable and positioned at the start of the preamble; ``size`` is the number of bytes of
    the file from there, when known (a path's size always is), so that a length running past
    the end is named as such. Raises :class:`NotPart10Error` for a file without "DICM",
    :class:`HeaderTooLargeError` past the read limits and :class:`DicomFileError` for a
    malformed file; messages name the file, never its content.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            return _read_stream(stream, tags, os.fspath(source), os.fstat(stream.fileno()).st_size)
    return _read_stream(source, tags, str(getattr(source, "name", "stream")), size)


def _tag_list(tags: Iterable[TagLike]) -> list[BaseTag]:
    """Return ``tags`` (numbers, keywords or tags) as a list of :class:`BaseTag`."""
    resolved = []
    for tag in tags:
        if isinstance(tag, str):
            number = tag_for_keyword(tag)
            if number is None:
                raise ValueError(f"unknown DICOM keyword {tag!r}")
            tag = number
        resolved.append(Tag(tag))
    return resolved


def _read_stream(
    stream: BinaryIO, tags: Iterable[TagLike] | None, name: str, size: int | None
) -> FileDataset:
    wanted = _tag_list(tags) if tags is not None else None
    last = max(wanted, default=0) if wanted is not None else FIRST_PIXEL_DATA_TAG
    if not is_dicom_part10(stream):
        raise NotPart10Error(name, "no 128-byte preamble followed by DICM")
    end = None if size is None else stream.tell() + size
    stream.seek(_PART10_LEAD_IN, io.SEEK_CUR)
    reader = _BudgetReader(stream, name, MAX_HEADER_BYTES, end)

    def past_header(tag: BaseTag, vr: str | None, length: int) -> bool:
        return tag > last or tag >= FIRST_PIXEL_DATA_TAG

    try:
        meta = FileMetaDataset(read_dataset(reader, False, True, stop_when=_not_group_0002))
        syntax = str(meta[_TRANSFER_SYNTAX_UID].value or "") if _TRANSFER_SYNTAX_UID in meta else ""
        syntax = syntax.strip(" \x00")
        if not syntax:
            raise DicomFileError(name, "no Transfer Syntax UID in its File Meta Information")
        # Every other transfer syntax, encapsulated or deflated, is Explicit VR Little Endian.
        implicit, little = syntax == ImplicitVRLittleEndian, syntax != ExplicitVRBigEndian
        source: BinaryIO = reader
        if syntax == DeflatedExplicitVRLittleEndian:
            source = _BudgetReader(_InflatedStream(stream, name), name, reader.left)
        dataset = read_dataset(
            source, implicit, little, stop_when=past_header, specific_tags=wanted or None
        )
    except DicomFileError:
        raise
    except Exception as exc:  # pydicom raises many types on malformed input
        raise DicomFileError(name, f"header does not parse ({type(exc).__name__})") from None
    return FileDataset(name, dataset, None, meta, implicit, little)


def _not_group_0002(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag >> 16 != 0x0002


class _BudgetReader(io.RawIOBase):
    """A read-only view of a stream that refuses to read more than ``budget`` bytes in total.

    Seeking forward (how skipped values are passed over) is free; a read request larger than
    what is left, or (when the stream's ``end`` is known) one that starts inside the file and
    runs past its end, is refused before any buffer is allocated for it.
    """

    def __init__(self, stream: BinaryIO, name: str, budget: int, end: int | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._name = name
        self.left = budget
        self._end = end

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise HeaderTooLargeError(self._name, "header reader asked to read to the end")
        if self._end is not None and self._stream.tell() < self._end < self._stream.tell() + size:
            raise self._past_end()
        if size > self.left:
            raise HeaderTooLargeError(
                self._name, f"header needs more than {MAX_HEADER_BYTES} bytes of reads"
            )
        data = self._stream.read(size)
        self.left -= len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self._stream.seek(offset, whence)
        if self._end is not None and position > self._end:
            raise self._past_end()
        return position

    def tell(self) -> int:
        return self._stream.tell()

    def _past_end(self) -> DicomFileError:
        return DicomFileError(self._name, "an element's length runs past the end of the file")


class _InflatedStream(io.RawIOBase):
    """The inflated bytes of a deflated dataset (PS3.5 A.5), inflated only as far as needed.

    pydicom would inflate the whole dataset in memory. Here what is read is kept (pydicom seeks
    back a few bytes after peeking at an element), what is passed over is inflated and dropped,
    and inflating more than :data:`MAX_INFLATED_BYTES` in all is refused.
    """

    def __init__(self, stream: BinaryIO, name: str) -> None:
        super().__init__()
        self._stream = stream
        self._name = name
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._inflated = 0
        # Inflated bytes from offset _kept_start on; _position may point past them.
        self._kept = bytearray()
        self._kept_start = 0
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # The _BudgetReader in front never passes a size below zero.
        kept_end = self._kept_start + len(self._kept)
        if self._position + size > kept_end:
            self._kept += self._inflate(self._position + size - kept_end)
        start = self._position - self._kept_start
        data = bytes(self._kept[start : start + size])
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset + (self._position if whence == io.SEEK_CUR else 0)
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self._kept_start:
            raise DicomFileError(self._name, "deflated dataset read out of order")
        kept_end = self._kept_start + len(self._kept)
        if target > kept_end:
            # Passed over: inflate what lies between and keep none of it.
            skipped = 0
            while skipped < target - kept_end and (
                passed := self._inflate(min(target - kept_end - skipped, _DEFLATED_CHUNK))
            ):
                skipped += len(passed)
            self._kept = bytearray()
            self._kept_start = kept_end + skipped
        self._position = target
        return target

    def tell(self) -> int:
        return self._position

    def _inflate(self, size: int) -> bytes:
        """Return up to ``size`` more inflated bytes; fewer only at the end of the data."""
        out = bytearray()
        inflater = self._inflater
        while len(out) < size and not inflater.eof:
            compressed = inflater.unconsumed_tail or self._stream.read(_DEFLATED_CHUNK)
            produced = inflater.decompress(compressed, size - len(out))
            if not compressed and not produced:
                break
            out += produced
        self._inflated += len(out)
        if self._inflated > MAX_INFLATED_BYTES:
            raise HeaderTooLargeError(
                self._name, f"deflated dataset inflates past {MAX_INFLATED_BYTES} bytes"
            )
        return bytes(out)
