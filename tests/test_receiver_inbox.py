"""The receiver's HTTP token inbox under uvicorn: each token form, statuses, refusals."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudpdi.reconcile import ReconcileConfig
from cloudpdi.seal import generate_facility_key, seal_token
from cloudpdi.token import Token, to_compact, to_json
from fixtures.studies import DemoStudies
from simulators.delivery import HttpInboxDelivery, deliver_token
from simulators.pacs import PacsSimulator
from simulators.receiver_inbox import MAX_BODY_BYTES, ReceiverInbox
from simulators.receiver_jobs import JobStatus
from simulators.repository import RepositoryServer
from tests.secrecy import secret_forms
from tests.test_receiver import (
    COMMUNITY,
    KEYS,
    RECEIVER,
    SENDER,
    demo,
    downloads_of,
    facility_keys,
    pacs,
    receiver_config,
    repository,
    upload,
)

__all__ = ["demo", "facility_keys", "pacs", "repository"]

WAIT = 30.0


@pytest.fixture
def inbox(
    tmp_path: Path, repository: RepositoryServer, pacs: PacsSimulator, facility_keys: dict[str, Any]
) -> Iterator[ReceiverInbox]:
    config = receiver_config(
        tmp_path,
        repository,
        pacs,
        reconciliation=ReconcileConfig(),
        facility_key_path=facility_keys["folder"] / "receiver.pem",
        trusted_issuers={SENDER.id: facility_keys["folder"] / "sender.pub.pem"},
    )
    with ReceiverInbox(config) as server:
        yield server


@pytest.fixture
def token(tmp_path: Path, demo: DemoStudies, repository: RepositoryServer) -> Token:
    """A fresh transfer per test: the inbox receives each token once."""
    return upload(repository, demo.dicom_files, tmp_path, documents=[demo.referral_pdf])


def sealed_for_us(token: Token, facility_keys: dict[str, Any]) -> str:
    return seal_token(
        token, issuer_key=facility_keys["sender"], recipient_public_key=facility_keys["receiver"]
    )


def post(inbox: ReceiverInbox, body: str | bytes, media_type: str) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": media_type}
    return httpx.post(inbox.tokens_url, content=content, headers=headers, timeout=WAIT)


def finished(inbox: ReceiverInbox, token_id: str) -> dict[str, Any]:
    """Wait for the receive to end, then answer what GET /tokens/{id} says."""
    inbox.jobs.wait(token_id, WAIT)
    response = httpx.get(f"{inbox.tokens_url}/{token_id}", timeout=WAIT)
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.parametrize("form", ["text/plain", "application/json", "application/jose"])
def test_each_token_form_is_accepted_and_received(
    inbox: ReceiverInbox,
    pacs: PacsSimulator,
    token: Token,
    facility_keys: dict[str, Any],
    form: str,
) -> None:
    body = {
        "text/plain": to_compact(token),
        "application/json": to_json(token),
        "application/jose": sealed_for_us(token, facility_keys),
    }[form]
    response = post(inbox, body, f"{form}; charset=utf-8")
    assert response.status_code == 202
    assert response.json() == {"token_id": token.token_id, "status": "accepted"}

    status = finished(inbox, token.token_id)
    assert status["status"] == JobStatus.DONE
    assert status["result"]["outcome"] == "complete"
    assert status["result"]["counts"]["stored"] == pacs.count == 7
    assert status["result"]["documents"][0]["kind"] == "pdf"
    shown = json.dumps(status)
    for secret in secret_forms(token):
        assert secret not in shown


def test_a_token_delivered_twice_is_received_once(inbox: ReceiverInbox, token: Token) -> None:
    assert post(inbox, to_json(token), "application/json").status_code == 202
    again = post(inbox, to_compact(token), "text/plain")
    assert again.status_code == 200
    assert again.json()["token_id"] == token.token_id
    finished(inbox, token.token_id)
    listed = httpx.get(inbox.tokens_url, timeout=WAIT).json()["tokens"]
    assert listed == [{"token_id": token.token_id, "status": "done"}]


def test_the_senders_inbox_delivery_reaches_us(
    inbox: ReceiverInbox, token: Token, facility_keys: dict[str, Any]
) -> None:
    sealed = seal_token(
        token, issuer_key=facility_keys["sender"], recipient_public_key=facility_keys["receiver"]
    )
    (outcome,) = deliver_token(token, [HttpInboxDelivery(inbox.tokens_url)], sealed=sealed)
    assert outcome.ok
    assert finished(inbox, token.token_id)["status"] == JobStatus.DONE


MALFORMED_MARK = "HT1:PATIENTYAMADA"


@pytest.mark.parametrize(
    ("body", "media_type", "status", "code"),
    [
        (MALFORMED_MARK, "text/plain", 400, "token_malformed"),
        ('{"version": 1, "secret": "' + MALFORMED_MARK + '"}', "application/json", 400, None),
        ("a.b.c.d.e", "application/jose", 400, "token_malformed"),
        (b"\xff\xfe" + MALFORMED_MARK.encode(), "text/plain", 400, "token_malformed"),
        (MALFORMED_MARK, "application/octet-stream", 415, "unsupported_media_type"),
        ("H" * (MAX_BODY_BYTES + 1), "text/plain", 413, "too_large"),
    ],
)
def test_bad_input_is_refused_without_echoing_it(
    inbox: ReceiverInbox, body: str | bytes, media_type: str, status: int, code: str | None
) -> None:
    response = post(inbox, body, media_type)
    assert response.status_code == status
    answer = response.json()
    assert set(answer) == {"error", "message"}
    assert code is None or answer["error"] == code
    assert "YAMADA" not in response.text
    assert httpx.get(inbox.tokens_url, timeout=WAIT).json()["tokens"] == []


def test_an_expired_token_is_refused_at_once_without_download(
    inbox: ReceiverInbox, token: Token, repository: RepositoryServer
) -> None:
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    expired = replace(token, issued_at=past, expires_at=past + timedelta(days=1))
    response = post(inbox, to_json(expired), "application/json")
    assert response.status_code == 422
    assert response.json()["error"] == "token_expired"
    assert downloads_of(repository, token) == 0


def test_sealed_tokens_not_for_us_or_from_strangers_are_refused(
    inbox: ReceiverInbox, token: Token, facility_keys: dict[str, Any]
) -> None:
    stranger = generate_facility_key()
    for recipient, code in (
        (generate_facility_key(), "token_recipient"),
        (facility_keys["receiver"], "untrusted_issuer"),
    ):
        sealed = seal_token(token, issuer_key=stranger, recipient_public_key=recipient)
        response = post(inbox, sealed, "application/jose")
        assert response.status_code == 422
        assert response.json()["error"] == code


def test_a_failed_receive_is_reported_in_the_status(
    inbox: ReceiverInbox, token: Token, repository: RepositoryServer, pacs: PacsSimulator
) -> None:
    with httpx.Client(base_url=repository.base_url) as client:
        revoked = client.delete(
            f"/documents/{token.document_id}",
            headers={"Authorization": f"Bearer {KEYS[SENDER.id]}"},
        )
    assert revoked.status_code == 204
    assert post(inbox, to_json(token), "application/json").status_code == 202
    status = finished(inbox, token.token_id)
    assert status["status"] == JobStatus.FAILED
    assert status["error_type"] == "DocumentGone"
    assert "410" in status["error"]
    assert pacs.count == 0


def test_sealed_tokens_need_a_facility_key(
    tmp_path: Path, repository: RepositoryServer, token: Token, facility_keys: dict[str, Any]
) -> None:
    with ReceiverInbox(receiver_config(tmp_path, repository)) as plain:
        sealed = seal_token(
            token,
            issuer_key=facility_keys["sender"],
            recipient_public_key=facility_keys["receiver"],
        )
        response = post(plain, sealed, "application/jose")
    assert response.status_code == 415
    assert response.json()["error"] == "sealed_not_accepted"


def test_unknown_token_status(inbox: ReceiverInbox) -> None:
    response = httpx.get(f"{inbox.tokens_url}/NOSUCHTOKEN", timeout=WAIT)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_token"


def test_the_inbox_listens_on_loopback_and_stops(
    tmp_path: Path, repository: RepositoryServer
) -> None:
    inbox = ReceiverInbox(receiver_config(tmp_path, repository))
    url = inbox.start()
    assert url.startswith("http://127.0.0.1:")
    inbox.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/tokens", timeout=2)


def line_within(process: subprocess.Popen[str], seconds: float) -> str:
    """Return the process's next line of output, or fail after ``seconds``."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(seconds), "no output in time"
    return process.stdout.readline()


