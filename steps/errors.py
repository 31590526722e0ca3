"""The one error of the steps: a step the harness cannot carry out (its fault, not the SUT's)."""

from __future__ import annotations

from cloudpdi.errors import CloudPDIError


class StepError(CloudPDIError):
    """The harness cannot carry out a step as written; the scenario ends in ERROR."""
