"""The receiver's HTTP token inbox: an external sender delivers tokens, the receiver fetches.

Contract (reference binding ``cpdi-ref/1``, ASSUMED):

- ``POST /tokens`` with the token as its body: compact text (``text/plain``), canonical JSON
  (``application/json``) or the sealed compact JWE (``application/jose``). The token is read
  and checked at once (validity period, recipient, trusted issuer, known community); then
  202 ``{"token_id": ..., "status": "accepted"}`` and the receive runs in the background. A
  token delivered again answers 200 with its current status. Malformed input: 400; a
  well-formed token this receiver will not take: 422; another media type: 415; a body over
  :data:`MAX_BODY_BYTES`: 413; too many receives waiting: 503 with ``Retry-After``. Errors are
  ``{"error": code, "message": text}`` and never echo the body.
- ``GET /tokens/{token_id}``: the job's status (``accepted``, ``running``, ``done``,
  ``failed``) and, once done, the result summary; ``GET /tokens``: every job's status.

The app runs in-process (:class:`ReceiverInbox`, uvicorn in a thread) or as the process
(:func:`serve_receiver`, behind ``cloudpdi serve receiver``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cloudpdi.seal import MAX_SEALED_LENGTH
from cloudpdi.token import Token, TokenError, TokenMalformed, check_token
from cloudpdi.token_input import SealKeys, TokenForm, read_token_text
from simulators.asgi_server import (
    LOOPBACK,
    AsgiServerError,
    BackgroundServer,
    serve_until_stopped,
)
from simulators.receiver import ReceiverError, receive, repository_for
from simulators.receiver_config import ReceiverConfig
from simulators.receiver_jobs import InboxFullError, JobQueue, JobStatus

#: Largest request body: a sealed token of the largest token.
MAX_BODY_BYTES = MAX_SEALED_LENGTH
#: Media type of each token form.
MEDIA_TYPES = {
    "text/plain": TokenForm.COMPACT,
    "application/json": TokenForm.JSON,
    "application/jose": TokenForm.SEALED,
}
#: Seconds to wait for the server to stop (a running receive finishes first).
STOP_TIMEOUT = 120.0
#: Seconds a sender is asked to wait when the inbox is full.
RETRY_AFTER = 30


class ReceiverInboxError(AsgiServerError):
    """The inbox server could not listen, or did not start or stop in time."""


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER)} if status == 503 else None
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _error_code(exc: Exception) -> str:
    """Return the error code of an exception: its class name in snake case, minus "Error"."""
    name = type(exc).__name__.removesuffix("Error")
    snake = "".join(f"_{char.lower()}" if char.isupper() else char for char in name)
    return snake.lstrip("_")


async def _body(request: Request) -> bytes | None:
    """Return the body, or None as soon as it grows past :data:`MAX_BODY_BYTES`."""
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def create_inbox_app(config: ReceiverConfig, *, queue: JobQueue | None = None) -> Starlette:
    """Return the token inbox of a receiver configured by ``config``.

    ``app.state.jobs`` is the :class:`~simulators.receiver_jobs.JobQueue` of its receives.
    """
    jobs = queue or JobQueue(lambda token: receive(config, token))
    keys = None
    if config.facility_key_path is not None:
        keys = SealKeys.load(config.facility_key_path, config.trusted_issuers)

    def accept(text: str, form: TokenForm) -> Token:
        token = read_token_text(text, keys=keys, form=form)
        check_token(token, recipient_id=config.facility.id)
        repository_for(config, token)
        return token

    async def post_token(request: Request) -> JSONResponse:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        form = MEDIA_TYPES.get(media_type)
        if form is None:
            accepted = ", ".join(MEDIA_TYPES)
            return _error(415, "unsupported_media_type", f"send the token as one of {accepted}")
        if form is TokenForm.SEALED and keys is None:
            return _error(415, "sealed_not_accepted", "this receiver has no facility key")
        body = await _body(request)
        if body is None:
            return _error(413, "too_large", f"a token is at most {MAX_BODY_BYTES} bytes")
        try:
            token = await run_in_threadpool(accept, body.decode("utf-8"), form)
        except UnicodeDecodeError:
            return _error(400, "token_malformed", "the body is not UTF-8 text")
        except TokenMalformed as exc:
            return _error(400, "token_malformed", str(exc))
        except (TokenError, ReceiverError) as exc:
            return _error(422, _error_code(exc), str(exc))
        try:
            job, new = jobs.submit(token, str(form))
        except InboxFullError as exc:
            return _error(503, "inbox_full", str(exc))
        # A new job may be running already; what the sender learns is that it was accepted.
        status = JobStatus.ACCEPTED if new else job.status
        answer = {"token_id": job.token_id, "status": str(status)}
        return JSONResponse(answer, status_code=202 if new else 200)

    async def get_token(request: Request) -> JSONResponse:
        job = jobs.get(request.path_params["token_id"])
        if job is None:
            return _error(404, "unknown_token", "this inbox has received no such token")
        return JSONResponse(job.to_dict())

    async def list_tokens(request: Request) -> JSONResponse:
        return JSONResponse(
            {"tokens": [{"token_id": j.token_id, "status": str(j.status)} for j in jobs.jobs()]}
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(jobs.close)

    app = Starlette(
        routes=[
            Route("/tokens", post_token, methods=["POST"]),
            Route("/tokens", list_tokens, methods=["GET"]),
            Route("/tokens/{token_id}", get_token, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.jobs = jobs
    return app


class ReceiverInbox(BackgroundServer):
    """The token inbox served by uvicorn in a background thread (``with`` starts and stops it)."""

    def __init__(self, config: ReceiverConfig, host: str = LOOPBACK, port: int = 0) -> None:
        app = create_inbox_app(config)
        self.jobs: JobQueue = app.state.jobs
        super().__init__(
            app,
            host=host,
            port=port,
            name="token inbox",
            error=ReceiverInboxError,
            stop_timeout=STOP_TIMEOUT,
        )

    @property
    def tokens_url(self) -> str:
        """The URL a sender POSTs tokens to."""
        return f"{self.base_url}/tokens"


def serve_receiver(config: ReceiverConfig, host: str = LOOPBACK, port: int = 0) -> None:
    """Serve the token inbox in this process until SIGINT or SIGTERM; print its URL first.

    Call it from the main thread.
    """
    mode = config.destination_pacs or f"no PACS, output {config.output_dir}"
    serve_until_stopped(
        create_inbox_app(config),
        lambda url: f"receiver token inbox listening on {url}/tokens ({mode})",
        host=host,
        port=port,
        error=ReceiverInboxError,
    )
