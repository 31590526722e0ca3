"""SUT mode end to end: each actor in turn is a separate process the harness knows only by its
endpoint or its hook, and ``cloudpdi conformance run`` runs that actor's part of the suite.

- repository: ``cloudpdi serve repository`` addressed by URL (through the recording proxy);
- sender: cloudpdi's sender behind a hook (``examples/hooks/cloudpdi_sender_hook.py``), its
  token POSTed to the harness's HTTP token inbox and its token slip printed to file in the
  folder the harness gives it;
- receiver: ``cloudpdi receive`` as the hook, importing into the harness's destination PACS.

Each run must pass every case it can observe: no case FAILED or ERROR, and a case NOT RUN only
because its check must look inside an actor the run tests from outside (the reason says so).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cloudpdi.config_model import DEFAULT_COMMUNITY, DEFAULT_ISSUER, DEFAULT_RECIPIENT
from features.spec import load_features
from harness.lab import LOCAL_ISSUER
from tests.test_exchange_processes import (
    CLOUDPDI,
    ROOT,
    START_WAIT,
    facility_key,
    start,
    toml,
    write_private,
)
from tests.tools import free_port, stop_process

#: Seconds one actor's part of the suite may take.
SUITE_WAIT = 1200.0
SENDER_HOOK = ROOT / "examples" / "hooks" / "cloudpdi_sender_hook.py"
#: What makes a case NOT RUN honestly in SUT mode: its check cannot see inside the SUT.
OBSERVED_FROM_OUTSIDE = ("under test", "not told")
#: The repository's cases judged from what it shows: its storage folder and its access log.
SHOWN_BY_THE_REPOSITORY = (
    "cross/expiry_revocation.feature::The repository deletes the bytes of an expired document",
    "cross/expiry_revocation.feature::The repository refuses a revoked document",
    "repository/access.feature::Every access is recorded in the access log",
)
#: What the reference repository shows: its data folder and its exported access log.
INSPECTION = '[repository.inspection]\nstorage = "data"\naccess_log = "access.jsonl"\n'
#: Enough for our repository, which purges every second; a faulty one fails in that time.
SHORT_WAIT = "wait_timeout = 10\n"
#: The sender's cases the harness sees only through what the sender shows (its printed token
#: slip) and is told (pseudonyms, web content): 4 forms of the token, 1 pseudonym, the web
#: content (with its 2 controls, broken file sets the harness makes).
SHOWN_BY_THE_SENDER = {"HIT-FMT-01": 4, "HIT-PSEUD-01": 1, "PDI-WEB-01": 3}
#: The receiver's cases judged on its receipt (what its user is told): refusals (expired
#: token, document gone, 6 damaged downloads), instances not read (2), patients to match (3),
#: support images, documents handed over (5), and what it keeps but never runs (2).
SHOWN_BY_THE_RECEIVER = (
    "cross/expiry_revocation.feature::The receiver refuses an expired token",
    "cross/expiry_revocation.feature::The receiver reports a document the repository no longer",
    "cross/non_image_content.feature::The receiver ",
    "cross/patient_reconciliation.feature::A patient the receiver cannot match",
    "cross/support_images.feature::The receiver keeps the signs and lists support images apart",
    "receiver/import.feature::A download ",
    "receiver/import.feature::An instance the receiver cannot read",
    "receiver/import.feature::The receiver runs nothing from the file set",
)
RECEIPT_CASES = 21
#: The receiver's case that needs a second community in its directory.
SECOND_COMMUNITY_CASE = "The receiver asks the repository of the token's community"
#: A few of those cases: a refusal, the support images and the documents handed over.
RECEIPT_TAGS = "@actor:receiver and (@CPDI-RET-01 or @CPDI-SUPP-01 or @CPDI-CONT-02)"


def claims(actor: str) -> str:
    """Every option of ``actor`` the suite grades, as a TOML array: the SUT claims them all."""
    options = {
        case.options[0]
        for scenario in load_features()
        for case in scenario.cases()
        if actor in case.actors
    }
    return json.dumps(sorted(options))


def header(actor: str, product: str) -> str:
    return (
        f'version = 1\n\n[run]\noutput = "out"\nseed = 11\n\n'
        f'[[sut]]\nvendor = "cloudpdi project"\nproduct = {toml(product)}\nversion = "test"\n'
        f"[sut.claims]\n{actor} = {claims(actor)}\n\n"
    )


def run_actor(
    config: Path, actor: str, tags: str | None = None
) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``actor``'s part of the suite with ``config`` (only the cases ``tags`` select, if
    given); return the exit code, tests, output."""
    out = config.parent / "out"
    selected = [] if tags is None else ["--tags", tags]
    done = subprocess.run(
        [*CLOUDPDI, "conformance", "run", "--config", str(config), "--actor", actor, *selected],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=SUITE_WAIT,
        check=False,
        env={**os.environ, "CI": "true"},
    )
    results = out / "results.json"
    assert results.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    tests = json.loads(results.read_text(encoding="utf-8"))["result"]["tests"]
    return done.returncode, tests, done.stdout + done.stderr


