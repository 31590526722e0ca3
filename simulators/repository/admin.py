"""The admin API (audit log, purge on demand) and the OpenAPI document."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import anyio
import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloudpdi.repository_wire import parse_count
from simulators.repository.auth import require_admin
from simulators.repository.documents import repository_of
from simulators.repository.errors import bad_request

MAX_AUDIT_PAGE = 1000


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 description of the binding, shipped as ``openapi.yaml``."""
    text = resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


async def openapi(request: Request) -> Response:
    """Serve the OpenAPI document as JSON."""
    return JSONResponse(openapi_document())


async def audit(request: Request) -> Response:
    """Answer a page of audit entries: ``?after=<id>&limit=<n>&documentId=<id>``."""
    require_admin(request.state.identity)
    query = request.query_params
    after = parse_count(query.get("after", "0"))
    limit = parse_count(query.get("limit", str(MAX_AUDIT_PAGE)))
    if after is None or limit is None or not 1 <= limit <= MAX_AUDIT_PAGE:
        raise bad_request("invalid_query", f"after >= 0 and 1 <= limit <= {MAX_AUDIT_PAGE}")
    entries = repository_of(request).audit.entries(
        after=after, limit=limit, document_id=query.get("documentId")
    )
    return JSONResponse({"entries": [entry.to_json() for entry in entries]})


async def purge(request: Request) -> Response:
    """Delete expired, revoked and used-up bytes now, instead of at the next periodic purge."""
    require_admin(request.state.identity)
    report = await anyio.to_thread.run_sync(repository_of(request).purge_expired)
    return JSONResponse({"documents": report.documents, "uploads": report.uploads})
