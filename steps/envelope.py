"""The file set in the envelope, opened as an independent judge opens it.

The judge does what any receiving hospital could: it downloads the document the token names
from the repository, checks the ciphertext against the token's digest, decrypts it with the
token's secret and keeps the ZIP file set that comes out. It judges that ZIP with the PDI
validator, and reads the images through the DICOMDIR with pydicom, as a PDI reader does: an
image no DICOMDIR record leads to is not on the medium for a reader.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.fileset import FileSet as DicomFileSet

from cloudpdi.dicomdir import DICOMDIR_NAME
from cloudpdi.envelope import decrypt_to_file
from cloudpdi.errors import CloudPDIError
from cloudpdi.fileset import extract_file_set, open_file_set
from cloudpdi.pdi_findings import Severity, ValidationReport
from cloudpdi.pdi_rules import validate_file_set
from cloudpdi.token import Token
from harness.lab import Lab
from reports import EvidenceKind
from steps.evidence import EvidenceLog
from steps.transfer import download

#: Who opens the envelope in the evidence: the harness, in the place of any receiver.
JUDGE = "harness (independent judge)"
#: The DICOMDIR record type of an image (PS3.3 F.5), as opposed to a document or a report.
IMAGE_RECORD = "IMAGE"


@dataclass(frozen=True)
class Envelope:
    """What the judge found in the envelope of one transfer."""

    token: Token
    #: The decrypted ZIP file set, exactly as it came out of the envelope.
    zip_file: Path
    #: The same file set extracted (None when the ZIP cannot be opened as a file set).
    folder: Path | None
    validation: ValidationReport

    def errors_under(self, requirement: str) -> list[str]:
        """Return the validator's ERROR findings under ``requirement``, as lines of text."""
        report = self.validation
        found = [f"{f.path}: {f.message}" for f in report.errors if f.requirement == requirement]
        suppressed = report.suppressed.get(f"{requirement} {Severity.ERROR}", 0)
        return found + ([f"and {suppressed} more"] if suppressed else [])


def open_envelope(lab: Lab, token: Token, folder: Path, evidence: EvidenceLog) -> Envelope:
    """Download, check, decrypt and judge the document ``token`` names, into ``folder``.

    A download refused, a digest that differs or an envelope that does not decrypt fails the
    check (AssertionError): the sending hospital did not put an openable file set there.
    """
    folder.mkdir(parents=True)
    ciphertext, plaintext = folder / "document.cpdi", folder / "fileset.zip"
    downloaded = download(lab, token, ciphertext)
    assert downloaded.path is not None, downloaded.error
    try:
        with ciphertext.open("rb") as src:
            decrypted = decrypt_to_file(
                src, plaintext, token.secret, token.document_id, scheme=token.envelope_scheme
            )
    except CloudPDIError as exc:
        raise AssertionError(f"the envelope does not open with its token: {exc}") from None
    assert decrypted.digest == token.content_digest, "the document's digest is not the token's"
    extracted: Path | None = folder / "fileset"
    try:
        with open_file_set(plaintext) as file_set:
            extract_file_set(file_set, extracted)
    except CloudPDIError:
        extracted = None  # the validator says what is wrong with the ZIP
    validation = validate_file_set(plaintext)
    evidence.record(
        EvidenceKind.FILE,
        actor=JUDGE,
        summary=f"downloaded document {token.document_id} and decrypted it with its token",
        sizes={"ciphertext": decrypted.size, "file set (ZIP)": decrypted.plaintext_size},
        digests={"ciphertext": decrypted.digest, "file set (ZIP)": _sha256(plaintext)},
    )
    evidence.add_validation(validation, JUDGE, "the file set in the envelope")
    return Envelope(token, plaintext, extracted, validation)


def images(envelope: Envelope) -> Iterator[Dataset]:
    """Read every image a DICOMDIR record leads to (headers only), as a PDI reader finds them.

    Yields nothing when the file set has no readable DICOMDIR.
    """
    if envelope.folder is None or not (envelope.folder / DICOMDIR_NAME).is_file():
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings on odd values; the validator judges
        try:
            directory = DicomFileSet(envelope.folder / DICOMDIR_NAME)
        except (InvalidDicomError, ValueError, AttributeError, KeyError, OSError):
            return
        for instance in directory:
            if instance.DirectoryRecordType != IMAGE_RECORD or not instance.path:
                continue
            path = Path(instance.path)
            if path.is_file():
                yield dcmread(path, stop_before_pixels=True)


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
