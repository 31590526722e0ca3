"""Why a send failed: one class per failure a caller or an operator handles differently."""

from __future__ import annotations

from collections.abc import Sequence

from cloudpdi.errors import CloudPDIError
from simulators.delivery import DeliveryOutcome, TokenFiles


class SendError(CloudPDIError):
    """A send failed; the subclass says at which step."""


class SendConfigError(SendError):
    """The sender's configuration is unusable (a key file, a missing setting)."""


class StudyNotFound(SendError):
    """The source PACS has no study with the requested Study Instance UID."""


class RetrieveFailed(SendError):
    """The study could not be retrieved completely from the source PACS."""


class PackFailed(SendError):
    """The retrieved instances could not be made into an encrypted PDI package and token."""


class UploadFailed(SendError):
    """The repository did not take the ciphertext; no token was delivered."""


class UploadUnauthorized(UploadFailed):
    """The repository refused the facility's uploader key (401/403)."""


class DeliveryFailed(SendError):
    """The document is uploaded, but a channel did not take the token; deliver it again."""

    def __init__(
        self,
        message: str,
        *,
        document_id: str,
        token_files: TokenFiles,
        outcomes: Sequence[DeliveryOutcome],
    ) -> None:
        super().__init__(message)
        self.document_id = document_id
        self.token_files = token_files
        self.outcomes = tuple(outcomes)
