"""JSON documents whose schema cloudpdi publishes (``cloudpdi/schema``): read and checked.

A product writes them for the harness to judge (a repository's access log, a receiver's
receipt), so each is read the same way: as JSON, then against its published JSON Schema, with
an error that says where the document breaks it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

from cloudpdi.errors import CloudPDIError


class PublishedFormatError(CloudPDIError):
    """A document is not JSON or breaks its published schema."""


@cache
def published_schema(resource: str) -> dict[str, Any]:
    """Return the JSON Schema published as ``resource`` of the cloudpdi package."""
    text = resources.files("cloudpdi").joinpath(resource).read_text(encoding="utf-8")
    return json.loads(text)


def read_published(text: str, resource: str, what: str) -> Any:
    """Parse ``text`` and check it against the schema ``resource``; ``what`` names the whole
    document in an error (a field is named by its path)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PublishedFormatError(f"is not JSON ({exc.msg})") from None
    error = next(iter(Draft202012Validator(published_schema(resource)).iter_errors(data)), None)
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or what
        raise PublishedFormatError(f"{where}: {error.message}")
    return data
