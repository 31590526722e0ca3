"""Who is asking: facilities by bearer key or client certificate, the admin by its own key.

Downloads need no identity (the document ID is the capability); uploads, deletes, downloads
restricted to a recipient and the admin API do. Keys are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulators.repository.config import TlsConfig
from simulators.repository.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="cloudpdi-repository"'}


@dataclass(frozen=True)
class Identity:
    """The authenticated party of a request; all ``None``/``False`` when anonymous."""

    facility: str | None = None
    admin: bool = False
    via: str | None = None


ANONYMOUS = Identity()


def unauthorized(message: str) -> ApiError:
    """Return a 401 error with the bearer challenge."""
    return ApiError(401, "unauthorized", message, _CHALLENGE)


def forbidden(message: str) -> ApiError:
    """Return a 403 error: authenticated, but not allowed to do this."""
    return ApiError(403, "forbidden", message)


def require_facility(identity: Identity) -> str:
    """Return the facility of an authenticated request, or raise 401."""
    if identity.facility is None:
        raise unauthorized("this operation needs a facility key or certificate")
    return identity.facility


def require_admin(identity: Identity) -> None:
    """Raise 401 (no credentials) or 403 (a facility's) unless the request has the admin key."""
    if identity.facility is not None:
        raise forbidden("this operation needs the admin key")
    if not identity.admin:
        raise unauthorized("this operation needs the admin key")


def fingerprint(der: bytes) -> str:
    """Return the SHA-256 fingerprint of a DER certificate as lower-case hex."""
    return hashlib.sha256(der).hexdigest()


class Authenticator:
    """Maps credentials to identities."""

    def __init__(
        self, uploader_keys: Mapping[str, str], admin_key: str | None, tls: TlsConfig | None
    ) -> None:
        self._keys = [(key.encode("utf-8"), facility) for facility, key in uploader_keys.items()]
        self._admin_key = None if admin_key is None else admin_key.encode("utf-8")
        certs = {} if tls is None else tls.client_certs
        self._certs = {name.replace(":", "").lower(): facility for name, facility in certs.items()}

    def identify(self, authorization: str | None, scope: Mapping[str, Any]) -> Identity:
        """Return who sent the request; raise 401 for a wrong key or conflicting credentials."""
        by_key = None if authorization is None else self._bearer(authorization)
        by_cert = self._certificate(scope)
        if by_key is not None and by_cert is not None and by_key.facility != by_cert.facility:
            raise unauthorized("the key and the certificate name different facilities")
        return by_key or by_cert or ANONYMOUS

    def _bearer(self, authorization: str) -> Identity:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise unauthorized("use 'Authorization: Bearer <key>'")
        candidate = presented.strip().encode("utf-8")
        # Compare with every key, so that timing does not tell how many were tried.
        match = None
        for key, facility in self._keys:
            if hmac.compare_digest(candidate, key):
                match = facility
        is_admin = self._admin_key is not None and hmac.compare_digest(candidate, self._admin_key)
        if is_admin:
            return Identity(admin=True, via="bearer")
        if match is None:
            raise unauthorized("the key is not valid")
        return Identity(facility=match, via="bearer")

    def _certificate(self, scope: Mapping[str, Any]) -> Identity | None:
        tls = scope.get("extensions", {}).get("tls") or {}
        chain = tls.get("client_cert_chain") or []
        if not chain:
            return None
        facility = self._certs.get(fingerprint(ssl.PEM_cert_to_DER_cert(chain[0])))
        return None if facility is None else Identity(facility=facility, via="mtls")
