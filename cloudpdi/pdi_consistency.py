"""Check that files agree with each other and with the DICOMDIR records that reference them.

Across files this is what dicom3tools' ``dcentvfy`` checks: files of one patient, study or
series carry the same patient, study and series attributes, and no two files hold the same
SOP Instance UID. Only the first value seen per entity is kept, so memory grows with the number
of studies and series, not of files (apart from one UID per file for the duplicate check).

A record key that is Type 1 in its record (PS3.3 F.5) but Type 2 in the file's IOD (Study ID,
Series Number, ...) must have a value even where the file has none: a writer invents one
(``dcmmkdir +I``, or ours, see :mod:`cloudpdi.dicomdir_records`). Such a value is only noted;
any other record value that the file lacks, or that differs from the file's, is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cloudpdi.dicomdir import INVENTABLE_KEYS
from cloudpdi.pdi_dicomdir import Reference
from cloudpdi.pdi_findings import FindingSink, Rule
from cloudpdi.pdi_instances import InstanceHeader, attribute_name


@dataclass(frozen=True)
class Entity:
    """An information entity: the attribute that identifies it and those that must agree."""

    name: str
    key: str
    attributes: tuple[str, ...]


_PATIENT_ATTRIBUTES = ("PatientName", "PatientBirthDate", "PatientSex")
ENTITIES = (
    Entity("patient", "PatientID", _PATIENT_ATTRIBUTES),
    Entity(
        "study",
        "StudyInstanceUID",
        (
            "PatientID",
            *_PATIENT_ATTRIBUTES,
            "StudyDate",
            "StudyTime",
            "StudyID",
            "AccessionNumber",
            "ReferringPhysicianName",
            "StudyDescription",
        ),
    ),
    Entity("series", "SeriesInstanceUID", ("StudyInstanceUID", "Modality", "SeriesNumber")),
)


class ConsistencyCheck:
    """Feeds on one file's attributes at a time and reports each disagreement once."""

    def __init__(self, sink: FindingSink) -> None:
        self._sink = sink
        self._first: dict[tuple[str, str], tuple[str, Mapping[str, str]]] = {}
        self._reported: set[tuple[str, str, str]] = set()
        self._instances: dict[str, str] = {}

    def add(self, path: str, attributes: Mapping[str, str]) -> None:
        """Compare the file at ``path`` with the first file seen of each of its entities."""
        for entity in ENTITIES:
            key = attributes.get(entity.key)
            if key is None:
                continue
            first = self._first.setdefault((entity.name, key), (path, attributes))
            first_path, first_attributes = first
            for keyword in entity.attributes:
                mine, theirs = attributes.get(keyword), first_attributes.get(keyword)
                if mine is None or theirs is None or mine == theirs:
                    continue
                if (entity.name, key, keyword) in self._reported:
                    continue
                self._reported.add((entity.name, key, keyword))
                self._sink.error(
                    Rule.CONS_01,
                    path,
                    f"{attribute_name(keyword)} differs between files of one {entity.name} "
                    f"(this file and {first_path})",
                )
        instance = attributes.get("SOPInstanceUID")
        if instance is not None:
            other = self._instances.setdefault(instance, path)
            if other != path:
                self._sink.error(
                    Rule.CONS_01, path, f"the SOP Instance UID of this file is also in {other}"
                )


def check_against_record(
    path: str, header: InstanceHeader, reference: Reference, sink: FindingSink
) -> None:
    """Compare a file with what its directory record (and the record's ancestors) say of it."""
    referenced = (
        (reference.sop_class, header.attributes.get("SOPClassUID"), "SOP Class UID"),
        (reference.sop_instance, header.attributes.get("SOPInstanceUID"), "SOP Instance UID"),
        (reference.transfer_syntax, header.transfer_syntax, "Transfer Syntax UID"),
    )
    for claimed, actual, name in referenced:
        if claimed is not None and actual and claimed != actual:
            sink.error(
                Rule.DIR_03,
                path,
                f"the directory record's Referenced {name} in File differs from the file's",
            )
    for keyword, (record_type, claimed) in reference.keys.items():
        actual = header.attributes.get(keyword)
        name = attribute_name(keyword)
        if actual is None and keyword in INVENTABLE_KEYS:
            # Type 1 in the record, Type 2 in the file: a writer had to invent the record's value.
            sink.info(
                Rule.CONS_01,
                path,
                f"DICOMDIR {record_type} record holds an invented {name}: the file leaves it empty",
            )
        elif actual is None:
            sink.error(
                Rule.CONS_01,
                path,
                f"DICOMDIR {record_type} record gives {name} a value the file leaves empty",
            )
        elif not _record_agrees(keyword, claimed, actual):
            sink.error(
                Rule.CONS_01, path, f"DICOMDIR {record_type} record and file disagree on {name}"
            )


def _record_agrees(keyword: str, claimed: str, actual: str) -> bool:
    """Tell whether a record key agrees with the file's value.

    A record may leave out trailing name groups (e.g. keep only the alphabetic one of a
    Japanese name when the DICOMDIR has no character set for the others): that loses, but does
    not contradict. Any group it does hold must equal the file's.
    """
    if claimed == actual:
        return True
    if keyword != "PatientName":
        return False
    mine, theirs = claimed.split("="), actual.split("=")
    return len(mine) <= len(theirs) and all(
        m in ("", t) for m, t in zip(mine, theirs, strict=False)
    )
