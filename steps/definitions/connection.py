"""Steps of a broken line: the connection to the repository breaks once, and the transfer
resumes. Shared by the repository, sender and receiver features; judged from what the
repository saw (see :mod:`steps.resumption`)."""

from __future__ import annotations

from pytest_bdd import given, parsers, then

from harness.lab import Lab
from reports import EvidenceKind
from simulators.relay import Direction
from steps.errors import StepError
from steps.evidence import EvidenceLog
from steps.resumption import KILOBYTE, ArmedBreak, arm, check_resumed, judge


@given(
    parsers.parse("the connection to the repository breaks once, {size:d} KB into the {direction}"),
    target_fixture="connection_break",
)
def the_connection_breaks_once(
    size: int, direction: str, lab: Lab, evidence: EvidenceLog
) -> ArmedBreak:
    """Arm the lab's relay: the next ``size`` KB going ``direction`` pass, then the line breaks."""
    if direction not in tuple(Direction):
        raise StepError(f"a connection breaks into the upload or the download, not {direction!r}")
    armed = arm(lab, Direction(direction), size * KILOBYTE)
    evidence.record(
        EvidenceKind.HTTP,
        actor="line to the repository",
        summary=f"set to break once, {size * KILOBYTE} bytes into the {direction}",
    )
    return armed


@then("the transfer resumed where it broke instead of starting again")
def the_transfer_resumed(lab: Lab, connection_break: ArmedBreak, evidence: EvidenceLog) -> None:
    found = judge(lab, connection_break)
    line = connection_break.line
    evidence.record(
        EvidenceKind.HTTP,
        actor="repository",
        summary=f"the line broke after {line.passed} bytes of the {line.direction}; "
        + ("the repository saw no transfer cut short" if found is None else found.describe()),
        sizes={"bytes before the break": line.passed},
    )
    check_resumed(connection_break, found)
