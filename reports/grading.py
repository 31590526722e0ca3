"""Grade each actor and option of a run, by roll-up rules that every report prints verbatim.

Connectathon grading by hand is error-prone; here the rules are data: each :class:`RollUpRule`
pairs the words a report shows with the test that applies them, and :func:`grade` takes the
first rule that holds. Grades use IHE Gazelle's vocabulary, plus Fail for a broken requirement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from reports.model import NotRunCause, RunResult, Status, TestInstance

#: Exit codes of ``cloudpdi conformance run`` (issue 4): all required passed, some required did
#: not pass, the harness itself failed.
EXIT_PASSED = 0
EXIT_FAILED = 3
EXIT_HARNESS_ERROR = 4

# Matrix rows follow the exchange: sender, repository, receiver, then any other actor.
_ACTOR_ORDER = ("sender", "repository", "receiver")


class Grade(StrEnum):
    """The grade of one actor and option (IHE Gazelle's words)."""

    PASS = "Pass"  # noqa: S105 - a grade, not a password
    FAIL = "Fail"
    DID_NOT_COMPLETE = "Did Not Complete"
    NO_PEER = "No Peer"
    OPTION_NOT_GRADED = "Option Not Graded"
    WITHDRAWN = "Withdrawn"


@dataclass(frozen=True)
class Tally:
    """The required scenarios of one actor and option, counted by their effective status."""

    required: int = 0
    passed: int = 0
    failed: int = 0
    not_run: int = 0
    no_peer: int = 0
    error: int = 0
    optional: int = 0
    overridden: int = 0
    withdrawn: bool = False


@dataclass(frozen=True)
class RollUpRule:
    """A grading rule: the grade, the words a report prints, and the test that applies them."""

    grade: Grade
    words: str
    applies: Callable[[Tally], bool]


#: How scenarios are counted before the roll-up rules apply (printed in every report).
COUNTING_RULES: tuple[str, ...] = (
    "Each scenario grades the actor and option it is tagged with.",
    "A scenario counts with its monitor's status when a monitor overrode it; the automatic "
    "status stays on record beside the override.",
    "Optional scenarios are reported but never change a grade.",
    "The rules below are tried in order; the first that holds gives the grade.",
)

#: The roll-up rules, in the order they are tried (printed in every report).
ROLL_UP_RULES: tuple[RollUpRule, ...] = (
    RollUpRule(
        Grade.WITHDRAWN,
        "Withdrawn: the system under test withdrew its claim of this actor and option.",
        lambda t: t.withdrawn,
    ),
    RollUpRule(
        Grade.OPTION_NOT_GRADED,
        "Option Not Graded: no required scenario belongs to this actor and option.",
        lambda t: t.required == 0,
    ),
    RollUpRule(
        Grade.FAIL,
        "Fail: at least one required scenario failed.",
        lambda t: t.failed > 0,
    ),
    RollUpRule(
        Grade.DID_NOT_COMPLETE,
        "Did Not Complete: a required scenario ended in a harness error, or did not run for a "
        "reason other than a missing peer.",
        lambda t: t.error > 0 or t.not_run > t.no_peer,
    ),
    RollUpRule(
        Grade.NO_PEER,
        "No Peer: the only required scenarios that did not pass could not run for want of a "
        "peer actor.",
        lambda t: t.no_peer > 0,
    ),
    RollUpRule(
        Grade.PASS,
        "Pass: every required scenario passed.",
        lambda t: t.passed == t.required,
    ),
)


@dataclass(frozen=True)
class MatrixRow:
    """One row of the results matrix: an actor and option, who claims it, counts and grade."""

    actor: str
    option: str
    claimed_by: tuple[str, ...]
    tally: Tally
    grade: Grade


def grade(tally: Tally, rules: tuple[RollUpRule, ...] = ROLL_UP_RULES) -> Grade:
    """Return the grade of the first rule that holds for ``tally``."""
    for rule in rules:
        if rule.applies(tally):
            return rule.grade
    raise AssertionError("the roll-up rules leave a tally without a grade")


def results_matrix(result: RunResult) -> tuple[MatrixRow, ...]:
    """Grade every actor and option that a scenario tests or a system under test claims."""
    keys = {(t.actor, t.option) for t in result.tests}
    claimants: dict[tuple[str, str], list[str]] = {}
    withdrawn: set[tuple[str, str]] = set()
    for sut in result.suts:
        for claim in sut.claims:
            key = (claim.actor, claim.option)
            keys.add(key)
            claimants.setdefault(key, []).append(f"{sut.vendor} {sut.product}")
            if claim.withdrawn:
                withdrawn.add(key)
    rows = []
    for actor, option in sorted(keys, key=_row_order):
        tests = [t for t in result.tests if (t.actor, t.option) == (actor, option)]
        tally = _tally(tests, withdrawn=(actor, option) in withdrawn)
        rows.append(
            MatrixRow(actor, option, tuple(claimants.get((actor, option), ())), tally, grade(tally))
        )
    return tuple(rows)


def exit_code(result: RunResult) -> int:
    """Return the CLI's exit code: 4 on a harness error, 0 if all required passed, else 3."""
    statuses = [t.effective_status for t in result.tests]
    if Status.ERROR in statuses:
        return EXIT_HARNESS_ERROR
    required = [t.effective_status for t in result.tests if t.required]
    return EXIT_PASSED if all(s is Status.PASSED for s in required) else EXIT_FAILED


def _tally(tests: list[TestInstance], *, withdrawn: bool) -> Tally:
    required = [t for t in tests if t.required]
    statuses = [t.effective_status for t in required]
    return Tally(
        required=len(required),
        passed=statuses.count(Status.PASSED),
        failed=statuses.count(Status.FAILED),
        not_run=statuses.count(Status.NOT_RUN),
        no_peer=sum(
            1
            for t in required
            if t.effective_status is Status.NOT_RUN and t.not_run_cause is NotRunCause.NO_PEER
        ),
        error=statuses.count(Status.ERROR),
        optional=len(tests) - len(required),
        overridden=sum(1 for t in tests if t.override is not None),
        withdrawn=withdrawn,
    )


def _row_order(key: tuple[str, str]) -> tuple[int, str, str]:
    actor, option = key
    rank = _ACTOR_ORDER.index(actor) if actor in _ACTOR_ORDER else len(_ACTOR_ORDER)
    return rank, actor, option
