"""Build an IHE PDI file set from DICOM instances and documents, as a folder or a streamed ZIP.

Layout (IHE RAD PDI; PS3.10 8, PS3.11, PS3.12 annexes F and V)::

    DICOMDIR                                   Basic Directory of every DICOM file
    README.TXT                                 institution, contact, creating application, content
    DICOM/PT000001/ST000001/SE000001/IM000001  instances, copied byte for byte as received
    DOCUMENT/REFERRAL.PDF                      other content: referral letter, FHIR document, ...
    INDEX.HTM, IHE_PDI/...                     web content, when asked for (cloudpdi.web_content)

PDI puts "other content" outside the DICOM and IHE_PDI folders, under ISO 9660 8.3 names, and
never in the DICOMDIR: we put it in ``DOCUMENT/``. Every source is checked and indexed from a
header-only read first, so a refused build writes nothing; then each file is copied once.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from collections.abc import Callable, Collection, Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
)

from cloudpdi import __version__
from cloudpdi.dicomdir import (
    BASIC_DIRECTORY_STORAGE,
    DICOMDIR_NAME,
    DIRECTORY_TAGS,
    DicomDirBuilder,
    InventedValue,
    patient_key,
    record_type,
)
from cloudpdi.dicomfile import NotPart10Error, read_header
from cloudpdi.errors import CloudPDIError
from cloudpdi.media import MEDIA_PROFILES, STD_GEN_CD, MediaProfile
from cloudpdi.pdi_layout import INDEX
from cloudpdi.readme import README_NAME, ContentTally, Institution, ReadmeFacts, render_readme
from cloudpdi.sources import SourceError, collect_dicom_sources, is_part10_file, scan_sources
from cloudpdi.web_content import (
    RenderingError,
    WebImage,
    index_page,
    render_image,
    web_image,
)

__all__ = [
    "DEFAULT_APPLICATION",
    "MEDIA_PROFILES",
    "STD_GEN_CD",
    "BuildResult",
    "ContainerError",
    "DocumentError",
    "Institution",
    "InventedValue",
    "MediaProfile",
    "OutputExistsError",
    "SourceChangedError",
    "SourceError",
    "TransferSyntaxError",
    "ZipSink",
    "build_file_set",
    "collect_dicom_sources",
    "scan_sources",
    "write_file_set_zip",
]

DICOM_FOLDER = "DICOM"
DOCUMENT_FOLDER = "DOCUMENT"
DEFAULT_APPLICATION = f"cloudpdi {__version__}"
DEFAULT_FILE_SET_ID = "CLOUDPDI"
#: zlib level of ZIP entries: level 1 deflates far faster than an upload link carries data.
DEFAULT_DEFLATE_LEVEL = 1

_COPY_BUFFER = 1024 * 1024
_ZIP_FILE_MODE = (stat.S_IFREG | 0o644) << 16
_NOT_83 = re.compile(r"[^A-Z0-9_]")
_EXTENSION_ALIASES = {"JSON": "JSN", "JPEG": "JPG", "HTML": "HTM", "XHTML": "HTM", "TIFF": "TIF"}
#: The directory record type of an image, the only kind the web content renders.
IMAGE_RECORD = "IMAGE"
_HIERARCHY = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_LEVEL_PREFIXES = ("PT", "ST", "SE", "IM")

Progress = Callable[[int, int], None]


class ZipSink(Protocol):
    """Where a streamed ZIP goes: write and flush are enough (no tell, no seek)."""

    def write(self, data: bytes, /) -> int | None: ...

    def flush(self) -> None: ...


class ContainerError(CloudPDIError):
    """A file set cannot be built."""


class TransferSyntaxError(ContainerError):
    """Sources use transfer syntaxes that the chosen media profile does not allow."""

    def __init__(self, refused: Sequence[tuple[Path, str]], profile: MediaProfile) -> None:
        self.refused = list(refused)
        shown = "; ".join(f"{path} ({UID(uid).name})" for path, uid in self.refused[:10])
        more = f"; and {len(self.refused) - 10} more" if len(self.refused) > 10 else ""
        used = {uid for _, uid in self.refused}
        allowing = [p.name for p in MEDIA_PROFILES.values() if used <= p.transfer_syntaxes]
        hint = f" (use {' or '.join(allowing)})" if allowing else ""
        super().__init__(
            f"{len(self.refused)} file(s) use a transfer syntax that {profile.name} does not "
            f"allow{hint}: {shown}{more}"
        )


class DocumentError(ContainerError):
    """A document is missing, not a regular file, or is a DICOM file."""


class OutputExistsError(ContainerError):
    """The output folder is not empty, or the output ZIP file exists."""


class SourceChangedError(ContainerError):
    """A source changed size between its check and its copy."""


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: counts, sizes and kinds of content (a token's content summary)."""

    instances: int
    patients: int
    studies: int
    series: int
    documents: int
    #: Bytes of every file in the file set, uncompressed (DICOMDIR and README.TXT included;
    #: web content, rendered while it is written, is not counted).
    bytes: int
    modalities: tuple[str, ...]
    sop_classes: tuple[str, ...]
    transfer_syntaxes: tuple[str, ...]
    profile: str
    file_set_id: str
    #: Values invented in DICOMDIR records for keys the instances legally leave empty (Study
    #: ID, Series Number, ...): worth a warning, since a viewer shows them as if they were real.
    notes: tuple[InventedValue, ...] = ()