def judge(code: int, tests: list[dict[str, Any]], output: str) -> Counter[str]:
    """Assert the run passed every case it could observe; return the count of each status."""
    statuses = Counter(test["status"] for test in tests)
    bad = [
        f"{test['id']}: {test['status']} {test.get('reason', '')}"
        for test in tests
        if test["status"] in ("FAILED", "ERROR")
    ]
    assert not bad, "\n".join(bad[:20]) + "\n" + output[-3000:]
    unseen = [
        f"{test['id']}: {test.get('reason', '')}"
        for test in tests
        if test["status"] == "NOT_RUN"
        and not any(words in test.get("reason", "") for words in OBSERVED_FROM_OUTSIDE)
    ]
    assert not unseen, "NOT RUN for another reason:\n" + "\n".join(unseen[:20])
    assert statuses["PASSED"] > 0
    assert code in (0, 3), output[-3000:]
    # Exit code 0 exactly when no required case is NOT RUN.
    assert (code == 0) == all(t["status"] == "PASSED" for t in tests if t["required"])
    return statuses


def passes_whole(actor: str, code: int, tests: list[dict[str, Any]], output: str) -> None:
    """Assert the run held every case of ``actor`` in the suite, each PASSED, and exited 0."""
    judge(code, tests, output)
    cases = [
        case for scenario in load_features() for case in scenario.cases() if actor in case.actors
    ]
    assert len(tests) == len(cases), f"{len(tests)} of the {actor}'s {len(cases)} cases ran"
    left = [
        f"{test['id']}: {test['status']} {test.get('reason', '')}"
        for test in tests
        if test["status"] != "PASSED"
    ]
    assert not left, "\n".join(left)
    assert code == 0, output[-3000:]


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Facility key pairs and bearer key files of a run, as a product's set-up would hold them."""
    folder = tmp_path / "keys"
    folder.mkdir()
    issuer, issuer_public = facility_key(folder, "issuer")
    receiver, receiver_public = facility_key(folder, "receiver")
    uploader = write_private(folder / "uploader.key", secrets.token_urlsafe(32))
    recipient = write_private(folder / "recipient.key", secrets.token_urlsafe(32))
    pseudonym = write_private(folder / "pseudonym.key", secrets.token_urlsafe(32))
    return {
        "pseudonym": pseudonym,
        "issuer": issuer,
        "issuer_public": issuer_public,
        "receiver": receiver,
        "receiver_public": receiver_public,
        "uploader": uploader,
        "recipient": recipient,
    }


