"""The DICOM client against peers that refuse, fail or vanish, and its building blocks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import CTImageStorage, Verification
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

from cloudpdi import dimse
from cloudpdi.dimse_ae import MAX_PRESENTATION_CONTEXTS
from cloudpdi.dimse_files import is_safe_uid
from cloudpdi.dimse_store import _batches, _File
from tests.pacs_samples import SampleStudy, sample_study
from tests.tools import free_port

__all__ = ["sample_study"]


@contextmanager
def _peer(handlers: list, *, contexts: list[tuple[str, list[str]]]) -> Iterator[dimse.DicomPeer]:
    """Run a bare pynetdicom SCP that supports only ``contexts``."""
    ae = AE("BARE")
    for sop_class, syntaxes in contexts:
        ae.add_supported_context(sop_class, syntaxes)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    try:
        yield dimse.DicomPeer("BARE", "127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("text", "peer"),
    [
        ("PACS@127.0.0.1:104", dimse.DicomPeer("PACS", "127.0.0.1", 104)),
        ("MY@AE@pacs.example:11112", dimse.DicomPeer("MY@AE", "pacs.example", 11112)),
        ("V6@[::1]:4242", dimse.DicomPeer("V6", "::1", 4242)),
    ],
)
def test_peer_parses_and_prints(text: str, peer: dimse.DicomPeer):
    assert dimse.DicomPeer.parse(text) == peer
    assert str(peer) == text


@pytest.mark.parametrize(
    "text", ["PACS@host", "host:104", "@host:104", "A" * 17 + "@h:1", "P\\S@h:1", "PACS@h:0"]
)
def test_peer_refuses_malformed_text(text: str):
    with pytest.raises(ValueError):
        dimse.DicomPeer.parse(text)


@pytest.mark.parametrize(
    ("uid", "safe"),
    [
        ("1.2.840.10008", True),
        ("2.25.0123", True),
        ("1.2..3", False),
        ("..", False),
        ("1.2/3", False),
        ("1" * 65, False),
        ("", False),
    ],
)
def test_safe_uids(uid: str, safe: bool):
    assert is_safe_uid(uid) is safe


def test_unreachable_peer_raises_association_error():
    with pytest.raises(dimse.AssociationError, match="unreachable"):
        dimse.echo(dimse.DicomPeer("NOBODY", "127.0.0.1", free_port()))


def test_peer_without_the_service_raises_context_refused(sample_study: SampleStudy):
    contexts = [(CTImageStorage, [ExplicitVRLittleEndian])]
    with _peer([], contexts=contexts) as peer:
        with pytest.raises(dimse.ContextRefusedError, match="accepted none"):
            dimse.echo(peer)
        with pytest.raises(dimse.ContextRefusedError, match="accepted none"):
            dimse.move_study(peer, sample_study.study.study_uid, "ELSEWHERE")


def test_echo_failure_status_raises():
    with (
        _peer(
            [(evt.EVT_C_ECHO, lambda event: 0x0110)],
            contexts=[(Verification, [ExplicitVRLittleEndian])],
        ) as peer,
        pytest.raises(dimse.DimseStatusError) as caught,
    ):
        dimse.echo(peer)
    assert caught.value.status == 0x0110


def test_store_reports_refused_contexts_and_failure_statuses(sample_study: SampleStudy):
    def handle(event: Event) -> int:
        return 0xA700 if event.request.AffectedSOPInstanceUID == second else 0x0000

    second = dcmread(sample_study.ct[1]).SOPInstanceUID
    files = [*sample_study.ct[:2], sample_study.mr[0], sample_study.jpeg]
    contexts = [(CTImageStorage, [ExplicitVRLittleEndian])]
    with _peer([(evt.EVT_C_STORE, handle)], contexts=contexts) as peer:
        result = dimse.store_files(peer, files)

    assert [instance.status for instance in result.instances] == [0x0000, 0xA700, None, None]
    assert [instance.path for instance in result.failed] == files[1:]
    assert not result.ok


def test_store_raises_when_the_peer_aborts(sample_study: SampleStudy):
    def handle(event: Event) -> int:
        event.assoc.abort()
        return 0x0000

    contexts = [(CTImageStorage, [ExplicitVRLittleEndian])]
    with (
        _peer([(evt.EVT_C_STORE, handle)], contexts=contexts) as peer,
        pytest.raises(dimse.AssociationAbortedError),
    ):
        dimse.store_files(peer, sample_study.ct)


def test_store_splits_files_that_need_more_than_128_contexts():
    files = [
        _File(Path(f"{n}.dcm"), f"1.2.3.{n // 2}", f"1.2.4.{n}", syntax)
        for n in range(2 * MAX_PRESENTATION_CONTEXTS + 10)
        for syntax in [ExplicitVRLittleEndian if n % 2 else JPEGBaseline8Bit]
    ]
    batches = _batches(files)

    assert [len({file.syntax for file in batch}) for batch in batches] == [128, 128, 10]
    assert [file for batch in batches for file in batch] == files


@pytest.mark.parametrize(
    ("keys", "charset"),
    [
        ({"PatientName": "DOE*"}, None),
        ({"PatientName": "山田*"}, "ISO_IR 192"),
        (
            {"PatientName": "山田*", "SpecificCharacterSet": ["ISO 2022 IR 6", "ISO 2022 IR 87"]},
            ["ISO 2022 IR 6", "ISO 2022 IR 87"],
        ),
    ],
)
def test_query_identifier_names_a_character_set_for_non_ascii_text(keys, charset):
    identifier = dimse.query_dataset("STUDY", keys)

    assert identifier.QueryRetrieveLevel == "STUDY"
    assert identifier.get("SpecificCharacterSet") == charset


def test_find_failure_status_raises(sample_study: SampleStudy):
    def handle(event: Event) -> Iterator[tuple[int, None]]:
        yield 0xC001, None

    with (
        _peer([(evt.EVT_C_FIND, handle)], contexts=[(FIND, [ExplicitVRLittleEndian])]) as peer,
        pytest.raises(dimse.DimseStatusError) as caught,
    ):
        dimse.find(peer, "STUDY", {"StudyInstanceUID": ""})
    assert caught.value.status == 0xC001
