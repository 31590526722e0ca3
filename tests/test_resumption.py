"""Judging a broken transfer from what the repository saw: resumed, or started again."""

from __future__ import annotations

import pytest

from simulators.relay import Break, Direction
from simulators.repository.spy import RecordedRequest
from steps.resumption import ArmedBreak, Resumption, check_resumed, range_start
from steps.resumption import download_resumption as find_download
from steps.resumption import upload_resumption as find_upload

CHUNK = 1000
UPLOAD = "/uploads/u1"
DOCUMENT = "/documents/DOC-1"


def request(method: str, url: str, *headers: tuple[str, str], body: int = 0) -> RecordedRequest:
    return RecordedRequest(method, url, headers, b"", body, "sha-256:00", 204)


def patch(offset: int, sent: int = CHUNK, url: str = UPLOAD) -> RecordedRequest:
    headers = (("content-length", str(CHUNK)), ("upload-offset", str(offset)))
    return request("PATCH", url, *headers, body=sent)


def armed(direction: Direction, after: int = 2500) -> ArmedBreak:
    line = Break(direction, after, passed=after)
    line.fired.set()
    return ArmedBreak(line, 0)


def judged_upload(*requests: RecordedRequest) -> Resumption:
    return check_resumed(armed(Direction.UPLOAD), find_upload(list(requests)))


def judged_download(*requests: RecordedRequest) -> Resumption:
    return check_resumed(armed(Direction.DOWNLOAD), find_download(list(requests)))


def test_an_upload_that_goes_on_from_the_chunk_that_broke_resumed() -> None:
    found = judged_upload(
        request("POST", "/uploads"),
        patch(0),
        patch(CHUNK),
        patch(2 * CHUNK, sent=500),
        request("HEAD", UPLOAD),
        patch(2 * CHUNK),
    )
    assert found.resumed_at == 2 * CHUNK and found.broken.body_size == 500


@pytest.mark.parametrize(
    ("after_the_break", "said"),
    [
        ((request("POST", "/uploads"), patch(0, url="/uploads/u2")), "started again"),
        ((request("PUT", DOCUMENT),), "started again"),
        ((patch(0),), "went back to byte 0"),
        ((patch(2 * CHUNK, url="/uploads/u2"),), "as another upload"),
        ((), "did not go on"),
    ],
)
def test_an_upload_that_starts_again_did_not_resume(
    after_the_break: tuple[RecordedRequest, ...], said: str
) -> None:
    with pytest.raises(AssertionError, match=said):
        judged_upload(patch(0), patch(CHUNK), patch(2 * CHUNK, sent=500), *after_the_break)


def test_a_whole_body_upload_cannot_resume() -> None:
    cut = request("PUT", DOCUMENT, ("content-length", "5000"), body=2500)
    with pytest.raises(AssertionError, match="cannot resume"):
        judged_upload(cut, request("PUT", DOCUMENT, ("content-length", "5000"), body=5000))


def test_an_upload_the_repository_saw_no_break_of_is_not_resumed() -> None:
    with pytest.raises(AssertionError, match="no upload cut short"):
        judged_upload(patch(0), patch(CHUNK))


def test_a_download_that_asks_for_the_rest_resumed() -> None:
    found = judged_download(
        request("GET", DOCUMENT), request("GET", DOCUMENT, ("Range", "bytes=2400-"))
    )
    assert found.resumed_at == 2400


@pytest.mark.parametrize(
    ("again", "said"),
    [
        (request("GET", DOCUMENT), "started again from byte 0"),
        (request("GET", DOCUMENT, ("Range", "bytes=0-")), "started again from byte 0"),
        (request("GET", DOCUMENT, ("Range", "bytes=9000-")), "past the 2500 bytes"),
    ],
)
def test_a_download_that_starts_again_or_skips_did_not_resume(
    again: RecordedRequest, said: str
) -> None:
    with pytest.raises(AssertionError, match=said):
        judged_download(request("GET", DOCUMENT), again)


def test_a_range_start_is_read_from_the_range_header() -> None:
    assert range_start(request("GET", DOCUMENT, ("range", "bytes=10-99"))) == 10
    assert range_start(request("GET", DOCUMENT, ("range", "bytes=-99"))) == 0
