"""Reading one TOML table of a run configuration: typed values, full key paths, no typos.

Each table declares the keys it takes before anything is read, so a misspelt key is reported
first, with the nearest valid key, instead of surfacing later as a missing setting. Errors name
the file and the key path; they never quote a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from difflib import get_close_matches
from pathlib import Path
from typing import Any, TypeVar

from cloudpdi.config_rules import INLINE_KEY_REASON, RunConfigError, check_text
from cloudpdi.config_secrets import SecretRef

T = TypeVar("T")


class Table:
    """One TOML table being read, at key path ``prefix`` of ``file``."""

    def __init__(self, data: Mapping[str, Any], prefix: str, file: Path) -> None:
        self._data = data
        self.prefix = prefix
        self.file = file

    def key(self, name: str) -> str:
        """The full key path of ``name`` in this table."""
        return ".".join(part for part in (self.prefix, name) if part)

    def error(self, name: str, problem: str) -> RunConfigError:
        return RunConfigError(self.key(name), problem, file=self.file)

    def has(self, name: str) -> bool:
        return name in self._data

    def names(self) -> tuple[str, ...]:
        return tuple(self._data)

    def expect(self, *names: str, what: str) -> None:
        """Refuse any key but ``names``, suggesting the nearest; ``what`` describes the table."""
        for name in self._data:
            if name not in names:
                nearest = get_close_matches(name, names, n=1)
                hint = f"did you mean {nearest[0]!r}?" if nearest else f"known: {', '.join(names)}"
                raise self.error(name, f"is not a setting of {what}; {hint}")

    @contextmanager
    def within(self) -> Iterator[None]:
        """Report a rule broken inside the block under this table's key path and file."""
        try:
            yield
        except RunConfigError as exc:
            raise exc.under(self.prefix, self.file) from None

    def build(self, factory: Callable[..., T], **values: Any) -> T:
        """Call ``factory`` (a checked dataclass) with ``values``; its errors get the key path."""
        with self.within():
            return factory(**values)

    def required(self, name: str, value: T | None) -> T:
        if value is None:
            raise self.error(name, "is required")
        return value

    def _value(self, name: str, kinds: type | tuple[type, ...], what: str) -> Any:
        value = self._data.get(name)
        # TOML booleans are Python ints: only a table asking for a boolean takes one.
        is_stray_bool = isinstance(value, bool) and kinds is not bool
        if value is not None and (is_stray_bool or not isinstance(value, kinds)):
            raise self.error(name, f"must be {what}")
        if isinstance(value, str):
            with self.within():
                check_text(name, value)
        return value

    def string(self, name: str) -> str | None:
        return self._value(name, str, "a string")

    def number(self, name: str) -> float | None:
        value = self._value(name, (int, float), "a number")
        return None if value is None else float(value)

    def integer(self, name: str) -> int | None:
        return self._value(name, int, "an integer")

    def boolean(self, name: str) -> bool | None:
        return self._value(name, bool, "true or false")

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.string(name) or default
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(map(repr, choices))}")
        return value

    def strings(self, name: str) -> tuple[str, ...] | None:
        """A list of strings; an empty list is returned as such, for the model to judge."""
        value = self._value(name, list, "a list of strings")
        if value is None:
            return None
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{name}[{index}]", "must be a string")
            with self.within():
                check_text(f"{name}[{index}]", item)
        return tuple(value)

    def path(self, name: str) -> Path | None:
        """A path; a relative one is relative to the configuration file's folder."""
        value = self.string(name)
        return None if value is None else self.file.parent / Path(value).expanduser()

    def secret(self, name: str) -> SecretRef | None:
        """A reference to a bearer key; the key itself written here is refused."""
        if isinstance(self._data.get(name), str):
            raise self.error(name, f"is written inline; {INLINE_KEY_REASON}")
        if not self.has(name):
            return None
        ref = self.table(name)
        ref.expect("env", "file", what="a key reference")
        return ref.build(SecretRef, env=ref.string("env"), file=ref.path("file"))

    def table(self, name: str) -> Table:
        """The sub-table ``name``; an empty one when it is absent."""
        value = self._value(name, dict, "a table")
        return Table(value or {}, self.key(name), self.file)

    def tables(self, name: str) -> list[Table]:
        """An array of tables (``[[name]]``)."""
        value = self._data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.error(name, f"must be an array of tables: write [[{name}]] for each")
        return [Table(item, f"{self.key(name)}[{i}]", self.file) for i, item in enumerate(value)]

    def mapping(self, name: str, read: Callable[[Table, str], T | None]) -> dict[str, T]:
        """A table whose keys are data (names, IDs); ``read`` reads each value from it."""
        table = self.table(name)
        return {key: table.required(key, read(table, key)) for key in table.names()}


def default_to(value: T | None, default: T) -> T:
    """``value``, or ``default`` when the key was not given."""
    return default if value is None else value


def given(**values: Any) -> dict[str, Any]:
    """The values that were given, so that the model's defaults stand for the rest."""
    return {name: value for name, value in values.items() if value is not None}
