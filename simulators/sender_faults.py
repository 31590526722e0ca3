"""The sender's deliberate misbehaviours (:mod:`simulators.faults`), each at the step it spoils.

Test-only. The protocol library is never asked to misbehave: a faulty package is the correct
one opened again and rewritten, a leak is added by the HTTP transport under the repository
client, and a misprinted slip replaces the correct one after it was written. A test's file
set editor (``SenderConfig.file_set_editor``) changes the built file set the same way.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

import httpx

from cloudpdi.container import DICOM_FOLDER
from cloudpdi.dicomdir import DICOMDIR_NAME
from cloudpdi.envelope import ciphertext_digest, decrypt_to_file, encrypt_stream
from cloudpdi.files import atomic_file, staged_path
from cloudpdi.fileset import extract_file_set, open_file_set
from cloudpdi.package import PackResult
from cloudpdi.secret import Secret
from cloudpdi.slip import write_qr, write_slip
from cloudpdi.token import Token, new_document_id
from cloudpdi.token_input import read_token_file
from simulators.delivery import TokenFiles
from simulators.faults import Fault

#: Query parameter and header that carry a leaked secret.
LEAK_PARAMETER = "secret"
LEAK_HEADER = "Cpdi-Secret"

_REUSES = frozenset({Fault.SENDER_REUSES_SECRET, Fault.SENDER_REUSES_DOCUMENT_ID})
#: Faults that rewrite the ZIP file set.
_ZIP_FAULTS = frozenset(
    {
        Fault.SENDER_FILE_SET_WITHOUT_DICOMDIR,
        Fault.SENDER_FILE_SET_LOWER_CASE_NAMES,
        Fault.SENDER_UPLOADS_PLAINTEXT,
    }
)
#: Faults that change the package or the token that opens it.
PACKAGE_FAULTS = _REUSES | _ZIP_FAULTS
_LEAKS = frozenset({Fault.SENDER_LEAKS_SECRET_IN_URL, Fault.SENDER_LEAKS_SECRET_IN_HEADER})
_DICOM_TREE = f"{DICOM_FOLDER}/"
#: ``editor(folder, dest)`` writes the file set built in ``folder``, changed, as the ZIP file
#: ``dest`` (test-only: to send a file set made otherwise, or broken on purpose).
FileSetEditor = Callable[[Path, Path], None]


def remake_package(
    packed: PackResult, package: Path, faults: Collection[Fault], work_dir: Path
) -> PackResult:
    """Rewrite ``package`` and its token as the package faults among ``faults`` spoil them.

    Returns ``packed`` itself when none applies (a first transfer has nothing to reuse).
    """
    faults = frozenset(faults) & PACKAGE_FAULTS
    token = _reused(packed.token, faults, work_dir)
    if token is packed.token and not faults - _REUSES:
        return packed

    def rewrite(plain: Path, work: Path) -> Path:
        if faults & _ZIP_FAULTS:
            return _rewrite_zip(plain, work / "rewritten.zip", faults)
        return plain

    return _repack(
        packed, package, token, rewrite, encrypt=Fault.SENDER_UPLOADS_PLAINTEXT not in faults
    )


def edit_file_set(packed: PackResult, package: Path, editor: FileSetEditor) -> PackResult:
    """Rewrite the file set in ``package`` with ``editor``; encrypt it again with its secret."""

    def rewrite(plain: Path, work: Path) -> Path:
        with open_file_set(plain) as file_set:
            extract_file_set(file_set, work / "file-set")
        edited = work / "edited.zip"
        editor(work / "file-set", edited)
        return edited

    return _repack(packed, package, packed.token, rewrite)


def _repack(
    packed: PackResult,
    package: Path,
    token: Token,
    rewrite: Callable[[Path, Path], Path],
    *,
    encrypt: bool = True,
) -> PackResult:
    """Decrypt ``package``, rewrite its ZIP file set, and write it again, encrypted for
    ``token`` (or not at all); return the result with a token that describes the new package.

    ``rewrite(plain ZIP, work folder)`` returns the ZIP file to write.
    """
    made = packed.token
    with tempfile.TemporaryDirectory(dir=package.parent, prefix=".fault-") as work:
        plain = Path(work) / "fileset.zip"
        with open(package, "rb") as src:
            decrypt_to_file(src, plain, made.secret, made.document_id, scheme=made.envelope_scheme)
        plain = rewrite(plain, Path(work))
        if not encrypt:
            shutil.copyfile(plain, package)
        else:
            with open(plain, "rb") as src, atomic_file(package) as sink:
                encrypt_stream(
                    src, sink, token.secret, token.document_id, scheme=token.envelope_scheme
                )
    # The token describes what is uploaded, so that only the broken rule gives the fault away.
    with open(package, "rb") as src:
        token = replace(token, content_digest=ciphertext_digest(src))
    return replace(packed, token=token, ciphertext_size=package.stat().st_size)


def previous_token(work_dir: Path) -> Token | None:
    """Return the token this sender issued last (its files stay in ``work_dir/<token ID>/``)."""
    issued = [path for path in work_dir.glob("*/*.json") if path.stem == path.parent.name]
    if not issued:
        return None
    return read_token_file(max(issued, key=lambda path: path.stat().st_mtime_ns))


def _reused(token: Token, faults: frozenset[Fault], work_dir: Path) -> Token:
    """Return ``token`` with the previous transfer's secret or document ID, as faults ask."""
    previous = previous_token(work_dir) if faults & _REUSES else None
    if previous is None:
        return token
    reuse_secret = Fault.SENDER_REUSES_SECRET in faults
    reuse_id = Fault.SENDER_REUSES_DOCUMENT_ID in faults
    return replace(
        token,
        secret=previous.secret if reuse_secret else token.secret,
        document_id=previous.document_id if reuse_id else token.document_id,
    )