@contextmanager
def serving_repository(tmp_path: Path, keys: dict[str, Path], *options: str) -> Iterator[str]:
    """``cloudpdi serve repository`` in its own process (``options`` added); its base URL.

    It keeps its data in ``tmp_path/data``, exports its access log to ``tmp_path/access.jsonl``
    and purges expired documents every second.
    """
    keys_toml = write_private(
        tmp_path / "repository-keys.toml",
        f"admin_key = {toml(secrets.token_urlsafe(32))}\n\n[uploaders]\n"
        f"{toml(DEFAULT_ISSUER.id)} = {toml(keys['uploader'].read_text())}\n"
        f"{toml(DEFAULT_RECIPIENT.id)} = {toml(keys['recipient'].read_text())}\n",
    )
    argv = [
        *("serve", "repository", "--data", str(tmp_path / "data"), "--keys", str(keys_toml)),
        *("--access-log", str(tmp_path / "access.jsonl"), "--purge-interval", "1"),
        *("--port", "0", *options),
    ]
    process, line = start(argv, tmp_path / "repository.log", "repository listening on")
    try:
        yield line.split()[3]
    finally:
        stop_process(process, START_WAIT)


@pytest.fixture
def repository_process(tmp_path: Path, keys: dict[str, Path]) -> Iterator[str]:
    """The reference repository in its own process, exporting its access log; its base URL."""
    with serving_repository(tmp_path, keys) as url:
        yield url


def repository_run(
    tmp_path: Path, keys: dict[str, Path], url: str, inspection: str = INSPECTION
) -> Path:
    """The run configuration of the repository under test at ``url``; ``inspection`` is its
    ``[repository.inspection]`` table (what it shows of its insides)."""
    return write_private(
        tmp_path / "run.toml",
        header("repository", "cloudpdi reference repository")
        + f'[repository]\nmode = "sut"\nurl = {toml(url)}\n\n{inspection}\n'
        f"[facilities.issuer]\nbearer_key = {{ file = {toml(str(keys['uploader']))} }}\n\n"
        f"[facilities.recipient]\nbearer_key = {{ file = {toml(str(keys['recipient']))} }}\n",
    )


def shown_by_the_repository(tests: list[dict[str, Any]]) -> dict[str, str]:
    """The status of each case judged from what the repository shows, with the reason it was
    NOT RUN or the message of its failed step."""
    return {
        test["id"]: " ".join(
            [
                test["status"],
                test.get("reason", ""),
                *(step["message"] for step in test["steps"] if step["status"] == "FAILED"),
            ]
        ).strip()
        for test in tests
        if test["id"] in SHOWN_BY_THE_REPOSITORY
    }


def assert_failed(tests: list[dict[str, Any]], case: str, message: str, output: str) -> None:
    """Assert the repository's ``case`` FAILED with ``message`` in its failed step."""
    shown = shown_by_the_repository(tests)[case]
    assert shown.startswith("FAILED") and message in shown, output[-3000:]


def test_a_repository_under_test_passes_what_can_be_seen_from_outside(
    tmp_path: Path, keys: dict[str, Path], repository_process: str
) -> None:
    config = repository_run(tmp_path, keys, repository_process)
    code, tests, output = run_actor(config, "repository")
    passes_whole("repository", code, tests, output)
    # Its storage and its access log are judged, not left NOT RUN.
    assert shown_by_the_repository(tests) == dict.fromkeys(SHOWN_BY_THE_REPOSITORY, "PASSED")


