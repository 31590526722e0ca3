"""pack and unpack: the two ends of a transfer, including every way unpacking must refuse."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudpdi.container import Institution
from cloudpdi.envelope import EnvelopeError
from cloudpdi.package import DigestMismatchError, PackageError, PackResult, pack, unpack
from cloudpdi.token import Facility, TokenExpired, TokenRecipientError
from tests.secrecy import secret_needles

ISSUER = Facility(id="1310000001", name="Sender Hospital")
RECIPIENT = Facility(id="1310000002", name="Receiver Hospital")


def _pack(sources: list[Path], out: Path, **kwargs: object) -> PackResult:
    return pack(
        sources,
        out,
        community_id="jp.test",
        repository="https://repo.example/",
        issuer=ISSUER,
        institution=Institution(name="Sender Hospital", contact="rad@example.org"),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def packed(small_study: list[Path], tmp_path: Path) -> PackResult:
    return _pack(small_study, tmp_path / "package.cpdi", recipient=RECIPIENT)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_delivers_every_file_unchanged(
    small_study: list[Path], packed: PackResult, tmp_path: Path
) -> None:
    result = unpack(tmp_path / "package.cpdi", packed.token, tmp_path / "out")
    assert result.validation.ok, result.validation.findings
    received = {_sha256(p) for p in (tmp_path / "out" / "DICOM").rglob("*") if p.is_file()}
    assert {_sha256(p) for p in small_study} == received
    assert packed.token.summary.instance_count == len(small_study)
    assert set(packed.token.summary.modalities) == {"CT", "MR"}


def test_package_holds_neither_secret_nor_plaintext(packed: PackResult, tmp_path: Path) -> None:
    data = (tmp_path / "package.cpdi").read_bytes()
    assert not [name for name, form in secret_needles(packed.token).items() if form in data]
    assert b"DICM" not in data
    assert b"DICOMDIR" not in data


def test_each_pack_has_a_fresh_secret_and_document_id(
    small_study: list[Path], tmp_path: Path
) -> None:
    first = _pack(small_study, tmp_path / "a.cpdi").token
    second = _pack(small_study, tmp_path / "b.cpdi").token
    assert first.document_id != second.document_id
    assert first.secret != second.secret
    assert first.content_digest != second.content_digest


@pytest.mark.parametrize("where", [0, 100, -1])
def test_tampered_package_is_refused_and_nothing_is_left(
    packed: PackResult, tmp_path: Path, where: int
) -> None:
    package = tmp_path / "package.cpdi"
    data = bytearray(package.read_bytes())
    data[where] ^= 0x01
    package.write_bytes(bytes(data))
    with pytest.raises((EnvelopeError, DigestMismatchError)):
        unpack(package, packed.token, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".unpack-*"))


def test_another_valid_package_under_the_same_token_is_refused(
    small_study: list[Path], packed: PackResult, tmp_path: Path
) -> None:
    other = _pack(small_study[:2], tmp_path / "other.cpdi")
    with pytest.raises((EnvelopeError, DigestMismatchError)):
        unpack(tmp_path / "other.cpdi", packed.token, tmp_path / "out")
    assert other.token.content_digest != packed.token.content_digest
    assert not (tmp_path / "out").exists()


def test_expired_token_is_refused_before_reading_the_package(
    packed: PackResult, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    expired = replace(
        packed.token, issued_at=now - timedelta(days=2), expires_at=now - timedelta(days=1)
    )
    # The package path does not exist: the token check must refuse before any read.
    with pytest.raises(TokenExpired):
        unpack(tmp_path / "missing.cpdi", expired, tmp_path / "out")


def test_token_for_another_recipient_is_refused(packed: PackResult, tmp_path: Path) -> None:
    with pytest.raises(TokenRecipientError):
        unpack(tmp_path / "package.cpdi", packed.token, tmp_path / "out", recipient_id="9999999999")


def test_unpack_never_writes_into_an_existing_folder(packed: PackResult, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(PackageError, match="exists already"):
        unpack(tmp_path / "package.cpdi", packed.token, tmp_path / "out")


def test_failed_pack_leaves_no_package(small_study: list[Path], tmp_path: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any failure of the build must leave nothing
        _pack([*small_study, tmp_path / "missing.dcm"], tmp_path / "p.cpdi")
    assert not list(tmp_path.glob("*p.cpdi*"))
