"""Part 10 files from DIMSE C-STORE requests, written exactly as received, never decoded.

A receiving actor proves it changed nothing by keeping the sender's encoded dataset byte for
byte: the file is the File Meta Information we write plus the raw dataset bytes from the
wire. Files appear atomically (temporary file, then rename), so a reader never sees half an
instance.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pynetdicom.events import Event

from cloudpdi.dicomdir import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from cloudpdi.dicomfile import DICM_PREFIX, PREAMBLE_LENGTH

#: A UID (PS3.5 9.1) as a file name can hold it: digits in dot-separated components. Leading
#: zeros are tolerated (some equipment writes them); empty components, hence "." and "..",
#: are not, so a UID from the wire can never walk out of a folder.
_SAFE_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")
#: Longest UID (PS3.5 9.1).
MAX_UID_LENGTH = 64


def is_safe_uid(uid: str) -> bool:
    """Tell whether ``uid`` is a well-formed UID that is safe to use as a file name."""
    return len(uid) <= MAX_UID_LENGTH and _SAFE_UID.fullmatch(uid) is not None


@dataclass(frozen=True)
class ReceivedDataset:
    """One C-STORE request's dataset as it came off the wire."""

    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    encoded: memoryview

    @classmethod
    def from_event(cls, event: Event) -> ReceivedDataset:
        """Return the dataset of the C-STORE request behind ``event`` without decoding it."""
        request = event.request
        return cls(
            sop_class_uid=str(request.AffectedSOPClassUID),
            sop_instance_uid=str(request.AffectedSOPInstanceUID),
            transfer_syntax_uid=str(event.context.transfer_syntax),
            encoded=request.DataSet.getbuffer(),  # type: ignore[union-attr]
        )


def file_meta(received: ReceivedDataset, *, sending_ae: str, receiving_ae: str) -> bytes:
    """Return the preamble, "DICM" and File Meta Information (PS3.10 7.1) for ``received``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = received.sop_class_uid
    meta.MediaStorageSOPInstanceUID = received.sop_instance_uid
    meta.TransferSyntaxUID = received.transfer_syntax_uid
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    meta.SendingApplicationEntityTitle = sending_ae
    meta.ReceivingApplicationEntityTitle = receiving_ae
    out = DicomBytesIO()
    out.write(b"\x00" * PREAMBLE_LENGTH + DICM_PREFIX)
    write_file_meta_info(out, meta, enforce_standard=True)
    return out.getvalue()


def write_atomically(path: Path, chunks: Iterable[bytes | memoryview]) -> int:
    """Write ``chunks`` to ``path`` through a temporary file and a rename; return the size."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as stream:
            for chunk in chunks:
                stream.write(chunk)
            size = stream.tell()
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return size
