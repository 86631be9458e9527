"""SIGKILL the engine while DFT jobs are in flight, then `loop resume` (RELIABILITY.md §3, case 6).

Every job must be collected exactly once and none submitted twice. The engine
runs as a child process (`python -m loop.cli`), killed either by the fault point
`after_dft_submit` (the scheduler has accepted a job, its id is not yet written
down) or from here, with SIGKILL, while two jobs run (followed by threads of the
driver, or by the workers of a Dask executor). The
jobs themselves outlive the engine, as cluster jobs do; how often each ran is
counted by its `runs.log` (local runner) and the fake `sbatch`'s log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from dft_helpers import FAKESLURM

from loop import faults
from loop.records import TrialStatus
from loop.storage import Store
from tests.invariants import check_invariants

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]
NAME = "dft-crash"
KILLED = -signal.SIGKILL


def campaign(tmp_path: Path, executor: str = "local", **adapter: Any) -> Path:
    """A Cu-Ni-Pd campaign of 4 random proposals in batches of 2, local EMT jobs."""
    data = {
        "schema_version": 1,
        "name": NAME,
        "space": {
            "composition": {"components": ["Cu", "Ni", "Pd"], "resolution": 0.05}
        },
        "objectives": [
            {"name": "mixing_energy", "direction": "minimize", "unit": "eV/atom"}
        ],
        "strategy": {"engine": "random", "batch_size": 2},
        "budget": {"experiments": 4},
        "adapter": {
            "type": "dft",
            "work_dir": str(tmp_path / "work"),
            "poll_seconds": 0.1,
            "vanish_after": 2,
            "supercell": {"min_atoms": 4, "max_atoms": 16, "tolerance": 0.07},
            **adapter,
        },
    }
    if executor == "dask":
        data["executor"] = {"type": "dask", "workers": adapter["max_concurrent_jobs"]}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def loop_cli(*args: str, fault: str | None = None, env: dict | None = None) -> Any:
    child_env = {k: v for k, v in (env or os.environ).items() if k != faults.ENV}
    child_env["OMP_NUM_THREADS"] = "1"
    if fault:
        child_env[faults.ENV] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "loop.cli", *args],
        cwd=ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: Any) -> tuple[int, str]:
    _, stderr = proc.communicate(timeout=240)
    return proc.returncode, stderr


def jobs(work: Path) -> dict[str, dict[str, Any]]:
    """Every job directory (relative name) -> its job.json.

    A job is prepared in a hidden staging directory and renamed into place
    whole; a staging directory's half-written files are not a job yet.
    """
    found = {}
    # os.walk, not rglob: a staging directory renamed while it is listed is
    # skipped instead of raising FileNotFoundError (seen in CI)
    for root, dirs, files in os.walk(work):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "job.json" in files:
            name = Path(root).relative_to(work)
            found[str(name)] = json.loads((Path(root) / "job.json").read_text())
    return dict(sorted(found.items()))


def runs(work: Path, name: str) -> int:
    log = work / name / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def assert_each_job_ran_and_was_collected_once(db: str, work: Path) -> dict:
    store = Store(db, create=False)
    trials = store.trials(NAME)
    store.engine.dispose()
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 4
    assert check_invariants(db, NAME) == []
    found = jobs(work)
    # one job per trial and per element: no attempt was submitted again
    assert len([n for n in found if n.startswith(NAME)]) == 4, sorted(found)
    assert len([n for n in found if n.startswith("references")]) == 3
    for name, record in found.items():
        assert record["state"] == "completed", (name, record["state"])
        assert runs(work, name) == 1, name  # started once
        assert record.get("submissions", 0) + record.get("found_by_name", 0) == 1, name
        if record["kind"] == "trial":
            assert record["collections"] == 1, name  # handed to the driver once
    for trial in trials:
        job = trial.measurement.metadata["job"]
        assert job["attempt"] <= trial.attempt
        assert trial.measurement.metadata["adopted"] == (job["attempt"] < trial.attempt)
    return found


def test_killed_after_each_submission_resume_collects_every_job_once(
    tmp_path: Path,
) -> None:
    path = campaign(tmp_path)
    db = f"sqlite:///{tmp_path / 'loop.db'}"
    work = tmp_path / "work"
    # the engine dies right after the scheduler takes each of the first five
    # jobs (three references, then the first trials), each time resumed
    code, stderr = finish(
        loop_cli("run", str(path), "--db", db, fault="after_dft_submit")
    )
    assert code == KILLED, stderr
    kills = 1
    while kills < 5:
        assert check_invariants(db, NAME, clean_exit=False) == []
        submitting = [n for n, r in jobs(work).items() if r["state"] == "submitting"]
        assert len(submitting) == 1  # the job the dead engine had just submitted
        code, stderr = finish(
            loop_cli("resume", NAME, "--db", db, fault="after_dft_submit")
        )
        assert code == KILLED, stderr
        kills += 1
    code, stderr = finish(loop_cli("resume", NAME, "--db", db))
    assert code == 0, stderr
    found = assert_each_job_ran_and_was_collected_once(db, work)
    assert sum(1 for r in found.values() if r.get("found_by_name")) == kills


def wait_for_two_live_jobs(engine: Any, work: Path) -> list[str]:
    """The names of the two trial jobs running together, once they are."""
    deadline = time.monotonic() + 120
    while True:
        assert engine.poll() is None, engine.communicate()
        assert time.monotonic() < deadline, jobs(work) if work.exists() else None
        live = [
            n
            for n, r in (jobs(work) if work.exists() else {}).items()
            if n.startswith(NAME) and r["state"] in ("submitted", "pending", "running")
        ]
        if len(live) == 2:
            return live
        time.sleep(0.05)


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_sigkill_with_two_jobs_running_then_resume(
    tmp_path: Path, executor: str
) -> None:
    # each job waits 2 s before computing, so the engine dies with both running
    path = campaign(
        tmp_path,
        executor,
        max_concurrent_jobs=2,
        slurm={"command": "sleep 2; $python -m adapters.dft.run_local ."},
    )
    db = f"sqlite:///{tmp_path / 'loop.db'}"
    work = tmp_path / "work"
    engine = loop_cli("run", str(path), "--db", db)
    try:
        live = wait_for_two_live_jobs(engine, work)
    except BaseException:  # never leave the engine (or its pipes) past a failed wait
        engine.kill()
        engine.communicate()
        raise
    engine.send_signal(signal.SIGKILL)
    assert finish(engine)[0] == KILLED
    assert check_invariants(db, NAME, clean_exit=False) == []
    in_flight = {n: r for n, r in jobs(work).items() if n in live}
    assert all(r["state"] != "completed" for r in in_flight.values())

    code, stderr = finish(loop_cli("resume", NAME, "--db", db))
    assert code == 0, stderr
    found = assert_each_job_ran_and_was_collected_once(db, work)
    for name in live:  # the jobs in flight at the kill were adopted, not rerun
        assert found[name]["collections"] == 1 and runs(work, name) == 1


def test_slurm_killed_after_sbatch_resume_finds_the_job_by_name(
    tmp_path: Path, fake_slurm: Path
) -> None:
    path = campaign(tmp_path, backend="slurm")
    db = f"sqlite:///{tmp_path / 'loop.db'}"
    work = tmp_path / "work"
    env = dict(os.environ)  # PATH and FAKESLURM_DIR from the fixture
    assert str(FAKESLURM) in env["PATH"]
    code, stderr = finish(
        loop_cli("run", str(path), "--db", db, fault="after_dft_submit", env=env)
    )
    assert code == KILLED, stderr
    for _ in range(3):  # the other two references and the first trial's job
        code, stderr = finish(
            loop_cli("resume", NAME, "--db", db, fault="after_dft_submit", env=env)
        )
        assert code == KILLED, stderr
    code, stderr = finish(loop_cli("resume", NAME, "--db", db, env=env))
    assert code == 0, stderr
    found = assert_each_job_ran_and_was_collected_once(db, work)
    calls = (fake_slurm / "sbatch.log").read_text().splitlines()
    assert len(calls) == len(found) == 7  # one sbatch per job, none repeated
    assert sum(1 for r in found.values() if r.get("found_by_name")) == 4
