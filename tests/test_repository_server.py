"""The repository served by uvicorn: interrupted transfers resume, mutual TLS, the process."""

from __future__ import annotations

import hashlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from cloudpdi.repository import RepositoryAuthError, RepositoryClient
from simulators.repository import RepositoryServer, TlsConfig
from simulators.repository.storage import FileSystemStorage
from tests.repository_fixtures import KEYS, Clock, digest_of, make_config

ROOT = Path(__file__).resolve().parents[1]
SIZE = 4 << 20
CHUNK = 256 << 10


class _Cut(httpx.SyncByteStream):
    """A body that breaks off, like a dropped connection, after ``budget`` bytes."""

    def __init__(self, inner: Iterable[bytes], budget: int, error: type[Exception]) -> None:
        self.inner = inner
        self.budget = budget
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.inner:
            if len(piece) >= self.budget:
                yield piece[: self.budget]
                raise self.error("connection dropped by the test")
            self.budget -= len(piece)
            yield piece

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class DroppingTransport(httpx.BaseTransport):
    """A real HTTP transport that drops one connection once ``after`` body bytes have passed.

    For PATCH it counts the bytes sent (upload); for GET the bytes received (download).
    """

    def __init__(self, method: str, after: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.method = method
        self.left = after
        self.dropped = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.dropped or request.method != self.method:
            return self.inner.handle_request(request)
        if self.method == "PATCH":
            size = int(request.headers["content-length"])
            if size < self.left:
                self.left -= size
                return self.inner.handle_request(request)
            self.dropped = True
            request.stream = _Cut(request.stream, self.left, httpx.WriteError)
            return self.inner.handle_request(request)
        self.dropped = True
        response = self.inner.handle_request(request)
        response.stream = _Cut(response.stream, self.left, httpx.ReadError)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def ciphertext(tmp_path: Path) -> Path:
    path = tmp_path / "ciphertext"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RepositoryServer]:
    with RepositoryServer(make_config(tmp_path / "repo")) as running:
        yield running


