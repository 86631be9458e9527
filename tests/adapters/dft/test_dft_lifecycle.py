"""`lifecycle.wait` against a scripted scheduler: how a failing status query is
asked again, when it is given up, and that a stop ends the wait at once."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from adapters.dft import lifecycle
from adapters.dft.jobs import BackendError, JobStatus

POLL = 0.5


class Flaky:
    """A scheduler whose status query fails *failures* times, then says done."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.queries = 0

    def status(self, directory: Path, job_id: str) -> JobStatus:
        self.queries += 1
        if self.queries <= self.failures:
            raise BackendError("squeue exited with 1: Socket timed out on send/recv")
        return JobStatus("completed", elapsed=1.0)


def _job(tmp_path: Path) -> lifecycle.Job:
    record = {"state": "submitted", "name": "j", "job_id": "42", "history": []}
    (tmp_path / "job.json").write_text(json.dumps(record))
    return lifecycle.Job(tmp_path)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses of `wait`, recorded instead of slept."""
    taken: list[float] = []
    monkeypatch.setattr(time, "sleep", taken.append)
    return taken


def _wait(job: lifecycle.Job, backend: Flaky, stop: threading.Event | None = None):
    return lifecycle.wait(
        job,
        backend,
        poll_seconds=POLL,
        vanish_after=60,
        stop=stop,
    )


def test_a_failing_query_is_asked_again_after_growing_pauses(
    tmp_path: Path, pauses: list[float]
) -> None:
    backend = Flaky(lifecycle.STATUS_RETRIES - 1)
    status = _wait(_job(tmp_path), backend)
    assert status.state == "completed"
    assert backend.queries == lifecycle.STATUS_RETRIES
    assert pauses == [POLL * n for n in range(1, lifecycle.STATUS_RETRIES)]
    assert lifecycle.Job(tmp_path).read()["state"] == "completed"


def test_the_last_failure_is_raised_after_the_tries(
    tmp_path: Path, pauses: list[float]
) -> None:
    backend = Flaky(lifecycle.STATUS_RETRIES)
    with pytest.raises(BackendError, match="Socket timed out"):
        _wait(_job(tmp_path), backend)
    assert backend.queries == lifecycle.STATUS_RETRIES
    assert len(pauses) == lifecycle.STATUS_RETRIES - 1
    assert lifecycle.Job(tmp_path).read()["state"] == "submitted", "not given up"


def test_a_stop_ends_the_pause_between_tries(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    backend = Flaky(1)
    started = time.monotonic()
    with pytest.raises(lifecycle.Stopped):
        _wait(_job(tmp_path), backend, stop)
    assert backend.queries == 1 and time.monotonic() - started < POLL
