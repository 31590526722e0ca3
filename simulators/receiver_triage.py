"""Which validation errors refuse a whole file set, and which refuse only their own instance.

A file set whose DICOMDIR or ZIP file cannot be trusted is refused whole (CPDI-CONT-01):
nothing tells the receiver what it holds. An instance that cannot be read (no Part 10 header,
a damaged File Meta Information) or that DICOMDIR references but is missing spoils nothing but
itself: it is refused and reported with the validator's words, and the rest of a sound file
set is imported (PDI-READ-01).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cloudpdi.pdi_findings import Finding, Rule, Severity, ValidationReport
from simulators.receiver_import import Inventory
from simulators.receiver_report import InstanceOutcome, InstanceStatus


@dataclass(frozen=True)
class Triage:
    """The errors of a file set, split into those that refuse it whole and those per instance."""

    #: Errors that make the whole file set untrustworthy (or that could not all be listed).
    whole: tuple[Finding, ...]
    #: The first error of each instance that spoils only that instance, by its path.
    instances: Mapping[str, Finding]


def triage(validation: ValidationReport, root: Path) -> Triage:
    """Split the errors of the file set extracted at ``root``."""
    whole: list[Finding] = []
    instances: dict[str, Finding] = {}
    for finding in validation.errors:
        if _spoils_one_instance(finding, root):
            instances.setdefault(finding.path, finding)
        else:
            whole.append(finding)
    # Errors dropped by the validator's cap are not known one by one: they refuse the set.
    capped = [key for key in validation.suppressed if key.endswith(Severity.ERROR)]
    whole += [Finding(key.split()[0], Severity.ERROR, "", "more errors") for key in capped]
    return Triage(tuple(whole), instances)


def set_apart(
    inventory: Inventory, spoiled: Mapping[str, Finding], *, keep_readable: bool
) -> Inventory:
    """Return ``inventory`` with the ``spoiled`` instances refused, each with its error.

    A spoiled file the inventory took for a document (it has no Part 10 header) is an
    instance refused, not a document; one that is missing is reported as refused too.
    ``keep_readable`` imports a spoiled instance that could be read all the same.
    """
    instances = [i for i in inventory.instances if keep_readable or i.name not in spoiled]
    refused = [
        i.outcome(InstanceStatus.REFUSED, _reason(spoiled[i.name]))
        for i in inventory.instances
        if i.name in spoiled and not keep_readable
    ]
    listed = {i.name for i in inventory.instances} | {o.path for o in inventory.unreadable}
    refused += [
        InstanceOutcome(path, "", "", "", InstanceStatus.REFUSED, _reason(finding))
        for path, finding in spoiled.items()
        if path not in listed
    ]
    return Inventory(
        tuple(instances),
        (*inventory.unreadable, *refused),
        tuple(d for d in inventory.documents if d.path not in spoiled),
    )


def _spoils_one_instance(finding: Finding, root: Path) -> bool:
    """Tell whether ``finding`` is about one instance that cannot be read, or is missing."""
    parts = PurePosixPath(finding.path).parts
    if not parts or any(part in ("", ".", "..") for part in parts):
        return False
    path = root.joinpath(*parts)
    if finding.requirement == Rule.FMI_01:
        return path.is_file()
    # The one DIR-03 error about a path that is not there: a referenced file that is missing.
    return finding.requirement == Rule.DIR_03 and not path.exists()


def _reason(finding: Finding) -> str:
    return f"not readable: {finding.message} ({finding.requirement})"
