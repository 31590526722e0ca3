"""The receiving hospital's receipt (:mod:`cloudpdi.receipt`): taken, checked and searched.

What the receiving hospital's user is told is judged on its receipt. The simulated receiver's
receipt is made from its report (:mod:`simulators.receiver_receipt`); a receiver under test
writes its own to the path the harness names in ``CLOUDPDI_RECEIPT`` when the run configuration
says it does (``[receiver] receipt = true``). A receipt is evidence (size, SHA-256), never
content: it must not hold the token's secret, and the files it says the hospital keeps are
read from the folder it names and checked against the digests it gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from cloudpdi.config_triggers import FolderInbox
from cloudpdi.envelope_base import file_sha256
from cloudpdi.receipt import KeptFile, Receipt, ReceiptError, read_receipt
from cloudpdi.token import Token
from harness.drive import wait_for_file
from reports import EvidenceKind
from reports.redact import secret_spellings
from steps.evidence import EvidenceLog

#: The setting that says a receiver under test writes receipts.
RECEIPT_SETTING = "[receiver] receipt = true"
#: Why a check of what the hospital is told is NOT RUN when its receiver shows no receipt.
NO_RECEIPT_SETTING = (
    "what a receiving hospital under test is told shows in its own user interface; the run "
    f"configuration does not say it writes receipts ({RECEIPT_SETTING})"
)
#: The file a receiver under test is asked to write its receipt to, in a fresh folder.
RECEIPT_NAME = "receipt.json"


def receipt_path(root: Path) -> Path:
    """A path in a fresh folder under ``root`` for one transfer's receipt."""
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"receipt-{len(list(root.iterdir())) + 1}"
    folder.mkdir()
    return folder / RECEIPT_NAME


def take_receipt(
    path: Path, since: float, wait: float, token: Token | None, actor: str, evidence: EvidenceLog
) -> tuple[Receipt | None, str]:
    """Wait up to ``wait`` seconds for the receipt written to ``path`` after ``since``; read it.

    Returns the receipt, or None and why there is none to judge: missing, unreadable, against
    its schema, or holding the token's secret.
    """
    found = wait_for_file(FolderInbox(path.parent), since, wait)
    if found is None:
        return None, f"it wrote no receipt to {path}"
    try:
        receipt, content = read_receipt(found)
    except ReceiptError as exc:
        return None, f"its receipt {found.name} {exc}"
    # In any spelling a token carries it in: raw, hex, base64 (any case of the text forms).
    holds_secret = token is not None and any(
        spelling.lower() in content.lower() for spelling in secret_spellings(token.secret)
    )
    evidence.record(
        EvidenceKind.FILE,
        actor=actor,
        summary=f"wrote its receipt {found.name}: "
        + ("it holds the token's secret" if holds_secret else str(receipt.outcome)),
        sizes={found.name: len(content)},
        digests={found.name: hashlib.sha256(content).hexdigest()},
    )
    if holds_secret:
        return None, f"its receipt {found.name} holds the token's secret"
    return receipt, ""


def kept_files(receipt: Receipt, files: Sequence[KeptFile]) -> dict[str, Path]:
    """The files the receipt says the hospital keeps, by name, each checked on disk.

    Fails the check when one is not in the receipt's folder or its bytes differ from the
    SHA-256 the receipt gives.
    """
    if not files:
        return {}
    assert receipt.folder is not None, "the receipt names no folder for the files it keeps"
    folder = Path(receipt.folder)
    found = {}
    for kept in files:
        path = folder / kept.name
        assert path.is_file(), f"the receipt lists {kept.name}, which is not in {folder}"
        digest = file_sha256(path)
        assert digest == kept.sha256, (
            f"{kept.name} in {folder} is not the file the receipt describes: its SHA-256 is "
            f"{digest}, the receipt says {kept.sha256}"
        )
        found[kept.name] = path
    return found
