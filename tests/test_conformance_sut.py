"""SUT mode end to end: each actor in turn is a separate process the harness knows only by its
endpoint or its hook, and ``cloudpdi conformance run`` runs that actor's part of the suite.

- repository: ``cloudpdi serve repository`` addressed by URL (through the recording proxy);
- sender: cloudpdi's sender behind a hook (``examples/hooks/cloudpdi_sender_hook.py``), its
  token POSTed to the harness's HTTP token inbox;
- receiver: ``cloudpdi receive`` as the hook, importing into the harness's destination PACS.

Each run must pass every case it can observe: no case FAILED or ERROR, and a case NOT RUN only
because its check must look inside an actor the run tests from outside (the reason says so).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
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


def run_actor(config: Path, actor: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``actor``'s part of the suite with ``config``; return the exit code, tests, output."""
    out = config.parent / "out"
    done = subprocess.run(
        [*CLOUDPDI, "conformance", "run", "--config", str(config), "--actor", actor],
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


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Facility key pairs and bearer key files of a run, as a product's set-up would hold them."""
    folder = tmp_path / "keys"
    folder.mkdir()
    issuer, issuer_public = facility_key(folder, "issuer")
    receiver, receiver_public = facility_key(folder, "receiver")
    uploader = write_private(folder / "uploader.key", secrets.token_urlsafe(32))
    recipient = write_private(folder / "recipient.key", secrets.token_urlsafe(32))
    return {
        "issuer": issuer,
        "issuer_public": issuer_public,
        "receiver": receiver,
        "receiver_public": receiver_public,
        "uploader": uploader,
        "recipient": recipient,
    }


@pytest.fixture
def repository_process(tmp_path: Path, keys: dict[str, Path]) -> Iterator[str]:
    """``cloudpdi serve repository`` in its own process; its base URL."""
    keys_toml = write_private(
        tmp_path / "repository-keys.toml",
        f"admin_key = {toml(secrets.token_urlsafe(32))}\n\n[uploaders]\n"
        f"{toml(DEFAULT_ISSUER.id)} = {toml(keys['uploader'].read_text())}\n"
        f"{toml(DEFAULT_RECIPIENT.id)} = {toml(keys['recipient'].read_text())}\n",
    )
    argv = ["serve", "repository", "--data", str(tmp_path / "data"), "--keys", str(keys_toml)]
    process, line = start(
        [*argv, "--port", "0"], tmp_path / "repository.log", "repository listening on"
    )
    try:
        yield line.split()[3]
    finally:
        stop_process(process, START_WAIT)


def test_a_repository_under_test_passes_what_can_be_seen_from_outside(
    tmp_path: Path, keys: dict[str, Path], repository_process: str
) -> None:
    config = write_private(
        tmp_path / "run.toml",
        header("repository", "cloudpdi reference repository")
        + f'[repository]\nmode = "sut"\nurl = {toml(repository_process)}\n\n'
        f"[facilities.issuer]\nbearer_key = {{ file = {toml(str(keys['uploader']))} }}\n\n"
        f"[facilities.recipient]\nbearer_key = {{ file = {toml(str(keys['recipient']))} }}\n",
    )
    statuses = judge(*run_actor(config, "repository"))
    assert statuses["PASSED"] >= statuses["NOT_RUN"]


def test_a_sender_under_test_driven_by_a_hook_completes_a_run(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    argv = [
        sys.executable,
        str(SENDER_HOOK),
        *("--uploader-key-file", str(keys["uploader"])),
        *("--issuer-key", str(keys["issuer"])),
        *("--work-dir", str(tmp_path / "sender-work")),
    ]
    config = write_private(
        tmp_path / "run.toml",
        header("sender", "cloudpdi reference sender behind a hook")
        + '[sender]\nmode = "sut"\nwait_timeout = 120\n\n'
        f'[sender.trigger]\nkind = "hook"\nargv = {json.dumps(argv)}\ntimeout = 120\n\n'
        f'[sender.token_inbox]\nkind = "http"\nport = {free_port()}\n\n'
        f"[facilities.issuer]\npublic_key = {toml(str(keys['issuer_public']))}\n"
        f"bearer_key = {{ file = {toml(str(keys['uploader']))} }}\n",
    )
    judge(*run_actor(config, "sender"))


def test_a_receiver_under_test_driven_by_a_hook_completes_a_run(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    repository_port, pacs_port = free_port(), free_port()
    receiver_toml = write_private(
        tmp_path / "receiver.toml",
        f'output_dir = "received"\n'
        f'destination_pacs = "DEST_PACS@127.0.0.1:{pacs_port}"\n'
        f"facility_key = {toml(str(keys['receiver']))}\n"
        f"recipient_key = {toml(keys['recipient'].read_text())}\n\n"
        f"[facility]\nid = {toml(DEFAULT_RECIPIENT.id)}\nname = {toml(DEFAULT_RECIPIENT.name)}\n\n"
        f"[communities]\n{toml(DEFAULT_COMMUNITY)} = "
        f'"http://127.0.0.1:{repository_port}"\n\n'
        f"[trusted_issuers]\n{toml(DEFAULT_ISSUER.id)} = {toml(str(keys['issuer_public']))}\n\n"
        f'[reconciliation]\nmode = "query"\nlocal_issuer = {toml(LOCAL_ISSUER)}\n',
    )
    argv = [*CLOUDPDI, "receive", "--config", str(receiver_toml)]
    config = write_private(
        tmp_path / "run.toml",
        header("receiver", "cloudpdi reference receiver behind a hook")
        + '[receiver]\nmode = "sut"\nwait_timeout = 120\n\n'
        f'[receiver.token_delivery]\nkind = "hook"\nargv = {json.dumps(argv)}\ntimeout = 120\n\n'
        f"[repository]\nport = {repository_port}\n\n"
        f'[destination_pacs]\nae_title = "DEST_PACS"\nport = {pacs_port}\n\n'
        f"[facilities.issuer]\nprivate_key = {toml(str(keys['issuer']))}\n"
        f"public_key = {toml(str(keys['issuer_public']))}\n\n"
        f"[facilities.recipient]\nprivate_key = {toml(str(keys['receiver']))}\n"
        f"public_key = {toml(str(keys['receiver_public']))}\n"
        f"bearer_key = {{ file = {toml(str(keys['recipient']))} }}\n",
    )
    judge(*run_actor(config, "receiver"))
