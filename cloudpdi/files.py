"""Files that appear whole or not at all, readable by their owner only.

Tokens, keys and packages must never be seen half-written (a reader would take a truncated
token or key for a bad one) nor readable by other users while they are being written. Every
write goes to a mode-0600 temporary file beside the target, is flushed to disk, then renamed
into place; with ``overwrite=False`` the final step refuses to replace an existing file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def staged_path(path: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a private temporary path beside ``path``; it becomes ``path`` if the block succeeds.

    The temporary name keeps ``path``'s suffix, for writers that choose a format by suffix.
    With ``overwrite=False`` an existing ``path`` raises FileExistsError and is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    staged = Path(name)
    try:
        yield staged
        _fsync(staged)
        if overwrite:
            os.replace(staged, path)
        else:
            os.link(staged, path)  # fails if path exists, unlike rename
    finally:
        staged.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: Path, *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary file that appears at ``path``, complete, only if the block succeeds."""
    with staged_path(path, overwrite=overwrite) as staged, open(staged, "wb") as f:
        yield f


def write_private(path: Path, data: bytes | str, *, overwrite: bool = True) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically, readable by the owner only."""
    with atomic_file(path, overwrite=overwrite) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
