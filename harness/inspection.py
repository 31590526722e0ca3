"""What a repository under test shows of its insides: its storage folder and its access log.

A product's repository is tested from outside, but a run configuration may give the harness two
vendor-neutral views into it (``[repository.inspection]``): the folder where it keeps what it
stores, and its access log exported as JSON Lines (:mod:`cloudpdi.access_log`). A repository
deletes or logs in its own time, so a check polls what it shows until a deadline
(:func:`harness.drive.poll`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from cloudpdi.access_log import AccessEntry, read_entries, size_of


@dataclass(frozen=True)
class ExportedAccessLog:
    """The access log a repository under test exports, from where one scenario's entries begin.

    The repository is reached at a base URL whose path the requests the harness records leave
    out; an entry's path is given relative to it, as the harness's requests are.
    """

    path: Path
    start: int
    base_path: str

    @classmethod
    def from_now(cls, path: Path, url: str) -> ExportedAccessLog:
        """The export at ``path`` of the repository at ``url``, from its end as it is now."""
        return cls(path=path, start=size_of(path), base_path=urlsplit(url).path.rstrip("/"))

    def entries(self) -> list[AccessEntry]:
        """The entries written since the scenario began, oldest first."""
        entries, _ = read_entries(self.path, self.start)
        return [self._relative(entry) for entry in entries]

    def _relative(self, entry: AccessEntry) -> AccessEntry:
        prefix = self.base_path
        if prefix and entry.path.startswith(prefix + "/"):
            return replace(entry, path=entry.path[len(prefix) :])
        return entry
