"""The PACS index: patient, study, series and instance attributes in SQLite, for queries.

Columns are named by DICOM keyword, so a query key maps to a column with no translation
table. Text is stored decoded (Japanese names as Unicode), with the Specific Character Set
each level arrived in, so that a query can match decoded values and an answer can be encoded
as the data came. One connection serves every association thread, behind a lock; WAL mode
keeps each instance's commit cheap.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudpdi.errors import CloudPDIError

#: The attributes indexed at each Query/Retrieve level (PS3.4 C.6.1.1 and C.6.2.1), top down.
LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    "PATIENT": (
        "PatientID",
        "IssuerOfPatientID",
        "PatientName",
        "PatientBirthDate",
        "PatientSex",
    ),
    "STUDY": (
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
        "ReferringPhysicianName",
    ),
    "SERIES": (
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "SeriesDate",
        "SeriesTime",
        "BodyPartExamined",
    ),
    "IMAGE": ("SOPInstanceUID", "SOPClassUID", "InstanceNumber", "ContentDate", "ContentTime"),
}
#: Keys computed from the tree below an entity rather than stored with it.
COMPUTED_KEYS: dict[str, tuple[str, ...]] = {
    "PATIENT": (
        "NumberOfPatientRelatedStudies",
        "NumberOfPatientRelatedSeries",
        "NumberOfPatientRelatedInstances",
    ),
    "STUDY": (
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
        "ModalitiesInStudy",
        "SOPClassesInStudy",
    ),
    "SERIES": ("NumberOfSeriesRelatedInstances",),
    "IMAGE": ("AvailableTransferSyntaxUID",),
}
#: Computed keys whose value is a list.
MULTI_VALUED_KEYS = frozenset({"ModalitiesInStudy", "SOPClassesInStudy"})
LEVELS = tuple(LEVEL_KEYS)

_SCHEMA_VERSION = 1
_ALIAS = {"PATIENT": "p", "STUDY": "st", "SERIES": "se", "IMAGE": "i"}
_TABLE = {"PATIENT": "patients", "STUDY": "studies", "SERIES": "series", "IMAGE": "instances"}
_INSTANCE_FILE_COLUMNS = ("AvailableTransferSyntaxUID", "path", "size", "received", "calling_ae")
_PARENT = {"STUDY": "patient", "SERIES": "StudyInstanceUID", "IMAGE": "SeriesInstanceUID"}
_AGGREGATES = {
    "PATIENT": (
        "COUNT(DISTINCT st.StudyInstanceUID) AS NumberOfPatientRelatedStudies",
        "COUNT(DISTINCT se.SeriesInstanceUID) AS NumberOfPatientRelatedSeries",
        "COUNT(*) AS NumberOfPatientRelatedInstances",
    ),
    "STUDY": (
        "COUNT(DISTINCT se.SeriesInstanceUID) AS NumberOfStudyRelatedSeries",
        "COUNT(*) AS NumberOfStudyRelatedInstances",
        "GROUP_CONCAT(DISTINCT se.Modality) AS ModalitiesInStudy",
        "GROUP_CONCAT(DISTINCT i.SOPClassUID) AS SOPClassesInStudy",
    ),
    "SERIES": ("COUNT(*) AS NumberOfSeriesRelatedInstances",),
    "IMAGE": ("i.AvailableTransferSyntaxUID", "i.path"),
}
_GROUP_BY = {"PATIENT": "p.id", "STUDY": "st.StudyInstanceUID", "SERIES": "se.SeriesInstanceUID"}
_JOINS = (
    "patients p JOIN studies st ON st.patient = p.id"
    " JOIN series se ON se.StudyInstanceUID = st.StudyInstanceUID"
    " JOIN instances i ON i.SeriesInstanceUID = se.SeriesInstanceUID"
)
_ORDER = (
    "st.StudyDate, st.StudyInstanceUID, CAST(se.SeriesNumber AS INTEGER), se.SeriesInstanceUID,"
    " CAST(i.InstanceNumber AS INTEGER), i.SOPInstanceUID"
)


class PacsIndexError(CloudPDIError):
    """The index database cannot be used (e.g. written by another schema version)."""


@dataclass(frozen=True)
class IndexEntry:
    """One instance as the index records it: attributes by level, and its file."""

    attributes: Mapping[str, str]
    charset: str
    transfer_syntax_uid: str
    path: str
    size: int
    received: str
    calling_ae: str


@dataclass(frozen=True)
class InstanceRecord:
    """One stored instance: its UIDs and its file."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    path: str
    size: int
    received: str
    calling_ae: str


