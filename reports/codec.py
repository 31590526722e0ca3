"""Turn the results model into JSON data and back, driven by the dataclasses' type hints.

One generic codec instead of a ``to_dict``/``from_dict`` pair per class: the field names are the
JSON keys, enums are their values, datetimes ISO 8601 with their offset, tuples JSON arrays.
Input is schema-checked before it gets here; this layer still refuses what it cannot build.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

from reports.model import ResultsError

T = TypeVar("T")


class ResultsFormatError(ResultsError):
    """A results document does not match the model it claims to hold."""


def to_data(value: Any) -> Any:
    """Return ``value`` (a model object or anything inside one) as JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_data(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_data(item) for key, item in value.items()}
    return value


def from_data(kind: type[T], data: Any) -> T:
    """Build an object of ``kind`` (a model dataclass) from JSON data."""
    return _build(kind, data, kind.__name__)


def _build(kind: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is Any:
        return data
    if origin in (types.UnionType, typing.Union):
        if data is None:
            return None
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return _build(inner, data, where)
    if origin is tuple:
        return _tuple(kind, data, where)
    if origin is dict:
        _, value_kind = typing.get_args(kind)
        _expect(data, dict, where)
        return {key: _build(value_kind, item, f"{where}.{key}") for key, item in data.items()}
    if dataclasses.is_dataclass(kind):
        return _dataclass(kind, data, where)
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(data)
        except ValueError:
            raise ResultsFormatError(f"{where} is not a known {kind.__name__}") from None
    if kind is datetime:
        _expect(data, str, where)
        try:
            moment = datetime.fromisoformat(data)
        except ValueError:
            raise ResultsFormatError(f"{where} is not an ISO 8601 date and time") from None
        if moment.tzinfo is None:
            raise ResultsFormatError(f"{where} lacks a time zone offset")
        return moment
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise ResultsFormatError(f"{where} must be a number")
        return float(data)
    _expect(data, kind, where)
    return data


def _tuple(kind: Any, data: Any, where: str) -> tuple[Any, ...]:
    _expect(data, list, where)
    args = typing.get_args(kind)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_build(args[0], item, f"{where}[{i}]") for i, item in enumerate(data))
    if len(args) != len(data):
        raise ResultsFormatError(f"{where} must hold {len(args)} items")
    return tuple(
        _build(arg, item, f"{where}[{i}]")
        for i, (arg, item) in enumerate(zip(args, data, strict=True))
    )


def _dataclass(kind: Any, data: Any, where: str) -> Any:
    _expect(data, dict, where)
    hints = _hints(kind)
    fields = {f.name for f in dataclasses.fields(kind) if f.init}
    unknown = set(data) - fields
    if unknown:
        raise ResultsFormatError(f"{where} has unknown fields: {', '.join(sorted(unknown))}")
    values = {name: _build(hints[name], item, f"{where}.{name}") for name, item in data.items()}
    try:
        return kind(**values)
    except TypeError:
        raise ResultsFormatError(f"{where} lacks required fields") from None


@cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _expect(data: Any, kind: type, where: str) -> None:
    # bool is an int in Python, not in JSON.
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise ResultsFormatError(f"{where} must be {kind.__name__}")
