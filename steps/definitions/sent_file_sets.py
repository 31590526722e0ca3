"""Steps of the file set the sending hospital makes: broken, or made by another tool.

A Given step gives the simulated sender a file set editor (``sending["file_set_editor"]``):
the file set it builds is rewritten before it is encrypted, so the receiving hospital gets a
file set no PDI reader can trust, one with an instance it cannot read, one with content that
would start by itself, or one whose DICOMDIR an independent tool made.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then

from cloudpdi.dicomdir import DICOMDIR_NAME
from harness.lab import Lab
from reports import EvidenceKind
from simulators.sender_faults import FileSetEditor
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.exchange import RECEIVING, SENDING, Exchange
from steps.file_set_makers import (
    MEDIA_TOOL,
    Payload,
    broken_by,
    broken_case,
    made_by_media_tool,
    payload_content,
    payload_for,
)
from steps.receipts import kept_files

#: Who may make the file set the sending hospital sends, and the editor that makes it so
#: (None: the sender's own file set, as built).
MAKERS: dict[str, FileSetEditor | None] = {
    "an independent DICOM media tool": made_by_media_tool,
    "the reference sender": None,
}
#: Where, in the scenario's lab folder, content of the file set leaves its marker if it is run.
MARKER = "ran-from-the-file-set"


@given(
    parsers.parse("the file set the sending hospital makes is broken: {defect}"),
    target_fixture="file_set_payload",
)
def the_file_set_is_broken(
    defect: str, lab: Lab, sending: dict[str, Any], evidence: EvidenceLog
) -> Payload | None:
    """Make the sending hospital send its file set broken so; return what would start by itself."""
    case = broken_case(defect)
    payload = payload_for(case, lab.root / MARKER)
    sending["file_set_editor"] = broken_by(case, payload)
    evidence.record(
        EvidenceKind.FILE,
        actor=SENDING,
        summary=f"makes its file set broken ({case.requirement}): {defect}"
        + ("" if payload is None else f"; {', '.join(payload.files)} would leave a marker if run"),
    )
    return payload


@given(parsers.parse("the file set the sending hospital makes is made by {maker}"))
def the_file_set_is_made_by(maker: str, sending: dict[str, Any], evidence: EvidenceLog) -> None:
    if maker not in MAKERS:
        raise StepError(f"no file set maker is called {maker!r}")
    editor = MAKERS[maker]
    if editor is made_by_media_tool and shutil.which(MEDIA_TOOL) is None:
        pytest.skip(f"{MEDIA_TOOL} (dcmtk), the independent DICOM media tool, is not installed")
    if editor is not None:
        sending["file_set_editor"] = _recorded(editor, maker, evidence)
    evidence.record(EvidenceKind.FILE, actor=SENDING, summary=f"its file set is made by {maker}")


def _recorded(editor: FileSetEditor, maker: str, evidence: EvidenceLog) -> FileSetEditor:
    """Return ``editor``, recording the DICOMDIR it leaves, so that the evidence shows whose."""

    def edit(root: Path, dest: Path) -> None:
        editor(root, dest)
        dicomdir = (root / DICOMDIR_NAME).read_bytes()
        evidence.record(
            EvidenceKind.FILE,
            actor=maker,
            summary=f"made the DICOMDIR of the file set the {SENDING} sends",
            sizes={DICOMDIR_NAME: len(dicomdir)},
            digests={DICOMDIR_NAME: hashlib.sha256(dicomdir).hexdigest()},
        )

    return edit


@then("nothing from the file set was run at the receiving hospital")
def nothing_was_run(
    file_set_payload: Payload | None, exchange: Exchange, evidence: EvidenceLog
) -> None:
    payload = file_set_payload
    if payload is None:
        raise StepError("the file set holds nothing that would start by itself")
    # What shows the content reached it: its receipt lists it among the files it keeps.
    receipt = exchange.require_receipt()
    listed = {kept.name: kept for kept in receipt.kept()}
    unlisted = sorted(set(payload.files) - set(listed))
    if unlisted:
        pytest.skip(
            f"the receiving hospital's receipt does not list {', '.join(unlisted)} among the "
            f"files it keeps, so nothing shows the content that would start by itself reached "
            f"it: {'; '.join(exchange.problems) or receipt.outcome}"
        )
    held = kept_files(receipt, [listed[name] for name in payload.files])
    present = {name: path.read_bytes() for name, path in held.items()}
    evidence.record(
        EvidenceKind.FILE,
        actor=RECEIVING,
        summary=f"keeps {', '.join(present)} of the file set it received, as its receipt lists "
        "them; the marker a run leaves is " + ("there" if payload.marker.exists() else "absent"),
        sizes={name: len(data) for name, data in present.items()},
        digests={name: hashlib.sha256(data).hexdigest() for name, data in present.items()},
    )
    changed = sorted(
        name for name, data in present.items() if data != payload_content(name, payload.marker)
    )
    if changed:
        pytest.skip(
            f"the receiving hospital keeps {', '.join(changed)} other than sent: nothing shows "
            "the content that would start by itself reached it"
        )
    assert not payload.marker.exists(), (
        f"content of the file set was run at the receiving hospital: it left {payload.marker.name}"
    )
