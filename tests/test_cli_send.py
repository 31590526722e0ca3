"""``cloudpdi send``: who may download, and how often, as the command line says."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import transfer
from harness.cli import main
from harness.transfer import UPLOADER_KEY_ENV
from simulators.sender import SenderConfig

SEND = ["send", "1.2.3", "--source", "PACS@127.0.0.1:11112", "--recipient-id", "1310000002"]


class Captured(Exception):
    """Raised by the stand-in for the sender once it holds the configuration."""


def sender_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *options: str) -> SenderConfig:
    """The configuration ``cloudpdi send`` gives the sender for these options."""
    configs: list[SenderConfig] = []

    def capture(config: SenderConfig, *_: object, **__: object) -> None:
        configs.append(config)
        raise Captured

    monkeypatch.setattr(transfer, "send", capture)
    monkeypatch.setenv(UPLOADER_KEY_ENV, "a-bearer-key-for-the-test")
    with pytest.raises(Captured):
        main([*SEND, "--work-dir", str(tmp_path / "send"), *options])
    return configs[0]


def test_by_default_the_token_alone_downloads_as_often_as_wanted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sender_config(tmp_path, monkeypatch)
    assert (config.restrict_to_recipient, config.max_downloads) == (False, None)


def test_downloads_can_be_restricted_to_the_recipient_and_limited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sender_config(tmp_path, monkeypatch, "--restrict-download", "--max-downloads", "3")
    assert (config.restrict_to_recipient, config.max_downloads) == (True, 3)


def test_a_download_limit_below_one_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(UPLOADER_KEY_ENV, "a-bearer-key-for-the-test")
    code = main([*SEND, "--work-dir", str(tmp_path / "send"), "--max-downloads", "0"])
    assert code == 1 and "max_downloads must be at least 1" in capsys.readouterr().err


def test_without_a_study_the_documents_travel_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[object] = []

    def capture(config: SenderConfig, study_uid: object, **_: object) -> None:
        asked.append((study_uid, list(config.documents)))
        raise Captured

    letter = tmp_path / "referral-letter.pdf"
    monkeypatch.setattr(transfer, "send", capture)
    monkeypatch.setenv(UPLOADER_KEY_ENV, "a-bearer-key-for-the-test")
    with pytest.raises(Captured):
        main(["send", *SEND[2:], "--work-dir", str(tmp_path / "send"), "--document", str(letter)])
    assert asked == [(None, [letter])]
