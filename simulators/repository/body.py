"""Receiving a request body into a file within the size and time limits, hashing on the way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import anyio
from starlette.requests import ClientDisconnect, Request

from simulators.repository.errors import ApiError

# Pieces from the server are small (tens of KiB); writing in larger blocks saves thread hops.
_WRITE_SIZE = 1 << 20


@dataclass(frozen=True)
class Received:
    """How many bytes arrived, and whether the client sent the whole body."""

    size: int
    complete: bool


def too_large(limit: int) -> ApiError:
    """Return the 413 error for a body over ``limit`` bytes."""
    return ApiError(413, "too_large", f"the limit is {limit} bytes")


async def receive_into(
    request: Request, handle: BinaryIO, *, limit: int, timeout: float, hashes: Sequence[Any] = ()
) -> Received:
    """Write the body to ``handle``; 413 past ``limit`` bytes, 408 past ``timeout`` seconds.

    A client that disconnects is not an error here: the caller decides what partial bytes are
    worth (tus keeps them, a whole-body PUT does not).
    """
    size = 0
    pending = bytearray()
    complete = True
    try:
        with anyio.fail_after(timeout):
            async for piece in request.stream():
                size += len(piece)
                if size > limit:
                    raise too_large(limit)
                for digest in hashes:
                    digest.update(piece)
                pending += piece
                if len(pending) >= _WRITE_SIZE:
                    await anyio.to_thread.run_sync(handle.write, bytes(pending))
                    pending.clear()
    except TimeoutError:
        raise ApiError(408, "request_timeout", f"the body took over {timeout:g} s") from None
    except ClientDisconnect:
        complete = False
    if pending:
        await anyio.to_thread.run_sync(handle.write, bytes(pending))
    return Received(size, complete)