def test_an_upload_interrupted_half_way_resumes_from_the_offset_reached(
    server: RepositoryServer, ciphertext: Path
) -> None:
    transport = DroppingTransport("PATCH", after=SIZE // 2 + 10_000)
    digest = digest_of(ciphertext.read_bytes())
    with RepositoryClient(
        server.base_url, uploader_key=KEYS["HOSP-A"], transport=transport, sleep=lambda _: None
    ) as client:
        result = client.upload("DOC-UP", ciphertext, digest, chunk_size=CHUNK)
    print(f"upload: {result.bytes_sent} bytes sent for {SIZE}, {result.bytes_resent} twice")
    assert transport.dropped and result.retries == 1
    assert 0 < result.bytes_resent < CHUNK
    assert result.bytes_sent < 1.2 * SIZE
    got = httpx.get(f"{server.base_url}/documents/DOC-UP")
    assert got.content == ciphertext.read_bytes()
    offsets = [e for e in server.repository.audit.entries() if e.method == "HEAD"]
    assert len(offsets) == 1  # the client asked once where to go on from


def test_a_download_interrupted_half_way_resumes_with_range(
    server: RepositoryServer, ciphertext: Path, tmp_path: Path
) -> None:
    digest = digest_of(ciphertext.read_bytes())
    with RepositoryClient(server.base_url, uploader_key=KEYS["HOSP-A"]) as uploader:
        uploader.upload("DOC-DOWN", ciphertext, digest)
    transport = DroppingTransport("GET", after=SIZE // 2)
    with RepositoryClient(server.base_url, transport=transport, sleep=lambda _: None) as client:
        result = client.download("DOC-DOWN", tmp_path / "out", expected_digest=digest)
    gets = [e for e in server.repository.audit.entries() if e.method == "GET"]
    served = sum(e.bytes_out for e in gets)
    print(
        f"download: {result.bytes_received} bytes received for {SIZE},"
        f" {result.bytes_resent} twice; the server wrote {served} bytes to its sockets"
    )
    assert transport.dropped and result.retries == 1
    assert (tmp_path / "out").read_bytes() == ciphertext.read_bytes()
    assert result.bytes_received == SIZE and result.bytes_resent == 0
    assert [e.status for e in gets] == [200, 206]
    assert gets[1].bytes_out == SIZE // 2  # the second request fetched only what was missing
    assert served < 1.6 * SIZE  # what the first answer had in flight when the client hung up


def test_the_periodic_purge_removes_expired_bytes(tmp_path: Path, ciphertext: Path) -> None:
    clock = Clock()
    config = make_config(tmp_path / "repo", clock=clock, purge_interval=0.05)
    with RepositoryServer(config) as server:
        with RepositoryClient(server.base_url, uploader_key=KEYS["HOSP-A"]) as client:
            client.upload("DOC-OLD", ciphertext, digest_of(ciphertext.read_bytes()))
        storage = server.repository.storage
        assert isinstance(storage, FileSystemStorage)
        assert storage.path("DOC-OLD").exists()
        clock.advance(days=15)
        deadline = time.monotonic() + 5
        while storage.path("DOC-OLD").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not storage.path("DOC-OLD").exists()


def test_serve_repository_runs_as_a_process_until_sigterm(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path;"
        "from simulators.repository import RepositoryConfig, serve_repository;"
        "serve_repository(RepositoryConfig(data_dir=Path(sys.argv[1])))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "repo")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("repository listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        assert httpx.get(f"{base_url}/openapi.json", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def pki() -> dict[str, trustme.CA]:
    return {"server": trustme.CA(), "facilities": trustme.CA()}


def _fingerprint(cert: trustme.LeafCert) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode("ascii"))
    return hashlib.sha256(der).hexdigest()


def _tls_config(tmp_path: Path, pki: dict[str, trustme.CA], **options: object) -> TlsConfig:
    leaf = pki["server"].issue_cert("127.0.0.1")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    pki["facilities"].cert_pem.write_to_path(str(tmp_path / "facilities.pem"))
    return TlsConfig(
        certfile=tmp_path / "server.pem",
        keyfile=tmp_path / "server.pem",
        client_ca=tmp_path / "facilities.pem",
        **options,  # type: ignore[arg-type]
    )


def _context(pki: dict[str, trustme.CA], cert: trustme.LeafCert | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    pki["server"].configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    return context


def test_mutual_tls_authenticates_a_pinned_facility_certificate(
    tmp_path: Path, pki: dict[str, trustme.CA]
) -> None:
    pinned = pki["facilities"].issue_cert("hospital-a.example")
    unpinned = pki["facilities"].issue_cert("hospital-x.example")
    tls = _tls_config(tmp_path, pki, client_certs={_fingerprint(pinned): "HOSP-A"})
    source = tmp_path / "ciphertext"
    source.write_bytes(os.urandom(10_000))
    digest = digest_of(source.read_bytes())
    with RepositoryServer(make_config(tmp_path / "repo", tls=tls)) as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        with RepositoryClient(server.base_url, verify=_context(pki, pinned)) as client:
            client.upload("DOC-TLS", source, digest)
        for cert in (unpinned, None):
            with RepositoryClient(server.base_url, verify=_context(pki, cert)) as client:
                with pytest.raises(RepositoryAuthError):
                    client.upload("DOC-OTHER", source, digest)
                # Downloads need no certificate: the document ID is the capability.
                client.download("DOC-TLS", tmp_path / "out", expected_digest=digest)
        uploads = [e for e in server.repository.audit.entries() if e.method == "POST"]
    assert [(e.status, e.facility) for e in uploads] == [
        (201, "HOSP-A"),
        (401, None),
        (401, None),
    ]


def test_a_required_client_certificate_is_enforced_in_the_handshake(
    tmp_path: Path, pki: dict[str, trustme.CA]
) -> None:
    tls = _tls_config(tmp_path, pki, require_client_cert=True)
    with RepositoryServer(make_config(tmp_path / "repo", tls=tls)) as server:
        url = f"{server.base_url}/openapi.json"
        with pytest.raises(httpx.TransportError):
            httpx.get(url, verify=_context(pki, None))
        facility = pki["facilities"].issue_cert("hospital-b.example")
        assert httpx.get(url, verify=_context(pki, facility)).status_code == 200
