"""The HTML report: self-contained, escaped, complete, and rendered by a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from reports.codec import ResultsFormatError
from reports.grading import COUNTING_RULES, ROLL_UP_RULES, Grade
from reports.html import GRADE_COLOURS, render_html
from reports.json_report import to_document, write_json
from reports.render import render_report, write_reports
from tests.test_reports_sample import (
    EXPECTED_GRADES,
    JAPANESE,
    SAMPLE_SECRET,
    START,
    XSS,
    sample_run,
)
from tests.tools import require_tool

_CHROMIUM_TIMEOUT = 120
# Console messages in Chromium's log: "INFO:CONSOLE(12)]" (older) or "INFO:CONSOLE:12]".
_CONSOLE = re.compile(r":CONSOLE[:(]")


class _Page(HTMLParser):
    """Collects what a self-contained, script-free page must not have, and the results matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.handlers: list[str] = []
        self.style = ""
        self.text = ""
        self.matrix: list[list[str]] = []
        self._in_style = False
        self._in_matrix = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        self.links += [value or "" for name, value in attrs if name in ("src", "href", "action")]
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self._in_style = tag == "style"
        if tag == "table" and values.get("id") == "results-matrix":
            self._in_matrix = True
        if self._in_matrix and tag == "tr":
            self.matrix.append([])
        if self._in_matrix and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        if tag == "table":
            self._in_matrix = False
        if tag in ("td", "th") and self._cell is not None:
            self.matrix[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._in_style:
            self.style += data
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(sample_run())


def _parsed(text: str) -> _Page:
    parser = _Page()
    parser.feed(text)
    parser.close()
    return parser


def test_page_is_self_contained_and_script_free(page: str) -> None:
    parsed = _parsed(page)
    assert not parsed.tags & {"script", "link", "img", "iframe", "object", "embed", "base"}
    assert all(link.startswith("#") for link in parsed.links), parsed.links
    assert not parsed.handlers
    assert "url(" not in parsed.style
    assert "@import" not in parsed.style
    assert '<meta charset="utf-8">' in page


def test_hostile_strings_are_escaped(page: str) -> None:
    assert XSS not in page
    assert "<script" not in page.lower()
    # Shown as text, where the browser would show it.
    assert f"Acme Medical {XSS}Sender" in _parsed(page).text
    assert "&lt;script&gt;alert(" in page


def test_matrix_shows_every_actor_option_counts_and_grade(page: str) -> None:
    header, *rows = _parsed(page).matrix
    assert header[0] == "Actor"
    assert header[-1] == "Grade"
    grades = {(row[0], "" if row[1] == "(baseline)" else row[1]): row[-1] for row in rows}
    assert grades == {key: grade.value for key, grade in EXPECTED_GRADES.items()}
    sender = next(row for row in rows if row[:2] == ["sender", "(baseline)"])
    # Required, passed, failed, not run (no peer), error, optional, overridden.
    assert sender[3:10] == ["2", "1", "1", "0 (0)", "0", "1", "0"]
    expiry = next(row for row in rows if row[:2] == ["repository", "Expiry"])
    assert expiry[6] == "1 (1)"


def test_rules_are_printed_verbatim(page: str) -> None:
    text = _parsed(page).text
    for words in [*COUNTING_RULES, *(rule.words for rule in ROLL_UP_RULES)]:
        assert words in text


def test_test_instances_show_status_reason_override_steps_evidence_findings(page: str) -> None:
    text = " ".join(_parsed(page).text.split())
    assert 'id="test-S-11"' in page
    assert "QR read fine on the monitor's phone; the test printer was smudged" in text
    override = page[page.index("Monitor override") :][:600]
    assert "s-FAILED" in override and "s-PASSED" in override
    assert "NOT_RUN (NO_PEER): no clock-controlled peer available" in text
    assert "ERROR: simulated sender crashed: OSError" in text
    assert "When the sender uploads it" in text
    assert f"bad {XSS}" in text
    assert "sha-256: " + "ab" * 32 in text
    assert "2.0 KiB" in text
    assert "by M. Tanaka 田中" in text


def test_coverage_performance_and_text(page: str) -> None:
    assert 'id="req-CPDI-ENC-01"' in page
    assert "Not machine-checkable:" in page
    assert "c-UNKNOWN" in page
    assert JAPANESE in page
    assert '<svg class="chart"' in page
    assert "<polyline points=" in page
    assert "412.5 MiB/s" in page


def test_no_secret_reaches_the_page(page: str) -> None:
    assert SAMPLE_SECRET.hex() not in page
    assert "abc.def" not in page


def test_an_empty_run_renders() -> None:
    text = render_html(sample_run(suts=(), tests=(), performance=(), finished=START))
    assert "None: every actor was simulated" in text
    assert "No performance figures" in text
    assert _parsed(text).matrix == [_parsed(text).matrix[0]]


def test_render_report_reads_json_and_writes_html_and_junit(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    write_json(sample_run(), results)
    result = render_report(results, html=tmp_path / "r.html", junit=tmp_path / "j.xml")
    assert result == sample_run()
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == render_html(result)
    assert "<testsuites" in (tmp_path / "j.xml").read_text(encoding="utf-8")


def test_render_report_refuses_a_broken_document_and_writes_nothing(tmp_path: Path) -> None:
    document = to_document(sample_run())
    document["result"]["tests"][0]["status"] = "MAYBE"
    results = tmp_path / "results.json"
    results.write_text(str(document).replace("'", '"'), encoding="utf-8")
    with pytest.raises(ResultsFormatError):
        render_report(results, html=tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_write_reports_writes_all_three(tmp_path: Path) -> None:
    files = write_reports(sample_run(), tmp_path / "out")
    assert [p.name for p in (files.json, files.html, files.junit)] == [
        "results.json",
        "report.html",
        "junit.xml",
    ]
    assert all(p.is_file() for p in (files.json, files.html, files.junit))


def _chromium(page: Path, work: Path) -> tuple[Path, str]:
    """Screenshot ``page`` with headless Chromium; return the PNG and the browser's log."""
    chromium = require_tool("chromium")
    screenshot = work / "screenshot.png"
    run = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={work / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={screenshot}",
            "--window-size=1280,2000",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=_CHROMIUM_TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return screenshot, run.stdout + run.stderr


def _console_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if _CONSOLE.search(line)]


@pytest.mark.external
def test_chromium_renders_the_report_without_console_errors(tmp_path: Path) -> None:
    files = write_reports(sample_run(), tmp_path / "out")
    screenshot, log = _chromium(files.html, tmp_path)
    assert not _console_lines(log)
    assert screenshot.stat().st_size > 0
    artifacts = os.environ.get("CLOUDPDI_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(artifacts) / "report-screenshot.png")
    # The grade colours appear nowhere but in the matrix: seeing each one on screen means
    # the matrix rendered, with every grade of the sample run.
    with Image.open(screenshot) as image:
        colours = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 20)}
    for grade in Grade:
        colour = GRADE_COLOURS[grade]
        assert tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) in colours, grade


@pytest.mark.external
def test_the_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><p>x</p><script>undefinedFunction();</script>", "utf-8")
    _, log = _chromium(broken, tmp_path)
    assert any("undefinedFunction" in line for line in _console_lines(log))
