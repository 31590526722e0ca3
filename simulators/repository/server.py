"""Serving the repository with uvicorn: in a background thread for tests, or as the process.

uvicorn does not hand the client certificate to the application, so over TLS the server uses
an h11 protocol that adds it as ``client_cert_chain`` of the ASGI TLS extension
(``scope["extensions"]["tls"]``).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from simulators.repository.app import create_app
from simulators.repository.config import RepositoryConfig
from simulators.repository.service import Repository

#: Seconds to wait for the server to start or stop.
START_TIMEOUT = 10.0


class RepositoryServerError(RuntimeError):
    """The server did not start or stop in time."""


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


def base_url(config: RepositoryConfig, port: int) -> str:
    """Return the URL clients use to reach a server bound to ``config.host`` and ``port``."""
    scheme = "https" if config.tls is not None else "http"
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"{scheme}://{host}:{port}"


def _uvicorn_config(app: ASGIApp, config: RepositoryConfig) -> uvicorn.Config:
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "access_log": False}
    tls = config.tls
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


def _bind(config: RepositoryConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    # Listening at once: a client told the URL may connect before uvicorn takes the socket.
    sock.listen(socket.SOMAXCONN)
    sock.set_inheritable(True)
    return sock


class RepositoryServer:
    """A repository served by uvicorn in a background thread (``with`` starts and stops it)."""

    def __init__(self, config: RepositoryConfig) -> None:
        self.config = config
        self.app = create_app(config)
        self.repository: Repository = self.app.state.repository
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> str:
        """Bind, start serving and return the base URL; raise if not up within the timeout."""
        sock = _bind(self.config)
        server = uvicorn.Server(_uvicorn_config(self.app, self.config))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="repository", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RepositoryServerError("the repository server did not start")
            time.sleep(0.01)
        self.base_url = base_url(self.config, sock.getsockname()[1])
        return self.base_url

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the databases."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(START_TIMEOUT)
            if self._thread.is_alive():
                raise RepositoryServerError("the repository server did not stop")
        self._server = self._thread = None
        self.repository.close()

    def __enter__(self) -> RepositoryServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_repository(config: RepositoryConfig) -> None:
    """Serve the repository in this process until SIGINT or SIGTERM; print the base URL first.

    SIGTERM ends the call normally (exit status 0); SIGINT raises KeyboardInterrupt, as usual.
    Call it from the main thread.
    """
    app = create_app(config)
    sock = _bind(config)
    server = uvicorn.Server(_uvicorn_config(app, config))

    def stop(signum: int, frame: object) -> None:
        # Before uvicorn takes the signal over, and again when it re-raises it after its
        # graceful shutdown: either way, stopping is what was asked for.
        server.should_exit = True

    previous = signal.signal(signal.SIGTERM, stop)
    print(f"repository listening on {base_url(config, sock.getsockname()[1])}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.state.repository.close()
