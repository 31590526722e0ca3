"""Validate a PDI file set (folder or ZIP) against the machine-checkable PDI requirements.

Every finding cites a PDI requirement ID of ``features/requirements.yaml``. The validator treats
the file set as hostile input: it reads file headers only (never pixel data), follows DICOMDIR
offsets without trusting them, and turns anything unsafe or unreadable into a finding instead
of an exception. Memory grows with the number of files (a path and a few UIDs each), never with
their size.

Not checked here, because they are not properties of a file set: PDI-READ-01 and PDI-IMP-01
(receiver behaviour), and the part of PDI-WEB-01 that asks web pages to mirror the DICOM content.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from cloudpdi.dicomdir import DICOMDIR_NAME
from cloudpdi.dicomfile import DicomFileError, HeaderTooLargeError, NotPart10Error
from cloudpdi.errors import CloudPDIError
from cloudpdi.fileset import (
    DEFAULT_LIMITS,
    FileSet,
    FileSetFormatError,
    Limits,
    UnsafeFileSetError,
    open_file_set,
)
from cloudpdi.media import MEDIA_PROFILES, STD_GEN_CD
from cloudpdi.pdi_consistency import ConsistencyCheck, check_against_record
from cloudpdi.pdi_dicomdir import MAX_DICOMDIR_SIZE, Reference, read_dicomdir
from cloudpdi.pdi_findings import (
    DEFAULT_FINDING_CAP,
    Finding,
    FindingSink,
    Rule,
    Severity,
    ValidationReport,
)
from cloudpdi.pdi_instances import read_instance
from cloudpdi.pdi_layout import check_layout, locate_dicomdir
from cloudpdi.readme import README_NAME

__all__ = [
    "DEFAULT_PROFILE",
    "GENERAL_PURPOSE_PROFILES",
    "Finding",
    "Rule",
    "Severity",
    "UnknownProfileError",
    "ValidationReport",
    "allowed_transfer_syntaxes",
    "validate_file_set",
]

DEFAULT_PROFILE = STD_GEN_CD.name
#: Every General Purpose profile, the least first: what a reader that takes any of them tries.
GENERAL_PURPOSE_PROFILES = tuple(MEDIA_PROFILES)

# Bytes of README.TXT read to see that it is plain text.
_README_SAMPLE = 64 * 1024


class UnknownProfileError(CloudPDIError, ValueError):
    """The application profile is not one the validator knows."""


def allowed_transfer_syntaxes(profile: str) -> frozenset[str]:
    """Return the transfer syntax UIDs that the media profile named ``profile`` allows."""
    try:
        return MEDIA_PROFILES[profile].transfer_syntaxes
    except KeyError:
        known = ", ".join(sorted(MEDIA_PROFILES))
        raise UnknownProfileError(f"unknown profile {profile!r}; use one of {known}") from None


def validate_file_set(
    path: Path,
    *,
    profile: str | Sequence[str] = DEFAULT_PROFILE,
    limits: Limits = DEFAULT_LIMITS,
    finding_cap: int = DEFAULT_FINDING_CAP,
) -> ValidationReport:
    """Check the file set at ``path`` (a folder or a ZIP file) and report every finding.

    ``profile`` names the file set's application profile, or the profiles a reader takes:
    the file set must then fit one of them (PS3.11 gives each medium one profile), and the
    report names the first it fits.

    Raises :class:`UnknownProfileError` for an unknown profile and
    :class:`~cloudpdi.fileset.FileSetFormatError` when ``path`` is neither a folder nor a file;
    everything wrong with the file set itself is a finding.
    """
    profiles = [profile] if isinstance(profile, str) else list(profile)
    if not profiles:
        raise UnknownProfileError("no profile given")
    allowed = frozenset().union(*(allowed_transfer_syntaxes(name) for name in profiles))
    path = Path(path)
    is_zip = path.is_file()
    sink = FindingSink(finding_cap)
    files_checked = instances_checked = 0
    used: set[str] = set()
    # pydicom warns about odd values by quoting them; the report says what is wrong instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        file_set = _open(path, is_zip, limits, sink)
        if file_set is not None:
            with file_set:
                run = _Run(file_set, is_zip, allowed, sink)
                run.check()
                files_checked, instances_checked = run.files_checked, run.instances_checked
                used = run.syntaxes
    fitting = next((name for name in profiles if used <= allowed_transfer_syntaxes(name)), None)
    if fitting is None:
        sink.error(
            Rule.TS_01,
            "",
            f"transfer syntaxes {', '.join(sorted(used))} fit no single profile of "
            + ", ".join(profiles),
        )
    return ValidationReport(
        source=str(path),
        findings=sink.findings,
        files_checked=files_checked,
        instances_checked=instances_checked,
        profile=fitting or profiles[0],
        suppressed=dict(sink.suppressed),
    )


def _open(path: Path, is_zip: bool, limits: Limits, sink: FindingSink) -> FileSet | None:
    rule = Rule.MEDIA_ZIP_01 if is_zip else Rule.STRUCT_01
    try:
        return open_file_set(path, limits=limits)
    except UnsafeFileSetError as exc:
        sink.error(rule, exc.path, f"unsafe entry, file set not read: {exc.problem}")
    except FileSetFormatError:
        if not is_zip:
            raise
        sink.error(rule, path.name, "not a readable ZIP file")
    return None


class _Run:
    """One validation: the file set, what has been learnt of it so far, and the findings."""

    def __init__(
        self, file_set: FileSet, is_zip: bool, allowed: frozenset[str], sink: FindingSink
    ) -> None:
        self.file_set = file_set
        self.is_zip = is_zip
        self.allowed = allowed
        self.sink = sink
        self.consistency = ConsistencyCheck(sink)
        self.files_checked = 0
        self.instances_checked = 0
        #: The transfer syntaxes of the instances, of those the profiles allow.
        self.syntaxes: set[str] = set()

    def check(self) -> None:
        """Run every check on the file set, reporting into the sink."""
        dicomdir = locate_dicomdir([e.path for e in self.file_set], self.is_zip, self.sink)
        prefix = str(PurePosixPath(dicomdir).parent) + "/" if dicomdir and "/" in dicomdir else ""
        self.sink.prefix = prefix
        paths = [e.path[len(prefix) :] for e in self.file_set if e.path.startswith(prefix)]
        references = self._references(dicomdir) if dicomdir else None
        resolved = self._resolve(references, paths) if references is not None else {}
        dicom: set[str] = set()
        for path in paths:
            if PurePosixPath(path).name.upper() == DICOMDIR_NAME:
                continue
            self.files_checked += 1
            reference = resolved.get(path)
            if self._check_file(prefix + path, path, reference):
                dicom.add(path)
                if references is not None and reference is None:
                    self.sink.error(
                        Rule.DIR_03, path, "DICOM file is not referenced by any directory record"
                    )
        check_layout(paths, dicom, self.sink)
        if README_NAME in paths:
            self._check_readme(prefix + README_NAME)

    def _references(self, dicomdir: str) -> dict[str, Reference] | None:
        entry = self.file_set.entry(dicomdir)
        if entry.size > MAX_DICOMDIR_SIZE:
            self.sink.error(Rule.DIR_02, DICOMDIR_NAME, "DICOMDIR is too large to be checked")
            return None
        with self.file_set.open(dicomdir) as stream:
            data = stream.read(entry.size)
        return read_dicomdir(data, self.sink)

    def _resolve(self, references: dict[str, Reference], paths: list[str]) -> dict[str, Reference]:
        """Map each referenced File ID to the file it names; report what is missing."""
        present = set(paths)
        folded = {p.casefold(): p for p in paths}
        resolved = {}
        for file_id, reference in references.items():
            actual = file_id if file_id in present else folded.get(file_id.casefold())
            if actual is None:
                self.sink.error(Rule.DIR_03, file_id, "DICOMDIR references a file that is missing")
                continue
            if actual != file_id:
                self.sink.error(
                    Rule.DIR_03, actual, "DICOMDIR references this file with other letter case"
                )
            resolved[actual] = reference
        return resolved

    def _check_file(self, stored: str, path: str, reference: Reference | None) -> bool:
        """Check one file if it is DICOM (or referenced as DICOM); return whether it is."""
        sink = self.sink
        try:
            with self.file_set.open(stored) as stream:
                header = read_instance(stream, self.file_set.entry(stored).size)
        except NotPart10Error as exc:
            if reference is None:
                return False
            sink.error(Rule.FMI_01, path, f"referenced DICOM file has {exc.problem}")
            return True
        except HeaderTooLargeError as exc:
            sink.warning(Rule.FMI_01, path, f"not checked: {exc.problem}")
            return True
        except DicomFileError as exc:
            sink.error(Rule.FMI_01, path, exc.problem)
            return True
        self.instances_checked += 1
        for name in header.missing_meta:
            sink.error(Rule.FMI_01, path, f"File Meta Information lacks {name}")
        attributes = header.attributes
        for meta, keyword, name in (
            (header.meta_sop_class, "SOPClassUID", "SOP Class UID"),
            (header.meta_sop_instance, "SOPInstanceUID", "SOP Instance UID"),
        ):
            if keyword not in attributes:
                sink.error(Rule.FMI_03, path, f"dataset has no {name} to match the meta header")
            elif meta and meta != attributes[keyword]:
                sink.error(Rule.FMI_03, path, f"Media Storage {name} differs from the dataset's")
        if header.transfer_syntax not in self.allowed:
            sink.error(
                Rule.TS_01, path, f"transfer syntax {header.transfer_syntax} not in the profile"
            )
        else:
            self.syntaxes.add(header.transfer_syntax)
        if reference is not None:
            check_against_record(path, header, reference, sink)
        self.consistency.add(path, attributes)
        return True

    def _check_readme(self, stored: str) -> None:
        with self.file_set.open(stored) as stream:
            sample = stream.read(_README_SAMPLE)
        if not sample.strip():
            self.sink.warning(Rule.README_01, README_NAME, "README.TXT is empty")
        elif b"\x00" in sample:
            self.sink.warning(Rule.README_01, README_NAME, "README.TXT is not plain text")
