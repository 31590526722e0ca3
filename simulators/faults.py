"""Deliberate misbehaviours of the simulated actors, so that a conformance run can show it fails.

A check that cannot fail proves nothing. Each :class:`Fault` makes one simulated actor break
one rule, in the one place where that actor's behaviour lives, and names the requirements it
breaks: a self-test switches it on and expects the scenarios proving those requirements to fail.

Test-only: every actor configuration starts with no fault, no configuration file can switch
one on, and only code that names a fault (a test, or an explicit ``--fault NAME`` given to
``cloudpdi serve repository|receiver``, ``send`` or ``receive``) does; ``cloudpdi conformance
run`` cannot. A fault's name starts with the actor that misbehaves.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Literal, cast

from cloudpdi.errors import CloudPDIError

Actor = Literal["sender", "repository", "receiver"]


class FaultError(CloudPDIError, ValueError):
    """A fault name is unknown, or names a misbehaviour of another actor."""


class Fault(StrEnum):
    """One deliberate misbehaviour: its name, what the actor then does, what it breaks."""

    description: str
    #: IDs of the requirements (``features/requirements.yaml``) whose checks it makes fail.
    requirements: frozenset[str]

    def __new__(cls, value: str, description: str, requirements: str) -> Fault:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        member.requirements = frozenset(requirements.split())
        return member

    @property
    def actor(self) -> Actor:
        """The actor that misbehaves."""
        return cast(Actor, self.value.partition("-")[0])

    REPOSITORY_SERVES_EXPIRED = (
        "repository-serves-expired",
        "keeps and serves documents past the expiry the uploader set (its longest retention "
        "applies instead): nothing expires, nor is purged, with its token",
        "CPDI-RET-01",
    )
    SENDER_REUSES_SECRET = (
        "sender-reuses-secret",
        "encrypts with the secret of its previous transfer",
        "CPDI-KEY-01",
    )
    SENDER_REUSES_DOCUMENT_ID = (
        "sender-reuses-document-id",
        "uploads under the document ID of its previous transfer",
        "CPDI-ID-01",
    )
    SENDER_LEAKS_SECRET_IN_URL = (
        "sender-leaks-secret-in-url",
        "adds the secret as a query parameter to every request to the repository",
        "CPDI-TOK-01",
    )
    SENDER_LEAKS_SECRET_IN_HEADER = (
        "sender-leaks-secret-in-header",
        "adds the secret as a header to every request to the repository",
        "CPDI-TOK-01",
    )
    SENDER_UPLOADS_PLAINTEXT = (
        "sender-uploads-plaintext",
        "uploads the ZIP file set unencrypted, with a token digest that matches what it uploaded "
        "(no envelope opens with its token, so no check of what is inside one can pass)",
        "CPDI-KEY-01 CPDI-CONT-01 CPDI-CONT-02 PDI-WEB-01",
    )
    SENDER_FILE_SET_WITHOUT_DICOMDIR = (
        "sender-file-set-without-dicomdir",
        "leaves DICOMDIR out of the file set",
        "CPDI-CONT-01 PDI-DIR-01",
    )
    SENDER_FILE_SET_LOWER_CASE_NAMES = (
        "sender-file-set-lower-case-names",
        "names the DICOM files and folders in lower case (DICOMDIR references them so)",
        "CPDI-CONT-01 PDI-NAME-01",
    )
    SENDER_SLIP_QR_DIFFERS = (
        "sender-slip-qr-differs",
        "prints another token's QR code on the token slip and in the QR image",
        "HIT-FMT-01 CPDI-TOK-05",
    )
    RECEIVER_SKIPS_DIGEST_CHECK = (
        "receiver-skips-digest-check",
        "imports whatever it downloads and can decrypt, whether or not its digest is the token's",
        "CPDI-INT-01",
    )
    RECEIVER_IGNORES_RECONCILIATION = (
        "receiver-ignores-reconciliation",
        "imports instances under the sending hospital's Patient ID",
        "CPDI-RCV-02 PDI-IMP-01",
    )


def faults_of(actor: Actor) -> tuple[Fault, ...]:
    """Return the faults ``actor`` can be given, in declaration order."""
    return tuple(fault for fault in Fault if fault.actor == actor)


def faults_for(actor: Actor, names: Iterable[str]) -> frozenset[Fault]:
    """Return the faults ``names`` name, refusing any unknown name or another actor's fault."""
    faults = set()
    for name in names:
        try:
            fault = Fault(name)
        except ValueError:
            known = ", ".join(faults_of(actor))
            raise FaultError(f"no fault is named {name!r}; a {actor} knows {known}") from None
        if fault.actor != actor:
            raise FaultError(f"{fault} is a fault of the {fault.actor}, not of the {actor}")
        faults.add(fault)
    return frozenset(faults)
