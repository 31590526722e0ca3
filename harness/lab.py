"""A complete Cloud-PDI exchange on this machine: every actor a demo or a test needs.

A :class:`Lab` starts a source PACS, a repository and a destination PACS on free loopback
ports (or uses the PACS under test the run configuration names), makes the facilities' keys
(bearer keys for the repository, P-256 keys for sealed tokens), and hands out sender and
receiver configurations that point at them. Stopping it stops every actor it started.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.tag import Tag

from cloudpdi.config import RunConfig, resolve_secret
from cloudpdi.config_actors import ClientTls, PacsSut, RepositoryInspection, RepositorySut
from cloudpdi.config_model import DEFAULT_RECIPIENT, FacilityConfig, PacsConfig
from cloudpdi.dimse import DEFAULT_CALLING_AE
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
from harness.inspection import ExportedAccessLog
from harness.pacs_actor import PacsActor, RemotePacs, ScenarioStudies
from harness.under_test import ActorUnderTest
from simulators.asgi_server import LOOPBACK
from simulators.delivery import FolderDelivery
from simulators.faults import Actor, Fault
from simulators.pacs import PacsConfig as PacsSimulatorConfig
from simulators.pacs import PacsSimulator
from simulators.receiver import ReceiverConfig
from simulators.recording_proxy import RecordingProxy
from simulators.relay import Relay
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
    """Source PACS, repository and destination PACS, with the keys and configs that join them.

    ``config`` (a run configuration) says where each simulated actor listens, which facilities,
    keys and community the exchange uses, and which actor is a system under test: a repository
    under test is reached through a recording proxy (so the spy still sees every request), and
    asking for its insides (:attr:`repository`) raises :class:`ActorUnderTest`. A PACS under
    test is used where it is, through DICOM only (:class:`harness.pacs_actor.RemotePacs`), and
    looked at through the studies the scenario put into either PACS. Every client reaches the
    repository through :attr:`relay`, a loopback TCP relay a test can tell to break one
    connection (:meth:`simulators.relay.Relay.break_once`).
    """

    def __init__(
        self,
        root: Path,
        *,
        patient_mapping: Mapping[str, str] | None = None,
        recorder: Recorder | None = None,
        faults: Iterable[Fault] = (),
        config: RunConfig | None = None,
    ) -> None:
        self.root = root
        self.patient_mapping = dict(patient_mapping or {})
        self.recorder = recorder
        #: Deliberate misbehaviours of the simulated actors: the suite's self-test only.
        self.faults = frozenset(faults)
        self.config = config or RunConfig.default()
        facilities = self.config.facilities
        self.issuer = facilities.issuer.facility
        self.recipient = facilities.recipient.facility
        self.community_id = self.config.community.id
        self.uploader_key = _bearer_key(facilities.issuer)
        self.recipient_key = _bearer_key(facilities.recipient)
        self._repository: RepositoryServer | None = None
        self._exported_log: ExportedAccessLog | None = None
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

    def faults_of(self, actor: Actor) -> frozenset[Fault]:
        """The faults switched on in the simulated ``actor``."""
        return frozenset(fault for fault in self.faults if fault.actor == actor)

    @property
    def repository(self) -> RepositoryServer:
        """The simulated repository; a repository under test cannot be looked into."""
        if self._repository is None:
            raise ActorUnderTest(
                "this check looks inside the repository, and the repository under test is "
                "observed from outside only"
            )
        return self._repository

    @property
    def repository_storage(self) -> Path:
        """The folder where the repository keeps what it stores: the simulated repository's
        data folder, or the one a repository under test shows ([repository.inspection])."""
        if self._repository is not None:
            return self._repository.config.data_dir
        storage = self._inspection.storage
        if storage is None:
            raise _not_shown("searches the repository's storage", "storage")
        return storage

    @property
    def repository_access_log(self) -> ExportedAccessLog:
        """The access log a repository under test exports, from this scenario's first entry."""
        if self._exported_log is None:
            raise _not_shown("reads the repository's access log", "access_log")
        return self._exported_log

    @property
    def repository_wait(self) -> float:
        """Seconds to wait for the repository to show what it did: none for the simulated one,
        which deletes and logs before it answers."""
        return 0.0 if self._repository is not None else self._inspection.wait_timeout

    @property
    def _inspection(self) -> RepositoryInspection:
        repository = self.config.repository
        if not isinstance(repository, RepositorySut):
            raise ActorUnderTest("only a repository under test is inspected from outside")
        return repository.inspection

    @property
    def repository_under_test(self) -> bool:
        """Tell whether the repository is a system under test (reached through the proxy)."""
        return isinstance(self.config.repository, RepositorySut)

    def _start(self) -> None:
        keys = self.root / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        facilities = self.config.facilities
        self.issuer_key_path, self.issuer_public_key_path = _key_pair(
            facilities.issuer, keys, "issuer"
        )
        self.receiver_key_path, self.receiver_public_key_path = _key_pair(
            facilities.recipient, keys, "receiver"
        )
        studies = ScenarioStudies()
        self.source = self._pacs(self.config.source_pacs, self.root / "source-pacs", studies)
        self.destination = self._pacs(
            self.config.destination_pacs, self.root / "dest-pacs", studies
        )
        repository = self.config.repository
        if isinstance(repository, RepositorySut):
            if self.faults_of("repository"):
                raise ActorUnderTest("a fault can be switched on in the simulated repository only")
            proxy = RecordingProxy(
                repository.url,
                self.recorder or Recorder(),
                verify=str(repository.tls.ca_bundle) if repository.tls.ca_bundle else True,
                cert=_client_cert(repository.tls),
                timeout=self.config.run.timeouts.network,
            )
            self.repository_url = self._through_relay(self._stack.enter_context(proxy).base_url)
            if repository.inspection.access_log is not None:
                self._exported_log = ExportedAccessLog.from_now(
                    repository.inspection.access_log, repository.url
                )
            return
        server = RepositoryServer(
            RepositoryConfig(
                data_dir=self.root / "repository",
                uploader_keys={
                    self.issuer.id: self.uploader_key,
                    self.recipient.id: self.recipient_key,
                },
                recorder=self.recorder,
                faults=self.faults_of("repository"),
                host=repository.host,
            )
        )
        self._repository = self._stack.enter_context(server)
        # The configured address is where clients (a product under test among them) reach the
        # repository: the relay listens there, so that a break reaches every client.
        self.repository_url = self._through_relay(
            server.base_url, host=repository.host, port=repository.port
        )

    def _pacs(self, actor: PacsConfig, storage_dir: Path, studies: ScenarioStudies) -> PacsActor:
        """The PACS the run configuration names: a simulator where it says, or the one under
        test, which must answer C-ECHO before the scenario starts."""
        if isinstance(actor, PacsSut):
            remote = RemotePacs(
                actor.peer, calling_ae=actor.calling_ae, cache_dir=storage_dir, studies=studies
            )
            remote.check()
            return remote
        config = PacsSimulatorConfig(
            storage_dir=storage_dir, ae_title=actor.ae_title, host=actor.host, port=actor.port
        )
        simulator = self._stack.enter_context(PacsSimulator(config))
        # A PACS under test beside it is asked for the studies this one was loaded with.
        studies.follow(simulator)
        return simulator

    def _calling_ae(self, actor: PacsConfig) -> str:
        """The AE title our sender and receiver call the PACS with: a PACS under test's own."""
        return actor.calling_ae if isinstance(actor, PacsSut) else DEFAULT_CALLING_AE

    def _through_relay(self, url: str, *, host: str = LOOPBACK, port: int = 0) -> str:
        """Put the relay in front of the repository at ``url``; return the URL clients use."""
        self.relay = self._stack.enter_context(Relay(url, host=host, port=port))
        return self.relay.base_url

    def sender_config(self, **changes: Any) -> SenderConfig:
        """The sending hospital: source PACS to repository, token sealed to the receiver."""
        config = SenderConfig(
            source_pacs=self.source.peer,
            calling_ae=self._calling_ae(self.config.source_pacs),
            repository_url=self.repository_url,
            uploader_key=self.uploader_key,
            community_id=self.community_id,
            issuer=self.issuer,
            institution=DEFAULT_INSTITUTION,
            work_dir=self.root / "sender",
            recipient=self.recipient,
            issuer_key_path=self.issuer_key_path,
            recipient_public_key_path=self.receiver_public_key_path,
            delivery=[FolderDelivery(self.root / "token-inbox")],
            faults=self.faults_of("sender"),
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
        if self.issuer_key_path is None:
            raise ActorUnderTest("the sending hospital's signing key is not the harness's")
        sealed = seal_token(
            token,
            issuer_key=load_private_key(self.issuer_key_path),
            recipient_public_key=load_public_key(self.receiver_public_key_path),
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
            facility=self.recipient,
            output_dir=self.root / "received",
            facility_key_path=self.receiver_key_path,
            trusted_issuers={self.issuer.id: self.issuer_public_key_path},
            community_directory={
                **self.config.community.directory,
                self.community_id: self.repository_url,
            },
            recipient_key=self.recipient_key,
            destination_pacs=self.destination.peer,
            calling_ae=self._calling_ae(self.config.destination_pacs),
            reconciliation=reconciliation,
            faults=self.faults_of("receiver"),
        )
        return replace(config, **changes) if changes else config


def compare_pacs(source: PacsActor, destination: PacsActor) -> Comparison:
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


def _facility_key(folder: Path, name: str) -> tuple[Path, Path]:
    """Make a P-256 facility key pair: ``name.pem`` (private, 0600) and ``name.pub.pem``."""
    private = folder / f"{name}.pem"
    key = generate_facility_key()
    save_private_key(key, private)
    public = private.with_suffix(".pub.pem")
    public.write_text(public_key_pem(key), encoding="utf-8")
    return private, public


def _key_pair(facility: FacilityConfig, folder: Path, name: str) -> tuple[Path | None, Path]:
    """The facility's configured key pair; a fresh pair when the configuration names none.

    A facility played by a system under test may give its public key only: its private key
    stays with the product, and the harness cannot sign or open in its name.
    """
    if facility.private_key is None and facility.public_key is None:
        return _facility_key(folder, name)
    if facility.public_key is not None:
        return facility.private_key, facility.public_key
    assert facility.private_key is not None
    public = folder / f"{name}.pub.pem"
    public.write_text(public_key_pem(load_private_key(facility.private_key)), encoding="utf-8")
    return facility.private_key, public


def _bearer_key(facility: FacilityConfig) -> str:
    """The facility's repository bearer key: the configured one, else a fresh one."""
    if facility.bearer_key is None:
        return secrets.token_urlsafe(32)
    return resolve_secret(facility.bearer_key)


def _not_shown(check: str, setting: str) -> ActorUnderTest:
    """The reason a check is NOT RUN: the repository under test does not show what it needs."""
    return ActorUnderTest(
        f"this check {check}, and the repository under test shows none: "
        f"set [repository.inspection] {setting}"
    )


def _client_cert(tls: ClientTls) -> tuple[str, str] | None:
    if tls.client_cert is None or tls.client_key is None:
        return None
    return str(tls.client_cert), str(tls.client_key)
