"""Operator-driven runs end to end: ``cloudpdi conformance run`` prompts an operator for the
sender or receiver under test, and this test is the operator. It reads each prompt from the
run's standard output, does what the prompt says with what the prompt gives (our sender behind
its hook, or ``cloudpdi receive``, given the printed ``CLOUDPDI_*`` values), and answers on the
run's standard input as a person would: ``done``, or ``refused`` when the product refused.

Without a terminal or a pipe on standard input (a CI job's ``/dev/null``), such a run is
refused at once, naming the setting, rather than waiting for answers no one can give.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cloudpdi.config_model import DEFAULT_ISSUER, DEFAULT_RECIPIENT
from harness.cli import EXIT_USAGE
from harness.lab import LOCAL_ISSUER
from tests.test_conformance_sut import SENDER_HOOK, SUITE_WAIT, header
from tests.test_conformance_sut import keys as keys  # the fixture, taken by name
from tests.test_exchange_processes import CLOUDPDI, toml, write_private
from tests.tools import free_port

#: How the harness starts each prompt, and the line that ends it (how to answer).
PROMPT = ">>> "
ANSWER_LINE = ">>> Answer"
#: A sender case and one that sends twice; the receiver's imports of a study, and a token of a
#: community it does not know (it refuses; its twin changes the receiver's community directory,
#: which a receiver under test is not told: NOT RUN).
SENDER_CASES = "@CPDI-TOK-02 or @CPDI-KEY-01"
RECEIVER_CASES = "(@CPDI-RCV-01 and @option:core) or @CPDI-TOK-02"
REFUSED_CASE = "A token of a community the receiver does not know is refused"


@dataclass
class Prompt:
    """One prompt as a person reads it: what to do, the values given, the files named."""

    text: str
    values: dict[str, str] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)


def read_prompt(first: str, lines: IO[str]) -> Prompt:
    """The rest of the prompt that ``first`` began, up to the line that says how to answer."""
    prompt = Prompt(first.removeprefix(PROMPT).strip())
    for line in lines:
        if line.startswith(ANSWER_LINE):
            return prompt
        name, equals, value = line.strip().partition(" = ")
        if equals:
            prompt.values[name] = value
        else:
            prompt.arguments.append(line.strip())
    raise AssertionError(f"the run ended in the middle of the prompt {prompt.text!r}")


def operate(
    config: Path, actor: str, tags: str, act: Callable[[Prompt], bool]
) -> tuple[list[Prompt], list[dict[str, object]], str]:
    """Run ``actor``'s cases ``tags`` with this test as the operator; ``act`` does what a
    prompt says and tells whether the product did it. Return the prompts, tests and output."""
    out = config.parent / "out"
    child = subprocess.Popen(
        [
            *CLOUDPDI,
            "conformance",
            "run",
            "--config",
            str(config),
            *("--actor", actor, "--tags", tags),
        ],
        cwd=config.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CI": "true"},
    )
    assert child.stdin is not None and child.stdout is not None
    prompts, output = [], []
    try:
        for line in child.stdout:
            output.append(line)
            if line.startswith(PROMPT) and not line.startswith(ANSWER_LINE):
                prompt = read_prompt(line, child.stdout)
                prompts.append(prompt)
                child.stdin.write("done\n" if act(prompt) else "refused\n")
                child.stdin.flush()
        child.wait(SUITE_WAIT)
    finally:
        child.kill()
        child.wait()
    text = "".join(output)
    results = out / "results.json"
    assert results.is_file(), text[-3000:]
    return prompts, json.loads(results.read_text(encoding="utf-8"))["result"]["tests"], text


def names_everything(prompt: Prompt, *variables: str) -> None:
    """Assert the prompt gives each of ``variables`` and says each of them in its own words."""
    for name in variables:
        value = prompt.values[f"CLOUDPDI_{name}"]
        assert value in prompt.text, f"the prompt {prompt.text!r} does not name {name}"


def test_an_operator_drives_a_sender_under_test_through_a_run(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    config = write_private(
        tmp_path / "run.toml",
        header("sender", "cloudpdi reference sender, run by its operator")
        + '[sender]\nmode = "sut"\nwait_timeout = 120\n\n[sender.trigger]\nkind = "operator"\n\n'
        f'[sender.token_inbox]\nkind = "folder"\npath = "tokens"\n\n'
        f"[facilities.issuer]\npublic_key = {toml(str(keys['issuer_public']))}\n"
        f"bearer_key = {{ file = {toml(str(keys['uploader']))} }}\n",
    )
    sender = [
        sys.executable,
        str(SENDER_HOOK),
        *("--uploader-key-file", str(keys["uploader"])),
        *("--issuer-key", str(keys["issuer"])),
        *("--work-dir", str(tmp_path / "sender-work")),
    ]

    def send(prompt: Prompt) -> bool:
        names_everything(prompt, "STUDY_UID", "SOURCE_PACS", "REPOSITORY_URL", "TOKEN_INBOX")
        # The operator types into the product what the prompt shows: here, its hook's variables.
        done = subprocess.run(
            sender, env={**os.environ, **prompt.values}, capture_output=True, timeout=120
        )
        return done.returncode == 0

    prompts, tests, output = operate(config, "sender", SENDER_CASES, send)
    assert len(prompts) >= len(tests) >= 2, output[-3000:]
    assert {test["status"] for test in tests} == {"PASSED"}, output[-3000:]


def test_an_operator_drives_a_receiver_under_test_and_answers_its_refusal(
    tmp_path: Path, keys: dict[str, Path]
) -> None:
    config = write_private(
        tmp_path / "run.toml",
        header("receiver", "cloudpdi reference receiver, run by its operator")
        + '[receiver]\nmode = "sut"\nwait_timeout = 120\n\n'
        '[receiver.token_delivery]\nkind = "operator"\n\n'
        f'[destination_pacs]\nae_title = "DEST_PACS"\nport = {free_port()}\n\n'
        f"[facilities.issuer]\nprivate_key = {toml(str(keys['issuer']))}\n"
        f"public_key = {toml(str(keys['issuer_public']))}\n\n"
        f"[facilities.recipient]\nprivate_key = {toml(str(keys['receiver']))}\n"
        f"public_key = {toml(str(keys['receiver_public']))}\n"
        f"bearer_key = {{ file = {toml(str(keys['recipient']))} }}\n",
    )

    answers: list[bool] = []

    def receive(prompt: Prompt) -> bool:
        names_everything(prompt, "TOKEN_FILE", "DESTINATION_PACS", "REPOSITORY_URL")
        token = Path(prompt.values["CLOUDPDI_TOKEN_FILE"])
        assert prompt.arguments == [str(token)]
        # The printed forms a person may scan instead: the QR code image and the slip.
        assert "QR code: " in prompt.text and "slip: " in prompt.text
        qr = Path(prompt.text.split("QR code: ")[1].split(";")[0])
        slip = Path(prompt.text.split("slip: ")[1].split(")")[0])
        assert qr.suffix == ".png" and qr.is_file() and slip.suffix == ".pdf" and slip.is_file()
        # The receiving product, set up as the prompt says: its PACS and its community.
        setup = write_private(
            tmp_path / f"receiver-{len(answers)}.toml",
            'output_dir = "received"\n'
            f"destination_pacs = {toml(prompt.values['CLOUDPDI_DESTINATION_PACS'])}\n"
            f"facility_key = {toml(str(keys['receiver']))}\n"
            f"recipient_key = {toml(keys['recipient'].read_text())}\n\n"
            f"[facility]\nid = {toml(DEFAULT_RECIPIENT.id)}\n"
            f"name = {toml(DEFAULT_RECIPIENT.name)}\n\n"
            f"[communities]\n{toml(prompt.values['CLOUDPDI_COMMUNITY_ID'])} = "
            f"{toml(prompt.values['CLOUDPDI_REPOSITORY_URL'])}\n\n"
            f"[trusted_issuers]\n{toml(DEFAULT_ISSUER.id)} = "
            f"{toml(str(keys['issuer_public']))}\n\n"
            f'[reconciliation]\nmode = "query"\nlocal_issuer = {toml(LOCAL_ISSUER)}\n',
        )
        done = subprocess.run(
            [*CLOUDPDI, "receive", "--config", str(setup), str(token)],
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
        )
        answers.append(done.returncode == 0)
        return answers[-1]

    prompts, tests, output = operate(config, "receiver", RECEIVER_CASES, receive)
    statuses = {str(test["name"]): (test["status"], str(test.get("reason", ""))) for test in tests}
    assert statuses.pop(REFUSED_CASE) == ("PASSED", ""), output[-3000:]
    imported = [status for status, _ in statuses.values()].count("PASSED")
    assert imported >= 3, output[-3000:]
    assert all(
        status == "PASSED" or "not told" in reason for status, reason in statuses.values()
    ), output[-3000:]
    # One prompt per case that handed a token over, and the refusal answered as one.
    assert len(prompts) == len(answers) == imported + 1 and answers.count(False) == 1


def test_an_operator_run_without_a_terminal_or_pipe_is_refused_at_once(tmp_path: Path) -> None:
    config = write_private(
        tmp_path / "run.toml",
        header("receiver", "a receiver run by its operator")
        + '[receiver]\nmode = "sut"\n\n[receiver.token_delivery]\nkind = "operator"\n',
    )
    done = subprocess.run(
        [*CLOUDPDI, "conformance", "run", "--config", str(config)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true"},
    )
    assert done.returncode == EXIT_USAGE, done.stdout + done.stderr
    assert 'receiver.token_delivery is kind = "operator"' in done.stderr
    assert "neither a terminal nor a pipe" in done.stderr
    assert not (tmp_path / "out").exists()
