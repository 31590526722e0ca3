"""The HTML report: one self-contained file for a monitor, a contract or a browser offline.

Rendered with Jinja2 and autoescaping on: every string from a system under test (names,
messages, paths) is escaped unless the template says otherwise, and it never does. The page
has inline CSS, an inline SVG chart and no script or external asset.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from cloudpdi.files import write_private
from reports.chart import line_chart
from reports.coverage import requirement_coverage
from reports.grading import COUNTING_RULES, ROLL_UP_RULES, Grade, exit_code, results_matrix
from reports.model import RunResult, Status

#: Background colour of each grade in the results matrix; no other element uses these, so a
#: screenshot shows the matrix exactly when these colours appear.
GRADE_COLOURS: dict[Grade, str] = {
    Grade.PASS: "#0b7a33",
    Grade.FAIL: "#c1121f",
    Grade.DID_NOT_COMPLETE: "#b35c00",
    Grade.NO_PEER: "#5a4fcf",
    Grade.OPTION_NOT_GRADED: "#5f6b7a",
    Grade.WITHDRAWN: "#3d3d3d",
}

#: What each exit code tells the reader, as the header states it.
_VERDICTS = {
    0: "every required scenario passed",
    3: "a required scenario did not pass",
    4: "the harness itself failed (ERROR); results are incomplete",
}

_ENVIRONMENT = Environment(
    loader=PackageLoader("reports", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def render_html(result: RunResult) -> str:
    """Return the HTML report of ``result`` as one self-contained page."""
    template = _ENVIRONMENT.get_template("report.html.j2")
    code = exit_code(result)
    return template.render(
        result=result,
        matrix=results_matrix(result),
        counting_rules=COUNTING_RULES,
        rules=ROLL_UP_RULES,
        coverage=requirement_coverage(result),
        figures=[(f, line_chart(f.series) if f.series else None) for f in result.performance],
        grade_colours={grade.value: colour for grade, colour in GRADE_COLOURS.items()},
        exit_code=code,
        verdict=_VERDICTS[code],
        statuses={s.value: sum(t.effective_status is s for t in result.tests) for s in Status},
    )


def write_html(result: RunResult, path: Path) -> None:
    """Write the HTML report of ``result`` to ``path``, whole or not at all."""
    write_private(path, render_html(result))


def _moment(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _size(value: int) -> str:
    if value < 1024:
        return f"{value} B"
    amount = value / 1024
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


def _as_json(value: Any) -> str:
    """Compact JSON as plain text: the template escapes it like any other string."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _slug(value: str) -> str:
    """An anchor name from any text; escaping keeps it safe, this keeps it one token."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in value)


_ENVIRONMENT.filters.update(
    moment=_moment, seconds=_seconds, size=_size, as_json=_as_json, slug=_slug
)