def test_a_repository_under_test_that_keeps_expired_bytes_fails_the_deletion_check(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    with serving_repository(tmp_path, keys, "--fault", "repository-serves-expired") as url:
        config = repository_run(tmp_path, keys, url, INSPECTION + SHORT_WAIT)
        _, tests, output = run_actor(config, "repository", tags="@CPDI-RET-01")
    assert_failed(tests, SHOWN_BY_THE_REPOSITORY[0], "still holds the document's bytes", output)


def test_an_access_log_export_missing_a_refused_request_fails_the_access_log_check(
    tmp_path: Path, keys: dict[str, Path], repository_process: str
) -> None:
    shown = tmp_path / "shown.jsonl"
    inspection = INSPECTION.replace("access.jsonl", shown.name) + SHORT_WAIT
    config = repository_run(tmp_path, keys, repository_process, inspection)
    with copying_but_refusals(tmp_path / "access.jsonl", shown):
        _, tests, output = run_actor(config, "repository", tags="@CPDI-DL-01")
    assert_failed(tests, SHOWN_BY_THE_REPOSITORY[2], "(404) has no entry", output)


def test_without_inspection_settings_the_cases_are_not_run_naming_the_setting(
    tmp_path: Path, keys: dict[str, Path], repository_process: str
) -> None:
    config = repository_run(tmp_path, keys, repository_process, inspection="")
    _, tests, _ = run_actor(config, "repository", tags="@CPDI-RET-01 or @CPDI-DL-01")
    shown = shown_by_the_repository(tests)
    assert set(shown) == set(SHOWN_BY_THE_REPOSITORY), shown
    assert "[repository.inspection] storage" in shown[SHOWN_BY_THE_REPOSITORY[0]]
    assert "[repository.inspection] storage" in shown[SHOWN_BY_THE_REPOSITORY[1]]
    assert "[repository.inspection] access_log" in shown[SHOWN_BY_THE_REPOSITORY[2]]
    assert all(status.startswith("NOT_RUN") for status in shown.values()), shown


@contextmanager
def copying_but_refusals(source: Path, copy: Path) -> Iterator[None]:
    """Copy the lines of an access log export to ``copy`` as they come, but for the entries
    of refused downloads (404): an export that misses requests."""
    stop = threading.Event()

    def follow() -> None:
        offset = 0
        while not stop.wait(0.05):
            with contextlib.suppress(FileNotFoundError), source.open("rb") as stream:
                stream.seek(offset)
                lines = stream.read().splitlines(keepends=True)
                whole = [line for line in lines if line.endswith(b"\n")]
                offset += sum(len(line) for line in whole)
                with copy.open("ab") as out:
                    out.writelines(line for line in whole if b'"status":404' not in line)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def sender_run(
    tmp_path: Path,
    keys: dict[str, Path],
    *,
    slip: bool = True,
    send_options: tuple[str, ...] = (),
    unset: str = "",
    wait: int = 120,
) -> Path:
    """The run configuration of cloudpdi's sender behind its hook; ``send_options`` go on to
    ``cloudpdi send``. With ``slip`` it is given a folder to print its token slip in; the
    hook never sees the variable ``unset``, as a product that ignores it."""
    argv = [
        *(("env", "-u", unset) if unset else ()),
        sys.executable,
        str(SENDER_HOOK),
        *("--uploader-key-file", str(keys["uploader"])),
        *("--issuer-key", str(keys["issuer"])),
        *("--pseudonym-key-file", str(keys["pseudonym"])),
        *("--work-dir", str(tmp_path / "sender-work")),
        *(("--", *send_options) if send_options else ()),
    ]
    return write_private(
        tmp_path / "run.toml",
        header("sender", "cloudpdi reference sender behind a hook")
        + f'[sender]\nmode = "sut"\nwait_timeout = {wait}\n\n'
        f'[sender.trigger]\nkind = "hook"\nargv = {json.dumps(argv)}\ntimeout = 120\n\n'
        f'[sender.token_inbox]\nkind = "http"\nport = {free_port()}\n\n'
        + ('[sender.slip]\nfolder = "slips"\n\n' if slip else "")
        + f"[facilities.issuer]\npublic_key = {toml(str(keys['issuer_public']))}\n"
        f"bearer_key = {{ file = {toml(str(keys['uploader']))} }}\n",
    )


def shown_by_the_sender(tests: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The status of each case the sender must show or be told for, by requirement."""
    return {
        requirement: [
            f"{test['status']} {test.get('reason', '')}".strip()
            for test in tests
            if requirement in test["requirements"]
        ]
        for requirement in SHOWN_BY_THE_SENDER
    }


def failures(tests: list[dict[str, Any]]) -> list[str]:
    """What each failed step of ``tests`` said."""
    return [
        step.get("message", "")
        for test in tests
        for step in test["steps"]
        if step.get("status") == "FAILED"
    ]


def test_a_sender_under_test_driven_by_a_hook_completes_a_run(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    code, tests, output = run_actor(sender_run(tmp_path, keys), "sender")
    passes_whole("sender", code, tests, output)
    # Its printed slip, pseudonyms and web content are judged, not left NOT RUN.
    assert shown_by_the_sender(tests) == {
        requirement: ["PASSED"] * count for requirement, count in SHOWN_BY_THE_SENDER.items()
    }


def test_a_sender_under_test_whose_slip_carries_another_token_fails_the_comparison(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    config = sender_run(tmp_path, keys, send_options=("--fault", "sender-slip-qr-differs"))
    _, tests, output = run_actor(config, "sender", tags="@HIT-FMT-01")
    shown = shown_by_the_sender(tests)["HIT-FMT-01"]
    assert len(shown) == SHOWN_BY_THE_SENDER["HIT-FMT-01"], output[-3000:]
    assert all(status.startswith("FAILED") for status in shown), shown
    why = failures(tests)
    assert all("other items" in message or "do not show" in message for message in why), why


def test_a_sender_under_test_that_prints_no_slip_fails_the_printed_forms(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    config = sender_run(tmp_path, keys, unset="CLOUDPDI_SLIP_FOLDER", wait=20)
    _, tests, output = run_actor(config, "sender", tags="@CPDI-TOK-05")
    statuses = [test["status"] for test in tests]
    assert statuses == ["FAILED"] * 3, output[-3000:]
    why = failures(tests)
    assert all("cannot be read" in message for message in why), why


def test_without_a_slip_folder_the_printed_forms_are_not_run_naming_the_setting(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    config = sender_run(tmp_path, keys, slip=False)
    _, tests, output = run_actor(config, "sender", tags="@HIT-FMT-01 or @HIT-PSEUD-01")
    shown = shown_by_the_sender(tests)
    statuses = [*shown["HIT-FMT-01"], *shown["HIT-PSEUD-01"]]
    assert len(statuses) == SHOWN_BY_THE_SENDER["HIT-FMT-01"] + 1, output[-3000:]
    assert all(s.startswith("NOT_RUN") and "[sender.slip]" in s for s in statuses), statuses


def receiver_run(
    tmp_path: Path, keys: dict[str, Path], *, receipt: bool = True, hook: list[str] | None = None
) -> Path:
    """The run configuration of ``cloudpdi receive`` as the receiver's hook (behind the
    ``hook`` command, if given); with ``receipt`` it says the receiver writes receipts and
    lists a second community (set up once, its repository served by the harness)."""
    repository_port, pacs_port, second_port = free_port(), free_port(), free_port()
    second = f'[receiver.second_community]\nid = "jp.cloudpdi.second"\nport = {second_port}\n\n'

    receiver_toml = write_private(
        tmp_path / "receiver.toml",
        f'output_dir = "received"\n'
        f'destination_pacs = "DEST_PACS@127.0.0.1:{pacs_port}"\n'
        f"facility_key = {toml(str(keys['receiver']))}\n"
        f"recipient_key = {toml(keys['recipient'].read_text())}\n\n"
        f"[facility]\nid = {toml(DEFAULT_RECIPIENT.id)}\nname = {toml(DEFAULT_RECIPIENT.name)}\n\n"
        f"[communities]\n{toml(DEFAULT_COMMUNITY)} = "
        f'"http://127.0.0.1:{repository_port}"\n'
        f'"jp.cloudpdi.second" = "http://127.0.0.1:{second_port}"\n\n'
        f"[trusted_issuers]\n{toml(DEFAULT_ISSUER.id)} = {toml(str(keys['issuer_public']))}\n\n"
        f'[reconciliation]\nmode = "query"\nlocal_issuer = {toml(LOCAL_ISSUER)}\n',
    )
    # `cloudpdi receive` writes its receipt to the path the harness names in CLOUDPDI_RECEIPT.
    argv = [*(hook or []), *CLOUDPDI, "receive", "--config", str(receiver_toml)]
    return write_private(
        tmp_path / "run.toml",
        header("receiver", "cloudpdi reference receiver behind a hook")
        + f'[receiver]\nmode = "sut"\nwait_timeout = 120\nreceipt = {str(receipt).lower()}\n\n'
        f'[receiver.token_delivery]\nkind = "hook"\nargv = {json.dumps(argv)}\ntimeout = 120\n\n'
        + (second if receipt else "")
        + f"[repository]\nport = {repository_port}\n\n"
        f'[destination_pacs]\nae_title = "DEST_PACS"\nport = {pacs_port}\n\n'
        f"[facilities.issuer]\nprivate_key = {toml(str(keys['issuer']))}\n"
        f"public_key = {toml(str(keys['issuer_public']))}\n\n"
        f"[facilities.recipient]\nprivate_key = {toml(str(keys['receiver']))}\n"
        f"public_key = {toml(str(keys['receiver_public']))}\n"
        f"bearer_key = {{ file = {toml(str(keys['recipient']))} }}\n",
    )


def shown_by_the_receiver(tests: list[dict[str, Any]]) -> dict[str, str]:
    """The status of each case judged on the receiver's receipt, with the reason it was NOT RUN
    or what its failed step says, by case."""
    return {
        test["id"]: f"{test['status']} {test.get('reason', '')}"
        + "; ".join(step["message"] for step in test["steps"] if step["status"] == "FAILED")
        for test in tests
        if test["id"].startswith(SHOWN_BY_THE_RECEIVER)
    }


def test_a_receiver_under_test_driven_by_a_hook_completes_a_run(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    code, tests, output = run_actor(receiver_run(tmp_path, keys), "receiver")
    passes_whole("receiver", code, tests, output)
    shown = shown_by_the_receiver(tests)
    assert len(shown) == RECEIPT_CASES, shown
    assert all(status.startswith("PASSED") for status in shown.values()), shown


def test_a_receiver_without_receipt_or_second_community_is_not_run_naming_the_setting(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    config = receiver_run(tmp_path, keys, receipt=False)
    code, tests, output = run_actor(config, "receiver", f"{RECEIPT_TAGS} or @CPDI-TOK-02")
    judge(code, tests, output)
    shown = shown_by_the_receiver(tests)
    assert shown, output[-3000:]
    assert all(s.startswith("NOT_RUN") and "[receiver] receipt" in s for s in shown.values()), shown
    # Nor, without a second community set up once, the case that needs one.
    (second,) = [t for t in tests if t["id"].endswith(SECOND_COMMUNITY_CASE)]
    assert second["status"] == "NOT_RUN", second
    assert "[receiver.second_community]" in second["reason"], second


def test_a_receiver_whose_receipt_tells_the_wrong_thing_fails_those_cases(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    hook = [sys.executable, str(ROOT / "tests" / "receipt_liar.py")]
    config = receiver_run(tmp_path, keys, hook=hook)
    _, tests, output = run_actor(config, "receiver", RECEIPT_TAGS)
    shown = shown_by_the_receiver(tests)
    # It says a refused transfer was imported, lists no support image, and hands over each
    # document with a byte added (its receipt's digests agree with the altered bytes).
    for case, message in (
        ("cross/expiry_revocation.feature::The receiver refuses an expired token", "token-expired"),
        ("cross/support_images.feature::The receiver keeps the signs", "does not list"),
        ("cross/non_image_content.feature::The receiver hands", "was not given"),
    ):
        told = [status for name, status in shown.items() if name.startswith(case)]
        assert told, output[-3000:]
        assert all(s.startswith("FAILED") and message in s for s in told), (case, told)
