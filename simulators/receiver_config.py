"""What a receiver is told at start: who it is, whom it trusts, where data comes from and goes.

A configuration is built in code (tests, steps) or read from a TOML file (``cloudpdi receive``
and ``cloudpdi serve receiver``), so that keys never travel on a command line::

    output_dir = "received"                 # relative paths are relative to this file
    destination_pacs = "CPDI_PACS@127.0.0.1:11112"   # absent: "no PACS" mode
    facility_key = "facility-key.pem"       # P-256 private key, opens sealed tokens
    recipient_key = "..."                   # bearer key for recipient-restricted downloads
    trust_token_repository = false
    import_on_validation_errors = false

    [facility]
    id = "1310000002"
    name = "Receiving Hospital"

    [communities]                           # community ID -> repository base URL
    "jp-cloudpdi-test" = "http://127.0.0.1:8600"

    [trusted_issuers]                       # facility ID -> issuer public key (PEM)
    "1310000001" = "issuer-public.pem"

    [reconciliation]
    mode = "mapping"                        # or "query" (C-FIND on the PACS), or "off"
    local_issuer = "RECEIVING-HOSPITAL"
    unmatched = "refuse"                    # or "keep" the original Patient ID
    [reconciliation.mapping]
    "JP0001" = "L-000123"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cloudpdi.dimse import DicomPeer
from cloudpdi.dimse_peer import check_ae_title
from cloudpdi.errors import CloudPDIError
from cloudpdi.reconcile import ReconcileConfig, ReconcileMode
from cloudpdi.token import Facility
from simulators.faults import Fault, faults_for

#: Calling AE title of the receiver's C-STORE and C-FIND requests.
DEFAULT_CALLING_AE = "CPDI_RECEIVER"
#: Name of the work folder under the output folder when none is configured.
WORK_FOLDER = ".work"


class ReceiverConfigError(CloudPDIError):
    """A receiver configuration file is unreadable or inconsistent."""


@dataclass(kw_only=True)
class ReceiverConfig:
    """Options of one receiver; ``facility`` and ``output_dir`` are required.

    ``output_dir`` gets, per token, the validated file set as received (the originals, kept
    unmodified) and the report; ``work_dir`` (default ``output_dir/.work``) holds downloads,
    reconciled copies on their way to the PACS, and refused file sets. Reconciliation applies
    to imports into a PACS; "no PACS" mode delivers the file set exactly as received.
    """

    facility: Facility
    output_dir: Path
    #: P-256 private key (PEM) that opens sealed tokens.
    facility_key_path: Path | None = None
    #: Facility ID -> public key (PEM) of an issuer whose sealed tokens are accepted.
    trusted_issuers: dict[str, Path] = field(default_factory=dict)
    #: Community ID -> repository base URL.
    community_directory: dict[str, str] = field(default_factory=dict)
    #: Use the repository URL the token names when its community is not in the directory.
    trust_token_repository: bool = False
    #: Bearer key of this facility, for documents the sender restricted to their recipient.
    recipient_key: str | None = field(default=None, repr=False)
    #: Where instances are imported; None is "no PACS" mode (file set written to output_dir).
    destination_pacs: DicomPeer | None = None
    calling_ae: str = DEFAULT_CALLING_AE
    reconciliation: ReconcileConfig = field(default_factory=ReconcileConfig)
    work_dir: Path | None = None
    #: Import a file set even if the PDI validator found errors (refused by default, unless
    #: every error is about one instance that cannot be read: those alone are refused).
    import_on_validation_errors: bool = False
    #: Seconds an HTTP request to the repository may wait for an answer.
    repository_timeout: float = 60.0
    #: Deliberate misbehaviours, to test the conformance suite (:mod:`simulators.faults`); no
    #: configuration file sets them.
    faults: frozenset[Fault] = frozenset()

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.faults = faults_for("receiver", self.faults)
        check_ae_title(self.calling_ae)
        for community, url in self.community_directory.items():
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"community {community!r}: the repository is an http(s) URL")
        if self.reconciliation.mode is ReconcileMode.QUERY and self.destination_pacs is None:
            raise ValueError("reconciliation by C-FIND needs a destination PACS")

    @property
    def work_folder(self) -> Path:
        """The folder for downloads, reconciled copies and refused file sets."""
        return self.work_dir if self.work_dir is not None else self.output_dir / WORK_FOLDER


def load_receiver_config(path: Path) -> ReceiverConfig:
    """Read a receiver configuration from a TOML file (see the module documentation)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReceiverConfigError(f"cannot read {path}: {exc.__class__.__name__}") from None
    here = path.parent
    try:
        facility = _table(document, "facility")
        reconcile = _table(document, "reconciliation", required=False)
        pacs = document.get("destination_pacs")
        return ReceiverConfig(
            facility=Facility(id=facility.get("id"), name=facility.get("name")),
            output_dir=here / _string(document.get("output_dir"), "output_dir"),
            facility_key_path=_path(here, document.get("facility_key"), "facility_key"),
            trusted_issuers={
                str(issuer): here / _string(pem, f"trusted_issuers.{issuer}")
                for issuer, pem in _table(document, "trusted_issuers", False).items()
            },
            community_directory={
                str(community): _string(url, f"communities.{community}")
                for community, url in _table(document, "communities", False).items()
            },
            trust_token_repository=document.get("trust_token_repository", False) is True,
            recipient_key=_optional(document.get("recipient_key"), "recipient_key"),
            destination_pacs=None
            if pacs is None
            else DicomPeer.parse(_string(pacs, "destination_pacs")),
            calling_ae=_string(document.get("calling_ae", DEFAULT_CALLING_AE), "calling_ae"),
            reconciliation=ReconcileConfig(
                mode=reconcile.get("mode", "off"),
                mapping={
                    str(original): _string(local, f"reconciliation.mapping.{original}")
                    for original, local in _table(reconcile, "mapping", False).items()
                },
                local_issuer=_optional(reconcile.get("local_issuer"), "local_issuer"),
                unmatched=reconcile.get("unmatched", "refuse"),
            ),
            work_dir=_path(here, document.get("work_dir"), "work_dir"),
            import_on_validation_errors=document.get("import_on_validation_errors") is True,
        )
    except (ValueError, TypeError, CloudPDIError) as exc:
        raise ReceiverConfigError(f"{path}: {exc}") from None


def _table(document: dict[str, Any], name: str, required: bool = True) -> dict[str, Any]:
    value = document.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"[{name}] must be a table")
    return value


def _string(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _optional(value: object, name: str) -> str | None:
    return None if value is None else _string(value, name)


def _path(here: Path, value: object, name: str) -> Path | None:
    return None if value is None else here / _string(value, name)
