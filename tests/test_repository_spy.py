"""The repository's spy: a client may wait until its request is recorded."""

from __future__ import annotations

from pathlib import Path

import httpx

from simulators.repository import Recorder, RepositoryConfig, RepositoryServer

#: Seconds a test waits for a request that is never made.
NO_WAIT = 0.05
#: Seconds a test waits for a request that was answered.
WAIT = 5.0


def test_a_request_is_awaited_until_it_is_recorded(tmp_path: Path) -> None:
    recorder = Recorder()
    with RepositoryServer(RepositoryConfig(data_dir=tmp_path, recorder=recorder)) as server:
        assert not recorder.wait_for(1, NO_WAIT)
        answer = httpx.head(f"{server.base_url}/documents/none")
        assert recorder.wait_for(1, WAIT)
    assert [(r.method, r.status) for r in recorder.requests] == [("HEAD", answer.status_code)]
    assert not recorder.wait_for(2, NO_WAIT)