def _rewrite_zip(plain: Path, out: Path, faults: frozenset[Fault]) -> Path:
    """Copy the ZIP file set into ``out`` without DICOMDIR, with lower-case DICOM file IDs, or
    uncompressed, as ``faults`` ask."""
    lower = Fault.SENDER_FILE_SET_LOWER_CASE_NAMES in faults
    # Plaintext is uploaded stored, not deflated: every byte of it shows, as on a PDI CD.
    stored = Fault.SENDER_UPLOADS_PLAINTEXT in faults
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w") as target:
        infos = source.infolist()
        for info in infos:
            if info.filename == DICOMDIR_NAME and Fault.SENDER_FILE_SET_WITHOUT_DICOMDIR in faults:
                continue
            renamed = _lowered(info.filename) if lower else info.filename
            entry = zipfile.ZipInfo(renamed, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_STORED if stored else info.compress_type
            entry.external_attr = info.external_attr
            entry.file_size = info.file_size
            if lower and info.filename == DICOMDIR_NAME:
                target.writestr(entry, _lowered_references(source.read(info), infos))
                continue
            with source.open(info) as src, target.open(entry, "w") as dst:
                shutil.copyfileobj(src, dst)
    return out


def _lowered(name: str) -> str:
    return name.lower() if name.startswith(_DICOM_TREE) else name


def _lowered_references(dicomdir: bytes, infos: list[zipfile.ZipInfo]) -> bytes:
    # A File ID keeps its length in lower case, so every record offset in DICOMDIR stays right.
    for info in infos:
        if info.filename.startswith(_DICOM_TREE):
            file_id = info.filename.replace("/", "\\").encode("ascii")
            dicomdir = dicomdir.replace(file_id, file_id.lower())
    return dicomdir


class _LeakingTransport(httpx.HTTPTransport):
    """Sends every request on, with the secret added as a query parameter or a header."""

    def __init__(self, secret: str, *, in_url: bool, in_header: bool) -> None:
        super().__init__()
        self._secret = secret
        self._in_url = in_url
        self._in_header = in_header

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._in_url:
            request.url = request.url.copy_merge_params({LEAK_PARAMETER: self._secret})
        if self._in_header:
            request.headers[LEAK_HEADER] = self._secret
        return super().handle_request(request)


def upload_transport(token: Token, faults: Collection[Fault]) -> httpx.BaseTransport | None:
    """Return a transport that leaks the token's secret as ``faults`` ask; None for no leak."""
    leaks = frozenset(faults) & _LEAKS
    if not leaks:
        return None
    # Spelt as the token's JSON spells it.
    text = base64.urlsafe_b64encode(token.secret.reveal()).decode("ascii").rstrip("=")
    return _LeakingTransport(
        text,
        in_url=Fault.SENDER_LEAKS_SECRET_IN_URL in leaks,
        in_header=Fault.SENDER_LEAKS_SECRET_IN_HEADER in leaks,
    )


def misprint_slip(token: Token, files: TokenFiles) -> None:
    """Replace the QR image and the slip with those of another token, unlike the JSON's."""
    other = replace(
        token,
        token_id=new_document_id(),
        document_id=new_document_id(),
        secret=Secret.generate(),
    )
    with staged_path(files.qr) as staged:
        write_qr(other, staged)
    with staged_path(files.slip) as staged:
        write_slip(other, staged)
