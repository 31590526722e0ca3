"""A tiny token inbox (Starlette under uvicorn) and a free port, for delivery and sender tests.

It follows the inbox contract (``POST /tokens``: 202 ``{"token_id", "status"}``) and records
what it was sent; ``answers`` scripts failures first (e.g. 503 then the normal 202).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators.asgi_server import BackgroundServer


@dataclass
class Inbox:
    """What the inbox received, and the statuses it answers before accepting."""

    url: str = ""
    received: list[tuple[str, bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)


def inbox_app(inbox: Inbox) -> Starlette:
    """Return the inbox application recording into ``inbox``."""

    async def post_token(request: Request) -> JSONResponse:
        inbox.received.append((request.headers.get("content-type", ""), await request.body()))
        if inbox.answers:
            status = inbox.answers.pop(0)
            return JSONResponse({"error": "scripted", "message": "scripted"}, status_code=status)
        return JSONResponse({"token_id": "T1", "status": "accepted"}, status_code=202)

    return Starlette(routes=[Route("/tokens", post_token, methods=["POST"])])


@contextmanager
def running_inbox() -> Iterator[Inbox]:
    """Serve a fresh inbox on a free loopback port; stop it afterwards."""
    inbox = Inbox()
    with BackgroundServer(inbox_app(inbox), name="test inbox") as server:
        inbox.url = f"{server.base_url}/tokens"
        yield inbox
