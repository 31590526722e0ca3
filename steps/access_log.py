"""The repository's access log, checked against what the repository's spy saw.

Every request the repository received must have its entry: when it came, how it ended (its
status, and the reason of a refusal) and how many bytes it moved. The log must hold no secret
and no credential: it is searched, entry by entry and as the bytes of the files that hold it,
for the facilities' bearer keys and every spelling of the token's secret. Each needle is
first shown to be findable (the keys in the requests the repository was sent, the secret in
the token), or the search proves nothing.

The log is the simulated repository's audit database, or the JSON Lines export a repository
under test shows (``[repository.inspection] access_log``, :mod:`cloudpdi.access_log`): both
are read as :class:`~cloudpdi.access_log.AccessEntry` and judged by the same rules.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cloudpdi.access_log import AccessEntry, AccessLogError
from cloudpdi.token import Token, to_json
from harness.drive import poll
from harness.lab import Lab
from simulators.repository import find_in_requests
from simulators.repository.spy import RecordedRequest, scan
from steps.errors import StepError
from steps.searching import Needles, blocks, secret_needles
from steps.transfer import Outcome

#: More entries than any scenario makes.
MAX_ENTRIES = 100_000
#: How far an entry's time may stray from the scenario's own clock.
CLOCK_SLACK = timedelta(minutes=1)
#: The audit database and its write-ahead files.
AUDIT_FILES = "audit.sqlite3*"

Key = tuple[str, str, int]


@dataclass(frozen=True)
class AccessLog:
    """The repository's access log as the harness reads it: this scenario's entries, oldest
    first, and the files on the repository's side that hold the log."""

    entries: list[AccessEntry]
    files: tuple[Path, ...]


def read_access_log(lab: Lab, requests: list[RecordedRequest]) -> AccessLog:
    """The repository's access log, once it has an entry for each of ``requests`` or the
    repository's wait (:attr:`harness.lab.Lab.repository_wait`) is over.

    A repository under test that exports no access log makes the check NOT RUN; an export that
    is not in the published format fails it.
    """
    if not lab.repository_under_test:
        audit = lab.repository.repository.audit
        data_dir = lab.repository.config.data_dir
        files = tuple(path for path in sorted(data_dir.glob(AUDIT_FILES)) if path.is_file())
        return AccessLog(
            [entry.access_entry() for entry in audit.entries(limit=MAX_ENTRIES)], files
        )
    exported = lab.repository_access_log
    try:
        logged = poll(
            exported.entries, lambda entries: not _missing(requests, entries), lab.repository_wait
        )
        return AccessLog(logged, (exported.path,))
    except AccessLogError as exc:
        raise AssertionError(
            f"the exported access log is not in the published format: {exc}"
        ) from None


def _key(method: str, url: str, status: int) -> Key:
    return method, url.split("?")[0], status


def _paired(
    requests: list[RecordedRequest], logged: list[AccessEntry]
) -> list[tuple[RecordedRequest, AccessEntry | None]]:
    """Each request with the first entry of its method, path and status not yet taken."""
    by_request: dict[Key, list[AccessEntry]] = defaultdict(list)
    for entry in logged:
        by_request[_key(entry.method, entry.path, entry.status)].append(entry)
    pairs: list[tuple[RecordedRequest, AccessEntry | None]] = []
    for request in requests:
        matching = by_request[_key(request.method, request.url, request.status)]
        pairs.append((request, matching.pop(0) if matching else None))
    return pairs


def _missing(requests: list[RecordedRequest], logged: list[AccessEntry]) -> bool:
    """Tell whether a request has no entry with its method, path and status yet."""
    return any(entry is None for _, entry in _paired(requests, logged))


def unaccounted(
    requests: list[RecordedRequest], logged: list[AccessEntry], started: datetime
) -> list[str]:
    """Say what the log misses or gets wrong about each request the spy saw."""
    problems = []
    for request, entry in _paired(requests, logged):
        what = f"{request.method} {request.url.split('?')[0]} ({request.status})"
        if entry is None:
            problems.append(f"{what} has no entry with its outcome")
            continue
        if not started - CLOCK_SLACK <= entry.time <= datetime.now(entry.time.tzinfo) + CLOCK_SLACK:
            problems.append(f"{what} is logged at {entry.time.isoformat()}, not when it came")
        if entry.bytes_in != request.body_size:
            problems.append(
                f"{what} is logged with {entry.bytes_in} bytes in, not the {request.body_size} sent"
            )
        if entry.status >= 400 and not entry.reason:
            problems.append(f"{what} is logged refused without a reason")
    return problems


def download_sizes_wrong(logged: list[AccessEntry], token: Token, downloaded: Outcome) -> list[str]:
    """Say where the log's size of a whole download of the document is not its size."""
    if downloaded.path is None:
        raise StepError(f"the document was not downloaded: {downloaded.error}")
    size = downloaded.path.stat().st_size
    whole = [
        entry
        for entry in logged
        if entry.method == "GET" and entry.document_id == token.document_id and entry.status == 200
    ]
    if not whole:
        return ["the whole download of the document has no entry"]
    return [
        f"a whole download is logged with {entry.bytes_out} bytes out, not {size}"
        for entry in whole
        if entry.bytes_out != size
    ]


def credential_needles(lab: Lab, token: Token) -> Needles:
    """The bearer keys and the secret, each shown to be findable where it is known to be."""
    keys = {
        "the sending hospital's key": lab.uploader_key,
        "the receiving hospital's key": lab.recipient_key,
    }
    needles = {name: key.encode() for name, key in keys.items()}
    if lab.recorder is None:
        raise StepError("the repository has no spy to show the keys it was sent")
    sent = {place.rsplit(": ", 1)[1] for place in find_in_requests(lab.recorder, needles)}
    if not sent:
        raise StepError("no facility key reached the repository: the log had none to leak")
    secret = secret_needles(token.secret)
    if not scan([to_json(token).encode()], secret):
        raise StepError("the secret's spellings are not found even in the token")
    return {**{name: needles[name] for name in sorted(sent)}, **secret}


def leaks(log: AccessLog, needles: Needles) -> list[str]:
    """Say where the log holds a needle: in an entry, or in the files that hold it."""
    places = []
    for number, entry in enumerate(log.entries, 1):
        text = json.dumps(entry.to_json(), ensure_ascii=False).encode()
        places += [f"entry {number}: {name}" for name in sorted(scan([text], needles))]
    for path in log.files:
        places += [f"file {path.name}: {name}" for name in sorted(scan(blocks(path), needles))]
    return places
