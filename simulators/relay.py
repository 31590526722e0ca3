"""A loopback TCP relay in front of the repository: the line every client's connection passes.

A repository must let an interrupted transfer resume where it broke (CPDI-REPO-02). To show
that it does, whatever client is used, the lab puts this relay between the clients and the
repository (simulated, or the proxy in front of one under test) and a test breaks the line:
:meth:`Relay.break_once` lets a given number of bytes through in one direction (``upload``:
client to repository, ``download``: repository to client), counted from the moment it is
called over every connection, and then closes the connection carrying the next byte, on both
sides, as a failing network would. The relay does not read HTTP: it copies bytes.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Self
from urllib.parse import urlsplit, urlunsplit

from simulators.asgi_server import LOOPBACK, START_TIMEOUT, AsgiServerError, listen

#: Bytes copied at a time in each direction.
_PIECE = 1 << 16


class RelayError(AsgiServerError):
    """The relay could not listen, or did not start or stop in time."""


class Direction(StrEnum):
    """Which way the bytes that count towards a break travel."""

    #: From the client to the repository: request bodies, an upload.
    UPLOAD = "upload"
    #: From the repository to the client: response bodies, a download.
    DOWNLOAD = "download"


@dataclass
class Break:
    """One armed break: it fires once ``after`` bytes went ``direction`` since it was armed."""

    direction: Direction
    after: int
    #: Bytes let through in ``direction`` since the break was armed.
    passed: int = 0
    fired: threading.Event = field(default_factory=threading.Event)


class _Connection:
    """One client connection and its connection to the repository."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.writers = (client, upstream)

    def close(self) -> None:
        """Close both sides; what was let through is still delivered before the FIN."""
        for writer in self.writers:
            writer.close()


class Relay:
    """Copies bytes between loopback clients and ``target`` (a base URL); ``with`` runs it.

    :attr:`base_url` is ``target`` with the relay's own address: clients use it instead.
    """

    def __init__(self, target: str, *, host: str = LOOPBACK, port: int = 0) -> None:
        parts = urlsplit(target)
        if parts.hostname is None or parts.port is None:
            raise RelayError(f"the relay needs a target with a host and a port, not {target!r}")
        self.target = target
        self._target_address = (parts.hostname, parts.port)
        self.host, self.port = host, port
        self.base_url = ""
        self._armed: Break | None = None
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    def break_once(self, direction: Direction, after: int) -> Break:
        """Arm a break: after ``after`` more bytes go ``direction``, close that connection."""
        if after < 0:
            raise ValueError("a break comes after zero or more bytes")
        armed = Break(Direction(direction), after)
        with self._lock:
            self._armed = armed
        return armed

    def start(self) -> str:
        """Listen, start copying and return the base URL clients use."""
        sock = listen(self.host, self.port, RelayError)
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="relay", daemon=True)
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, sock=sock), loop
        )
        try:
            self._server = started.result(START_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            sock.close()
            self.stop()
            raise RelayError(f"the relay did not start: {exc}") from exc
        parts = urlsplit(self.target)
        address = f"{self.host}:{sock.getsockname()[1]}"
        self.base_url = urlunsplit(parts._replace(netloc=address))
        return self.base_url

    def stop(self) -> None:
        """Close every connection, stop listening and wait for the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(self._shut_down(), loop)
            closing.result(START_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        if thread.is_alive():
            raise RelayError("the relay did not stop")
        loop.close()
        self._loop = self._thread = self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _shut_down(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target_address)
        except OSError:
            # The repository cannot be reached: the client sees its connection closed.
            writer.close()
            return
        connection = _Connection(writer, up_writer)
        self._connections.add(connection)
        try:
            await asyncio.gather(
                self._copy(reader, up_writer, Direction.UPLOAD, connection),
                self._copy(up_reader, writer, Direction.DOWNLOAD, connection),
            )
        finally:
            connection.close()
            self._connections.discard(connection)

    async def _copy(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Direction,
        connection: _Connection,
    ) -> None:
        """Copy one direction until its end, a failure of either side, or a break."""
        try:
            while piece := await reader.read(_PIECE):
                if writer.is_closing():
                    return
                piece, broken = self._let_through(direction, piece)
                writer.write(piece)
                if broken:
                    connection.close()
                    return
                await writer.drain()
            if writer.can_write_eof() and not writer.is_closing():
                # A half-close travels on: the other direction may still carry an answer.
                writer.write_eof()
        except (ConnectionError, OSError):
            connection.close()

    def _let_through(self, direction: Direction, piece: bytes) -> tuple[bytes, bool]:
        """Return the part of ``piece`` that may pass, and whether the line breaks after it."""
        with self._lock:
            armed = self._armed
            if armed is None or armed.direction != direction:
                return piece, False
            room = armed.after - armed.passed
            if len(piece) <= room:
                armed.passed += len(piece)
                return piece, False
            armed.passed = armed.after
            self._armed = None
        armed.fired.set()
        return piece[:room], True
