"""Transfer budgets and scenario timeouts of a run configuration (``[budgets]``).

Part of the checked model (:mod:`cloudpdi.config_model`): what a transfer of each size class
must achieve, judged by :mod:`steps.budgets`, and how long a scenario may run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudpdi.config_rules import RunConfigError, check_positive, check_seconds, frozen, is_name

#: Seconds one scenario may run, unless configured.
DEFAULT_SCENARIO_TIMEOUT = 900.0
#: Budgets count decimal megabytes, as network figures do.
MEGABYTE = 1_000_000
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


@dataclass(frozen=True)
class TransferBudget:
    """What a transfer of one size class must achieve; sizes in decimal megabytes.

    Throughput is payload bytes over the time of each upload and download; latency is the
    seconds from the start of the send to the end of the import.
    """

    name: str
    #: Upper bound of the class (inclusive); None: every larger transfer.
    max_size_mb: float | None = None
    min_throughput_mb_s: float | None = None
    max_latency_s: float | None = None

    def __post_init__(self) -> None:
        if not is_name(self.name):
            raise RunConfigError("", "a size class name is lower-case words joined by - or _")
        for key in ("max_size_mb", "min_throughput_mb_s", "max_latency_s"):
            if (value := getattr(self, key)) is not None:
                object.__setattr__(self, key, check_positive(key, value))
        if self.min_throughput_mb_s is None and self.max_latency_s is None:
            raise RunConfigError("", "give min_throughput_mb_s, max_latency_s or both")

    def summary(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class Budgets:
    """Transfer budgets by size class, scenario timeouts, and what a timeout does to the run.

    ``scenario_timeouts`` maps a tag (``large``, ``CPDI-REPO-02``) to seconds for scenarios
    carrying it. With ``continue_after_timeout`` a timed-out scenario fails and the run goes
    on; without, the rest are NOT RUN with the timeout as the reason.
    """

    scenario_timeout: float = DEFAULT_SCENARIO_TIMEOUT
    scenario_timeouts: Mapping[str, float] = field(default_factory=dict)
    continue_after_timeout: bool = True
    transfers: tuple[TransferBudget, ...] = ()

    def __post_init__(self) -> None:
        check_seconds("scenario_timeout", self.scenario_timeout)
        timeouts = {tag.removeprefix("@"): s for tag, s in self.scenario_timeouts.items()}
        for tag, seconds in timeouts.items():
            if not _TAG.fullmatch(tag):
                raise RunConfigError(f"scenario_timeouts.{tag}", "is not a scenario tag")
            check_seconds(f"scenario_timeouts.{tag}", seconds)
        names = [budget.name for budget in self.transfers]
        bounds = [budget.max_size_mb for budget in self.transfers]
        if len(set(names)) != len(names) or len(set(bounds)) != len(bounds):
            raise RunConfigError("transfer", "size classes need distinct names and max_size_mb")
        ordered = sorted(self.transfers, key=lambda b: (b.max_size_mb is None, b.max_size_mb))
        object.__setattr__(self, "scenario_timeouts", frozen(timeouts))
        object.__setattr__(self, "transfers", tuple(ordered))

    def timeout_for(self, tags: Iterable[str]) -> float:
        """Seconds a scenario with ``tags`` may run: the longest its tags allow."""
        matching = [self.scenario_timeouts.get(tag.removeprefix("@")) for tag in tags]
        return max((s for s in matching if s is not None), default=self.scenario_timeout)

    def transfer_budget(self, size: int) -> TransferBudget | None:
        """The budget of the smallest size class holding ``size`` bytes, if there is one."""
        for budget in self.transfers:
            if budget.max_size_mb is None or size <= budget.max_size_mb * MEGABYTE:
                return budget
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "scenario_timeout": self.scenario_timeout,
            "scenario_timeouts": dict(self.scenario_timeouts),
            "continue_after_timeout": self.continue_after_timeout,
            "transfers": [budget.summary() for budget in self.transfers],
        }
