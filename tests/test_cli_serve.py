"""``cloudpdi serve``: bad options and key files are usage errors; fresh keys stay private; a
fault is switched on only in its own actor."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness import actors, transfer
from harness.actors import read_keys, write_fresh_keys
from harness.cli import main
from harness.commands import UsageError
from harness.transfer import UPLOADER_KEY_ENV
from simulators.faults import Fault, faults_of


def test_fresh_keys_are_private_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    write_fresh_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    uploaders, admin_key = read_keys(path)
    assert admin_key and len(admin_key) >= 40
    assert len(uploaders) == 1 and all(len(key) >= 40 for key in uploaders.values())
    with pytest.raises(FileExistsError):
        write_fresh_keys(path)


@pytest.mark.parametrize(
    "text",
    ["admin_key = [", "[uploaders]\nA = 1\n", "[uploaders]\nA = ''\n", "admin_key = 3\n"],
)
def test_malformed_keys_file_is_a_usage_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=r"keys\.toml"):
        read_keys(path)


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "pacs", "--storage", "{tmp}/p", "--destination", "MOVE_SCP=no-port"],
        ["serve", "pacs", "--storage", "{tmp}/p", "--ae-title", "AN_AE_TITLE_TOO_LONG"],
        ["serve", "repository", "--data", "{tmp}/r", "--retention-days", "400"],
        ["serve", "repository", "--data", "{tmp}/r", "--tls-cert", "{tmp}/cert.pem"],
        ["serve", "repository", "--data", "{tmp}/r", "--keys", "{tmp}/missing.toml"],
        ["serve", "repository", "--data", "{tmp}/r", "--purge-interval", "-1"],
        ["serve", "repository", "--data", "{tmp}/r", "--access-log", "{tmp}/none/log.jsonl"],
    ],
)
def test_bad_serve_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code = main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("cloudpdi: error:")


RECEIVER_TOML = 'output_dir = "received"\n\n[facility]\nid = "1310000002"\nname = "receiver"\n'
SERVE_REPOSITORY = ["serve", "repository", "--data", "{tmp}/r"]
SERVE_RECEIVER = ["serve", "receiver", "--config", "{tmp}/receiver.toml"]
SEND = ["send", "1.2.3", "--source", "PACS@127.0.0.1:11112", "--work-dir", "{tmp}/send"]


def fault_args(tmp_path: Path, args: list[str], *names: str) -> list[str]:
    """The command line ``args`` with ``--fault`` for each name, and its receiver config."""
    (tmp_path / "receiver.toml").write_text(RECEIVER_TOML, encoding="utf-8")
    return [arg.format(tmp=tmp_path) for arg in args] + [f"--fault={name}" for name in names]


@pytest.mark.parametrize(
    ("args", "name", "message"),
    [
        (SERVE_REPOSITORY, "none-such", "no fault is named 'none-such'; a repository knows"),
        (SERVE_REPOSITORY, "sender-reuses-secret", "is a fault of the sender, not of the repo"),
        (SERVE_RECEIVER, "repository-serves-expired", "of the repository, not of the receiver"),
        (SEND, "receiver-skips-digest-check", "of the receiver, not of the sender"),
    ],
)
def test_an_unknown_fault_or_another_actors_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    name: str,
    message: str,
) -> None:
    monkeypatch.setenv(UPLOADER_KEY_ENV, "a-bearer-key-for-the-test")
    code = main(fault_args(tmp_path, args, name))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("cloudpdi: error: --fault: ")
    assert message in err


class Captured(Exception):
    """Raised by a stand-in for an actor, once it holds the actor's configuration."""


def test_serve_and_send_switch_their_actors_faults_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs: list[object] = []

    def capture(config: object, *_: object, **__: object) -> None:
        configs.append(config)
        raise Captured

    monkeypatch.setattr(actors, "serve_repository", capture)
    monkeypatch.setattr(actors, "serve_receiver", capture)
    monkeypatch.setattr(transfer, "send", capture)
    monkeypatch.setenv(UPLOADER_KEY_ENV, "a-bearer-key-for-the-test")
    receiver = [str(fault) for fault in faults_of("receiver")]
    for args in (
        fault_args(tmp_path, SERVE_REPOSITORY, "repository-serves-expired"),
        fault_args(tmp_path, SERVE_RECEIVER, *receiver),
        fault_args(tmp_path, SEND, "sender-reuses-secret", "sender-slip-qr-differs"),
        fault_args(tmp_path, SERVE_RECEIVER),
    ):
        with pytest.raises(Captured):
            main(args)
    assert [getattr(config, "faults", None) for config in configs] == [
        {Fault.REPOSITORY_SERVES_EXPIRED},
        set(faults_of("receiver")),
        {Fault.SENDER_REUSES_SECRET, Fault.SENDER_SLIP_QR_DIFFERS},
        set(),
    ]