def build_file_set(
    sources: Sequence[Path],
    out: Path,
    *,
    documents: Sequence[Path] = (),
    institution: Institution,
    creating_application: str = DEFAULT_APPLICATION,
    profile: MediaProfile = STD_GEN_CD,
    file_set_id: str = DEFAULT_FILE_SET_ID,
    created: datetime | None = None,
    deflate_level: int | None = DEFAULT_DEFLATE_LEVEL,
    progress: Progress | None = None,
    web_content: bool = False,
) -> BuildResult:
    """Build a file set at ``out``: a ZIP file set if it ends in ``.zip``, else a folder.

    A folder must not exist or be empty; a ZIP file must not exist. ``deflate_level`` (ZIP
    only) is a zlib level, or None to store entries. ``progress(done, total)`` is called after
    each DICOM file or document is written. ``web_content`` adds INDEX.HTM and IHE_PDI/ with
    a browser view of every image (:mod:`cloudpdi.web_content`).
    """
    facts = _facts(institution, creating_application, profile, file_set_id, created)
    plan = _plan(sources, documents, profile, facts, web_content)
    if out.suffix.lower() != ".zip":
        _write_folder(plan, out, progress)
        return plan.result
    try:
        sink = open(out, "xb")  # noqa: SIM115 - a with-block follows at once
    except FileExistsError:
        raise OutputExistsError(f"{out} exists already") from None
    with sink:
        _write_zip(plan, sink, deflate_level, progress)
    return plan.result


def write_file_set_zip(
    sources: Sequence[Path],
    sink: ZipSink,
    *,
    documents: Sequence[Path] = (),
    institution: Institution,
    creating_application: str = DEFAULT_APPLICATION,
    profile: MediaProfile = STD_GEN_CD,
    file_set_id: str = DEFAULT_FILE_SET_ID,
    created: datetime | None = None,
    deflate_level: int | None = DEFAULT_DEFLATE_LEVEL,
    progress: Progress | None = None,
    web_content: bool = False,
) -> BuildResult:
    """Stream a ZIP file set (PS3.12 annex V) into ``sink``, which need only write and flush.

    Nothing is staged: DICOMDIR and README.TXT come first, then each file is read once and
    written through (an unseekable sink gets data descriptors). ``sink`` is left open.
    ``web_content`` as for :func:`build_file_set`.
    """
    facts = _facts(institution, creating_application, profile, file_set_id, created)
    plan = _plan(sources, documents, profile, facts, web_content)
    _write_zip(plan, sink, deflate_level, progress)
    return plan.result


