"""The driver and the DFT adapter together, in process: slots, failures, stopping.

`max_concurrent_jobs` is the number of jobs a computational user promises the
cluster; these tests read every job's own state history to check it was kept
(references included), that failed jobs leave their job and cost on the trial's
audit trail, and that a driver asked to stop does so promptly while its jobs run
on, to be collected by `loop resume`.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from dft_helpers import dft_spec, job_dirs, max_in_flight

from loop.records import TrialStatus
from loop.service import runner
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.storage import Store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

RANDOM = {"strategy": {"engine": "random", "batch_size": 4}}


def started(tmp_path: Path, name: str, campaign: dict, **adapter) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'loop.db'}")
    # a busy test machine may take seconds to start a job: not a lost job here
    adapter.setdefault("vanish_after", 60)
    ensure_campaign(store, dft_spec(tmp_path / "work", name, campaign, **adapter))
    return store


def histories(directories: list[Path]) -> dict[str, list]:
    """Each job's state history, for a failure message."""
    return {
        str(d.relative_to(d.parents[1])): json.loads((d / "job.json").read_text())[
            "history"
        ]
        for d in directories
    }


def test_references_and_trials_together_keep_to_max_concurrent_jobs(
    tmp_path: Path,
) -> None:
    # a fresh work directory: the three references run as jobs of this campaign
    store = started(
        tmp_path,
        "slots",
        {**RANDOM, "budget": {"experiments": 5}},
        max_concurrent_jobs=2,
    )
    summary = run_campaign(store, "slots")
    dirs = job_dirs(tmp_path / "work")
    trials = [(t.id, t.status.value, t.failure_reason) for t in store.trials("slots")]
    assert summary.finished and summary.completed == 5, trials
    assert len(dirs) == 3 + 5, histories(dirs)
    # never more, and the slots were used
    assert max_in_flight(dirs) == 2, histories(dirs)


def test_a_failed_job_leaves_its_job_and_cost_on_the_trials_record(
    tmp_path: Path,
) -> None:
    store = started(
        tmp_path,
        "broken",
        {**RANDOM, "budget": {"experiments": 2}},
        max_concurrent_jobs=2,
        # the calculation itself breaks, after it started
        slurm={
            "command": "sed -i 's/emt/unheard-of/' calc.json; "
            "$python -m adapters.dft.run_local ."
        },
    )
    # the references are jobs too, with the same broken command: compute
    # them first with a working one so that the trials themselves fail
    good = dft_spec(tmp_path / "work", "refs-only")
    from adapters.dft.jobs import backend
    from adapters.dft.references import References

    References(good.adapter_config(), tmp_path / "work", backend("local")).ensure(
        ["Cu", "Ni", "Pd"]
    )
    summary = run_campaign(store, "broken")
    assert summary.failed == 2 and summary.completed == 0
    for trial in store.trials("broken"):
        assert trial.status == TrialStatus.FAILED
        assert "unknown local calculator" in (trial.failure_reason or "")
        [failed] = [e for e in store.events(trial.id) if e["to_status"] == "failed"]
        details = failed["details"]
        assert details["job"]["name"] == f"loop-broken-t{trial.id}-a1"
        assert details["job"]["state"] == "failed"
        assert Path(details["job"]["directory"]).is_dir()
        assert details["cost_unit"] == "cpu_seconds" and details["cost"] > 0


def test_a_stopped_driver_stops_waiting_at_once_and_resume_collects_the_jobs(
    tmp_path: Path,
) -> None:
    store = started(
        tmp_path,
        "stop",
        {**RANDOM, "budget": {"experiments": 2}},
        max_concurrent_jobs=2,
        slurm={"command": "sleep 4; $python -m adapters.dft.run_local ."},
    )
    work = tmp_path / "work" / "stop"

    def stop_when_both_run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(list(work.glob("trial-*/attempt-*/job.json"))) == 2:
                break
            time.sleep(0.05)
        runner.stop_requested.set()

    threading.Thread(target=stop_when_both_run, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_campaign(store, "stop")
    finally:
        runner.stop_requested.clear()
    # the driver left without waiting for its jobs (4 s of sleep each)...
    assert not [t for t in threading.enumerate() if t.name.startswith("loop-trial-")]
    states = [json.loads(p.read_text())["state"] for p in work.glob("*/*/job.json")]
    assert len(states) == 2 and "completed" not in states
    assert [t.status for t in store.trials("stop")] == [TrialStatus.CLAIMED] * 2
    # ... which ran on, and are collected, once each, by the next driver
    summary = run_campaign(store, "stop")
    assert summary.finished and summary.completed == 2
    for trial in store.trials("stop"):
        job = trial.measurement.metadata["job"]
        assert job["attempt"] == 1 and job["submissions"] == 1
        assert trial.measurement.metadata["adopted"]
