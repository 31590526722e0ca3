"""pack and unpack with images compressed: the file set keeps to the profile it is made for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydicom.uid import JPEGLosslessSV1

from cloudpdi.container import Institution, TransferSyntaxError
from cloudpdi.dimse import DicomPeer
from cloudpdi.media import MEDIA_PROFILES
from cloudpdi.package import PackResult, pack, unpack
from cloudpdi.token import Facility
from fixtures.encodings import EncoderMissing, reencode
from simulators.sender import SendConfigError, SenderConfig

ISSUER = Facility(id="1310000001", name="Sender Hospital")
JPEG_PROFILE = "STD-GEN-DVD-JPEG"


@pytest.fixture
def jpeg_study(small_study: list[Path], tmp_path: Path) -> list[Path]:
    try:
        return [reencode(p, JPEGLosslessSV1, tmp_path / "jpeg" / p.name) for p in small_study]
    except EncoderMissing as exc:
        pytest.fail(f"the JPEG encoder is part of the test tools: {exc}")


def _pack(sources: list[Path], out: Path, **kwargs: Any) -> PackResult:
    return pack(
        sources,
        out,
        community_id="jp.test",
        repository="https://repo.example/",
        issuer=ISSUER,
        institution=Institution(name="Sender Hospital", contact="rad@example.org"),
        **kwargs,
    )


def test_jpeg_images_leave_in_a_jpeg_profile_and_are_read_as_one(
    jpeg_study: list[Path], tmp_path: Path
) -> None:
    with pytest.raises(TransferSyntaxError, match=JPEG_PROFILE):
        _pack(jpeg_study, tmp_path / "cd.cpdi")
    packed = _pack(jpeg_study, tmp_path / "dvd.cpdi", profile=MEDIA_PROFILES[JPEG_PROFILE])
    result = unpack(tmp_path / "dvd.cpdi", packed.token, tmp_path / "out")
    assert result.validation.ok, result.validation.findings
    assert result.validation.profile == JPEG_PROFILE
    received = sorted(
        p.read_bytes() for p in (tmp_path / "out" / "DICOM").rglob("*") if p.is_file()
    )
    assert received == sorted(p.read_bytes() for p in jpeg_study)


def test_a_sender_names_a_known_profile(tmp_path: Path) -> None:
    with pytest.raises(SendConfigError, match="media_profile"):
        SenderConfig(
            source_pacs=DicomPeer("PACS", "127.0.0.1", 11112),
            repository_url="http://127.0.0.1:9",
            uploader_key="key",
            community_id="jp.test",
            issuer=ISSUER,
            institution=Institution(name="Sender Hospital", contact="rad@example.org"),
            work_dir=tmp_path,
            media_profile="STD-GEN-FLOPPY",
        )
