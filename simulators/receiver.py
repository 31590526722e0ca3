"""The receiver: from an HI-TOKEN to instances in the local PACS (or a folder), with a report.

Steps, in this order (CPDI-RCV-01):

1. read the token (compact text, JSON, sealed, or a QR image) and check it is valid now, for
   this facility, and names an envelope scheme this receiver knows, before anything is
   downloaded;
2. find the repository of the token's community in the community directory;
3. download the ciphertext resumably, checking its digest against the token's;
4. decrypt, verify every chunk, extract safely and validate the PDI file set
   (:func:`cloudpdi.package.unpack`); a file set with validation errors is refused (unless
   configured otherwise) and kept aside for inspection, unless every error is about one
   instance that cannot be read or is missing: then those are refused and reported
   (:mod:`simulators.receiver_triage`, PDI-READ-01);
5. reconcile patient identity and C-STORE every instance into the destination PACS; in "no
   PACS" mode the validated file set in the output folder is the delivery.

Nothing is imported from a download that failed verification (CPDI-INT-01): every failure up
to step 4 raises before any instance is looked at. The received file set is kept unmodified
in ``output_dir/<token ID>`` (PDI-IMP-01: originals are never lost) with the report beside
it. The in-process HTTP token inbox is :mod:`simulators.receiver_inbox`.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cloudpdi.envelope import get_scheme
from cloudpdi.errors import CloudPDIError
from cloudpdi.package import UnpackResult, unpack
from cloudpdi.reconcile import ReconcileConfig, Reconciliation
from cloudpdi.repository import DownloadResult, RepositoryClient
from cloudpdi.token import Token, check_token
from cloudpdi.token_input import SealKeys, read_token
from simulators.faults import Fault
from simulators.receiver_config import ReceiverConfig, ReceiverConfigError, load_receiver_config
from simulators.receiver_faults import download_unverified
from simulators.receiver_import import STAGE_STORE, Importer, take_inventory
from simulators.receiver_report import (
    REPORT_SUFFIX,
    InstanceOutcome,
    InstanceStatus,
    Outcome,
    ReceivedDocument,
    ReceiveResult,
)
from simulators.receiver_triage import set_apart, triage

__all__ = [
    "STAGE_DOWNLOAD",
    "STAGE_STORE",
    "AlreadyReceivedError",
    "Outcome",
    "Progress",
    "ReceiveResult",
    "ReceiverConfig",
    "ReceiverConfigError",
    "ReceiverError",
    "UnknownCommunityError",
    "load_receiver_config",
    "receive",
    "repository_for",
]

logger = logging.getLogger(__name__)

#: Progress stage name of the download.
STAGE_DOWNLOAD = "download"
#: Reason given for every instance of a file set refused for its validation errors.
VALIDATION_REFUSAL = "the file set has PDI validation errors: not imported (see validation)"
#: Folder under the work folder where refused file sets are kept for inspection.
REFUSED_FOLDER = "refused"

#: ``progress(stage, done, total)``: bytes while downloading, instances while storing.
Progress = Callable[[str, int, int], None]


class ReceiverError(CloudPDIError):
    """A transfer cannot be received."""


class UnknownCommunityError(ReceiverError):
    """The token's community is not in the community directory."""


class AlreadyReceivedError(ReceiverError):
    """This token's transfer was received before (its file set or refusal exists)."""


def repository_for(config: ReceiverConfig, token: Token) -> str:
    """Return the base URL of the repository of the token's community."""
    url = config.community_directory.get(token.community_id)
    if url is not None:
        return url
    if config.trust_token_repository:
        return token.repository
    raise UnknownCommunityError(
        f"community {token.community_id!r} is not in the community directory; add it, "
        "or allow the repository the token names (trust_token_repository)"
    )


