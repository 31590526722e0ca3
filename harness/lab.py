"""A complete Cloud-PDI exchange on this machine: every actor a demo or a test needs.

A :class:`Lab` starts a source PACS, a repository and a destination PACS on free loopback
ports, makes the facilities' keys (bearer keys for the repository, P-256 keys for sealed
tokens), and hands out sender and receiver configurations that point at them. Stopping it
stops every actor.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.tag import Tag

from cloudpdi.config_model import DEFAULT_COMMUNITY, DEFAULT_ISSUER, DEFAULT_RECIPIENT
from cloudpdi.reconcile import ReconcileConfig, ReconcileMode
from cloudpdi.seal import (
    generate_facility_key,
    load_private_key,
    load_public_key,
    public_key_pem,
    save_private_key,
    seal_token,
)
from cloudpdi.token import Token, issue_token
from harness.commands import DEFAULT_INSTITUTION
from simulators.delivery import FolderDelivery
from simulators.pacs import PacsConfig, PacsSimulator
from simulators.receiver import ReceiverConfig
from simulators.repository import Recorder, RepositoryConfig, RepositoryServer
from simulators.sender import SenderConfig

RECEIVER_FACILITY = DEFAULT_RECIPIENT
#: The local Issuer of Patient ID the receiving hospital gives reconciled patients.
LOCAL_ISSUER = "CPDI-RECEIVER"
_PIXEL_DATA = Tag(0x7FE0, 0x0010)
_ENCAPSULATED_DOCUMENT = Tag(0x0042, 0x0011)


@dataclass(frozen=True)
class Comparison:
    """Instances of the source PACS checked against the destination: same UIDs, same pixels."""

    matched: tuple[str, ...]
    missing: tuple[str, ...]
    changed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return bool(self.matched) and not self.missing and not self.changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "matched": len(self.matched),
            "missing": list(self.missing),
            "changed": list(self.changed),
        }


class Lab:
    """Source PACS, repository and destination PACS, with the keys and configs that join them."""

    def __init__(
        self,
        root: Path,
        *,
        patient_mapping: Mapping[str, str] | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.root = root
        self.patient_mapping = dict(patient_mapping or {})
        self.recorder = recorder
        self.uploader_key = secrets.token_urlsafe(32)
        self.recipient_key = secrets.token_urlsafe(32)
        self._stack = ExitStack()

    def __enter__(self) -> Lab:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        keys = self.root / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        self.issuer_key_path = _facility_key(keys, "issuer")
        self.receiver_key_path = _facility_key(keys, "receiver")
        self.source = self._stack.enter_context(
            PacsSimulator(PacsConfig(storage_dir=self.root / "source-pacs", ae_title="SOURCE_PACS"))
        )
        self.destination = self._stack.enter_context(
            PacsSimulator(PacsConfig(storage_dir=self.root / "dest-pacs", ae_title="DEST_PACS"))
        )
        self.repository = self._stack.enter_context(
            RepositoryServer(
                RepositoryConfig(
                    data_dir=self.root / "repository",
                    uploader_keys={
                        DEFAULT_ISSUER.id: self.uploader_key,
                        RECEIVER_FACILITY.id: self.recipient_key,
                    },
                    recorder=self.recorder,
                )
            )
        )
        self.repository_url = self.repository.base_url

    def sender_config(self, **changes: Any) -> SenderConfig:
        """The sending hospital: source PACS to repository, token sealed to the receiver."""
        config = SenderConfig(
            source_pacs=self.source.peer,
            repository_url=self.repository_url,
            uploader_key=self.uploader_key,
            community_id=DEFAULT_COMMUNITY,
            issuer=DEFAULT_ISSUER,
            institution=DEFAULT_INSTITUTION,
            work_dir=self.root / "sender",
            recipient=RECEIVER_FACILITY,
            issuer_key_path=self.issuer_key_path,
            recipient_public_key_path=self.receiver_key_path.with_suffix(".pub.pem"),
            delivery=[FolderDelivery(self.root / "token-inbox")],
        )
        return replace(config, **changes) if changes else config

    def reissued(
        self, token: Token, *, issued_at: datetime, expires_at: datetime
    ) -> tuple[Token, str]:
        """The issuer's token for the same document with another validity window, and its
        sealed form, signed and sealed to the receiver as the sender seals every token."""
        token = issue_token(
            community_id=token.community_id,
            repository=token.repository,
            document_id=token.document_id,
            secret=token.secret,
            envelope_scheme=token.envelope_scheme,
            content_digest=token.content_digest,
            issuer=token.issuer,
            summary=token.summary,
            recipient=token.recipient,
            now=issued_at,
            expires_at=expires_at,
        )
        sealed = seal_token(
            token,
            issuer_key=load_private_key(self.issuer_key_path),
            recipient_public_key=load_public_key(self.receiver_key_path.with_suffix(".pub.pem")),
        )
        return token, sealed

    def receiver_config(self, **changes: Any) -> ReceiverConfig:
        """The receiving hospital: repository to destination PACS, patients reconciled."""
        reconciliation = (
            ReconcileConfig(
                mode=ReconcileMode.MAPPING,
                mapping=self.patient_mapping,
                local_issuer=LOCAL_ISSUER,
            )
            if self.patient_mapping
            else ReconcileConfig()
        )
        config = ReceiverConfig(
            facility=RECEIVER_FACILITY,
            output_dir=self.root / "received",
            facility_key_path=self.receiver_key_path,
            trusted_issuers={DEFAULT_ISSUER.id: self.issuer_key_path.with_suffix(".pub.pem")},
            community_directory={DEFAULT_COMMUNITY: self.repository_url},
            recipient_key=self.recipient_key,
            destination_pacs=self.destination.peer,
            reconciliation=reconciliation,
        )
        return replace(config, **changes) if changes else config


def compare_pacs(source: PacsSimulator, destination: PacsSimulator) -> Comparison:
    """Check that every source instance reached the destination with identical pixel data."""
    arrived = {record.sop_instance_uid for record in destination.instances()}
    matched, missing, changed = [], [], []
    for record in source.instances():
        uid = record.sop_instance_uid
        if uid not in arrived:
            missing.append(uid)
        elif content_digest(source.path_of(uid)) != content_digest(destination.path_of(uid)):
            changed.append(uid)
        else:
            matched.append(uid)
    return Comparison(tuple(matched), tuple(missing), tuple(changed))


def content_digest(path: Path) -> str:
    """SHA-256 of an instance's Pixel Data or Encapsulated Document value, as stored."""
    dataset = dcmread(path)
    for tag in (_PIXEL_DATA, _ENCAPSULATED_DOCUMENT):
        if tag in dataset:
            return hashlib.sha256(dataset[tag].value).hexdigest()
    return ""


def original_patient_ids(path: Path) -> Iterator[str]:
    """Yield the Patient IDs kept in an instance's Other Patient IDs Sequence."""
    dataset = dcmread(path, stop_before_pixels=True)
    for item in dataset.get("OtherPatientIDsSequence", []):
        yield str(item.PatientID)


def _facility_key(folder: Path, name: str) -> Path:
    """Make a P-256 facility key pair: ``name.pem`` (private, 0600) and ``name.pub.pem``."""
    private = folder / f"{name}.pem"
    key = generate_facility_key()
    save_private_key(key, private)
    private.with_suffix(".pub.pem").write_text(public_key_pem(key), encoding="utf-8")
    return private
