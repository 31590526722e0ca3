"""The one error of a check that cannot be made against a system under test."""

from __future__ import annotations

from cloudpdi.errors import CloudPDIError


class ActorUnderTest(CloudPDIError):
    """A step needs to look inside an actor that the run tests from outside only."""