def receive(
    config: ReceiverConfig, token_source: Token | str | Path, *, progress: Progress | None = None
) -> ReceiveResult:
    """Receive the transfer ``token_source`` opens: token text, a token file or image, a Token.

    Returns the result (also written as ``<token ID>.report.json`` in the output folder).
    Raises a :class:`~cloudpdi.errors.CloudPDIError` when nothing could be received: a bad,
    expired or foreign token, an unknown community, a failed or tampered download.
    """
    timings: dict[str, float] = {}
    with _timed(timings, "token"):
        keys = None
        if config.facility_key_path is not None and not isinstance(token_source, Token):
            keys = SealKeys.load(config.facility_key_path, config.trusted_issuers)
        token = read_token(token_source, keys=keys)
        check_token(token, recipient_id=config.facility.id)
        # A payload sealed by a scheme we cannot open is not worth downloading (HIT-ITEM-01).
        get_scheme(token.envelope_scheme)
    repository = repository_for(config, token)
    file_set = config.output_dir / token.token_id
    report = config.output_dir / f"{token.token_id}{REPORT_SUFFIX}"
    if file_set.exists() or _refused_folder(config, token).exists():
        raise AlreadyReceivedError(f"token {token.token_id} was received already")
    work = config.work_folder / token.token_id
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    logger.info("receiving token %s from %s", token.token_id, token.issuer.id)
    try:
        with _timed(timings, "download"):
            if Fault.RECEIVER_SKIPS_DIGEST_CHECK in config.faults:
                download, token = download_unverified(config, repository, token, work / "package")
            else:
                download = _download(config, repository, token, work / "package", progress)
        with _timed(timings, "unpack"):
            unpacked = unpack(download.path, token, file_set, recipient_id=config.facility.id)
        download.path.unlink()
        with _timed(timings, "import"):
            delivery = _deliver(config, token, unpacked, work, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = ReceiveResult(
        token_id=token.token_id,
        issuer=token.issuer,
        community_id=token.community_id,
        repository=repository,
        destination=None if config.destination_pacs is None else str(config.destination_pacs),
        file_set=delivery.file_set,
        instances=delivery.outcomes,
        documents=delivery.documents,
        reconciliations=delivery.reconciliations,
        validation=unpacked.validation,
        timings=timings,
        download_bytes=download.size,
        download_bytes_resent=download.bytes_resent,
        report_path=report,
    )
    report.write_text(result.to_json(), encoding="utf-8")
    logger.info(
        "token %s: %s, %d of %d instances imported",
        token.token_id,
        result.outcome,
        len(result.imported),
        len(result.instances),
    )
    return result


def _download(
    config: ReceiverConfig, repository: str, token: Token, dest: Path, progress: Progress | None
) -> DownloadResult:
    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(STAGE_DOWNLOAD, done, total)

    with RepositoryClient(
        repository, uploader_key=config.recipient_key, timeout=config.repository_timeout
    ) as client:
        return client.download(
            token.document_id, dest, expected_digest=token.content_digest, progress=report
        )


@dataclass(frozen=True)
class _Delivery:
    """Where the received file set ended up, and what became of its content."""

    file_set: Path
    outcomes: tuple[InstanceOutcome, ...]
    documents: tuple[ReceivedDocument, ...]
    reconciliations: tuple[Reconciliation, ...] = ()


def _deliver(
    config: ReceiverConfig,
    token: Token,
    unpacked: UnpackResult,
    work: Path,
    progress: Progress | None,
) -> _Delivery:
    """Import the verified file set into the PACS, leave it in the output folder, or refuse it."""
    triaged = triage(unpacked.validation, unpacked.out)
    inventory = take_inventory(unpacked.out)
    if triaged.whole and not config.import_on_validation_errors:
        refused = _refused_folder(config, token)
        refused.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(unpacked.out, refused)
        return _Delivery(refused, tuple(inventory.refused(VALIDATION_REFUSAL)), inventory.documents)
    # An instance that cannot be read is refused with its reason; the rest go on (PDI-READ-01).
    inventory = set_apart(
        inventory, triaged.instances, keep_readable=config.import_on_validation_errors
    )
    documents = inventory.documents
    if config.destination_pacs is None:
        written = [i.outcome(InstanceStatus.WRITTEN) for i in inventory.instances]
        return _Delivery(unpacked.out, (*written, *inventory.unreadable), documents)
    scratch = work / "reconciled"
    scratch.mkdir()
    ignores = Fault.RECEIVER_IGNORES_RECONCILIATION in config.faults
    importer = Importer(
        config.destination_pacs,
        ReconcileConfig() if ignores else config.reconciliation,
        calling_ae=config.calling_ae,
        scratch=scratch,
        progress=progress,
    )
    outcomes = (*importer.run(inventory.instances), *inventory.unreadable)
    return _Delivery(unpacked.out, outcomes, documents, tuple(importer.reconciliations.values()))


def _refused_folder(config: ReceiverConfig, token: Token) -> Path:
    return config.work_folder / REFUSED_FOLDER / token.token_id


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = round(time.perf_counter() - started, 3)
