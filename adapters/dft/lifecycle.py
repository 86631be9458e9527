"""A job's life: submitted once, followed to its end, collected.

The trial table belongs to the engine, so a job's own state lives in its
directory, in `job.json`:

    prepared -> submitting -> submitted -> pending -> running -> completed
                                                   \\-> failed | timeout | cancelled | vanished

with the job id, a history of (state, time) pairs, how often the result was
collected and what was last handed to the driver (`reported`: `result` or
`failure`). Every change is made under an exclusive lock of the directory and
written atomically, so two processes (say, a Dask worker that outlived a killed
driver and its successor) never both submit.

Crash safety rests on the order in `ensure_submitted`: the state becomes
`submitting` *before* the scheduler is asked to run the job and `submitted`,
with the id, after. A driver killed in between (fault point `after_dft_submit`)
leaves `submitting`; whoever picks the job up next asks the scheduler for a job
of that name and adopts it, and submits only if there is none.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_incrementing,
)

from adapters.dft.jobs import TERMINAL, Backend, BackendError, JobStatus
from loop.faults import fault

#: Tries of one scheduler query before its failure is raised.
STATUS_RETRIES = 5


class Stopped(BaseException):  # noqa: N818 - not an error: the driver is leaving
    """The driver is stopping: stop waiting (the job itself runs on).

    A BaseException, so that an adapter's catch-all for failed evaluations
    does not turn it into a failed trial.
    """


def pause(seconds: float, stop: threading.Event | None) -> None:
    """Sleep *seconds*, or raise `Stopped` as soon as *stop* is set."""
    if stop is None:
        time.sleep(seconds)
    elif stop.wait(seconds):
        raise Stopped


class Job:
    """A job directory and its state file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def attempt(self) -> int:
        """The trial attempt the directory was made for (0 for a reference)."""
        name = self.directory.name
        return int(name.split("-")[1]) if name.startswith("attempt-") else 0

    def read(self) -> dict[str, Any]:
        record: dict[str, Any] = json.loads((self.directory / "job.json").read_text())
        return record

    @contextmanager
    def locked(self) -> Iterator[None]:
        with (self.directory / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def update(self, **changes: Any) -> dict[str, Any]:
        """Apply *changes* (a new `state` is added to the history); caller holds the lock."""
        record = self.read()
        if "state" in changes and changes["state"] != record.get("state"):
            record.setdefault("history", []).append([changes["state"], time.time()])
        record.update(changes)
        path = self.directory / "job.json"
        tmp = path.with_name(f".job.json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(tmp, path)
        return record

    def note(self, **changes: Any) -> dict[str, Any]:
        with self.locked():
            return self.update(**changes)


def ensure_submitted(job: Job, backend: Backend) -> dict[str, Any]:
    """Submit *job* unless the scheduler has it already; returns its record."""
    with job.locked():
        record = job.read()
        state, name = record["state"], record["name"]
        if state not in ("prepared", "submitting"):
            return record
        if state == "submitting":
            # a submission was under way when its process died: did it reach
            # the scheduler? Ask by name before submitting again.
            found = backend.find(job.directory, name, record["prepared_at"])
            if found is not None:
                return job.update(state="submitted", job_id=found, found_by_name=True)
        job.update(state="submitting", submitting_at=time.time())
        job_id = backend.submit(job.directory, name)
        fault("after_dft_submit")
        return job.update(
            state="submitted",
            job_id=job_id,
            submitted_at=time.time(),
            submissions=int(record.get("submissions", 0)) + 1,
        )


def wait(
    job: Job,
    backend: Backend,
    *,
    poll_seconds: float,
    vanish_after: float,
    stop: threading.Event | None = None,
) -> JobStatus:
    """Poll *job* until it ends; each change of state is written to its record.

    A job the scheduler does not know is given `vanish_after` seconds (a
    scheduler can be slow to list a new job) before it counts as vanished, and
    a query that fails is asked again after 1, 2, 3, ... times *poll_seconds*,
    up to `STATUS_RETRIES` tries in all (a busy scheduler, "socket timed out",
    is not a lost job). Setting *stop* ends the wait (`Stopped`); the job is
    followed again later.
    """
    ask_scheduler = Retrying(
        retry=retry_if_exception_type(BackendError),
        stop=stop_after_attempt(STATUS_RETRIES),
        wait=wait_incrementing(start=poll_seconds, increment=poll_seconds),
        sleep=lambda seconds: pause(seconds, stop),
        reraise=True,
    )
    while True:
        record = job.read()
        if record["state"] in TERMINAL:  # decided before; schedulers forget old jobs
            return JobStatus(
                record["state"],
                record.get("reason", ""),
                elapsed=record.get("elapsed"),
                nodes=record.get("nodes"),
                cpu_seconds=record.get("cpu_seconds"),
            )
        status = ask_scheduler(backend.status, job.directory, str(record["job_id"]))
        if status.state == "unknown":
            missing = record.get("missing_since") or time.time()
            if "missing_since" not in record:
                job.note(missing_since=missing)
            if time.time() - missing >= vanish_after:
                status = JobStatus(
                    "vanished",
                    f"the scheduler no longer knows job {record['job_id']} "
                    f"(not listed for {vanish_after:.0f} s)",
                )
            else:
                pause(poll_seconds, stop)
                continue
        changes: dict[str, Any] = {}
        if status.state != record["state"]:
            changes["state"] = status.state
            if status.reason:
                changes["reason"] = status.reason
        if record.get("missing_since"):
            changes["missing_since"] = None
        if status.state in TERMINAL:
            changes.update(
                finished_at=record.get("finished_at") or time.time(),
                elapsed=status.elapsed,
                nodes=status.nodes,
                cpu_seconds=status.cpu_seconds,
            )
        if changes:
            job.note(**changes)
        if status.state in TERMINAL:
            return status
        pause(poll_seconds, stop)


@contextmanager
def slot(
    directory: Path,
    slots: int,
    poll_seconds: float,
    stop: threading.Event | None = None,
) -> Iterator[int]:
    """Hold one of *slots* job slots of a campaign (a lock file each) while inside.

    The locks are the operating system's, so a slot held by a process that
    dies is free again at once.
    """
    while True:
        held = try_slot(directory, slots)
        if held is not None:
            k, handle = held
            try:
                yield k
            finally:
                release(handle)
            return
        pause(poll_seconds, stop)


def try_slot(directory: Path, slots: int) -> tuple[int, Any] | None:
    """A free slot (its number and locked file), or None if all are taken."""
    directory.mkdir(parents=True, exist_ok=True)
    for k in range(slots):
        handle = (directory / f"slot-{k}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return k, handle
    return None


def release(handle: Any) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
