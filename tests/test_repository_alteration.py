"""The repository's test-only alterations: served documents that are not the ones uploaded."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cloudpdi.envelope import (
    EnvelopeAuthenticationError,
    EnvelopeWriter,
    decrypt_stream,
)
from cloudpdi.repository import DigestMismatch, RepositoryClient
from cloudpdi.secret import Secret
from cloudpdi.token import new_document_id
from simulators.repository import RepositoryServer
from simulators.repository.alteration import (
    ADDED_BYTES,
    PARTS,
    Alteration,
    add_bytes_at_end,
    another_transfer,
    change_middle_byte,
    cut_last_part,
    replace_first_part,
    swap_parts,
)
from tests.repository_fixtures import KEYS, digest_of, make_config

ALTERATIONS = (
    change_middle_byte,
    cut_last_part,
    swap_parts,
    add_bytes_at_end,
    replace_first_part,
    another_transfer,
)
SIZE = 40_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RepositoryServer]:
    with RepositoryServer(make_config(tmp_path / "repo")) as running:
        yield running


def _envelope(secret: Secret, document_id: str) -> bytes:
    sink = io.BytesIO()
    with EnvelopeWriter(sink, secret, document_id) as writer:
        writer.write(os.urandom(SIZE))
    return sink.getvalue()


def test_each_alteration_changes_the_bytes_as_it_says() -> None:
    data = os.urandom(SIZE)
    part = SIZE // PARTS
    assert len(change_middle_byte("D", data)) == SIZE
    assert sum(a != b for a, b in zip(change_middle_byte("D", data), data, strict=True)) == 1
    assert cut_last_part("D", data) == data[: SIZE - part]
    swapped = swap_parts("D", data)
    assert sorted(swapped) == sorted(data) and swapped != data
    assert swapped[part : 2 * part] == data[2 * part : 3 * part]
    added = add_bytes_at_end("D", data)
    assert added[:SIZE] == data and len(added) == SIZE + ADDED_BYTES
    replaced = replace_first_part("D", data)
    assert replaced[part:] == data[part:] and replaced[:part] != data[:part]


def test_another_transfer_is_a_sound_envelope_of_the_same_document_id_with_another_secret() -> None:
    document_id = new_document_id()
    secret = Secret.generate()
    other = another_transfer(document_id, _envelope(secret, document_id))
    with pytest.raises(EnvelopeAuthenticationError):
        b"".join(decrypt_stream(io.BytesIO(other), secret, document_id))


@pytest.mark.parametrize("alteration", ALTERATIONS, ids=lambda a: a.__name__)
def test_an_altered_document_is_served_whole_with_its_own_digest_and_refused_by_the_token_digest(
    server: RepositoryServer, alteration: Alteration, tmp_path: Path
) -> None:
    data = _envelope(Secret.generate(), "DOC-ALTERED")
    with RepositoryClient(server.base_url, uploader_key=KEYS["HOSP-A"]) as client:
        client.upload("DOC-ALTERED", _write(tmp_path / "up", data), digest_of(data))
        server.alter_downloads(alteration)
        served = httpx.get(f"{server.base_url}/documents/DOC-ALTERED")
        head = httpx.head(f"{server.base_url}/documents/DOC-ALTERED")
        with pytest.raises(DigestMismatch):
            client.download("DOC-ALTERED", tmp_path / "down", expected_digest=digest_of(data))
        server.alter_downloads(None)
        client.download("DOC-ALTERED", tmp_path / "down", expected_digest=digest_of(data))
    assert served.content != data
    assert int(served.headers["content-length"]) == len(served.content)
    assert head.headers["content-length"] == served.headers["content-length"]
    assert head.headers["etag"] == served.headers["etag"] == f'"{digest_of(served.content)[8:]}"'
    assert not (tmp_path / "down").exists() or (tmp_path / "down").read_bytes() == data


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
