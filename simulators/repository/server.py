"""Serving the repository with uvicorn: in a background thread for tests, or as the process.

Over mutual TLS the app finds the client certificate in the ASGI TLS extension
(``scope["extensions"]["tls"]``): :mod:`simulators.asgi_server` puts it there.
"""

from __future__ import annotations

from simulators.asgi_server import (
    AsgiServerError,
    BackgroundServer,
    ServerTls,
    serve_until_stopped,
)
from simulators.repository.alteration import Alteration, AlteredDocuments
from simulators.repository.app import create_app
from simulators.repository.config import RepositoryConfig, TlsConfig
from simulators.repository.service import Repository


class RepositoryServerError(AsgiServerError):
    """The repository server could not listen, or did not start or stop in time."""


def _server_tls(tls: TlsConfig | None) -> ServerTls | None:
    """The HTTPS part of the repository's TLS settings (pinned certificates are the app's)."""
    if tls is None:
        return None
    return ServerTls(tls.certfile, tls.keyfile, tls.client_ca, tls.require_client_cert)


class RepositoryServer(BackgroundServer):
    """A repository served by uvicorn in a background thread (``with`` starts and stops it)."""

    def __init__(self, config: RepositoryConfig) -> None:
        self.config = config
        app = create_app(config)
        self.repository: Repository = app.state.repository
        super().__init__(
            app,
            host=config.host,
            port=config.port,
            tls=_server_tls(config.tls),
            name="repository server",
            error=RepositoryServerError,
        )

    def alter_downloads(self, alteration: Alteration | None) -> None:
        """Serve every document altered so from now on (None: as uploaded again); tests only."""
        self.repository.alteration = None if alteration is None else AlteredDocuments(alteration)

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the databases."""
        super().stop()
        self.repository.close()


def serve_repository(config: RepositoryConfig) -> None:
    """Serve the repository in this process until SIGINT or SIGTERM; print the base URL first.

    SIGTERM ends the call normally (exit status 0); SIGINT raises KeyboardInterrupt, as usual.
    Call it from the main thread.
    """
    app = create_app(config)
    try:
        serve_until_stopped(
            app,
            lambda url: f"repository listening on {url}",
            host=config.host,
            port=config.port,
            tls=_server_tls(config.tls),
            error=RepositoryServerError,
        )
    finally:
        app.state.repository.close()
