"""Token delivery channels: folder, HTTP token inbox and hook command, against real peers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudpdi.seal import generate_facility_key, seal_token, unseal_token
from cloudpdi.secret import Secret
from cloudpdi.token import (
    ContentSummary,
    Facility,
    Token,
    from_json,
    issue_token,
    new_document_id,
    to_compact,
)
from simulators.delivery import (
    DeliveryError,
    FolderDelivery,
    HookDelivery,
    HttpInboxDelivery,
    deliver_token,
    write_token_files,
)
from tests.delivery_fixtures import running_inbox
from tests.secrecy import secret_forms
from tests.tools import require_tool

ISSUER = Facility(id="1310000001", name="sending hospital")
RECIPIENT = Facility(id="1310000002", name="receiving hospital")

RECORDING_HOOK = """
import json, os, pathlib, sys
token = pathlib.Path(sys.argv[-1])
pathlib.Path(sys.argv[1]).write_text(json.dumps({
    "argv": sys.argv[1:],
    "content": token.read_text(),
    "mode": token.stat().st_mode & 0o777,
    "environment": "\\n".join(f"{k}={v}" for k, v in os.environ.items()),
}))
"""

STUCK_HOOK = """
import pathlib, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
pathlib.Path(sys.argv[1]).write_text(str(child.pid))
time.sleep(60)
"""


def make_token(recipient: Facility | None = None) -> Token:
    """A valid token for delivery (nothing behind it needs to exist)."""
    return issue_token(
        community_id="jp.cloudpdi.test",
        repository="http://127.0.0.1:8600/",
        document_id=new_document_id(),
        secret=Secret.generate(),
        envelope_scheme="aes256gcm-stream/1",
        content_digest="sha-256:" + "ab" * 32,
        issuer=ISSUER,
        summary=ContentSummary(("CT",), 1, 3, 0, 12345, "chest CT"),
        recipient=recipient,
    )


def hook(tmp_path: Path, source: str, *extra: str, timeout: float = 30.0) -> HookDelivery:
    script = tmp_path / "hook.py"
    script.write_text(source)
    return HookDelivery((sys.executable, str(script), *extra), timeout=timeout)


def test_folder_channel_writes_owner_only_json_qr_and_slip(tmp_path: Path):
    token = make_token()
    out = tmp_path / "drop"
    (outcome,) = deliver_token(token, [FolderDelivery(out)])
    assert outcome.ok and outcome.form == "json"
    names = sorted(p.name for p in out.iterdir())
    stem = token.token_id
    assert names == [f"{stem}-qr.png", f"{stem}-slip.pdf", f"{stem}.json"]
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path.name
    assert from_json((out / f"{stem}.json").read_text()) == token
    assert (out / f"{stem}-qr.png").read_bytes().startswith(b"\x89PNG")
    assert (out / f"{stem}-slip.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.external
def test_folder_channel_qr_decodes_to_the_compact_token(tmp_path: Path):
    zbarimg = require_tool("zbarimg")
    token = make_token()
    deliver_token(token, [FolderDelivery(tmp_path)])
    decoded = subprocess.run(
        [zbarimg, "--raw", "-q", str(tmp_path / f"{token.token_id}-qr.png")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert decoded.stdout.strip() == to_compact(token)


def test_sealed_form_goes_to_the_folder_and_the_inbox(tmp_path: Path):
    token = make_token(RECIPIENT)
    issuer_key, recipient_key = generate_facility_key(), generate_facility_key()
    sealed = seal_token(token, issuer_key=issuer_key, recipient_public_key=recipient_key)
    with running_inbox() as inbox:
        outcomes = deliver_token(
            token, [FolderDelivery(tmp_path), HttpInboxDelivery(inbox.url)], sealed=sealed
        )
    assert [outcome.form for outcome in outcomes] == ["sealed", "sealed"]
    ((content_type, body),) = inbox.received
    assert content_type == "application/jose"
    jwe = tmp_path / f"{token.token_id}.jwe"
    assert jwe.stat().st_mode & 0o777 == 0o600
    for text in (body.decode(), jwe.read_text()):
        opened = unseal_token(text, recipient_key=recipient_key, issuer_public_key=issuer_key)
        assert opened == token


def test_inbox_gets_canonical_json_without_a_sealed_form():
    token = make_token()
    with running_inbox() as inbox:
        (outcome,) = deliver_token(token, [HttpInboxDelivery(inbox.url)])
    ((content_type, body),) = inbox.received
    assert content_type == "application/json"
    assert from_json(body) == token
    assert outcome.ok and outcome.detail == "202 accepted T1"


def test_inbox_is_retried_after_a_server_error_but_not_after_a_refusal():
    token = make_token()
    with running_inbox() as inbox:
        inbox.answers = [503]
        (outcome,) = deliver_token(token, [HttpInboxDelivery(inbox.url, backoff=0.01)])
        assert outcome.ok and len(inbox.received) == 2
        inbox.received.clear()
        inbox.answers = [400]
        with pytest.raises(DeliveryError, match="answered 400 scripted") as caught:
            deliver_token(token, [HttpInboxDelivery(inbox.url, backoff=0.01)])
        assert len(inbox.received) == 1
    assert not caught.value.outcomes[0].ok


def test_unreachable_inbox_fails_after_bounded_retries():
    with running_inbox() as inbox:
        url = inbox.url  # nothing listens there once the inbox has stopped
    channel = HttpInboxDelivery(url, retries=2, backoff=0.01, timeout=2)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="unreachable: gave up after 3 failed attempts"):
        deliver_token(make_token(), [channel])
    assert time.monotonic() - started < 10


def test_hook_runs_without_shell_with_the_token_path_appended(tmp_path: Path):
    token = make_token()
    record = tmp_path / "record.json"
    files = write_token_files(token, tmp_path / "token")
    (outcome,) = deliver_token(token, [hook(tmp_path, RECORDING_HOOK, str(record))], files=files)
    assert outcome.ok and outcome.detail == "exited with status 0"
    seen = json.loads(record.read_text())
    assert seen["argv"] == [str(record), str(files.json)]
    assert from_json(seen["content"]) == token
    assert seen["mode"] == 0o600
    assert not any(form in seen["environment"] for form in secret_forms(token))


def test_hook_without_files_gets_a_temporary_token_file_removed_afterwards(tmp_path: Path):
    token = make_token()
    record = tmp_path / "record.json"
    deliver_token(token, [hook(tmp_path, RECORDING_HOOK, str(record))])
    given = Path(json.loads(record.read_text())["argv"][-1])
    assert given.name == f"{token.token_id}.json"
    assert not given.exists()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_hook_that_hangs_is_killed_with_its_children_at_the_timeout(tmp_path: Path):
    child_pid = tmp_path / "child.pid"
    stuck = hook(tmp_path, STUCK_HOOK, str(child_pid), timeout=1.0)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="timed out after 1 s and was killed"):
        deliver_token(make_token(), [stuck])
    assert time.monotonic() - started < 10
    pid = int(child_pid.read_text())
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def test_failing_channels_are_reported_and_the_others_still_delivered(tmp_path: Path):
    token = make_token()
    failing = hook(tmp_path, "import sys; sys.exit(3)")
    missing = HookDelivery((str(tmp_path / "no-such-hook"),))
    with pytest.raises(DeliveryError) as caught:
        deliver_token(token, [failing, missing, FolderDelivery(tmp_path / "drop")])
    outcomes = caught.value.outcomes
    assert [outcome.ok for outcome in outcomes] == [False, False, True]
    assert outcomes[0].detail == "exited with status 3"
    assert outcomes[1].detail.startswith("cannot run")
    assert "2 of 3 deliveries failed" in str(caught.value)
    assert (tmp_path / "drop" / f"{token.token_id}.json").exists()
    assert not any(form in str(caught.value) for form in secret_forms(token))


def test_channels_refuse_bad_settings():
    with pytest.raises(ValueError, match="http or https"):
        HttpInboxDelivery("ftp://127.0.0.1/tokens")
    with pytest.raises(ValueError, match="credentials"):
        HttpInboxDelivery("http://user:pw@127.0.0.1/tokens")
    with pytest.raises(ValueError, match="command"):
        HookDelivery(())
    with pytest.raises(ValueError, match="timeout"):
        HookDelivery(("true",), timeout=0)


def test_token_files_are_not_left_world_readable_by_the_umask(tmp_path: Path):
    previous = os.umask(0)
    try:
        files = write_token_files(make_token(), tmp_path / "token")
    finally:
        os.umask(previous)
    assert (tmp_path / "token").stat().st_mode & 0o777 == 0o700
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files.paths)
