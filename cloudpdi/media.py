"""DICOM media application profiles (PS3.11): which transfer syntaxes each medium allows.

The builder refuses an instance the chosen profile does not allow, and the validator judges
PDI-TS-01 by the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import (
    JPEG2000,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
)


@dataclass(frozen=True)
class MediaProfile:
    """A PS3.11 General Purpose Media Application Profile and the transfer syntaxes it allows."""

    name: str
    transfer_syntaxes: frozenset[str]


_JPEG = frozenset({ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1})
_J2K = frozenset({ExplicitVRLittleEndian, JPEG2000Lossless, JPEG2000})
STD_GEN_CD = MediaProfile("STD-GEN-CD", frozenset({ExplicitVRLittleEndian}))
MEDIA_PROFILES = {
    profile.name: profile
    for profile in (
        STD_GEN_CD,
        MediaProfile("STD-GEN-DVD-JPEG", _JPEG),
        MediaProfile("STD-GEN-DVD-J2K", _J2K),
        MediaProfile("STD-GEN-USB-JPEG", _JPEG),
        MediaProfile("STD-GEN-USB-J2K", _J2K),
    )
}
