"""Fast header-only reads of DICOM Part 10 files (PS3.10 chapter 7).

Building a DICOMDIR, checking a transfer syntax or validating a received file set needs the
File Meta Information and a handful of attributes, never the pixel data. Reading stops before
the pixel data, or as soon as the last requested tag has been passed, so the cost of a read does
not grow with the size of the image.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import BinaryIO

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import FileDataset
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag, Tag

from cloudpdi.errors import CloudPDIError

#: Length of the File Preamble before the "DICM" prefix (PS3.10 7.1).
PREAMBLE_LENGTH = 128
#: The DICOM prefix that follows the preamble (PS3.10 7.1).
DICM_PREFIX = b"DICM"
#: Pixel Data, Float Pixel Data and Double Float Pixel Data, and everything after them, are
#: never read: the first of these tags ends a header read.
FIRST_PIXEL_DATA_TAG = 0x7FE00008

_PART10_LEAD_IN = PREAMBLE_LENGTH + len(DICM_PREFIX)

TagLike = int | str | BaseTag


class DicomFileError(CloudPDIError):
    """A file is not a readable DICOM Part 10 file."""


class NotPart10Error(DicomFileError):
    """A file lacks the 128-byte preamble and "DICM" prefix of a Part 10 file."""


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
    source: str | os.PathLike[str] | BinaryIO, tags: Iterable[TagLike] | None = None
) -> FileDataset:
    """Read the File Meta Information and the dataset up to the pixel data, never the pixels.

    ``tags`` (tag numbers or keywords) limits the dataset to those attributes (and Specific
    Character Set, so text decodes) and stops reading after the last of them. A stream must be
    seekable and positioned at the start of the preamble. Raises
    :class:`NotPart10Error` for a file without "DICM" and :class:`DicomFileError` for a
    malformed one; messages name the file, never its content.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            return _read_stream(stream, tags, os.fspath(source))
    return _read_stream(source, tags, str(getattr(source, "name", "stream")))


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


def _read_stream(stream: BinaryIO, tags: Iterable[TagLike] | None, name: str) -> FileDataset:
    if not is_dicom_part10(stream):
        raise NotPart10Error(f"{name} is not a DICOM Part 10 file (no preamble and DICM prefix)")
    wanted = _tag_list(tags) if tags is not None else None
    last = max(wanted, default=0) if wanted is not None else FIRST_PIXEL_DATA_TAG

    def past_header(tag: BaseTag, vr: str | None, length: int) -> bool:
        return tag > last or tag >= FIRST_PIXEL_DATA_TAG

    try:
        header = read_partial(stream, stop_when=past_header, specific_tags=wanted or None)
    except Exception as exc:  # pydicom raises many types on malformed input
        raise DicomFileError(f"{name} is not a readable DICOM file ({type(exc).__name__})") from exc
    if "TransferSyntaxUID" not in header.file_meta:
        raise DicomFileError(f"{name} has no Transfer Syntax UID in its File Meta Information")
    return header
