"""Simulated robots drive a robot campaign end to end: the driver (`run_campaign`)
in one thread, the real API on loopback in another, four robots in four more,
all over one real SQLite file."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlmodel import select

from adapters.robot import simulate
from adapters.robot.client import RobotClient
from loop.plugins import adapter_class
from loop.records import TrialStatus
from loop.service.runner import RunSummary, run_campaign
from loop.storage import Store
from loop.storage import inbox as db
from loop.storage.tables import MeasurementRow
from tests.lab import RobotCampaign, live_server, robot_campaign

pytestmark = pytest.mark.timeout(120)

BUDGET = 12


def _small(db_url: str) -> RobotCampaign:
    return robot_campaign(
        db_url,
        budget={"experiments": BUDGET},
        strategy={"engine": "random", "batch_size": 4},
    )


class Driver:
    """`run_campaign` in a thread over its own Store, as `loop run` would be."""

    def __init__(self, db_url: str, name: str) -> None:
        self.result: RunSummary | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, args=(db_url, name), daemon=True
        )
        self.thread.start()

    def _run(self, db_url: str, name: str) -> None:
        try:
            self.result = run_campaign(Store(db_url), name, poll_seconds=0.05)
        except BaseException as exc:
            self.error = exc

    def finish(self) -> RunSummary:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the driver did not stop"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def test_four_simulated_robots_spend_exactly_the_budget(db_url: str) -> None:
    rc = _small(db_url)
    driver = Driver(db_url, rc.name)
    lines: list[str] = []
    with live_server(rc.store) as url:
        summary = simulate.run(
            url,
            rc.name,
            rc.token,
            "electrolyte",
            workers=4,
            duplicate_rate=0.3,
            fail_rate=0.1,
            seed=3,
            log=lines.append,
            spec=rc.spec,
        )
        result = driver.finish()

    assert result.finished and result.used == BUDGET
    trials = rc.store.trials(rc.name)
    status = Counter(t.status for t in trials)
    assert status[TrialStatus.COMPLETED] + status[TrialStatus.FAILED] == BUDGET
    assert set(status) <= {TrialStatus.COMPLETED, TrialStatus.FAILED}
    assert rc.store.get_campaign(rc.name).status == "completed"

    with rc.store.transaction(write=False) as s:
        rows = list(s.exec(select(MeasurementRow)))
    per_trial = Counter(r.trial_id for r in rows)
    assert all(n == 1 for n in per_trial.values()), "a trial measured twice"
    completed = {t.id for t in trials if t.status == TrialStatus.COMPLETED}
    assert set(per_trial) == completed
    assert summary.measurements == len(rows)

    posts = [
        s for s in db.submissions(rc.store, rc.name) if s["route"] == "measurements"
    ]
    outcomes = Counter(s["outcome"] for s in posts)
    assert outcomes["accepted"] + outcomes["late"] == len(rows)
    assert outcomes["replayed"] == summary.duplicates_posted
    assert summary.replays_identical == summary.duplicates_posted
    assert set(outcomes) <= {"accepted", "late", "replayed"}
    assert summary.crashes == 0
    assert summary.claims == summary.measurements + summary.failures
    assert any("the campaign is done" in line for line in lines)


def test_simulate_reads_the_spec_from_the_status_document(db_url: str) -> None:
    """`loop robot simulate` has only a URL, a campaign and a token: the
    simulator function is built from the spec the API hands out."""
    rc = robot_campaign(
        db_url,
        budget={"experiments": 2},
        strategy={"engine": "random", "batch_size": 2},
    )
    with live_server(rc.store) as url:
        with RobotClient(url, rc.token, rc.name) as robot:
            assert robot.status()["spec"]["name"] == rc.name
        driver = Driver(db_url, rc.name)
        summary = adapter_class("robot").simulate(
            url=url,
            campaign=rc.name,
            token=rc.token,
            function="electrolyte",
            workers=1,
            fail_rate=0.0,
            latency=0.0,
            crash_rate=0.0,
            duplicate_rate=0.0,
            noise=0.1,
            seed=0,
            log=lambda _line: None,
        )
        result = driver.finish()
    assert result.finished
    assert summary.measurements == 2


def test_robots_that_crash_after_claiming_do_not_lose_the_budget(db_url: str) -> None:
    """A crashed robot's trial is offered again once its lease runs out (3 s here:
    short, but long enough that a healthy robot's start-to-report gap never
    outlasts it on a loaded machine, which would leave that trial for review)."""
    rc = robot_campaign(
        db_url,
        budget={"experiments": 4},
        strategy={"engine": "random", "batch_size": 2},
        adapter={"type": "robot", "claim_ttl": "3s", "max_attempts": 3},
    )
    driver = Driver(db_url, rc.name)
    with live_server(rc.store) as url:
        # seeds 31 and 32 roll a crash on each robot's first claim
        summary = simulate.run(
            url,
            rc.name,
            rc.token,
            "electrolyte",
            workers=2,
            crash_rate=0.3,
            seed=31,
            log=lambda _line: None,
            spec=rc.spec,
        )
        result = driver.finish()
    assert result.finished and result.completed == 4
    assert summary.crashes >= 1
    assert summary.claims == summary.measurements + summary.crashes
    trials = rc.store.trials(rc.name)
    assert {t.status for t in trials} <= {TrialStatus.COMPLETED, TrialStatus.ABANDONED}
    assert any(t.attempt >= 2 for t in trials), "no crashed trial was offered again"
