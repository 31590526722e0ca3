"""What a referral left in the receiving PACS, compared with what the sending hospital's PACS held.

An image arrived unchanged when every attribute of the instance the sending hospital's PACS
held is in the instance the receiving PACS holds, with the same value, and no attribute was
added, apart from the patient identity that reconciliation gives it (PDI-IMP-01). Values are
compared as decoded (a name re-encoded in another character set is the same name) and Pixel
Data as stored: a compressed image must arrive as the compressed bytes the PACS held, so a
lossy image never passes through another lossy compression on the way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from harness.pacs_actor import PacsActor
from simulators.pacs_index import InstanceRecord
from steps.errors import StepError

#: The attributes reconciliation sets (PS3.3 C.7.1.1): the local Patient ID and its issuer,
#: with the sending hospital's ID kept in Other Patient IDs Sequence.
PATIENT_IDENTITY = frozenset(
    Tag(keyword)
    for keyword in (
        "PatientID",
        "IssuerOfPatientID",
        "IssuerOfPatientIDQualifiersSequence",
        "OtherPatientIDsSequence",
    )
)
#: Group length of the Patient group (retired): it changes with any identity in the group.
PATIENT_GROUP_LENGTH = Tag(0x0010, 0x0000)
PIXEL_DATA = Tag("PixelData")


@dataclass(frozen=True)
class ImageComparison:
    """The study's images as sent, side by side with those in the receiving PACS."""

    compared: int
    #: SOP Instance UIDs of images sent that the receiving PACS does not hold.
    missing: tuple[str, ...]
    #: Per image changed: the attributes that differ, were added or were lost.
    changed: dict[str, tuple[str, ...]]
    #: SHA-256 over the Pixel Data of every image, as sent and as arrived, in UID order.
    sent_pixels: str
    arrived_pixels: str

    def listing(self) -> str:
        """The differences in words, for the failure message."""
        lines = [f"{uid}: not in the receiving PACS" for uid in self.missing]
        lines += [f"{uid}: {', '.join(names)} differ" for uid, names in self.changed.items()]
        return "; ".join(lines)


def study_images(pacs: PacsActor, study_uid: str) -> list[InstanceRecord]:
    """The images ``pacs`` holds of the study ``study_uid``."""
    return [record for record in pacs.instances() if record.study_instance_uid == study_uid]


def headers(pacs: PacsActor, study_uid: str) -> list[Dataset]:
    """The headers (all but Pixel Data) of the images ``pacs`` holds of the study."""
    return [
        dcmread(_file(pacs, record), stop_before_pixels=True)
        for record in study_images(pacs, study_uid)
    ]


def held_under(pacs: PacsActor, patient_id: str) -> list[InstanceRecord]:
    """The images ``pacs`` holds under the patient ID ``patient_id``, of any study."""
    return [
        record
        for record in pacs.instances()
        if str(dcmread(_file(pacs, record), stop_before_pixels=True).get("PatientID") or "")
        == patient_id
    ]


def compare_study(source: PacsActor, destination: PacsActor, study_uid: str) -> ImageComparison:
    """Compare each image ``source`` holds of the study with the same image in ``destination``."""
    missing: list[str] = []
    changed: dict[str, tuple[str, ...]] = {}
    sent_pixels, arrived_pixels = hashlib.sha256(), hashlib.sha256()
    compared = 0
    for record in sorted(study_images(source, study_uid), key=lambda r: r.sop_instance_uid):
        uid = record.sop_instance_uid
        arrived_path = destination.path_of(uid)
        if arrived_path is None:
            missing.append(uid)
            continue
        sent, arrived = dcmread(_file(source, record)), dcmread(arrived_path)
        sent_pixels.update(_pixels(sent))
        arrived_pixels.update(_pixels(arrived))
        compared += 1
        differing = tuple(_differences(sent, arrived))
        if differing:
            changed[uid] = differing
    return ImageComparison(
        compared,
        tuple(missing),
        changed,
        sent_pixels.hexdigest(),
        arrived_pixels.hexdigest(),
    )


def _file(pacs: PacsActor, record: InstanceRecord) -> Path:
    path = pacs.path_of(record.sop_instance_uid)
    if path is None:
        raise StepError(f"the PACS lost instance {record.sop_instance_uid} while it was read")
    return path


def _pixels(dataset: Dataset) -> bytes:
    return bytes(dataset[PIXEL_DATA].value) if PIXEL_DATA in dataset else b""


def _differences(sent: Dataset, arrived: Dataset) -> Iterator[str]:
    """Name each attribute whose value differs, or that only one of the two images has."""
    for tag in sorted(_compared_tags(sent) | _compared_tags(arrived)):
        if tag not in sent or tag not in arrived:
            yield _name(tag)
        elif tag == PIXEL_DATA:
            # As stored: a compressed image keeps its compressed bytes.
            if _pixels(sent) != _pixels(arrived):
                yield _name(tag)
        elif sent[tag].value != arrived[tag].value:
            yield _name(tag)


def _compared_tags(dataset: Dataset) -> set[BaseTag]:
    return {element.tag for element in dataset if not _is_identity(element.tag)}


def _is_identity(tag: BaseTag) -> bool:
    return tag in PATIENT_IDENTITY or tag == PATIENT_GROUP_LENGTH


def _name(tag: BaseTag) -> str:
    return keyword_for_tag(tag) or str(tag)
