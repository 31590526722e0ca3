"""Helpers of the repository simulator tests: configuration, a settable clock, request headers.

The fixtures at the end serve the in-process tests; a test module takes them by name:
``from tests.repository_fixtures import client as client`` (the alias tells ruff it is used).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository_wire import checksum_field, digest_field, encode_metadata
from simulators.repository import RepositoryConfig, create_app
from simulators.repository.service import Repository

KEYS = {"HOSP-A": "key-a", "HOSP-B": "key-b"}
ADMIN_KEY = "admin-key"
TUS = {"Tus-Resumable": "1.0.0"}
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
#: A document ID and its bytes, under the ``app`` fixture's size limit.
DOC = "DOC-1"
DATA = os.urandom(1000)


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


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio only."""
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    """The clock of the ``app`` fixture."""
    return Clock()


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Starlette:
    """A repository on the test clock that takes documents of up to 2000 bytes."""
    return create_app(make_config(tmp_path / "repo", clock=clock, max_document_size=2000))


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the ``app`` fixture (which a test module may redefine)."""
    async with asgi_client(app) as c:
        yield c
