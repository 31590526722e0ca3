"""Serving an ASGI app: a background thread on a free port, bounded stops, TLS, the process."""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import httpx
import pytest
import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cloudpdi.errors import CloudPDIError
from simulators.asgi_server import (
    AsgiServerError,
    BackgroundServer,
    ServerTls,
    base_url,
    listen,
    serve_until_stopped,
)

ROOT = Path(__file__).resolve().parents[1]
WAIT = 10.0


class PingServerError(AsgiServerError):
    """The error of the servers under test."""


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


async def client_cert(request: Request) -> PlainTextResponse:
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain", [])
    return PlainTextResponse(chain[0] if chain else "none")


def ping_app(**options: object) -> Starlette:
    return Starlette(
        routes=[Route("/ping", ping), Route("/client-cert", client_cert)],
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    with listen("127.0.0.1", 0) as sock:
        yield sock.getsockname()[1]


def test_a_server_starts_on_a_free_port_and_is_gone_once_stopped() -> None:
    with BackgroundServer(ping_app()) as server:
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", server.base_url)
        assert match and int(match[1]) > 0
        assert httpx.get(f"{server.base_url}/ping", timeout=WAIT).text == "pong"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/ping", timeout=WAIT)


def test_an_ipv6_host_is_bracketed_in_the_url() -> None:
    assert base_url("::1", 8443, tls=True) == "https://[::1]:8443"
    assert base_url("127.0.0.1", 80) == "http://127.0.0.1:80"
    try:
        listen("::1", 0).close()
    except AsgiServerError:
        pytest.skip("no IPv6 loopback here")
    with BackgroundServer(ping_app(), host="::1") as server:
        assert re.fullmatch(r"http://\[::1\]:\d+", server.base_url)
        assert httpx.get(f"{server.base_url}/ping", timeout=WAIT).text == "pong"


def test_a_server_that_cannot_bind_fails_with_its_own_error(busy_port: int) -> None:
    server = BackgroundServer(ping_app(), port=busy_port, name="ping server", error=PingServerError)
    with pytest.raises(PingServerError, match=f"cannot listen on 127.0.0.1 port {busy_port}"):
        server.start()
    assert issubclass(PingServerError, CloudPDIError)


def test_serving_in_the_foreground_on_a_busy_port_fails_before_announcing(
    busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PingServerError, match="cannot listen"):
        serve_until_stopped(ping_app(), str, port=busy_port, error=PingServerError)
    assert capsys.readouterr().out == ""


def test_an_app_that_fails_to_start_raises_did_not_start() -> None:
    @asynccontextmanager
    async def failing(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("the test's app cannot start")
        yield  # pragma: no cover

    server = BackgroundServer(ping_app(lifespan=failing), name="ping server", error=PingServerError)
    with pytest.raises(PingServerError, match=r"^the ping server did not start$"):
        server.start()


def test_stop_gives_up_after_its_timeout_and_can_be_retried() -> None:
    release = threading.Event()

    @asynccontextmanager
    async def slow_shutdown(app: Starlette) -> AsyncIterator[None]:
        yield
        await anyio.to_thread.run_sync(release.wait, WAIT)

    server = BackgroundServer(
        ping_app(lifespan=slow_shutdown),
        name="ping server",
        error=PingServerError,
        stop_timeout=0.2,
    )
    url = server.start()
    with pytest.raises(PingServerError, match=r"^the ping server did not stop$"):
        server.stop()
    release.set()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/ping", timeout=WAIT)


def _context(ca: trustme.CA, cert: trustme.LeafCert | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    return context


def test_mutual_tls_hands_the_client_certificate_to_the_app(tmp_path: Path) -> None:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    server_ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "server.pem")
    )
    client_ca.cert_pem.write_to_path(str(tmp_path / "clients.pem"))
    facility = client_ca.issue_cert("hospital-a.example")
    tls = ServerTls(tmp_path / "server.pem", tmp_path / "server.pem", tmp_path / "clients.pem")
    with BackgroundServer(ping_app(), tls=tls) as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        url = f"{server.base_url}/client-cert"
        seen = httpx.get(url, verify=_context(server_ca, facility), timeout=WAIT).text
        assert seen == facility.cert_chain_pems[0].bytes().decode("ascii")
        assert httpx.get(url, verify=_context(server_ca, None), timeout=WAIT).text == "none"


@contextmanager
def serving(*statements: str) -> Iterator[subprocess.Popen[str]]:
    """Run ``statements`` after the imports in a child process; kill it if still running."""
    code = "; ".join(
        (
            "import os, signal",
            "from starlette.applications import Starlette",
            "from simulators.asgi_server import serve_until_stopped",
            *statements,
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    with process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def test_serving_in_the_foreground_prints_the_url_then_runs_until_sigterm() -> None:
    with serving("serve_until_stopped(Starlette(), lambda url: f'serving on {url}')") as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert re.fullmatch(r"serving on http://127\.0\.0\.1:\d+\n", line), line
        # Starlette answers 404 for a path it has no route for: the app itself is serving.
        assert httpx.get(f"{line.split()[-1]}/", timeout=WAIT).status_code == 404
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT) == 0


def test_a_sigterm_before_uvicorn_takes_over_still_ends_the_process_cleanly() -> None:
    # The announcement runs after the handler is set and before uvicorn serves.
    with serving(
        "announce = lambda url: os.kill(os.getpid(), signal.SIGTERM) or f'serving on {url}'",
        "serve_until_stopped(Starlette(), announce)",
    ) as process:
        assert process.wait(timeout=WAIT) == 0
        assert process.stdout is not None
        assert process.stdout.read().startswith("serving on http://127.0.0.1:")
