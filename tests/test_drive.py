"""Driving a system under test: hooks run without a shell, with the harness's variables only,
within their time limit; the operator is prompted; the harness waits for a token file or POST."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from cloudpdi.config_triggers import FolderInbox, Hook, Operator, QrImageInbox
from harness.drive import (
    HOW_TO_ANSWER,
    HookCannotStart,
    NoOperator,
    check_operator,
    environment,
    operator_input,
    pull,
    take,
    wait_for_file,
)
from simulators.token_dropbox import TokenDropbox

#: A hook that writes its CLOUDPDI_* variables and arguments to the file named first.
RECORDING_HOOK = (
    "import json, os, sys; "
    "open(sys.argv[1], 'w').write(json.dumps({'env': {k: v for k, v in os.environ.items() "
    "if k.startswith('CLOUDPDI_') or k == 'VENDOR_SETTING'}, 'args': sys.argv[2:]}))"
)


def test_a_hook_gets_the_variables_and_arguments_and_nothing_of_a_parent_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDPDI_UPLOADER_KEY", "left-over-from-a-parent-run")
    seen = tmp_path / "seen.json"
    hook = Hook(argv=(sys.executable, "-c", RECORDING_HOOK, str(seen)), env={"VENDOR_SETTING": "x"})
    variables = environment({"STUDY_UID": "1.2.3", "LIFETIME_SECONDS": None})
    triggered = pull(hook, variables, arguments=["token.jwe"], prompt="unused")
    assert triggered.ok and triggered.exit_status == 0
    recorded = json.loads(seen.read_text())
    assert recorded == {
        "env": {"CLOUDPDI_STUDY_UID": "1.2.3", "VENDOR_SETTING": "x"},
        "args": ["token.jwe"],
    }


def test_a_failing_or_slow_or_missing_hook_is_not_ok(tmp_path: Path) -> None:
    failing = pull(
        Hook(argv=(sys.executable, "-c", "import sys; sys.exit('no study'); ")), {}, prompt=""
    )
    assert (failing.ok, failing.exit_status) == (False, 1)
    assert "no study" in failing.stderr_tail
    assert "exited with status 1" in failing.describe()
    slow = pull(
        Hook(argv=(sys.executable, "-c", "import time; time.sleep(30)"), timeout=0.5), {}, prompt=""
    )
    assert slow.timed_out and not slow.ok
    with pytest.raises(HookCannotStart, match="no-such-program cannot start"):
        pull(Hook(argv=(str(tmp_path / "no-such-program"),)), {}, prompt="")


@pytest.fixture
def operator_pipe() -> Iterator[tuple[IO[str], IO[str]]]:
    """A pipe a script answers the harness's prompts on, as a person would on a terminal."""
    reading, writing = os.pipe()
    with open(reading, encoding="utf-8") as answers, open(writing, "w", encoding="utf-8") as typed:
        yield answers, typed


def test_the_operator_is_prompted_with_what_to_do_and_answers(
    operator_pipe: tuple[IO[str], IO[str]],
) -> None:
    answers, typed = operator_pipe
    typed.write("what?\ndone\n")
    typed.flush()
    terminal = io.StringIO()
    triggered = pull(
        Operator(),
        {"CLOUDPDI_STUDY_UID": "1.2.3"},
        prompt="Send the study",
        wait=5,
        terminal=terminal,
        answers=answers,
    )
    assert triggered.ok and triggered.exit_status is None
    assert "Send the study" in terminal.getvalue()
    assert "CLOUDPDI_STUDY_UID = 1.2.3" in terminal.getvalue()
    # An answer that is neither done nor refused is asked again, not guessed.
    assert terminal.getvalue().count(HOW_TO_ANSWER) == 2
    custom = io.StringIO()
    typed.write("refused\n")
    typed.flush()
    refused = pull(
        Operator(prompt="Press Send on the console"),
        {},
        prompt="ignored",
        wait=5,
        terminal=custom,
        answers=answers,
    )
    assert "Press Send on the console" in custom.getvalue()
    assert not refused.ok and "refused" in refused.describe()


def test_an_operator_who_does_not_answer_in_time_or_goes_away_stops_the_wait(
    operator_pipe: tuple[IO[str], IO[str]],
) -> None:
    answers, typed = operator_pipe
    silent = pull(Operator(), {}, prompt="x", wait=0.2, terminal=io.StringIO(), answers=answers)
    assert silent.timed_out and not silent.ok
    typed.close()
    with pytest.raises(NoOperator, match="ended"):
        pull(Operator(), {}, prompt="x", wait=5, terminal=io.StringIO(), answers=answers)


def test_no_operator_can_answer_on_dev_null_as_in_ci() -> None:
    with open(os.devnull, encoding="utf-8") as nothing:
        with pytest.raises(NoOperator, match="neither a terminal nor a pipe"):
            operator_input(nothing)
        with pytest.raises(NoOperator, match=r'receiver\.token_delivery is kind = "operator"'):
            check_operator([("receiver.token_delivery", Operator())], nothing)
    check_operator([("sender.trigger", Hook(argv=("send",)))], None)


def test_waiting_for_a_token_file_takes_only_a_new_one(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    old = inbox / "old.json"
    old.write_text("{}")
    os.utime(old, (time.time() - 60, time.time() - 60))
    since = time.time()
    assert wait_for_file(FolderInbox(inbox), since, timeout=0.3) is None

    def deliver() -> None:
        time.sleep(0.2)
        (inbox / "new.jwe").write_text("sealed token text")

    writer = threading.Thread(target=deliver)
    writer.start()
    found = wait_for_file(FolderInbox(inbox), since, timeout=10)
    writer.join()
    assert found == inbox / "new.jwe"
    copy = take(found, tmp_path / "handed")
    assert copy.suffix == ".jwe" and copy.read_text() == "sealed token text"
    assert copy.stat().st_mode & 0o777 == 0o600
    assert wait_for_file(QrImageInbox(tmp_path / "slip.png"), since, timeout=0.2) is None


def test_the_token_dropbox_keeps_what_a_sender_posts(tmp_path: Path) -> None:
    with TokenDropbox(tmp_path / "tokens") as dropbox:
        assert dropbox.wait(timeout=0.1) is None
        refused = httpx.post(
            dropbox.tokens_url, content=b"x", headers={"Content-Type": "image/png"}, timeout=10
        )
        assert refused.status_code == 415
        empty = httpx.post(
            dropbox.tokens_url, content=b"", headers={"Content-Type": "text/plain"}, timeout=10
        )
        assert empty.status_code == 400
        posted = httpx.post(
            dropbox.tokens_url,
            content=b"eyJhbGciOi.sealed",
            headers={"Content-Type": "application/jose"},
            timeout=10,
        )
        assert posted.status_code == 202
        kept = dropbox.wait(timeout=5)
    assert kept is not None and kept.suffix == ".jwe"
    assert kept.read_bytes() == b"eyJhbGciOi.sealed"
    assert kept.stat().st_mode & 0o777 == 0o600
