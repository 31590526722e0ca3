"""C-STORE of Part 10 files exactly as they are: no decoding, no transfer syntax conversion.

Each file is offered in its own transfer syntax and its encoded dataset is streamed from disk
in PDU-sized pieces, so memory stays flat whatever the size of an instance and a receiver
gets the sender's bytes unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pynetdicom import _config
from pynetdicom.association import Association
from pynetdicom.status import STATUS_SUCCESS, STATUS_WARNING, code_to_category

from cloudpdi.dicomfile import read_header
from cloudpdi.dimse_ae import MAX_PRESENTATION_CONTEXTS, exact_contexts
from cloudpdi.dimse_peer import DEFAULT_CALLING_AE, DicomPeer, associate, response_status

# pynetdicom sends a C-STORE given a file path from the file's own encoded bytes only with
# this set; otherwise it decodes and re-encodes. Every C-STORE from a path in this process
# wants the bytes unchanged, so the process-wide switch is set once, here.
_config.STORE_SEND_CHUNKED_DATASET = True


@dataclass(frozen=True)
class StoredInstance:
    """What the peer answered for one file; ``status`` is None when it was never sent."""

    path: Path
    sop_instance_uid: str
    status: int | None

    @property
    def stored(self) -> bool:
        """Tell whether the peer took the instance (Success or Warning, PS3.4 B.2.3)."""
        return self.status is not None and code_to_category(self.status) in (
            STATUS_SUCCESS,
            STATUS_WARNING,
        )


@dataclass(frozen=True)
class StoreResult:
    """The outcome of :func:`store_files`, one entry per file in the order given."""

    instances: tuple[StoredInstance, ...]

    @property
    def failed(self) -> list[StoredInstance]:
        """Return the instances the peer refused or that could not be sent."""
        return [instance for instance in self.instances if not instance.stored]

    @property
    def ok(self) -> bool:
        """Tell whether every instance was stored."""
        return not self.failed


@dataclass(frozen=True)
class _File:
    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str

    @property
    def syntax(self) -> tuple[str, str]:
        return self.sop_class_uid, self.transfer_syntax_uid


def _read_file(path: Path) -> _File:
    """Return what a C-STORE of ``path`` needs, from its File Meta Information alone."""
    meta = read_header(path, tags=()).file_meta
    return _File(
        path,
        str(meta.MediaStorageSOPClassUID),
        str(meta.MediaStorageSOPInstanceUID),
        str(meta.TransferSyntaxUID),
    )


def _batches(files: Sequence[_File]) -> list[list[_File]]:
    """Split ``files`` so that no association needs more than 128 presentation contexts."""
    syntaxes = list(dict.fromkeys(file.syntax for file in files))
    batches = []
    for start in range(0, len(syntaxes), MAX_PRESENTATION_CONTEXTS):
        chunk = set(syntaxes[start : start + MAX_PRESENTATION_CONTEXTS])
        batches.append([file for file in files if file.syntax in chunk])
    return batches


def _accepted(assoc: Association) -> set[tuple[str, str]]:
    """Return the (SOP Class, Transfer Syntax) pairs the peer accepted for us as SCU."""
    return {
        (str(context.abstract_syntax), str(context.transfer_syntax[0]))
        for context in assoc.accepted_contexts
    }


def store_files(
    peer: DicomPeer, paths: Iterable[Path], *, calling_ae: str = DEFAULT_CALLING_AE
) -> StoreResult:
    """C-STORE every file in ``paths`` to ``peer``, as it is, and report each one's status.

    One association carries them all unless they need more than 128 presentation contexts.
    A file whose SOP Class and transfer syntax the peer refuses is reported with status None.
    """
    files = [_read_file(Path(path)) for path in paths]
    outcomes: dict[Path, StoredInstance] = {}
    for batch in _batches(files):
        contexts = exact_contexts(file.syntax for file in batch)
        with associate(peer, contexts, calling_ae=calling_ae) as assoc:
            accepted = _accepted(assoc)
            for number, file in enumerate(batch):
                status = None
                if file.syntax in accepted:
                    response = assoc.send_c_store(file.path, msg_id=number % 65535 + 1)
                    status = response_status(response, peer, "C-STORE")
                outcomes[file.path] = StoredInstance(file.path, file.sop_instance_uid, status)
    return StoreResult(tuple(outcomes[file.path] for file in files))