def _table_sql(level: str) -> str:
    """Return the CREATE TABLE statement of ``level``, one TEXT column per key."""
    columns = [f"{key} TEXT NOT NULL DEFAULT ''" for key in LEVEL_KEYS[level]]
    columns.append("charset TEXT NOT NULL DEFAULT ''")
    if level == "PATIENT":
        columns.insert(0, "id INTEGER PRIMARY KEY")
        columns.append("UNIQUE (PatientID, IssuerOfPatientID)")
    else:
        columns[0] = columns[0].replace("NOT NULL DEFAULT ''", "PRIMARY KEY")
        columns.append(f"{_PARENT[level]} {'INTEGER' if level == 'STUDY' else 'TEXT'} NOT NULL")
    if level == "IMAGE":
        columns += ["AvailableTransferSyntaxUID TEXT NOT NULL", "path TEXT NOT NULL"]
        columns += ["size INTEGER NOT NULL", "received TEXT NOT NULL", "calling_ae TEXT NOT NULL"]
    return f"CREATE TABLE IF NOT EXISTS {_TABLE[level]} ({', '.join(columns)})"


_SCHEMA = (
    *(_table_sql(level) for level in LEVELS),
    "CREATE INDEX IF NOT EXISTS studies_patient ON studies (patient)",
    "CREATE INDEX IF NOT EXISTS series_study ON series (StudyInstanceUID)",
    "CREATE INDEX IF NOT EXISTS instances_series ON instances (SeriesInstanceUID)",
)


def _upsert_sql(level: str, columns: Sequence[str]) -> str:
    """Return an INSERT that updates every other column when the unique key exists."""
    conflict = "PatientID, IssuerOfPatientID" if level == "PATIENT" else columns[0]
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns)
    marks = ", ".join("?" for _ in columns)
    returning = " RETURNING id" if level == "PATIENT" else ""
    # Only names from LEVEL_KEYS are formatted in; values are bound parameters.
    return (
        f"INSERT INTO {_TABLE[level]} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}{returning}"
    )


def _level_columns(level: str) -> tuple[str, ...]:
    """Return the columns an upsert at ``level`` writes, in order."""
    columns = (*LEVEL_KEYS[level], "charset")
    if level in _PARENT:
        columns += (_PARENT[level],)
    if level == "IMAGE":
        columns += _INSTANCE_FILE_COLUMNS
    return columns


def _select_sql(level: str, exact: Mapping[str, Sequence[str]]) -> tuple[str, list[str]]:
    """Return the query for entities at ``level`` filtered by exact values, and its values."""
    upper = LEVELS[: LEVELS.index(level) + 1]
    columns = [f"{_ALIAS[name]}.{key}" for name in upper for key in LEVEL_KEYS[name]]
    columns += [f"{_ALIAS[name]}.charset AS charset_{name}" for name in upper]
    columns += _AGGREGATES[level]
    where, values = [], []
    for key, wanted in exact.items():
        name = next((name for name in upper if key in LEVEL_KEYS[name]), None)
        if name is None:
            raise ValueError(f"{key} is not indexed at or above the {level} level")
        where.append(f"{_ALIAS[name]}.{key} IN ({', '.join('?' for _ in wanted)})")
        values += wanted
    sql = f"SELECT {', '.join(columns)} FROM {_JOINS}"  # noqa: S608 - names from LEVEL_KEYS
    if where:
        sql += f" WHERE {' AND '.join(where)}"
    if level in _GROUP_BY:
        sql += f" GROUP BY {_GROUP_BY[level]}"
    return f"{sql} ORDER BY {_ORDER}", values


