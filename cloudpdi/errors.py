"""The root of every error the library raises on purpose.

Callers (the CLI, the simulators) catch :class:`CloudPDIError` to print a one-line message;
each module defines specific subclasses. Messages name the problem and never carry a secret
or patient data.
"""


class CloudPDIError(Exception):
    """Base class of the library's own errors."""