def test_serve_receiver_runs_as_a_process_from_a_toml_configuration(
    tmp_path: Path, repository: RepositoryServer, token: Token
) -> None:
    (tmp_path / "receiver.toml").write_text(
        f'output_dir = "received"\n\n[facility]\nid = "{RECEIVER.id}"\nname = "{RECEIVER.name}"\n'
        f'\n[communities]\n"{COMMUNITY}" = "{repository.base_url}"\n',
        encoding="utf-8",
    )
    code = (
        "import sys; from pathlib import Path;"
        "from simulators.receiver_config import load_receiver_config;"
        "from simulators.receiver_inbox import serve_receiver;"
        "serve_receiver(load_receiver_config(Path(sys.argv[1])))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "receiver.toml")],
        cwd=Path(__file__).parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = line_within(process, WAIT)
        assert line.startswith("receiver token inbox listening on http://127.0.0.1:")
        url = line.split()[5]
        answer = httpx.post(url, content=to_compact(token), headers={"Content-Type": "text/plain"})
        assert answer.status_code == 202
        deadline = time.monotonic() + WAIT
        while (status := httpx.get(f"{url}/{token.token_id}").json())["status"] not in (
            "done",
            "failed",
        ):
            assert time.monotonic() < deadline, "the receive did not finish in time"
            time.sleep(0.05)
        assert status["status"] == "done", status
        assert (tmp_path / "received" / token.token_id / "DICOMDIR").is_file()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
