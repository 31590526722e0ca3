"""JSON documents whose schema cloudpdi publishes (``cloudpdi/schema``): read and checked.

A product writes them for the harness to judge (a repository's access log, a receiver's
receipt), so each is read the same way: as JSON, then against its published JSON Schema, with
an error that says where the document breaks it and which rule, never the value found there: a
product's document may hold what must not reach a message (a secret, a patient's name).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from cloudpdi.errors import CloudPDIError


class PublishedFormatError(CloudPDIError):
    """A document is not JSON or breaks its published schema."""


@cache
def published_schema(resource: str) -> dict[str, Any]:
    """Return the JSON Schema published as ``resource`` of the cloudpdi package."""
    text = resources.files("cloudpdi").joinpath(resource).read_text(encoding="utf-8")
    return json.loads(text)


def read_published(
    text: str,
    resource: str,
    what: str,
    error: type[CloudPDIError] = PublishedFormatError,
) -> Any:
    """Parse ``text`` and check it against the schema ``resource``, raising ``error`` if it
    breaks it; ``what`` names the whole document in the message (a field is named by its path)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"is not JSON ({exc.msg})") from None
    broken = next(iter(Draft202012Validator(published_schema(resource)).iter_errors(data)), None)
    if broken is not None:
        where = "/".join(str(part) for part in broken.absolute_path) or what
        raise error(f"{where}: {_rule(broken)}")
    return data


def _rule(broken: ValidationError) -> str:
    """The rule a value breaks, in the schema's words only."""
    if broken.validator == "required":
        # Names the missing property, which comes from the schema.
        return str(broken.message)
    rule = json.dumps(broken.validator_value, ensure_ascii=False)
    return f"breaks the rule {broken.validator} = {rule}"
