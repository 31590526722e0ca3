"""Communities the receiving hospital knows besides the token's: their repositories, watched.

A receiving hospital may belong to several Cloud-PDI communities, each with its repository; it
must download from the repository of the community the token names, and from no other
(CPDI-TOK-02). Another community here is a second simulated repository with its own spy. The
harness asks it once, as the receiving hospital would, to show that its spy sees a request
from the receiving hospital: then no request after that proves the receiving hospital did not
ask it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cloudpdi.config_actors import SecondCommunity
from cloudpdi.errors import CloudPDIError
from cloudpdi.repository import DocumentNotFound, RepositoryClient
from cloudpdi.token import new_document_id
from harness.lab import Lab
from simulators.repository import Recorder, RepositoryConfig, RepositoryServer
from simulators.repository.spy import RecordedRequest
from steps.errors import StepError

#: The community the receiving hospital knows besides the token's.
OTHER_COMMUNITY = "jp.cloudpdi.neighbour"
#: A community no hospital of the lab belongs to.
UNKNOWN_COMMUNITY = "jp.cloudpdi.unknown"
#: Seconds the spy may take to record the probe once it was answered.
PROBE_TIMEOUT = 5.0


@dataclass
class OtherCommunity:
    """Another community's repository, its spy, and how many requests it saw before the exchange."""

    community_id: str
    url: str
    recorder: Recorder
    seen: int = 0

    def requests_since_probe(self) -> list[RecordedRequest]:
        """The requests the repository received after the harness's probe."""
        return self.recorder.requests[self.seen :]


@contextmanager
def other_community(
    lab: Lab, folder: Path, standing: SecondCommunity | None = None
) -> Iterator[OtherCommunity]:
    """Run the repository of another community, where the receiving hospital has a key:
    :data:`OTHER_COMMUNITY` on a free port, or the ``standing`` one a receiver under test
    lists, on its port."""
    recorder = Recorder()
    config = RepositoryConfig(
        data_dir=folder,
        uploader_keys={lab.recipient.id: lab.recipient_key},
        recorder=recorder,
        # A free port, unless a receiver under test lists this community at a fixed one.
        port=0 if standing is None else standing.port,
    )
    community_id = OTHER_COMMUNITY if standing is None else standing.id
    with RepositoryServer(config) as server:
        yield OtherCommunity(community_id, server.base_url, recorder)


def probe(lab: Lab, community: OtherCommunity) -> None:
    """Ask the other repository for a document as the receiving hospital; its spy must see it."""
    try:
        with RepositoryClient(community.url, uploader_key=lab.recipient_key) as client:
            client.head(new_document_id())
    except DocumentNotFound:
        pass
    except CloudPDIError as exc:
        raise StepError(f"the other community's repository cannot be asked: {exc}") from None
    # Answered before it is recorded: wait for the spy to show it.
    if not community.recorder.wait_for(1, PROBE_TIMEOUT):
        raise StepError("the other community's repository does not record what it is asked")
    community.seen = len(community.recorder.requests)
