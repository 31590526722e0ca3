"""The repository as an ASGI application: routes, the observing middleware and the purge task.

:func:`create_app` returns a Starlette app that runs under any ASGI server (uvicorn in
:mod:`simulators.repository.server`) or in-process through ``httpx.ASGITransport``.
``app.state.repository`` is the :class:`~simulators.repository.service.Repository` behind it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulators.repository import admin
from simulators.repository.audit import AuditEntry
from simulators.repository.config import RepositoryConfig
from simulators.repository.documents import Document
from simulators.repository.errors import (
    ApiError,
    handle_api_error,
    handle_http_exception,
    handle_unexpected,
)
from simulators.repository.service import Repository
from simulators.repository.tus import Upload, UploadCollection

log = logging.getLogger(__name__)

ROUTES = [
    Route("/documents/{documentId}", Document, name="document"),
    Route("/uploads", UploadCollection, name="uploads"),
    Route("/uploads/{uploadId}", Upload, name="upload"),
    Route("/audit", admin.audit, methods=["GET"], name="audit"),
    Route("/admin/purge", admin.purge, methods=["POST"], name="purge"),
    Route("/openapi.json", admin.openapi, methods=["GET"], name="openapi"),
]


class ObservingMiddleware:
    """Identifies the client, applies the rate limit, and writes every request to the audit
    log and, when a recorder is set, to the spy."""

    def __init__(self, app: ASGIApp, repository: Repository) -> None:
        self.app = app
        self.repository = repository

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        repository = self.repository
        started, when = time.perf_counter(), repository.now()
        state = scope.setdefault("state", {})
        recorder = repository.config.recorder
        capture = None if recorder is None else recorder.start()
        seen = {"status": 0, "in": 0, "out": 0}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                seen["in"] += len(body)
                if capture is not None:
                    capture.feed(body)
            return message

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["out"] += len(message.get("body", b""))
            await send(message)

        headers = Headers(scope=scope)
        try:
            state["identity"] = repository.authenticator.identify(
                headers.get("authorization"), scope
            )
            self._check_rate(scope, state)
            await self.app(scope, counting_receive, watching_send)
        except ApiError as error:
            state["error"] = error.code
            await error.response()(scope, counting_receive, watching_send)
        finally:
            identity = state.get("identity")
            facility = None if identity is None else identity.facility
            client = scope.get("client")
            entry = AuditEntry(
                time=when,
                client=client[0] if client else "unknown",
                facility=facility,
                method=scope["method"],
                path=scope["path"],
                document_id=state.get("document_id"),
                status=seen["status"] or 500,
                error=state.get("error") or (None if seen["status"] else "internal_error"),
                bytes_in=seen["in"],
                bytes_out=seen["out"],
                duration=time.perf_counter() - started,
                headers=tuple(headers.items()),
            )
            repository.audit.append(entry)
            if recorder is not None and capture is not None:
                query = scope["query_string"].decode("latin-1")
                url = scope["path"] + (f"?{query}" if query else "")
                recorder.record(
                    scope["method"],
                    url,
                    headers.items(),
                    capture,
                    entry.status,
                    response_size=seen["out"],
                )

    def _check_rate(self, scope: Scope, state: dict) -> None:
        limiter = self.repository.rate_limiter
        if limiter is None:
            return
        identity = state["identity"]
        client = scope.get("client")
        key = identity.facility or (client[0] if client else "unknown")
        wait = limiter.acquire(key)
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                "too many requests from this client",
                {"Retry-After": str(wait)},
            )


async def _purge_periodically(repository: Repository, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(repository.purge_expired)
        except Exception:
            # A failed purge must not stop the next one; the error is logged, not lost.
            log.exception("purge failed")


def create_app(config: RepositoryConfig) -> Starlette:
    """Return the repository application for ``config``."""
    repository = Repository(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            if config.purge_interval > 0:
                tasks.start_soon(_purge_periodically, repository, config.purge_interval)
            yield
            tasks.cancel_scope.cancel()

    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(ObservingMiddleware, repository=repository)],
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.repository = repository
    return app
