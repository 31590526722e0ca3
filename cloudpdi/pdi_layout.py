"""Check where files lie in a file set and how they are named: rules that need names, not content.

The file set's root holds DICOMDIR, README.TXT, the DICOM tree (top folders that hold DICOM
files), optionally INDEX.HTM with web content under IHE_PDI, and optionally other content
(IHE RAD TF-1 PDI). Names follow PS3.10 8.2 for DICOM files and upper-case 8.3 for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from pathlib import PurePosixPath

from cloudpdi.dicomdir import DICOMDIR_NAME, FILE_ID_COMPONENT, MAX_FILE_ID_DEPTH
from cloudpdi.pdi_findings import FindingSink, Rule
from cloudpdi.readme import README_NAME

INDEX = "INDEX.HTM"
WEB_FOLDER = "IHE_PDI"
AUTORUN = "AUTORUN.INF"

#: An upper-case 8.3 file name (ISO 9660 level 1 d-characters).
NAME_8_3 = re.compile(r"[A-Z0-9_]{1,8}(?:\.[A-Z0-9_]{1,3})?")

#: Extensions of web content, which belongs under IHE_PDI (or is the root INDEX.HTM).
WEB_EXTENSIONS = frozenset({"HTM", "HTML", "XHT", "XHTML", "CSS", "JS"})
#: Extensions of files that Windows runs when opened.
EXECUTABLE_EXTENSIONS = frozenset(
    {"EXE", "COM", "BAT", "CMD", "MSI", "SCR", "PIF", "PS1", "VBS", "VBE", "WSF", "LNK"}
)


def locate_dicomdir(paths: Collection[str], is_zip: bool, sink: FindingSink) -> str | None:
    """Return the path of the file set's DICOMDIR, or None when there is none to use.

    A lone DICOMDIR below the root (a ZIP that wraps everything in a folder, or a folder given
    one level too high) is reported and still used: the file set is then checked from its
    folder on, so that one misplacement does not hide every other finding.
    """
    rule = Rule.MEDIA_ZIP_01 if is_zip else Rule.DIR_01
    dicomdirs = sorted(p for p in paths if PurePosixPath(p).name.upper() == DICOMDIR_NAME)
    if not dicomdirs:
        sink.error(rule, DICOMDIR_NAME, "the file set has no DICOMDIR")
        return None
    at_root = [p for p in dicomdirs if "/" not in p]
    if at_root:
        if at_root[0] != DICOMDIR_NAME:
            sink.error(rule, at_root[0], "DICOMDIR is not named in upper case")
        what = "a second file set" if is_zip else "a second DICOMDIR"
        for extra in dicomdirs:
            if extra != at_root[0]:
                sink.error(rule, extra, f"{what}: a file set has exactly one DICOMDIR")
        return at_root[0]
    if len(dicomdirs) == 1:
        sink.error(rule, dicomdirs[0], "DICOMDIR is not at the root of the file set")
        return dicomdirs[0]
    sink.error(rule, dicomdirs[0], f"{len(dicomdirs)} DICOMDIR files and none at the root")
    return None


def check_layout(paths: Iterable[str], dicom: Collection[str], sink: FindingSink) -> None:
    """Check names and placement of every file; ``dicom`` holds the paths of DICOM files."""
    paths = sorted(paths)
    tree = {p.split("/", 1)[0] for p in dicom if "/" in p} - {WEB_FOLDER}
    upper = {p.upper() for p in paths}
    if not dicom:
        sink.warning(Rule.STRUCT_01, "", "the file set holds no DICOM file")
    if README_NAME not in upper:
        sink.error(Rule.README_01, README_NAME, "no README.TXT at the root")
    if any(p.startswith(WEB_FOLDER + "/") for p in paths) and INDEX not in upper:
        sink.error(Rule.WEB_01, INDEX, "IHE_PDI holds web content but the root has no INDEX.HTM")
    for path in paths:
        if PurePosixPath(path).name.upper() == DICOMDIR_NAME:
            continue  # placement and name of every DICOMDIR are locate_dicomdir's job
        if path in dicom:
            _check_dicom_file(path, sink)
        else:
            _check_other_file(path, tree, sink)


def _check_dicom_file(path: str, sink: FindingSink) -> None:
    parts = path.split("/")
    stem, dot, _ = parts[-1].partition(".")
    if dot:
        sink.error(Rule.NAME_02, path, "DICOM file name has an extension")
    if len(parts) > MAX_FILE_ID_DEPTH:
        sink.error(Rule.NAME_03, path, f"File ID has {len(parts)} components, more than 8")
    for index, component in enumerate([*parts[:-1], stem], start=1):
        if not FILE_ID_COMPONENT.fullmatch(component):
            sink.error(
                Rule.NAME_01,
                path,
                f"File ID component {index} is not 1-8 characters of A-Z, 0-9 and _",
            )
    if parts[0] == WEB_FOLDER:
        sink.error(Rule.WEB_01, path, "a DICOM file lies in IHE_PDI, which holds web content")


def _check_other_file(path: str, tree: Collection[str], sink: FindingSink) -> None:
    parts = path.split("/")
    name = parts[-1]
    extension = name.rpartition(".")[2].upper() if "." in name else ""
    if len(parts) > MAX_FILE_ID_DEPTH:
        sink.error(Rule.NAME_04, path, f"file lies {len(parts)} levels deep, more than 8")
    if not NAME_8_3.fullmatch(name) or not all(FILE_ID_COMPONENT.fullmatch(p) for p in parts[:-1]):
        sink.error(Rule.NAME_04, path, "name is not an upper-case 8.3 name")
    if len(parts) > 1 and parts[0] in tree:
        sink.error(Rule.CONT_01, path, "a file that is not DICOM lies in the DICOM tree")
    if extension in WEB_EXTENSIONS and path.upper() != INDEX and parts[0] != WEB_FOLDER:
        sink.error(Rule.WEB_01, path, "web content outside IHE_PDI")
    if len(parts) == 1 and name.upper() == AUTORUN:
        # Only auto-start uses AUTORUN.INF: a PDI must not rely on it, and on downloaded
        # Cloud-PDI content it can only be a leftover or a trap.
        sink.error(Rule.AUTORUN_01, path, "AUTORUN.INF at the root asks to start content")
    elif extension in EXECUTABLE_EXTENSIONS:
        # PDI allows a viewer on the medium, so an executable is no violation by itself; one
        # at the root invites a double click, so it is worth a warning.
        if len(parts) == 1:
            sink.warning(Rule.AUTORUN_01, path, "executable at the root; importers never run it")
        else:
            sink.info(Rule.AUTORUN_01, path, "executable content; importers never run it")
