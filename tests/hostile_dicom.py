"""Hostile DICOM files for the header reader's limits: lengths past the end, deflate bombs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian

#: Specific Character Set, the first element of every sample and always read.
SPECIFIC_CHARACTER_SET = 0x00080005
#: Image Type, an element that a read for DICOMDIR keys passes over.
IMAGE_TYPE = 0x00080008
#: Private creator of the block whose element holds a bomb's zeros.
PRIVATE_CREATOR = "CLOUDPDI TEST"
_ZEROS = bytes(1024 * 1024)


def claim_length(part10: bytes, tag: int, length: int) -> bytes:
    """Return ``part10`` with dataset element ``tag`` turned into an OB of ``length`` bytes."""
    data = bytearray(part10)
    meta_end = 132 + 12 + struct.unpack_from("<I", data, 132 + 8)[0]
    at = data.index(struct.pack("<HH", tag >> 16, tag & 0xFFFF), meta_end)
    data[at + 4 : at + 12] = b"OB\x00\x00" + struct.pack("<I", length)
    return bytes(data)


def write_deflate_bomb(source: Path, out: Path, zeros: int) -> Path:
    """Write ``source`` deflated (PS3.5 A.5), with ``zeros`` zero bytes in a private OB value.

    The zeros are deflated as they are made: neither the file written nor the writing of it is
    large. ``out`` may be ``source``.
    """
    ds = dcmread(source)
    bomb = ds.private_block(0x0029, PRIVATE_CREATOR, create=True).get_tag(0x10)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    head, tail = Dataset(), Dataset()
    for element in ds:
        (head if element.tag < bomb else tail).add(element)
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    meta = DicomBytesIO()
    write_file_meta_info(meta, ds.file_meta)
    with open(out, "wb") as sink:
        sink.write(bytes(128) + b"DICM" + meta.getvalue())
        sink.write(deflater.compress(_explicit_le(head)))
        sink.write(deflater.compress(struct.pack("<HH2s2xI", bomb.group, bomb.elem, b"OB", zeros)))
        for start in range(0, zeros, len(_ZEROS)):
            sink.write(deflater.compress(_ZEROS[: zeros - start]))
        sink.write(deflater.compress(_explicit_le(tail)))
        sink.write(deflater.flush())
    return out


def _explicit_le(ds: Dataset) -> bytes:
    out = DicomBytesIO()
    out.is_little_endian = True
    out.is_implicit_VR = False
    write_dataset(out, ds)
    return out.getvalue()
