"""Uploads as the repository saw them, and uploads that arrive damaged.

What a document is "as it was uploaded" is taken from the repository's spy, not from the
uploader's word: the body of an accepted whole-document PUT, or the PATCH bodies of the
accepted resumable upload laid at their offsets (a later PATCH replaces what an earlier, cut
off one left past its offset, as tus has it).

A damaged upload is the harness's own single attempt by tus: it declares the transfer's size
and digest and sends the body once, changed as the scenario says, so that the repository
alone stands between the damage and a receiving hospital.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import httpx

from cloudpdi.envelope_base import format_digest
from cloudpdi.repository_wire import (
    DOCUMENTS_PATH,
    META_DIGEST,
    META_DOCUMENT_ID,
    META_EXPIRES,
    TUS_CONTENT_TYPE,
    TUS_VERSION,
    UPLOADS_PATH,
    WireFormatError,
    decode_metadata,
    digest_field,
    encode_metadata,
)
from cloudpdi.token_model import format_timestamp
from harness.lab import Lab
from simulators.repository.spy import RecordedRequest
from steps.errors import StepError
from steps.resumption import header
from steps.transfer import Outcome, Transfer

#: Bytes added past the declared length.
EXTRA_BYTES = 1024
#: Seconds the damaged upload may take.
UPLOAD_TIMEOUT = 60.0
_ACCEPTED = range(200, 300)
_CREATED = 201

#: ``damage(body, digest)`` returns the body to send and the digest to declare.
Damage = Callable[[bytes, str], tuple[bytes, str]]


def _one_byte_changed(body: bytes, digest: str) -> tuple[bytes, str]:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :], digest


def _more_bytes(body: bytes, digest: str) -> tuple[bytes, str]:
    return body + os.urandom(EXTRA_BYTES), digest


def _wrong_digest(body: bytes, digest: str) -> tuple[bytes, str]:
    return body, format_digest(hashlib.sha256(os.urandom(len(body))).hexdigest())


#: How an upload may arrive damaged, as a scenario says it.
DAMAGES: dict[str, Damage] = {
    "with one byte changed on the way": _one_byte_changed,
    "with more bytes than it declared": _more_bytes,
    "declaring a digest that does not match its content": _wrong_digest,
}


def upload_damaged(lab: Lab, transfer: Transfer, damage: str) -> Outcome:
    """Upload the transfer once as the sending hospital, damaged as ``damage`` says."""
    if damage not in DAMAGES:
        raise StepError(f"no way for an upload to arrive {damage!r} is defined")
    token = transfer.token
    declared = transfer.ciphertext.read_bytes()
    body, digest = DAMAGES[damage](declared, token.content_digest)
    metadata = {
        META_DOCUMENT_ID: token.document_id,
        META_DIGEST: digest_field(digest),
        META_EXPIRES: format_timestamp(token.expires_at),
    }
    tus = {"Tus-Resumable": TUS_VERSION, "Authorization": f"Bearer {lab.uploader_key}"}
    with httpx.Client(base_url=lab.repository_url, timeout=UPLOAD_TIMEOUT) as client:
        try:
            created = client.post(
                UPLOADS_PATH,
                headers={
                    **tus,
                    "Upload-Length": str(len(declared)),
                    "Upload-Metadata": encode_metadata(metadata),
                },
            )
            if created.status_code != _CREATED or "location" not in created.headers:
                return _refused("the creation of the upload", created)
            sent = client.patch(
                created.headers["location"],
                content=body,
                headers={**tus, "Content-Type": TUS_CONTENT_TYPE, "Upload-Offset": "0"},
            )
        except httpx.TransportError as exc:
            return Outcome(error=f"the repository closed the connection ({type(exc).__name__})")
    if sent.status_code not in _ACCEPTED:
        return _refused("the upload", sent)
    return Outcome(path=transfer.ciphertext)


def _refused(what: str, answer: httpx.Response) -> Outcome:
    return Outcome(
        error=f"the repository refused {what}: HTTP {answer.status_code}", status=answer.status_code
    )


def received_document(requests: list[RecordedRequest], document_id: str) -> bytes | None:
    """The bytes the repository accepted as the document, from what it was sent; or None."""
    for request in requests:
        path = f"{DOCUMENTS_PATH}/{document_id}"
        if request.method == "PUT" and request.url == path and request.status in _ACCEPTED:
            return _whole(request)
    created_at = next(
        (n for n, request in enumerate(requests) if _creates(request, document_id)), None
    )
    if created_at is None:
        return None
    earlier = {request.url for request in requests[:created_at] if request.method == "PATCH"}
    patches = [
        r for r in requests[created_at + 1 :] if r.method == "PATCH" and r.url not in earlier
    ]
    if not patches:
        return None
    received = bytearray()
    for request in (r for r in patches if r.url == patches[0].url):
        offset = int(header(request, "upload-offset") or "-1")
        if not 0 <= offset <= len(received):
            return None
        del received[offset:]
        received += _whole(request)
    return bytes(received)


def _creates(request: RecordedRequest, document_id: str) -> bool:
    """Tell whether ``request`` created, and was granted, a resumable upload of the document."""
    if request.method != "POST" or request.url != UPLOADS_PATH or request.status != _CREATED:
        return False
    try:
        metadata = decode_metadata(header(request, "upload-metadata") or "")
    except WireFormatError:
        return False
    return metadata.get(META_DOCUMENT_ID) == document_id


def _whole(request: RecordedRequest) -> bytes:
    if request.truncated:
        raise StepError("the repository's spy kept only part of an upload body")
    return request.body


def write_received(lab: Lab, document_id: str, dest: Path) -> Outcome:
    """Write the document as the repository received it to ``dest``."""
    if lab.recorder is None:
        raise StepError("the repository has no spy to tell what it was sent")
    received = received_document(lab.recorder.requests, document_id)
    if received is None:
        return Outcome(error="the repository was sent no upload of the document it accepted")
    dest.write_bytes(received)
    return Outcome(path=dest)
