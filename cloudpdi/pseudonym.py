"""Patient pseudonyms, for tokens that refer to the patient without naming them (HIT-PSEUD-01).

A pseudonym is a keyed hash (HMAC-SHA-256, RFC 2104) of the issuing facility's ID and the
patient's ID there, under a key only that facility holds: the facility gives one patient the
same pseudonym every time, while nobody without the key can tell who it is, nor link it to
another facility's pseudonyms. The form ``PSN-`` and 26 base32 characters (128 bits) is the
reference binding's (ASSUMED: ISO/TS 22691 names pseudonymised data, not its form).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cloudpdi.errors import CloudPDIError

PSEUDONYM_PREFIX = "PSN-"
#: Bits of the keyed hash a pseudonym keeps: collisions stay out of reach of any registry.
PSEUDONYM_BITS = 128
#: Shortest pseudonymisation key: as strong as the hash it keys.
MIN_KEY_BYTES = 32


class PseudonymError(CloudPDIError):
    """A pseudonym cannot be made: the key is too short, or there is no patient ID to hide."""


def patient_pseudonym(patient_id: str, *, facility_id: str, key: bytes) -> str:
    """Return the pseudonym facility ``facility_id`` gives its patient ``patient_id``."""
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymError(f"a pseudonymisation key has at least {MIN_KEY_BYTES} bytes")
    if not patient_id.strip():
        raise PseudonymError("a patient without a patient ID cannot be given a pseudonym")
    # A length prefix keeps ("12", "3") and ("1", "23") apart.
    facility = facility_id.encode("utf-8")
    message = len(facility).to_bytes(2, "big") + facility + patient_id.encode("utf-8")
    digest = hmac.new(key, message, hashlib.sha256).digest()[: PSEUDONYM_BITS // 8]
    return PSEUDONYM_PREFIX + base64.b32encode(digest).decode("ascii").rstrip("=")
