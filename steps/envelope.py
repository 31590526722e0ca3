"""The file set in the envelope, opened as an independent judge opens it.

The judge does what any receiving hospital could: it downloads the document the token names
from the repository, checks the ciphertext against the token's digest, decrypts it with the
token's secret and keeps the ZIP file set that comes out. It judges that ZIP with the PDI
validator, and reads the images through the DICOMDIR with pydicom, as a PDI reader does: an
image no DICOMDIR record leads to is not on the medium for a reader.
"""

from __future__ import annotations

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
from cloudpdi.envelope_base import file_sha256
from cloudpdi.errors import CloudPDIError
from cloudpdi.fileset import extract_file_set, open_file_set
from cloudpdi.pdi_findings import Severity, ValidationReport
from cloudpdi.pdi_rules import GENERAL_PURPOSE_PROFILES, validate_file_set
from cloudpdi.sources import is_part10_file
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
    """What the judge found in the envelope of one transfer.

    The file set is judged twice: as the ZIP it came in (the ZIP's own rules, and where its
    DICOMDIR lies) and extracted (as a medium holds it). A requirement is met when neither
    judgement finds it broken.
    """

    token: Token
    #: The decrypted ZIP file set, exactly as it came out of the envelope.
    zip_file: Path
    zip_validation: ValidationReport
    #: The same file set extracted, and its judgement (None: the ZIP cannot be opened).
    folder: Path | None
    folder_validation: ValidationReport | None

    @property
    def validations(self) -> tuple[ValidationReport, ...]:
        return tuple(v for v in (self.zip_validation, self.folder_validation) if v is not None)

    @property
    def ok(self) -> bool:
        """True when neither judgement finds any requirement broken."""
        return all(validation.ok for validation in self.validations)

    def errors_under(self, requirement: str) -> list[str]:
        """Return the ERROR findings of either judgement under ``requirement``, as text."""
        return list(
            dict.fromkeys(e for v in self.validations for e in errors_under(v, requirement))
        )

    def broken_requirements(self) -> list[str]:
        """Every requirement either judgement finds broken."""
        return sorted({f.requirement for v in self.validations for f in v.errors})


def errors_under(report: ValidationReport, requirement: str) -> list[str]:
    """Return the ERROR findings of ``report`` under ``requirement``, as lines of text."""
    found = [f"{f.path}: {f.message}" for f in report.errors if f.requirement == requirement]
    suppressed = report.suppressed.get(f"{requirement} {Severity.ERROR}", 0)
    return found + ([f"and {suppressed} more"] if suppressed else [])


#: The envelopes a scenario's judge opened, by token ID.
Envelopes = dict[str, Envelope]


def open_once(
    lab: Lab, token: Token, envelopes: Envelopes, folder: Path, evidence: EvidenceLog
) -> Envelope:
    """Open the envelope ``token`` names into ``folder/<token ID>``, unless opened already."""
    if token.token_id not in envelopes:
        envelopes[token.token_id] = open_envelope(lab, token, folder / token.token_id, evidence)
    return envelopes[token.token_id]


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
    zip_validation = judge(plaintext)
    folder_validation = None if extracted is None else judge(extracted)
    evidence.record(
        EvidenceKind.FILE,
        actor=JUDGE,
        summary=f"downloaded document {token.document_id} and decrypted it with its token",
        sizes={"ciphertext": decrypted.size, "file set (ZIP)": decrypted.plaintext_size},
        digests={"ciphertext": decrypted.digest, "file set (ZIP)": file_sha256(plaintext)},
    )
    evidence.add_validation(zip_validation, JUDGE, "the file set in the envelope, as a ZIP")
    if folder_validation is not None:
        evidence.add_validation(folder_validation, JUDGE, "the file set in the envelope, extracted")
    return Envelope(token, plaintext, zip_validation, extracted, folder_validation)


def judge(file_set: Path) -> ValidationReport:
    """Validate ``file_set`` as a receiver reads a file set from the cloud.

    It comes on no medium, so it may be of any General Purpose profile, but must fit one.
    """
    return validate_file_set(file_set, profile=GENERAL_PURPOSE_PROFILES)


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


def image_files(envelope: Envelope) -> list[Path]:
    """Every DICOM image file in the file set, found by reading every file, not the DICOMDIR.

    What a medium holds, whatever its DICOMDIR says: the web content must mirror all of it.
    """
    if envelope.folder is None:
        return []
    found = []
    for path in sorted(envelope.folder.rglob("*")):
        if path.name == DICOMDIR_NAME or not path.is_file() or not is_part10_file(path):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                header = dcmread(path, stop_before_pixels=True)
            except (InvalidDicomError, ValueError, OSError):
                continue
        if "Rows" in header:
            found.append(path)
    return found