@dataclass(frozen=True)
class _Item:
    """One file to copy into the file set: its source, its path there and its checked size."""

    source: Path
    parts: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class _Plan:
    items: list[_Item]
    dicomdir: bytes
    readme: bytes
    created: datetime
    result: BuildResult
    #: The images the web content shows, with their sources (empty without web content).
    web: list[tuple[Path, WebImage]]
    institution: str

    def web_files(self) -> Iterator[tuple[tuple[str, ...], bytes]]:
        """Render each image of the web content, then INDEX.HTM: (path parts, bytes) each.

        Renderings are made one at a time as they are written; an image that cannot be
        decoded here is listed on the page without one.
        """
        if not self.web:
            return
        rendered = set()
        for source, image in self.web:
            try:
                data = render_image(source)
            except RenderingError:
                continue
            rendered.add(image.href)
            yield image.parts, data
        images = [image for _, image in self.web]
        yield (INDEX,), index_page(images, rendered, self.institution)


class _FileIds:
    """Hands out DICOM/PTnnnnnn/STnnnnnn/SEnnnnnn/IMnnnnnn, numbering each level in order."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[Hashable, ...], int] = {}
        self._children: dict[tuple[Hashable, ...], int] = {}

    def allocate(self, keys: Sequence[Hashable]) -> tuple[str, ...]:
        """Return the File ID of the instance at ``keys`` (patient, study, series, instance)."""
        names = []
        for depth, prefix in enumerate(_LEVEL_PREFIXES):
            path = tuple(keys[: depth + 1])
            if path not in self._numbers:
                self._children[path[:-1]] = self._children.get(path[:-1], 0) + 1
                self._numbers[path] = self._children[path[:-1]]
            names.append(f"{prefix}{self._numbers[path]:06d}")
        return (DICOM_FOLDER, *names)


def _facts(
    institution: Institution,
    application: str,
    profile: MediaProfile,
    file_set_id: str,
    created: datetime | None,
) -> ReadmeFacts:
    created = created or datetime.now().astimezone()
    return ReadmeFacts(institution, application, profile.name, file_set_id, created)


def _plan(
    sources: Sequence[Path],
    documents: Sequence[Path],
    profile: MediaProfile,
    facts: ReadmeFacts,
    web_content: bool = False,
) -> _Plan:
    """Check every source and document, assign paths, and encode DICOMDIR and README.TXT."""
    builder = DicomDirBuilder(facts.file_set_id)
    file_ids = _FileIds()
    tally = ContentTally()
    items: list[_Item] = []
    web: list[tuple[Path, WebImage]] = []
    refused: list[tuple[Path, str]] = []
    for source in map(Path, sources):
        header = _read_source(source)
        syntax = str(header.file_meta.TransferSyntaxUID)
        if syntax not in profile.transfer_syntaxes:
            refused.append((source, syntax))
            continue
        # The patient folders follow the DICOMDIR's PATIENT records.
        keys = [patient_key(header), *(str(header.get(keyword, "")) for keyword in _HIERARCHY)]
        file_id = file_ids.allocate(keys)
        builder.add(file_id, header, source=str(source))
        tally.add(header)
        items.append(_Item(source, file_id, source.stat().st_size))
        if web_content and record_type(header) == IMAGE_RECORD:
            web.append((source, web_image(file_id, header)))
    if refused:
        raise TransferSyntaxError(refused, profile)
    document_items = _document_items(documents)
    items.extend(document_items)
    facts = replace(facts, documents=[("/".join(i.parts), i.size) for i in document_items])
    dicomdir = builder.encode()
    readme = render_readme(facts, tally)
    result = BuildResult(
        instances=tally.instances,
        patients=builder.patients,
        studies=len(tally.studies),
        series=len(tally.series),
        documents=len(document_items),
        bytes=len(dicomdir) + len(readme) + sum(item.size for item in items),
        modalities=tuple(sorted(tally.modalities)),
        sop_classes=tuple(sorted(tally.sop_classes)),
        transfer_syntaxes=tuple(sorted(tally.transfer_syntaxes)),
        profile=profile.name,
        file_set_id=facts.file_set_id,
        notes=builder.notes,
    )
    return _Plan(items, dicomdir, readme, facts.created, result, web, facts.institution.name)


def _read_source(source: Path) -> Dataset:
    try:
        header = read_header(source, DIRECTORY_TAGS)
    except NotPart10Error:
        raise SourceError(f"{source} is not a DICOM Part 10 file") from None
    except FileNotFoundError:
        raise SourceError(f"no file at {source}") from None
    meta = header.file_meta
    if meta.get("MediaStorageSOPClassUID") == BASIC_DIRECTORY_STORAGE:
        raise SourceError(f"{source} is a DICOMDIR, not an instance")
    for meta_keyword, keyword in (
        ("MediaStorageSOPClassUID", "SOPClassUID"),
        ("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
    ):
        if str(meta.get(meta_keyword, "")) != str(header.get(keyword, "")):
            raise SourceError(f"{source}: {meta_keyword} in File Meta differs from {keyword}")
    return header


def _document_items(documents: Sequence[Path]) -> list[_Item]:
    """Give each document an upper-case 8.3 name in DOCUMENT/, unique ignoring case."""
    items = []
    taken: set[str] = set()
    for source in map(Path, documents):
        if not source.is_file():
            raise DocumentError(f"no document file at {source}")
        if is_part10_file(source):
            raise DocumentError(f"{source} is a DICOM file: pass it as a source, not a document")
        name = _name_83(source.name, taken)
        taken.add(name)
        items.append(_Item(source, (DOCUMENT_FOLDER, name), source.stat().st_size))
    return items


def _name_83(filename: str, taken: Collection[str]) -> str:
    """Return an ISO 9660 8.3 name (NAME.EXT of A-Z, 0-9, _) for ``filename``, not in ``taken``."""
    stem, dot, extension = filename.rpartition(".") if "." in filename else (filename, "", "")
    stem = _NOT_83.sub("", stem.upper())[:8] or "DOCUMENT"
    extension = extension.upper()
    extension = _EXTENSION_ALIASES.get(extension, _NOT_83.sub("", extension)[:3])
    dot = "." if extension else ""
    name, counter = f"{stem}{dot}{extension}", 0
    while name in taken:
        counter += 1
        suffix = f"_{counter}"
        name = f"{stem[: 8 - len(suffix)]}{suffix}{dot}{extension}"
    return name


def _write_folder(plan: _Plan, out: Path, progress: Progress | None) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputExistsError(f"{out} exists and is not an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / README_NAME).write_bytes(plan.readme)
    for done, item in enumerate(plan.items, 1):
        target = out.joinpath(*item.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(item.source, target)
        if target.stat().st_size != item.size:
            raise SourceChangedError(f"{item.source} changed while the file set was built")
        if progress is not None:
            progress(done, len(plan.items))
    for parts, data in plan.web_files():
        target = out.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    # Written last, so that an interrupted build is visibly incomplete: it has no DICOMDIR.
    (out / DICOMDIR_NAME).write_bytes(plan.dicomdir)


def _write_zip(
    plan: _Plan, sink: ZipSink, deflate_level: int | None, progress: Progress | None
) -> None:
    method = zipfile.ZIP_STORED if deflate_level is None else zipfile.ZIP_DEFLATED
    stamp = plan.created.timetuple()[:6]

    def entry(parts: Sequence[str], size: int) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo("/".join(parts), date_time=stamp)
        info.compress_type = method
        info.external_attr = _ZIP_FILE_MODE
        info.file_size = size  # lets zipfile decide on ZIP64 before the data is written
        # zipfile applies the archive's level only to ZipInfo objects it makes itself.
        info._compresslevel = deflate_level  # type: ignore[attr-defined]
        return info

    # zipfile only writes and flushes; an unseekable sink makes it use data descriptors.
    archive = zipfile.ZipFile(
        cast(BinaryIO, sink), "w", compression=method, compresslevel=deflate_level
    )
    with archive:
        archive.writestr(entry([DICOMDIR_NAME], len(plan.dicomdir)), plan.dicomdir)
        archive.writestr(entry([README_NAME], len(plan.readme)), plan.readme)
        for done, item in enumerate(plan.items, 1):
            with (
                open(item.source, "rb") as src,
                archive.open(entry(item.parts, item.size), "w") as dst,
            ):
                copied = 0
                while chunk := src.read(_COPY_BUFFER):
                    dst.write(chunk)
                    copied += len(chunk)
            if copied != item.size:
                raise SourceChangedError(f"{item.source} changed while the file set was built")
            if progress is not None:
                progress(done, len(plan.items))
        for parts, data in plan.web_files():
            archive.writestr(entry(parts, len(data)), data)
