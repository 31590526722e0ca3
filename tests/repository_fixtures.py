"""Helpers of the repository simulator tests: configuration, a settable clock, request headers."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository_wire import checksum_field, digest_field, encode_metadata
from simulators.repository import RepositoryConfig
from simulators.repository.service import Repository

KEYS = {"HOSP-A": "key-a", "HOSP-B": "key-b"}
ADMIN_KEY = "admin-key"
TUS = {"Tus-Resumable": "1.0.0"}
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_config(data_dir: Path, **options: Any) -> RepositoryConfig:
    """A configuration with two facilities, an admin key, no periodic purge, a test clock."""
    options.setdefault("clock", Clock())
    options.setdefault("purge_interval", 0)
    return RepositoryConfig(data_dir=data_dir, uploader_keys=KEYS, admin_key=ADMIN_KEY, **options)


def repository_of(app: Starlette) -> Repository:
    """The repository behind an app."""
    repository: Repository = app.state.repository
    return repository


def digest_of(data: bytes) -> str:
    """The ``sha-256:<hex>`` digest of ``data``."""
    return format_digest(hashlib.sha256(data).hexdigest())


def bearer(facility: str) -> dict[str, str]:
    """The Authorization header of a facility (or of the admin, for ``"admin"``)."""
    key = ADMIN_KEY if facility == "admin" else KEYS[facility]
    return {"Authorization": f"Bearer {key}"}


def put_headers(data: bytes, facility: str = "HOSP-A", **extra: str) -> dict[str, str]:
    """Headers of a whole-body PUT of ``data``."""
    return {**bearer(facility), "Content-Digest": digest_field(digest_of(data)), **extra}


def creation_headers(
    document_id: str, data: bytes, facility: str = "HOSP-A", **metadata: str
) -> dict[str, str]:
    """Headers of a tus creation for ``data`` stored as ``document_id``."""
    items = {"documentId": document_id, "contentDigest": digest_field(digest_of(data)), **metadata}
    return {
        **bearer(facility),
        **TUS,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": encode_metadata(items),
    }


def patch_headers(
    offset: int, chunk: bytes | None = None, facility: str = "HOSP-A", algorithm: str = "sha256"
) -> dict[str, str]:
    """Headers of a tus PATCH at ``offset``, with a checksum of ``chunk`` when given."""
    headers = {
        **bearer(facility),
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
    }
    if chunk is not None:
        headers["Upload-Checksum"] = checksum_field(algorithm, chunk)
    return headers


@asynccontextmanager
async def asgi_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client that calls the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://repository") as client:
        yield client
