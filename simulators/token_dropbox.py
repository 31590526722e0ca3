"""The harness's HTTP token inbox for a sender under test: it keeps tokens, it receives nothing.

A sender under test delivers its token by ``POST /tokens``, the route of the receiver's token
inbox (:mod:`simulators.receiver_inbox`), with the same media types. Unlike that inbox this one
does not act on the token: it writes each body, untouched, as a private file into a folder and
answers 202, so that the harness can judge the token as it arrived and then hand it on.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cloudpdi.config_triggers import TOKEN_INBOX_PATH
from cloudpdi.files import write_private
from simulators.asgi_server import LOOPBACK, AsgiServerError, BackgroundServer
from simulators.receiver_inbox import MAX_BODY_BYTES

#: The file suffix each media type of a token is kept under (as the receiver's inbox reads them).
SUFFIXES = {"application/jose": ".jwe", "application/json": ".json", "text/plain": ".txt"}


class TokenDropboxError(AsgiServerError):
    """The token inbox could not listen, or did not start or stop in time."""


class TokenDropbox(BackgroundServer):
    """Keeps each token POSTed to ``/tokens`` in ``folder``; :meth:`wait` waits for the next."""

    def __init__(self, folder: Path, *, host: str = LOOPBACK, port: int = 0) -> None:
        self.folder = folder
        self._arrived = threading.Condition()
        self._files: list[Path] = []
        app = Starlette(routes=[Route(TOKEN_INBOX_PATH, self._post, methods=["POST"])])
        super().__init__(app, host=host, port=port, name="token inbox", error=TokenDropboxError)

    @property
    def tokens_url(self) -> str:
        """The URL a sender POSTs tokens to."""
        return f"{self.base_url}{TOKEN_INBOX_PATH}"

    def wait(self, timeout: float) -> Path | None:
        """Return the first token file kept, waiting at most ``timeout`` s; None if none came."""
        with self._arrived:
            self._arrived.wait_for(lambda: bool(self._files), timeout=timeout)
            return self._files[0] if self._files else None

    async def _post(self, request: Request) -> JSONResponse:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        suffix = SUFFIXES.get(media_type)
        if suffix is None:
            accepted = ", ".join(SUFFIXES)
            return _error(415, "unsupported_media_type", f"send the token as one of {accepted}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, "too_large", f"a token is at most {MAX_BODY_BYTES} bytes")
        if not body:
            return _error(400, "token_malformed", "the body is empty")
        self.folder.mkdir(parents=True, exist_ok=True)
        # The name is ours: nothing of the untrusted body reaches the file system's names.
        path = self.folder / f"delivered-{secrets.token_hex(4)}{suffix}"
        write_private(path, bytes(body))
        with self._arrived:
            self._files.append(path)
            self._arrived.notify_all()
        return JSONResponse({"status": "accepted"}, status_code=202)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)
