"""A recording reverse proxy: the harness's window on a repository it tests from outside.

Our simulated repository records every request it receives in its spy (:class:`Recorder`). A
repository under test has no such spy, so the harness puts this proxy on a loopback port in
front of it: the harness's sender and receiver talk to the proxy, the proxy forwards each
request to the repository's base URL unchanged and records it as it passes, answer status
included. Bodies stream through in both directions, so a multi-gigabyte upload costs no memory.

``Location`` and ``Content-Location`` headers that point into the repository are rewritten to
point into the proxy, so that a tus upload's resource URL keeps the client on the proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from simulators.asgi_server import LOOPBACK, AsgiServerError, BackgroundServer
from simulators.repository.spy import Recorder

#: Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: The connection to the repository is the proxy's own: httpx names its host.
_NOT_FORWARDED = HOP_BY_HOP | {"host"}
#: Headers whose value is a URL that may point into the repository.
_URL_HEADERS = ("location", "content-location")
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: Status the proxy answers when the repository cannot be reached (RFC 9110 15.6.3).
BAD_GATEWAY = 502
#: What the spy records for a request whose client went away before it was whole (the status
#: nginx logs for it; no answer was sent).
CLIENT_CLOSED_REQUEST = 499


class RecordingProxyError(AsgiServerError):
    """The proxy could not listen, or did not start or stop in time."""


def create_proxy_app(
    target: str,
    recorder: Recorder,
    *,
    verify: bool | str = True,
    cert: tuple[str, str] | None = None,
    timeout: float = 60.0,
) -> Starlette:
    """Return an app that forwards every request to ``target`` (a base URL) and records it."""
    base = target.rstrip("/")
    client = httpx.AsyncClient(verify=verify, cert=cert, timeout=timeout)

    async def forward(request: Request) -> Response:
        capture = recorder.start()
        headers = [
            (name, value) for name, value in request.headers.items() if name not in _NOT_FORWARDED
        ]

        disconnected = False

        async def body() -> AsyncIterator[bytes]:
            nonlocal disconnected
            try:
                async for chunk in request.stream():
                    capture.feed(chunk)
                    yield chunk
            except ClientDisconnect:
                # The client's connection broke mid-body: forward what came, as it came.
                disconnected = True

        query = request.url.query
        url = base + request.url.path + (f"?{query}" if query else "")
        recorded_url = request.url.path + (f"?{query}" if query else "")
        outgoing = client.build_request(
            request.method,
            url,
            headers=headers,
            content=body() if request.method not in ("GET", "HEAD") else None,
        )
        try:
            answer = await client.send(outgoing, stream=True)
        except Exception as exc:
            # A body cut short makes the HTTP library below httpx refuse to end the request,
            # in its own words: whatever it raises, the client is gone.
            if not disconnected and not isinstance(exc, httpx.HTTPError):
                raise
            status = CLIENT_CLOSED_REQUEST if disconnected else BAD_GATEWAY
            recorder.record(request.method, recorded_url, headers, capture, status)
            return Response(
                f"the repository under test cannot be reached: {type(exc).__name__}\n",
                status_code=BAD_GATEWAY,
                media_type="text/plain",
            )
        proxy_base = f"{request.url.scheme}://{request.url.netloc}"
        relayed = _RelayedAnswer(answer)

        async def finish() -> None:
            # Recorded once the answer is relayed (or the client went away): the request's
            # time then covers the download too, as the repository's own spy counts it.
            if relayed.finish():
                await answer.aclose()
                recorder.record(
                    request.method,
                    recorded_url,
                    headers,
                    capture,
                    answer.status_code,
                    response_size=relayed.size,
                )

        return StreamingResponse(
            relayed.pieces(finish),
            status_code=answer.status_code,
            headers=_answer_headers(answer.headers, base, proxy_base),
            background=BackgroundTask(finish),
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    return Starlette(routes=[Route("/{path:path}", forward, methods=_METHODS)], lifespan=lifespan)


class _RelayedAnswer:
    """The repository's answer as the proxy relays it: bytes counted, finished once."""

    def __init__(self, answer: httpx.Response) -> None:
        self.answer = answer
        self.size = 0
        self._finished = False

    async def pieces(self, finish: Callable[[], Awaitable[None]]) -> AsyncIterator[bytes]:
        """Relay the body; finish when it ends or the client breaks off (the task cancelled)."""
        try:
            async for piece in self.answer.aiter_raw():
                self.size += len(piece)
                yield piece
        finally:
            await finish()

    def finish(self) -> bool:
        """Tell whether this is the first call: the answer is finished now."""
        first, self._finished = not self._finished, True
        return first


def _answer_headers(headers: httpx.Headers, base: str, proxy_base: str) -> dict[str, str]:
    """The repository's answer headers as the client gets them: URLs into it point at us."""
    target = urlsplit(base)
    kept: dict[str, str] = {}
    for name, value in headers.multi_items():
        lowered = name.lower()
        if lowered in HOP_BY_HOP:
            continue
        if lowered in _URL_HEADERS:
            value = _rewrite(value, base, target.path, proxy_base)
        kept[name] = value
    return kept


def _rewrite(value: str, base: str, base_path: str, proxy_base: str) -> str:
    if value.startswith(base):
        return proxy_base + value[len(base) :]
    if base_path and value.startswith(base_path.rstrip("/") + "/"):
        # A path relative to the repository's host: keep it under the proxy's root.
        return value[len(base_path.rstrip("/")) :]
    return value


class RecordingProxy(BackgroundServer):
    """The proxy served by uvicorn in a background thread (``with`` starts and stops it)."""

    def __init__(
        self,
        target: str,
        recorder: Recorder,
        *,
        verify: bool | str = True,
        cert: tuple[str, str] | None = None,
        timeout: float = 60.0,
        host: str = LOOPBACK,
        port: int = 0,
    ) -> None:
        super().__init__(
            create_proxy_app(target, recorder, verify=verify, cert=cert, timeout=timeout),
            host=host,
            port=port,
            name="recording proxy",
            error=RecordingProxyError,
        )
