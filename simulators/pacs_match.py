"""C-FIND attribute matching (PS3.4 C.2.2.2) on decoded values.

- universal matching: an empty key, or ``*`` alone, matches everything;
- single value and wildcard matching (``*`` any run, ``?`` one character) for text VRs,
  case-insensitive for person names;
- list of UID matching: any of the backslash-separated UIDs;
- range matching for dates and times: ``A-B``, ``A-`` and ``-B``; a partial time such as
  ``10`` stands for the whole hour;
- a multi-valued key (e.g. ``CT\\MR`` for Modalities in Study) matches if any value does;
  a multi-valued stored attribute matches if any of its values does.

A Japanese person name holds up to three component groups (alphabetic, ideographic,
phonetic, separated by ``=``): a key without ``=`` matches if any one group matches, so that
``山田*`` and ``YAMADA*`` find the same patient; a key with ``=`` is matched whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pydicom.multival import MultiValue

#: Value representations whose keys may hold ``*`` and ``?`` (PS3.4 C.2.2.2.4).
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: Value representations matched as ranges (PS3.4 C.2.2.2.5).
RANGE_VRS = frozenset({"DA", "TM"})
#: Value representations compared as numbers.
NUMBER_VRS = frozenset({"IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})

# A partial time bound covers everything it leaves out: "10" ends at 10:59:59.999999.
_TIME_WIDTH = len("HHMMSS.FFFFFF")


def key_values(value: object) -> list[str]:
    """Return the values of a query key as stripped text; an empty list means universal."""
    if value is None:
        return []
    items = value if isinstance(value, MultiValue | list | tuple) else [value]
    texts = [str(item).strip() for item in items]
    return [text for text in texts if text]


def is_universal(vr: str, values: list[str]) -> bool:
    """Tell whether key ``values`` of ``vr`` match everything."""
    return not values or (vr in WILDCARD_VRS and values == ["*"])


@lru_cache(maxsize=1024)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    """Return the regular expression of a wildcard key."""
    body = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text
    )
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _person_name(text: str) -> str:
    """Drop the empty trailing components and groups that PN values may carry."""
    groups = [group.rstrip("^ ") for group in text.split("=")]
    return "=".join(groups).rstrip("=")


def _match_text(vr: str, key: str, stored: str) -> bool:
    if vr != "PN":
        return _pattern(key, False).fullmatch(stored) is not None
    pattern = _pattern(_person_name(key), True)
    name = _person_name(stored)
    candidates = [name] if "=" in key else name.split("=")
    return any(pattern.fullmatch(candidate) for candidate in candidates)


def _normalise(vr: str, text: str) -> str:
    """Return a date or time in its current form: no ACR-NEMA "." or ":" separators."""
    return text.replace(".", "") if vr == "DA" else text.replace(":", "")


def _match_range(vr: str, key: str, stored: str) -> bool:
    low, dash, high = key.partition("-")
    if not dash:
        high = low
    value = _normalise(vr, stored)
    if not value:
        return False
    if low and value < _normalise(vr, low):
        return False
    if high:
        bound = _normalise(vr, high)
        if vr == "TM" and "." not in bound:
            bound = bound.ljust(_TIME_WIDTH, "9")
        if value > bound:
            return False
    return True


def _match_number(key: str, stored: str) -> bool:
    try:
        return float(key) == float(stored)
    except ValueError:
        return key == stored


def _match_one(vr: str, key: str, stored: str) -> bool:
    if vr in RANGE_VRS:
        return _match_range(vr, key, stored)
    if vr in WILDCARD_VRS:
        return _match_text(vr, key, stored)
    if vr in NUMBER_VRS:
        return _match_number(key, stored)
    return key == stored


def matches(vr: str, key: object, stored: str | Iterable[str]) -> bool:
    """Tell whether the stored value (one text or several) satisfies the query key."""
    values = key_values(key)
    if is_universal(vr, values):
        return True
    candidates = [stored] if isinstance(stored, str) else list(stored)
    candidates = [candidate.strip() for candidate in candidates]
    return any(_match_one(vr, value, candidate) for value in values for candidate in candidates)
