"""Searching everything the repository was sent or holds for what it must never learn.

A needle is a named byte pattern: a spelling of the secret, the patient's name in one of its
encodings, the start of a DICOM file. Findings name the needle and the place, never its bytes.
Needles shorter than :data:`MIN_NEEDLE` bytes are left out: random ciphertext holds a short
pattern by chance (a 4-byte one about once per 4 GiB), and a check must not fail by chance.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

from pydicom import dcmread

from cloudpdi.envelope_base import format_digest
from cloudpdi.secret import Secret
from harness.lab import Lab
from simulators.repository import find_in_requests
from simulators.repository.spy import scan

#: Shortest needle searched for; a 6-byte pattern turns up in 2**48 random bytes once.
MIN_NEEDLE = 6
#: A DICOM Part 10 file's magic followed by the group of its File Meta Information, which every
#: such file (DICOMDIR included) has right after its 128-byte preamble (PS3.10 7.1).
PART10_START = b"DICM\x02\x00"
#: Encodings a Japanese name may take outside DICOM's ISO 2022 escapes.
NAME_ENCODINGS = ("utf-8", "utf-16-le", "shift_jis", "euc_jp", "iso2022_jp")
#: Bytes inflated from one ZIP entry at most, whatever its header claims.
MAX_INFLATED = 1 << 32
#: Places a failure message lists; the evidence lists them all.
MAX_SHOWN = 5
_BLOCK = 1 << 20

Needles = dict[str, bytes]


@dataclass(frozen=True)
class Search:
    """Where the needles were found (empty: nowhere), and how much was searched."""

    places: tuple[str, ...]
    requests: int
    request_bytes: int
    files: int
    file_bytes: int

    def describe(self) -> str:
        """Say how much was searched, for the evidence."""
        return (
            f"{self.requests} requests ({self.request_bytes} body bytes) and "
            f"{self.files} stored files ({self.file_bytes} bytes)"
        )


def secret_needles(secret: Secret) -> Needles:
    """Every spelling of the secret a leak would plausibly use, named by its encoding."""
    raw = secret.reveal()
    encoded = {
        "hex": raw.hex(),
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode(),
        "base32": base64.b32encode(raw).decode(),
    }
    spellings = {"the secret as raw bytes": raw}
    for encoding, text in encoded.items():
        forms = {"": text, ", unpadded": text.rstrip("=")}
        if encoding in ("hex", "base32"):
            # Both are written in either letter case.
            forms |= {", upper case": text.upper(), ", lower case": forms[", unpadded"].lower()}
        # A URL carries the percent-encoding.
        forms |= {f"{how}, percent-encoded": quote(form, safe="") for how, form in forms.items()}
        for how, form in forms.items():
            spellings[f"the secret in {encoding}{how}"] = form.encode("ascii")
    return long_enough(spellings)


def name_needles(instance: Path, written: str) -> Needles:
    """The patient's name as the instance holds it, group by group, and in common encodings.

    Needle names say which spelling they are, not the name: findings travel into reports.
    """
    header = dcmread(instance, stop_before_pixels=True)
    as_written = bytes(header.get_item("PatientName").value).rstrip(b" \x00")
    needles = {"the name as the images hold it": as_written}
    for number, group in enumerate(as_written.split(b"="), 1):
        needles[f"component group {number} of the name"] = group
    spellings = {"as the scenario writes it": written, "in DICOM order": "^".join(written.split())}
    for how, text in spellings.items():
        for encoding in NAME_ENCODINGS:
            try:
                needles[f"the name {how}, in {encoding}"] = text.encode(encoding)
            except UnicodeEncodeError:
                continue
    return long_enough(needles)


def long_enough(needles: Mapping[str, bytes]) -> Needles:
    """Drop the needles too short to be told from chance (and duplicates under other names)."""
    kept: Needles = {}
    for name, needle in needles.items():
        if len(needle) >= MIN_NEEDLE and needle not in kept.values():
            kept[name] = needle
    return kept


def found_in_files(paths: Iterable[Path], needles: Mapping[str, bytes]) -> set[str]:
    """Return the names of the needles that occur in any of the files."""
    return {name for path in paths for name in scan(blocks(path), needles)}


def search_repository(lab: Lab, needles: Mapping[str, bytes]) -> Search:
    """Search every request the lab's repository received and every file on its disk.

    A stored ZIP is searched inside too, entry by entry as its reader would inflate it: a
    plaintext file set uploaded as a deflated ZIP shows nothing to a search of raw bytes.
    """
    recorder = lab.recorder
    if recorder is None:
        raise ValueError("the lab's repository has no spy to search")
    places = list(find_in_requests(recorder, needles))
    data_dir = lab.repository.config.data_dir
    files = sorted(path for path in data_dir.rglob("*") if path.is_file())
    for path in files:
        where = f"stored file {path.relative_to(data_dir)}"
        places += [f"{where}: {name}" for name in sorted(scan(blocks(path), needles))]
        places += zip_places(path, where, needles)
    requests = recorder.requests
    return Search(
        places=tuple(places),
        requests=len(requests),
        request_bytes=sum(len(request.body) for request in requests),
        files=len(files),
        file_bytes=sum(path.stat().st_size for path in files),
    )


def zip_places(path: Path, where: str, needles: Mapping[str, bytes]) -> list[str]:
    """Say which needles occur in which entry of ``path``, if it is a readable ZIP."""
    if not zipfile.is_zipfile(path):
        return []
    places = []
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as entry:
                    found = scan(_inflated(entry), needles)
                places += [f"{where}, ZIP entry {info.filename}: {name}" for name in sorted(found)]
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
        # Random ciphertext may look like a ZIP's end by chance; encrypted entries stay shut.
        return places
    return places


def _inflated(entry: IO[bytes]) -> Iterator[bytes]:
    """An entry's bytes a block at a time, up to :data:`MAX_INFLATED` (a ZIP bomb stops there)."""
    total = 0
    while total < MAX_INFLATED and (block := entry.read(_BLOCK)):
        total += len(block)
        yield block


def stored_digests(lab: Lab) -> dict[str, str]:
    """The digest (``sha-256:<hex>``) of every document the lab's repository stores, by ID."""
    storage = lab.repository.repository.storage
    digests = {}
    for key in storage.list_keys():
        hashed = hashlib.sha256()
        for piece in storage.read(key):
            hashed.update(piece)
        digests[key] = format_digest(hashed.hexdigest())
    return digests


def listing(places: Sequence[str]) -> str:
    """The first places found, and how many more, for a failure message."""
    shown = "; ".join(places[:MAX_SHOWN])
    return shown if len(places) <= MAX_SHOWN else f"{shown}; and {len(places) - MAX_SHOWN} more"


def blocks(path: Path) -> Iterator[bytes]:
    """The bytes of a file, a block at a time."""
    with path.open("rb") as stream:
        while block := stream.read(_BLOCK):
            yield block
