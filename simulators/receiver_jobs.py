"""Receive runs queued by the token inbox, one at a time, with a status anyone may ask for.

One worker thread runs the receives in arrival order (imports into one PACS gain nothing from
running side by side). The token lives only in the queued call, never in the job: a job's
status and result summary hold no secret, so they can be shown to whoever asks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cloudpdi.errors import CloudPDIError
from cloudpdi.token import Token, format_timestamp
from simulators.receiver_report import ReceiveResult

logger = logging.getLogger(__name__)

#: Receives waiting or running at once; more are turned away until one finishes.
MAX_PENDING = 64
#: Finished jobs remembered for status queries; the oldest are forgotten first.
MAX_FINISHED = 1000

Runner = Callable[[Token], ReceiveResult]


class JobStatus(StrEnum):
    """Where a receive stands."""

    ACCEPTED = "accepted"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class InboxFullError(CloudPDIError):
    """Too many receives are waiting; the sender should try again later."""


@dataclass
class Job:
    """One token taken in by the inbox, and what its receive made of it."""

    token_id: str
    form: str
    received_at: str
    status: JobStatus = JobStatus.ACCEPTED
    result: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the job as the inbox shows it (no secret: the token is not kept)."""
        return {
            "token_id": self.token_id,
            "status": str(self.status),
            "form": self.form,
            "received_at": self.received_at,
            "result": self.result,
            "error": self.error,
            "error_type": self.error_type,
        }


class JobQueue:
    """Runs ``runner(token)`` for each submitted token on one worker thread."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="receiver")

    def submit(self, token: Token, form: str) -> tuple[Job, bool]:
        """Queue a receive of ``token``; return its job and whether it is new.

        A token already taken in is not received twice: its existing job is returned.
        """
        with self._lock:
            known = self._jobs.get(token.token_id)
            if known is not None:
                return known, False
            pending = sum(not job.finished.is_set() for job in self._jobs.values())
            if pending >= MAX_PENDING:
                raise InboxFullError(f"{pending} receives are waiting; try again later")
            self._forget_oldest()
            now = format_timestamp(datetime.now(UTC))
            job = Job(token_id=token.token_id, form=form, received_at=now)
            self._jobs[token.token_id] = job
        self._executor.submit(self._run, job, token)
        return job, True

    def get(self, token_id: str) -> Job | None:
        """Return the job of a token, or None if the inbox does not know it."""
        with self._lock:
            return self._jobs.get(token_id)

    def jobs(self) -> list[Job]:
        """Return every remembered job, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def wait(self, token_id: str, timeout: float) -> Job:
        """Wait until the token's receive has finished; raise TimeoutError after ``timeout``."""
        job = self.get(token_id)
        if job is None:
            raise KeyError(token_id)
        if not job.finished.wait(timeout):
            raise TimeoutError(f"the receive of token {token_id} did not finish in {timeout} s")
        return job

    def close(self) -> None:
        """Drop the receives not yet started and wait for the running one."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _forget_oldest(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.finished.is_set()]
        for key in finished[: max(0, len(finished) - MAX_FINISHED + 1)]:
            del self._jobs[key]

    def _run(self, job: Job, token: Token) -> None:
        job.status = JobStatus.RUNNING
        started = time.perf_counter()
        try:
            result = self._runner(token)
        except CloudPDIError as exc:
            # Library errors name the problem and never carry the secret.
            job.error, job.error_type = str(exc), type(exc).__name__
            job.status = JobStatus.FAILED
        except Exception as exc:
            # Anything else may carry any value in its message: only its type is shown.
            logger.error("receive of token %s crashed (%s)", job.token_id, type(exc).__name__)
            job.error, job.error_type = "the receiver failed unexpectedly", type(exc).__name__
            job.status = JobStatus.FAILED
        else:
            job.result = result.summary()
            job.status = JobStatus.DONE
        finally:
            logger.info(
                "token %s: %s in %.1f s", job.token_id, job.status, time.perf_counter() - started
            )
            job.finished.set()
