"""HTTP errors of the repository, answered as ``{"error": code, "message": text}`` JSON bodies."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

#: tus checksum extension: the PATCH body does not match its Upload-Checksum.
CHECKSUM_MISMATCH = 460


class ApiError(Exception):
    """An answer other than success; ``code`` is stable, ``message`` is for people."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """Return the JSON error response."""
        body = {"error": self.code, "message": self.message}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def bad_request(code: str, message: str) -> ApiError:
    """Return a 400 error: the request itself is wrong."""
    return ApiError(400, code, message)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    """Answer an :class:`ApiError` and note its code for the audit log."""
    assert isinstance(exc, ApiError)
    request.state.error = exc.code
    return exc.response()


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Answer Starlette's own errors (unknown route, wrong method) in the same JSON form."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    error = ApiError(exc.status_code, code, exc.detail, exc.headers)
    return await handle_api_error(request, error)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Answer a bug with a JSON 500 that reveals nothing about the failure."""
    error = ApiError(500, "internal_error", "the repository failed to handle the request")
    return await handle_api_error(request, error)
