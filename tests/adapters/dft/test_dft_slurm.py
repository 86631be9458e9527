"""The slurm backend against fake sbatch/squeue/sacct/scancel (tests/adapters/dft/fakeslurm).

The jobs really run: the fake scheduler executes each job script (the local EMT
runner here) in its own process, so every path ends in files the parser reads.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from dft_helpers import FAKESLURM, adapter_for, dft_spec, request

from adapters.dft import lifecycle
from adapters.dft.jobs import BackendError, SlurmBackend, _cpu

pytestmark = pytest.mark.timeout(120)


def behave(state_dir: Path, *rules: tuple[str, dict]) -> None:
    (state_dir / "behaviour.json").write_text(json.dumps([list(r) for r in rules]))


def submissions(state_dir: Path) -> list[str]:
    log = state_dir / "sbatch.log"
    return (
        [line.split()[1] for line in log.read_text().splitlines()]
        if log.exists()
        else []
    )


def history(directory: Path) -> list[str]:
    return [state for state, _ in lifecycle.Job(directory).read()["history"]]


def test_submit_pending_running_completed(work: Path, fake_slurm: Path) -> None:
    behave(fake_slurm, ("t1-a1", {"pending_seconds": 1.0}))
    spec = dft_spec(work, name="s-ok", backend="slurm")
    result = adapter_for(spec).evaluate(request(spec))
    assert result.failure is None, result.failure
    directory = work / "s-ok" / "trial-00001" / "attempt-1"
    assert history(directory) == [
        "prepared",
        "submitting",
        "submitted",
        "pending",
        "running",
        "completed",
    ]
    record = lifecycle.Job(directory).read()
    assert record["job_id"].isdigit() and record["reason"] == "Priority"
    assert (directory / f"slurm-{record['job_id']}.out").exists()
    assert "loop-s-ok-t1-a1" in submissions(fake_slurm)
    meta = result.metadata
    assert meta["cost_unit"] == "node_hours" and meta["cost"] > 0
    assert meta["job"]["backend"] == "slurm" and meta["job"]["id"] == record["job_id"]


@pytest.mark.parametrize(
    ("behaviour", "words", "retryable"),
    [
        pytest.param(
            {"state": "FAILED"},
            "failed: SLURM FAILED, exit code 1:0",
            False,
            id="failed",
        ),
        pytest.param(
            {"state": "TIMEOUT"}, "timeout: SLURM TIMEOUT", False, id="timeout"
        ),
        pytest.param(
            {"state": "VANISH"},
            "vanished: the scheduler no longer knows",
            True,
            id="vanished",
        ),
    ],
)
def test_jobs_that_do_not_complete_fail_the_attempt(
    work: Path, fake_slurm: Path, behaviour: dict, words: str, retryable: bool
) -> None:
    name = f"s-{next(iter(behaviour.values())).lower()}"
    spec = dft_spec(work, name=name, backend="slurm")
    behave(fake_slurm, (f"{name}-t1-a1", behaviour))
    adapter = adapter_for(spec)
    result = adapter.evaluate(request(spec))
    assert result.failure and words in result.failure, result.failure
    assert result.retryable == retryable
    assert result.metadata["job"]["state"] == words.split(":")[0]
    # the next attempt is a new job (the failure was handed to the driver)
    again = adapter.evaluate(request(spec, attempt=2))
    assert again.failure is None, again.failure
    assert [n for n in submissions(fake_slurm) if n.startswith(f"loop-{name}")] == [
        f"loop-{name}-t1-a1",
        f"loop-{name}-t1-a2",
    ]


def test_a_script_that_exits_non_zero_is_failed_with_its_code(
    work: Path, fake_slurm: Path
) -> None:
    spec = dft_spec(work, name="s-exit", backend="slurm", slurm={"command": "exit 7"})
    result = adapter_for(spec).evaluate(request(spec))
    assert "SLURM FAILED, exit code 7:0" in result.failure and not result.retryable


def test_the_time_limit_kills_a_running_job(work: Path, fake_slurm: Path) -> None:
    spec = dft_spec(
        work, name="s-limit", backend="slurm", slurm={"command": "sleep 30"}
    )
    behave(fake_slurm, ("s-limit", {"time_limit_seconds": 1}))
    result = adapter_for(spec).evaluate(request(spec))
    assert "timeout" in result.failure
    assert "running" in history(work / "s-limit" / "trial-00001" / "attempt-1")


def test_scancel_through_the_adapter(work: Path, fake_slurm: Path) -> None:
    spec = dft_spec(
        work, name="s-cancel", backend="slurm", slurm={"command": "sleep 30"}
    )
    adapter = adapter_for(spec)
    results = []
    thread = threading.Thread(
        target=lambda: results.append(adapter.evaluate(request(spec)))
    )
    thread.start()
    directory = work / "s-cancel" / "trial-00001" / "attempt-1"
    deadline = time.monotonic() + 60
    while "running" not in (
        history(directory) if (directory / "job.json").exists() else []
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert adapter.cancel("s-cancel", 1) == ["loop-s-cancel-t1-a1"]
    thread.join(timeout=30)
    assert "cancelled" in results[0].failure and not results[0].retryable


def test_find_by_name_sees_queued_and_finished_jobs(
    tmp_path: Path, fake_slurm: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    backend = SlurmBackend()
    assert backend.find(tmp_path, "loop-x-t1-a1", time.time()) is None
    job_id = backend.submit(tmp_path, "loop-x-t1-a1")
    assert backend.find(tmp_path, "loop-x-t1-a1", time.time()) == job_id  # in squeue
    deadline = time.monotonic() + 30
    while backend.status(tmp_path, job_id).state != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert backend.find(tmp_path, "loop-x-t1-a1", time.time()) == job_id  # sacct only
    assert backend.status(tmp_path, "99999").state == "unknown"


def test_without_sacct_a_finished_job_is_judged_by_its_files(
    work: Path, fake_slurm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"  # sbatch, squeue and scancel, but no accounting
    bin_dir.mkdir()
    for command in ("sbatch", "squeue", "scancel"):
        (bin_dir / command).symlink_to(FAKESLURM / command)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    spec = dft_spec(work, name="s-nosacct", backend="slurm")
    result = adapter_for(spec).evaluate(request(spec))
    assert result.failure is None, result.failure
    assert result.metadata["job"]["state"] == "completed"


def test_without_slurm_commands_the_attempt_fails_retryably(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    # a work directory of its own: the references of the others are finished jobs
    spec = dft_spec(work / "elsewhere", name="s-none", backend="slurm")
    result = adapter_for(spec).evaluate(request(spec))
    assert "sbatch not found on PATH" in result.failure and result.retryable


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:01.500", 1.5), ("01:02:03", 3723.0), ("2-00:00:01", 172801.0), ("", None)],
)
def test_sacct_cpu_times(text: str, seconds: float | None) -> None:
    assert _cpu(text) == seconds


def test_a_busy_scheduler_is_asked_again(
    work: Path, fake_slurm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = SlurmBackend.status
    failures = iter([True, True, True])

    def flaky(self, directory: Path, job_id: str):
        if next(failures, False):
            raise BackendError("squeue exited with 1: Socket timed out on send/recv")
        return real(self, directory, job_id)

    monkeypatch.setattr(SlurmBackend, "status", flaky)
    spec = dft_spec(work, name="s-busy", backend="slurm")
    assert adapter_for(spec).evaluate(request(spec)).failure is None

    monkeypatch.setattr(
        SlurmBackend,
        "status",
        lambda *_: (_ for _ in ()).throw(BackendError("slurmctld down")),
    )
    spec = dft_spec(work, name="s-down", backend="slurm")
    result = adapter_for(spec).evaluate(request(spec))
    assert "slurmctld down" in result.failure and result.retryable
    # the job was not given up: the next attempt follows the same job
    record = lifecycle.Job(work / "s-down" / "trial-00001" / "attempt-1").read()
    assert record["state"] == "submitted" and "reported" not in record
