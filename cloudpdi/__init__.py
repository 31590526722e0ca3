"""Cloud-PDI protocol library: HI-TOKEN, envelopes, PDI file sets and their checks.

This package holds no server code; simulators and test steps build on it, so a vendor can use
it as a plain library.
"""

__version__ = "0.1.0"

#: Version of the reference binding the library speaks by default (DESIGN.md section 4).
REFERENCE_BINDING = "cpdi-ref/1"
