"""C-FIND answers and C-MOVE/C-GET selections from the PACS index (PS3.4 C.4.1 to C.4.3).

Matching is lenient in one way real archives often are: any key at or above the query
level is matched and returned (a STUDY query may filter on Patient's Name in either
model); keys below the level are returned empty and not matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from cloudpdi.dimse_query import check_level
from cloudpdi.errors import CloudPDIError
from simulators.pacs_index import COMPUTED_KEYS, LEVEL_KEYS, LEVELS, PacsIndex
from simulators.pacs_match import WILDCARD_VRS, is_universal, key_values, matches

#: C-FIND / C-MOVE / C-GET failure: Identifier does not match SOP Class (PS3.4 C.4.1.1.4).
IDENTIFIER_DOES_NOT_MATCH = 0xA900
#: Specific Character Set of an answer that combines text from different character sets.
UTF8_CHARACTER_SET = "ISO_IR 192"
#: The unique key of each level (PS3.4 C.6.1.1 and C.6.2.1).
UNIQUE_KEYS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
# Elements of the identifier that steer the query rather than match anything.
_CONTROL_KEYWORDS = frozenset({"QueryRetrieveLevel", "SpecificCharacterSet"})


class QueryError(CloudPDIError):
    """A C-FIND, C-MOVE or C-GET identifier the PACS cannot act on."""


def query_level(identifier: Dataset, model: str) -> str:
    """Return the Query/Retrieve Level of ``identifier``, checked against ``model``."""
    level = str(identifier.get("QueryRetrieveLevel", "")).strip()
    try:
        check_level(level, model)
    except ValueError as exc:
        raise QueryError(str(exc)) from exc
    return level


def _available(level: str) -> set[str]:
    """Return the keys a query at ``level`` can match and answer."""
    upper = LEVELS[: LEVELS.index(level) + 1]
    return {key for name in upper for key in LEVEL_KEYS[name]} | set(COMPUTED_KEYS[level])


def _keys(identifier: Dataset, level: str) -> list[DataElement]:
    """Return the matching keys of ``identifier`` the index knows at ``level``."""
    available = _available(level)
    return [
        element
        for element in identifier
        if element.keyword in available and element.keyword not in _CONTROL_KEYWORDS
    ]


def _exact(keys: Sequence[DataElement]) -> dict[str, list[str]]:
    """Return unique-key values that can narrow the SQL query before matching."""
    exact = {}
    for element in keys:
        if element.keyword not in UNIQUE_KEYS.values():
            continue
        values = key_values(element.value)
        wild = element.VR in WILDCARD_VRS and any("*" in v or "?" in v for v in values)
        if not is_universal(element.VR, values) and not wild:
            exact[element.keyword] = values
    return exact


def _select(index: PacsIndex, identifier: Dataset, level: str) -> list[dict[str, object]]:
    keys = _keys(identifier, level)
    rows = index.select(level, _exact(keys))
    return [
        row
        for row in rows
        if all(matches(key.VR, key.value, row[key.keyword]) for key in keys)  # type: ignore[arg-type]
    ]


def _charset(row: dict[str, object], level: str) -> str:
    """Return the Specific Character Set to answer with for the levels in ``row``."""
    upper = LEVELS[: LEVELS.index(level) + 1]
    found = {str(row[f"charset_{name}"]) for name in upper} - {""}
    if len(found) > 1:
        return UTF8_CHARACTER_SET
    return found.pop() if found else ""


def _answer(row: dict[str, object], identifier: Dataset, level: str, ae_title: str) -> Dataset:
    """Return the C-FIND response identifier for one matching ``row``."""
    answer = Dataset()
    charset = _charset(row, level)
    if charset:
        answer.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    available = _available(level)
    for element in identifier:
        if element.keyword in _CONTROL_KEYWORDS:
            continue
        if element.VR == "SQ" or element.keyword not in available:
            answer.add_new(element.tag, element.VR, [] if element.VR == "SQ" else None)
            continue
        value = row[element.keyword]
        answer.add_new(element.tag, element.VR, value if isinstance(value, list) else str(value))
    answer.QueryRetrieveLevel = level
    answer.RetrieveAETitle = ae_title
    return answer


def find_answers(index: PacsIndex, identifier: Dataset, model: str, ae_title: str) -> list[Dataset]:
    """Return the C-FIND answers to ``identifier`` in information ``model``."""
    level = query_level(identifier, model)
    rows = _select(index, identifier, level)
    return [_answer(row, identifier, level, ae_title) for row in rows]


class RetrieveItem(NamedTuple):
    """One instance to send: its file (relative to the store), SOP Class and syntax."""

    path: str
    sop_class_uid: str
    transfer_syntax_uid: str


def retrieve_selection(index: PacsIndex, identifier: Dataset, model: str) -> list[RetrieveItem]:
    """Return the instances a C-MOVE or C-GET with ``identifier`` asks for.

    The level's unique key must be given: a retrieve never means "everything".
    """
    level = query_level(identifier, model)
    unique = UNIQUE_KEYS[level]
    if not key_values(identifier.get(unique)):
        raise QueryError(f"a {level} retrieve needs {unique}")
    return [
        RetrieveItem(
            str(row["path"]), str(row["SOPClassUID"]), str(row["AvailableTransferSyntaxUID"])
        )
        for row in _select(index, identifier, "IMAGE")
    ]
