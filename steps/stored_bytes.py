"""Whether the repository still holds a document's bytes: its storage folder searched for them.

The storage folder is the simulated repository's data folder, or the folder a repository under
test shows (``[repository.inspection] storage``): every regular file under it is read a block
at a time and searched for samples of the document's ciphertext, as the repository was sent it.
Ciphertext is random, so a sample of :data:`SAMPLE` bytes found in a file is the document, not
chance. A search that does not find the bytes while the document is still served proves
nothing about their deletion: the step that deletes searches first (:func:`search_storage`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.drive import poll
from harness.lab import Lab
from simulators.repository.spy import scan
from steps.errors import StepError
from steps.searching import Needles, blocks
from steps.uploading import received_document

#: Bytes of each sample of the ciphertext searched for.
SAMPLE = 64
#: Most files and bytes a search reads: far more than a test repository holds.
MAX_FILES = 100_000
MAX_BYTES = 64 << 30
#: Seconds between searches while waiting for a deletion: each reads the whole folder.
STORAGE_POLL = 1.0


@dataclass(frozen=True)
class StoredBytes:
    """Where the document's bytes were found in the storage folder, and how much was read."""

    places: tuple[str, ...]
    files: int
    file_bytes: int

    def describe(self) -> str:
        """Say what was found where, for the evidence."""
        found = f"found in {len(self.places)} places" if self.places else "not found"
        return f"{found} among {self.files} files ({self.file_bytes} bytes)"


def ciphertext_samples(lab: Lab, document_id: str) -> Needles:
    """Samples of the document's bytes from its start, middle and end, as it was uploaded."""
    if lab.recorder is None:
        raise StepError("the repository has no spy to tell what it was sent")
    document = received_document(lab.recorder.requests, document_id)
    if document is None:
        raise StepError("the repository was sent no upload of the document it accepted")
    last = max(len(document) - SAMPLE, 0)
    return {
        f"the document's bytes at offset {offset}": document[offset : offset + SAMPLE]
        for offset in sorted({0, last // 2, last})
    }


def search_storage(folder: Path, samples: Needles) -> StoredBytes:
    """Search every regular file under ``folder`` (symbolic links not followed) for the samples."""
    if not folder.is_dir():
        raise StepError(f"the repository's storage folder {folder} is not a folder")
    places: list[str] = []
    files = total = 0
    for path in _regular_files(folder):
        try:
            size = path.stat().st_size
            found = scan(blocks(path), samples)
        except FileNotFoundError:
            # Deleted while the search ran: the repository is deleting, as it may.
            continue
        files += 1
        total += size
        if files > MAX_FILES or total > MAX_BYTES:
            raise StepError(
                f"the repository's storage holds more than {MAX_FILES} files or {MAX_BYTES} "
                "bytes: too much to search"
            )
        places += [f"{path.relative_to(folder)}: {name}" for name in sorted(found)]
    return StoredBytes(tuple(places), files, total)


def search_until_gone(folder: Path, samples: Needles, timeout: float) -> StoredBytes:
    """Search the storage until the samples are gone or ``timeout`` seconds pass (a repository
    may purge in its own time); return the last search."""
    return poll(
        lambda: search_storage(folder, samples),
        lambda found: not found.places,
        timeout,
        STORAGE_POLL,
    )


def _regular_files(folder: Path) -> Iterator[Path]:
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path