class PacsIndex:
    """The SQLite index of one PACS store."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _SCHEMA_VERSION):
            self._db.close()
            raise PacsIndexError(f"{path.name} has index schema {version}, not {_SCHEMA_VERSION}")
        self._db.execute("PRAGMA journal_mode = WAL")
        # A lost commit after an OS crash costs only a re-send; fsync per instance costs a lot.
        self._db.execute("PRAGMA synchronous = NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        self._upserts = {level: _upsert_sql(level, _level_columns(level)) for level in LEVELS}
        # The last row written at each level: the instances of a series share their patient,
        # study and series rows, so most stores need only the instance row.
        self._last: dict[str, tuple[tuple[object, ...], object]] = {}

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def add(self, entry: IndexEntry) -> str | None:
        """Index ``entry``, replacing an instance with the same UID; return its old path."""
        values = entry.attributes
        written: dict[str, tuple[tuple[object, ...], object]] = {}
        with self._lock:
            with self._db:
                self._db.execute("BEGIN")
                previous = self._db.execute(
                    "SELECT path FROM instances WHERE SOPInstanceUID = ?",
                    (values["SOPInstanceUID"],),
                ).fetchone()
                parent: object = None
                for level in LEVELS:
                    row = (*(values.get(key, "") for key in LEVEL_KEYS[level]), entry.charset)
                    if level in _PARENT:
                        row += (parent,)
                    if level == "IMAGE":
                        row += (entry.transfer_syntax_uid, entry.path, entry.size)
                        row += (entry.received, entry.calling_ae)
                    parent = self._upsert(level, row)
                    written[level] = (row, parent)
            # Cached only once committed, so a rolled-back row is written again next time.
            self._last.update(written)
        return previous["path"] if previous is not None else None

    def _upsert(self, level: str, row: tuple[object, ...]) -> object:
        """Write ``row`` at ``level`` unless it equals the last one written there; return
        what the level below refers to (the patient's row id, or the entity's UID)."""
        last = self._last.get(level)
        if last is not None and last[0] == row and level != "IMAGE":
            return last[1]
        cursor = self._db.execute(self._upserts[level], row)
        return cursor.fetchone()[0] if level == "PATIENT" else row[0]

    def path_of(self, sop_instance_uid: str) -> str | None:
        """Return the stored path of an instance, or None if it is not here."""
        with self._lock:
            row = self._db.execute(
                "SELECT path FROM instances WHERE SOPInstanceUID = ?", (sop_instance_uid,)
            ).fetchone()
        return row["path"] if row is not None else None

    def count(self) -> int:
        """Return the number of instances."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM instances").fetchone()[0])

    def instances(self) -> list[InstanceRecord]:
        """Return every instance, ordered by study, series and instance number."""
        sql = (
            "SELECT i.SOPInstanceUID, i.SOPClassUID, st.StudyInstanceUID, se.SeriesInstanceUID,"  # noqa: S608
            " i.AvailableTransferSyntaxUID, i.path, i.size, i.received, i.calling_ae"
            f" FROM {_JOINS} ORDER BY {_ORDER}"
        )
        with self._lock:
            rows = self._db.execute(sql).fetchall()
        return [InstanceRecord(*row) for row in rows]

    def select(self, level: str, exact: Mapping[str, Sequence[str]]) -> list[dict[str, object]]:
        """Return the entities at ``level`` (with every attribute above it) whose keys in
        ``exact`` take one of the given values; multi-valued keys come back as lists."""
        sql, values = _select_sql(level, exact)
        with self._lock:
            rows = self._db.execute(sql, values).fetchall()
        result = []
        for row in rows:
            record: dict[str, object] = dict(row)
            for key in MULTI_VALUED_KEYS.intersection(record):
                record[key] = [value for value in str(record[key] or "").split(",") if value]
            result.append(record)
        return result
