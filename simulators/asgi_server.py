"""Serving an ASGI app with uvicorn: in a background thread (tests, the lab) or as the process.

The socket is bound and listening before anyone is told the URL, so port 0 picks a free port
and a client may connect at once. uvicorn does not hand the client certificate to the
application, so over TLS the server uses an h11 protocol that adds it as ``client_cert_chain``
of the ASGI TLS extension (``scope["extensions"]["tls"]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from cloudpdi.errors import CloudPDIError

#: Seconds to wait for a server to start, and by default to stop.
START_TIMEOUT = 10.0
LOOPBACK = "127.0.0.1"


class AsgiServerError(CloudPDIError):
    """A server could not listen, or did not start or stop in time."""


@dataclass(frozen=True)
class ServerTls:
    """HTTPS with this certificate and key; mutual TLS when ``client_ca`` is set."""

    certfile: Path
    keyfile: Path
    client_ca: Path | None = None
    require_client_cert: bool = False


class _ClientCertificate:
    """Adds the connection's client certificate to every request scope."""

    def __init__(self, app: ASGIApp, pem: str) -> None:
        self.app = app
        self.pem = pem

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_chain": [self.pem]}
        await self.app(scope, receive, send)


class ClientCertH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus the peer certificate of a mutual-TLS connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = None if ssl_object is None else ssl_object.getpeercert(binary_form=True)
        if der:
            self.app = _ClientCertificate(self.app, ssl.DER_cert_to_PEM_cert(der))


def base_url(host: str, port: int, *, tls: bool = False) -> str:
    """Return the URL clients use to reach a server bound to ``host`` and ``port``."""
    return f"{'https' if tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}"


def listen(host: str, port: int, error: type[AsgiServerError] = AsgiServerError) -> socket.socket:
    """Return a socket bound to ``host`` and ``port`` (0: a free one) and listening already."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening at once: a client told the URL may connect before uvicorn takes the socket.
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        raise error(f"cannot listen on {host} port {port}: {exc.strerror}") from exc
    return sock


def _uvicorn_config(app: ASGIApp, tls: ServerTls | None) -> uvicorn.Config:
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "access_log": False}
    if tls is not None:
        reqs = ssl.CERT_NONE
        if tls.client_ca is not None:
            reqs = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
        options.update(
            ssl_certfile=str(tls.certfile),
            ssl_keyfile=str(tls.keyfile),
            ssl_ca_certs=None if tls.client_ca is None else str(tls.client_ca),
            ssl_cert_reqs=reqs,
            http=ClientCertH11Protocol,
        )
    return uvicorn.Config(app, **options)


def _run(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve on ``sock``; uvicorn exits on a failed startup: that ends the thread, start says so."""
    with contextlib.suppress(SystemExit):
        server.run(sockets=[sock])


class BackgroundServer:
    """An ASGI app served by uvicorn in a background thread (``with`` starts and stops it).

    ``name`` says which server failed in an ``error`` message; ``stop_timeout`` bounds the wait
    for the app's shutdown (e.g. work it finishes first).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        tls: ServerTls | None = None,
        name: str = "server",
        error: type[AsgiServerError] = AsgiServerError,
        stop_timeout: float = START_TIMEOUT,
    ) -> None:
        self.app = app
        self.host, self.port = host, port
        self.tls = tls
        self.name = name
        self.error = error
        self.stop_timeout = stop_timeout
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self) -> str:
        """Bind, start serving and return the base URL; raise if not up within the timeout."""
        sock = listen(self.host, self.port, self.error)
        server = uvicorn.Server(_uvicorn_config(self.app, self.tls))
        thread = threading.Thread(target=_run, args=(server, sock), name=self.name, daemon=True)
        self._server, self._thread, self._socket = server, thread, sock
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise self.error(f"the {self.name} did not start")
            time.sleep(0.01)
        self.base_url = base_url(self.host, sock.getsockname()[1], tls=self.tls is not None)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and wait for the thread; raise if it is still running after the timeout."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(self.stop_timeout)
            if self._thread.is_alive():
                raise self.error(f"the {self.name} did not stop")
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_until_stopped(
    app: ASGIApp,
    announce: Callable[[str], str],
    *,
    host: str = LOOPBACK,
    port: int = 0,
    tls: ServerTls | None = None,
    error: type[AsgiServerError] = AsgiServerError,
) -> None:
    """Serve ``app`` in this process until SIGINT or SIGTERM; print ``announce(base_url)`` first.

    SIGTERM ends the call normally (exit status 0); SIGINT raises KeyboardInterrupt, as usual.
    Call it from the main thread.
    """
    sock = listen(host, port, error)
    server = uvicorn.Server(_uvicorn_config(app, tls))

    def stop(signum: int, frame: object) -> None:
        # Before uvicorn takes the signal over, and again when it re-raises it after its
        # graceful shutdown: either way, stopping is what was asked for.
        server.should_exit = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        print(announce(base_url(host, sock.getsockname()[1], tls=tls is not None)), flush=True)
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
