"""The repository's access log, checked against what the repository's spy saw.

Every request the repository received must have its entry: when it came, how it ended (its
status, and the reason of a refusal) and how many bytes it moved. The log must hold no secret
and no credential: it is searched, entry by entry and as the bytes on the repository's disk,
for the facilities' bearer keys and every spelling of the token's secret. Each needle is
first shown to be findable (the keys in the requests the repository was sent, the secret in
the token), or the search proves nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from cloudpdi.token import Token, to_json
from harness.lab import Lab
from simulators.repository import find_in_requests
from simulators.repository.audit import AuditEntry
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


def entries(lab: Lab) -> list[AuditEntry]:
    """Every entry of the repository's access log, oldest first."""
    return lab.repository.repository.audit.entries(limit=MAX_ENTRIES)


def _key(method: str, url: str, status: int) -> Key:
    return method, url.split("?")[0], status


def unaccounted(
    requests: list[RecordedRequest], logged: list[AuditEntry], started: datetime
) -> list[str]:
    """Say what the log misses or gets wrong about each request the spy saw."""
    problems = []
    by_request: dict[Key, list[AuditEntry]] = defaultdict(list)
    for entry in logged:
        by_request[_key(entry.method, entry.path, entry.status)].append(entry)
    for request in requests:
        what = f"{request.method} {request.url.split('?')[0]} ({request.status})"
        matching = by_request[_key(request.method, request.url, request.status)]
        if not matching:
            problems.append(f"{what} has no entry with its outcome")
            continue
        entry = matching.pop(0)
        if not started - CLOCK_SLACK <= entry.time <= datetime.now(entry.time.tzinfo) + CLOCK_SLACK:
            problems.append(f"{what} is logged at {entry.time.isoformat()}, not when it came")
        if entry.bytes_in != request.body_size:
            problems.append(
                f"{what} is logged with {entry.bytes_in} bytes in, not the {request.body_size} sent"
            )
        if entry.status >= 400 and not entry.error:
            problems.append(f"{what} is logged refused without a reason")
    return problems


def download_sizes_wrong(logged: list[AuditEntry], token: Token, downloaded: Outcome) -> list[str]:
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


def leaks(lab: Lab, logged: list[AuditEntry], needles: Needles) -> list[str]:
    """Say where the log holds a needle: in an entry, or in its files on the repository's disk."""
    places = []
    for entry in logged:
        text = json.dumps(entry.to_json(), ensure_ascii=False).encode()
        places += [f"entry {entry.id}: {name}" for name in sorted(scan([text], needles))]
    for path in _audit_files(lab):
        places += [f"file {path.name}: {name}" for name in sorted(scan(blocks(path), needles))]
    return places


def _audit_files(lab: Lab) -> Iterator[Path]:
    return (
        path for path in sorted(lab.repository.config.data_dir.glob(AUDIT_FILES)) if path.is_file()
    )
