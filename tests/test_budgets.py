"""Transfer budgets: each upload and download timed as the repository (or the proxy in front of
one under test) saw it, held against its size class; a case that moves a study and misses a
budget FAILS naming the size class, the budget and the figures; a refusal is not judged."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudpdi.config_budgets import Budgets, TransferBudget
from cloudpdi.repository import RepositoryClient
from reports import EvidenceKind
from simulators.pacs_events import PacsEvent
from simulators.recording_proxy import RecordingProxy
from simulators.repository import Recorder, RepositoryConfig, RepositoryServer
from simulators.repository.spy import RecordedRequest
from steps.budgets import DOWNLOAD, JUDGE, UPLOAD, check_transfer_budgets, judge, latency, transfers
from steps.evidence import EvidenceLog
from tests.repository_fixtures import digest_of
from tests.test_exchange_processes import CLOUDPDI

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
MB = 1_000_000
KEY = "uploader-key-for-the-budget-test"
#: A case that moves a study, and one whose receiving hospital refuses the token unread.
MOVES_AND_REFUSES = "@CPDI-TOK-02"


def timed(
    method: str,
    url: str,
    at: float,
    seconds: float,
    *,
    body: int = 0,
    answer: int = 0,
    status: int = 204,
) -> RecordedRequest:
    """A request the spy recorded ``at`` seconds after T0, answered ``seconds`` later."""
    return RecordedRequest(
        method,
        url,
        (),
        b"",
        body,
        "sha-256:00",
        status,
        started=T0 + timedelta(seconds=at),
        seconds=seconds,
        response_size=answer,
    )


def stored(at: float, operation: str = "C-STORE", status: int = 0) -> PacsEvent:
    return PacsEvent(T0 + timedelta(seconds=at), operation, "RECEIVER", "127.0.0.1:1", status)


#: A study of 10 MB uploaded in two tus PATCHes over 2 s (with a failed one retried in between)
#: and downloaded in two ranges over 1 s; the source PACS was asked at 0 s and the receiving
#: PACS stored the last instance at 6 s.
UPLOAD_AND_DOWNLOAD = [
    timed("POST", "/uploads", 0.5, 0.01, status=201),
    timed("PATCH", "/uploads/u1", 1.0, 0.5, body=5 * MB),
    timed("PATCH", "/uploads/u1", 1.6, 0.2, body=5 * MB, status=460),
    timed("PATCH", "/uploads/u1", 2.0, 1.0, body=5 * MB),
    timed("HEAD", "/documents/D1", 3.5, 0.01, status=200),
    timed("GET", "/documents/D1", 4.0, 0.4, answer=6 * MB, status=206),
    timed("GET", "/documents/D1", 4.5, 0.5, answer=4 * MB, status=206),
]
SOURCE = [stored(0.0, "ASSOCIATE"), stored(0.1, "C-MOVE"), stored(0.2, "C-STORE-SUBOP")]
DESTINATION = [stored(5.5), stored(6.0), stored(6.5, status=0xA700)]


def test_each_upload_and_download_is_its_payload_over_its_time() -> None:
    upload, download = transfers(UPLOAD_AND_DOWNLOAD)
    assert (upload.direction, upload.target, upload.size) == (UPLOAD, "/uploads/u1", 10 * MB)
    assert upload.seconds == pytest.approx(2.0)
    assert upload.throughput == pytest.approx(5.0)
    assert (download.direction, download.size) == (DOWNLOAD, 10 * MB)
    assert download.seconds == pytest.approx(1.0)
    assert download.throughput == pytest.approx(10.0)
    assert "10.000 MB in 2.000 s = 5.000 MB/s" in upload.describe()


def test_latency_runs_from_the_senders_first_question_to_the_last_instance_stored() -> None:
    moved = transfers(UPLOAD_AND_DOWNLOAD)
    assert latency(moved, SOURCE, DESTINATION) == pytest.approx(6.0)
    # Without the source PACS's events, the send starts with its first upload.
    assert latency(moved, [], DESTINATION) == pytest.approx(5.0)
    # Nothing stored after the download (a refusal), or nothing downloaded: no study moved.
    assert latency(moved, SOURCE, [stored(3.0)]) is None
    assert latency(moved[:1], SOURCE, DESTINATION) is None


def test_each_transfer_is_judged_by_the_size_class_its_payload_falls_in() -> None:
    budgets = Budgets(
        transfers=(
            TransferBudget(name="small", max_size_mb=5, min_throughput_mb_s=100),
            TransferBudget(name="large", min_throughput_mb_s=6, max_latency_s=5.5),
        )
    )
    moved = transfers(UPLOAD_AND_DOWNLOAD)
    verdicts = judge(budgets, moved, 6.0)
    assert [(v.size_class, v.met) for v in verdicts] == [
        ("large", False),  # the upload: 5 MB/s, below 6
        ("large", True),  # the download: 10 MB/s
        ("large", False),  # latency 6 s, above 5.5
    ]
    assert "(minimum 6 MB/s)" in verdicts[0].what
    assert "6.000 s (maximum 5.5 s)" in verdicts[2].what
    # A class without a throughput budget judges latency only; no class, nothing.
    latency_only = Budgets(transfers=(TransferBudget(name="any", max_latency_s=60),))
    assert [v.met for v in judge(latency_only, moved, 6.0)] == [True]
    bounded = Budgets(transfers=(TransferBudget(name="tiny", max_size_mb=1, max_latency_s=1),))
    assert judge(bounded, moved, 6.0) == []


def test_a_missed_budget_fails_the_check_naming_class_budget_and_figures() -> None:
    budgets = Budgets(transfers=(TransferBudget(name="ct", min_throughput_mb_s=8),))
    evidence = EvidenceLog()
    with pytest.raises(AssertionError) as missed:
        check_transfer_budgets(budgets, UPLOAD_AND_DOWNLOAD, SOURCE, DESTINATION, evidence)
    assert str(missed.value) == (
        "transfer budget missed: size class ct: upload of /uploads/u1: 10.000 MB in 2.000 s "
        "= 5.000 MB/s (minimum 8 MB/s)"
    )
    items, _ = evidence.close()
    figures = [item for item in items if item.actor == JUDGE]
    assert [item.kind for item in figures] == [EvidenceKind.HTTP] * 2
    assert figures[0].summary.endswith("MISSED") and figures[1].summary.endswith("met")


def test_a_refusal_or_a_run_without_budgets_is_not_judged() -> None:
    impossible = Budgets(transfers=(TransferBudget(name="all", min_throughput_mb_s=1e6),))
    evidence = EvidenceLog()
    check_transfer_budgets(impossible, UPLOAD_AND_DOWNLOAD, SOURCE, [], evidence)
    check_transfer_budgets(Budgets(), UPLOAD_AND_DOWNLOAD, SOURCE, DESTINATION, evidence)
    assert evidence.close() == ((), ())


def test_the_spy_and_the_proxy_time_each_request_and_count_the_answer(tmp_path: Path) -> None:
    data = os.urandom(700_000)
    source = tmp_path / "ciphertext"
    source.write_bytes(data)
    digest = digest_of(data)
    config = RepositoryConfig(
        data_dir=tmp_path / "repository", uploader_keys={"HOSP-A": KEY}, recorder=Recorder()
    )
    in_front = Recorder()
    with (
        RepositoryServer(config) as repository,
        RecordingProxy(repository.base_url, in_front) as proxy,
        RepositoryClient(proxy.base_url, uploader_key=KEY) as client,
    ):
        client.upload("DOC-BUDGET-1", source, digest, chunk_size=256 * 1024)
        client.download("DOC-BUDGET-1", tmp_path / "download", expected_digest=digest)
        assert config.recorder is not None
        assert in_front.wait_for(len(config.recorder.requests), 5)
    for recorder in (config.recorder, in_front):
        moved = transfers(recorder.requests)
        assert [(t.direction, t.size) for t in moved] == [
            (UPLOAD, len(data)),
            (DOWNLOAD, len(data)),
        ]
        assert all(t.seconds > 0 for t in moved)


def run_with_budget(tmp_path: Path, budget: str) -> dict[str, dict[str, object]]:
    """Run the cases of :data:`MOVES_AND_REFUSES` against the simulators with ``budget``."""
    config = tmp_path / "run.toml"
    config.write_text(
        f'version = 1\n[run]\noutput = "out"\nseed = 11\n[budgets.transfer.all]\n{budget}\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [*CLOUDPDI, "conformance", "run", "--config", str(config), "--tags", MOVES_AND_REFUSES],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert done.returncode in (0, 3), done.stdout[-3000:] + done.stderr[-3000:]
    return {test["name"]: test for test in results["result"]["tests"]}


def test_an_impossible_throughput_budget_fails_the_case_that_moves_a_study(
    tmp_path: Path,
) -> None:
    tests = run_with_budget(tmp_path, "min_throughput_mb_s = 1e6")
    moved = tests["The receiver asks the repository of the token's community"]
    refused = tests["A token of a community the receiver does not know is refused"]
    assert moved["status"] == "FAILED"
    assert str(moved["reason"]).startswith("transfer budget missed: size class all: upload of ")
    assert "(minimum 1e+06 MB/s)" in str(moved["reason"])
    assert refused["status"] == "PASSED"


def test_a_generous_budget_passes_and_leaves_its_figures_as_evidence(tmp_path: Path) -> None:
    tests = run_with_budget(tmp_path, "min_throughput_mb_s = 0.001\nmax_latency_s = 600")
    assert {test["status"] for test in tests.values()} == {"PASSED"}
    moved = tests["The receiver asks the repository of the token's community"]
    evidence: list[dict[str, str]] = moved["evidence"]  # type: ignore[assignment]
    figures = [item["summary"] for item in evidence if item["actor"] == JUDGE]
    assert len(figures) == 3 and all(summary.endswith(": met") for summary in figures)
    assert "latency from the start of the send to the end of the import" in figures[-1]
