"""How a simulated sender is set up: where the study comes from, where the ciphertext goes,
who issues the token and who receives it. :func:`simulators.sender.send` carries it out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cloudpdi.container import Institution
from cloudpdi.dimse import DicomPeer
from cloudpdi.dimse_peer import check_ae_title
from cloudpdi.media import MEDIA_PROFILES, STD_GEN_CD
from cloudpdi.repository import DEFAULT_CHUNK_SIZE
from cloudpdi.token import DEFAULT_LIFETIME, Facility
from simulators.delivery import Channel
from simulators.faults import Fault, faults_for
from simulators.sender_errors import SendConfigError
from simulators.sender_faults import FileSetEditor
from simulators.sender_retrieve import RetrieveMethod

DEFAULT_CALLING_AE = "CPDI_SENDER"


@dataclass(kw_only=True)
class SenderConfig:
    """Where the study comes from, where the ciphertext goes, who issues and who receives."""

    source_pacs: DicomPeer
    repository_url: str
    #: The issuing facility's bearer key at the repository.
    uploader_key: str = field(repr=False)
    community_id: str
    issuer: Facility
    institution: Institution
    #: Token files go to ``work_dir/<token_id>/``; the transient plaintext lives here too.
    work_dir: Path
    calling_ae: str = DEFAULT_CALLING_AE
    retrieve: RetrieveMethod = "get"
    #: Our own temporary storage SCP for C-MOVE; the PACS must know its AE title and address.
    move_destination: DicomPeer | None = None
    recipient: Facility | None = None
    #: Restrict downloads to the recipient facility (the repository then asks for its key).
    #: Off by default: a receiving hospital needs nothing but the token (CPDI-AUTH-01).
    restrict_to_recipient: bool = False
    #: How many times the repository may serve the document (CPDI-DL-01); None: no limit.
    max_downloads: int | None = None
    #: P-256 keys (PEM): the sealed form is made when a recipient public key is given.
    issuer_key_path: Path | None = None
    recipient_public_key_path: Path | None = None
    delivery: Sequence[Channel] = ()
    documents: Sequence[Path] = ()
    description: str = ""
    #: Add a browser view of the images to the file set (PDI Web Content: INDEX.HTM, IHE_PDI/).
    web_content: bool = False
    #: The General Purpose profile of the file set (PS3.11): the transfer syntaxes it may hold.
    media_profile: str = STD_GEN_CD.name
    #: Refer to the patient by a pseudonym made with this key, not by identity (HIT-PSEUD-01).
    pseudonym_key: bytes | None = field(default=None, repr=False)
    lifetime: timedelta = DEFAULT_LIFETIME
    #: A fixed expiry instead of ``lifetime`` from now.
    expires_at: datetime | None = None
    #: Upload failures in a row before giving up, and the backoff between them.
    retries: int = 6
    backoff: float = 0.5
    max_backoff: float = 30.0
    timeout: float = 60.0
    chunk_size: int = DEFAULT_CHUNK_SIZE
    #: Deliberate misbehaviours, to test the conformance suite (:mod:`simulators.faults`).
    faults: frozenset[Fault] = frozenset()
    #: Test-only: rewrites the file set once built, before it is encrypted (a file set made by
    #: another tool, or broken on purpose), so that a receiver can be shown such a file set.
    file_set_editor: FileSetEditor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)
        self.faults = faults_for("sender", self.faults)
        try:
            check_ae_title(self.calling_ae)
        except ValueError as exc:
            raise SendConfigError(f"calling_ae: {exc}") from None
        if self.retrieve not in ("get", "move"):
            raise SendConfigError("retrieve is 'get' or 'move'")
        if self.retrieve == "move" and self.move_destination is None:
            raise SendConfigError("a C-MOVE retrieve needs move_destination (our storage SCP)")
        if self.recipient_public_key_path is not None and self.issuer_key_path is None:
            raise SendConfigError("sealing to a recipient key needs the issuer's private key")
        if self.lifetime <= timedelta(0):
            raise SendConfigError("lifetime must be positive")
        if self.max_downloads is not None and self.max_downloads < 1:
            raise SendConfigError("max_downloads must be at least 1")
        if self.expires_at is not None and self.expires_at.utcoffset() is None:
            raise SendConfigError("expires_at must be a timezone-aware datetime")
        if self.media_profile not in MEDIA_PROFILES:
            known = ", ".join(MEDIA_PROFILES)
            raise SendConfigError(f"media_profile is one of {known}")
