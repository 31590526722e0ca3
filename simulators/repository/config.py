"""What a repository simulator is told at start: where it keeps data, whom it trusts, its limits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from simulators.faults import Fault, faults_for

if TYPE_CHECKING:
    from simulators.repository.spy import Recorder

#: Default lifetime of a document when the uploader sets none (reference binding, ASSUMED).
DEFAULT_RETENTION = timedelta(days=14)
#: Longest lifetime an uploader may ask for.
MAX_RETENTION = timedelta(days=90)
#: How long an unfinished resumable upload is kept after its last PATCH.
UPLOAD_EXPIRY = timedelta(hours=24)
DEFAULT_MAX_DOCUMENT_SIZE = 16 << 30
#: Seconds between purges of expired bytes unless configured.
DEFAULT_PURGE_INTERVAL = 300.0


def utc_now() -> datetime:
    """Return the current time in UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per client: ``requests`` in a burst, refilled over ``per_seconds``."""

    requests: int
    per_seconds: float

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive period")


@dataclass(frozen=True)
class TlsConfig:
    """HTTPS, and mutual TLS when ``client_ca`` is set.

    ``client_certs`` maps the SHA-256 fingerprint (hex) of a facility certificate, which must
    chain to ``client_ca``, to the facility ID it authenticates.
    """

    certfile: Path
    keyfile: Path
    client_ca: Path | None = None
    client_certs: Mapping[str, str] = field(default_factory=dict)
    require_client_cert: bool = False

    def __post_init__(self) -> None:
        if self.client_ca is None and (self.client_certs or self.require_client_cert):
            raise ValueError("client certificates need client_ca to verify them")


@dataclass(frozen=True)
class S3Config:
    """An S3-compatible bucket; credentials fall back to boto3's usual sources when absent."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    prefix: str = "documents/"
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    part_size: int = 8 << 20
    create_bucket: bool = False


@dataclass
class RepositoryConfig:
    """Options of one repository simulator; only ``data_dir`` is required.

    ``uploader_keys`` maps facility IDs to bearer keys. The same key authenticates a facility
    as uploader and as the recipient of a restricted document.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    uploader_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    admin_key: str | None = field(default=None, repr=False)
    default_retention: timedelta = DEFAULT_RETENTION
    max_retention: timedelta = MAX_RETENTION
    upload_expiry: timedelta = UPLOAD_EXPIRY
    max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE
    #: Seconds one request may take to deliver its body (408 after that).
    request_timeout: float = 3600.0
    rate_limit: RateLimit | None = None
    tls: TlsConfig | None = None
    backend: Literal["fs", "s3"] = "fs"
    s3: S3Config | None = None
    #: Seconds between purges of expired bytes; 0 turns the periodic purge off.
    purge_interval: float = DEFAULT_PURGE_INTERVAL
    #: Where to export the access log as JSON Lines (:mod:`cloudpdi.access_log`); None: nowhere.
    access_log: Path | None = None
    #: The spy: sees every request whole (tests only; never set in production).
    recorder: Recorder | None = field(default=None, repr=False)
    clock: Callable[[], datetime] = field(default=utc_now, repr=False)
    #: Deliberate misbehaviours, to test the conformance suite (:mod:`simulators.faults`).
    faults: frozenset[Fault] = frozenset()

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        self.faults = faults_for("repository", self.faults)
        if self.backend not in ("fs", "s3"):
            raise ValueError("backend must be 'fs' or 's3'")
        if self.backend == "s3" and self.s3 is None:
            raise ValueError("the s3 backend needs S3Config settings")
        if self.max_document_size < 1 or self.request_timeout <= 0:
            raise ValueError("size and time limits must be positive")
        if self.purge_interval < 0:
            raise ValueError("purge_interval must be 0 (no periodic purge) or positive")
        if not timedelta(0) < self.default_retention <= self.max_retention:
            raise ValueError("default_retention must be positive and at most max_retention")
