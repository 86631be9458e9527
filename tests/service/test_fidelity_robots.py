"""Robots as the target fidelity (issue 17, item 3): one driver evaluates the
screens while simulated robots claim the target's trials over real HTTP, in
one campaign, until the cost budget is spent."""

from __future__ import annotations

import copy
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.robot.simulate import run as simulate_robots
from loop.errors import SpecError
from loop.records import CampaignStatus, TrialStatus
from loop.service.campaigns import ensure_campaign
from loop.service.robots import add_robot
from loop.spec import validate
from loop.spec.fidelity import FIDELITY
from loop.storage import Store
from tests.conftest import CAMPAIGNS
from tests.invariants import check_invariants
from tests.lab import live_server

BUDGET = 60.0
COSTS = {"screen": 1.0, "lab": 10.0}


def _campaign() -> dict[str, Any]:
    data = yaml.safe_load((CAMPAIGNS / "multi-fidelity-bumps.yaml").read_text())
    data["name"] = "mf-robots"
    data["fidelities"][1] = {
        "name": "lab",
        "cost": COSTS["lab"],
        "adapter": {"type": "robot", "claim_ttl": 120},
    }
    data["budget"] = {"experiments": 60, "cost": BUDGET}
    data["strategy"]["initial_design"] = {"size": 4}
    data["strategy"]["batch_size"] = 3
    return data


def test_two_robot_fidelities_are_refused() -> None:
    data = copy.deepcopy(_campaign())
    data["fidelities"].insert(
        1, {"name": "robot-a", "cost": 5, "adapter": {"type": "robot"}}
    )
    with pytest.raises(SpecError) as info:
        validate(data)
    assert "fidelities.2.adapter.type" in [p.path for p in info.value.problems]


@pytest.mark.timeout(600)
def test_robots_measure_the_target_while_the_driver_screens(
    any_db_url: str, tmp_path: Path
) -> None:
    spec = validate(_campaign())
    store = Store(any_db_url)
    ensure_campaign(store, spec)
    token = add_robot(store, spec.name, "robot-1").token

    with live_server(store) as url:
        # robot tokens can read the status document; robots claim nothing yet
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            answer = client.post(f"/api/v1/campaigns/{spec.name}/claims")
            assert answer.status_code == 204, answer.text
        driver = subprocess.Popen(
            [sys.executable, "-m", "loop.cli", "resume", spec.name, "--db", any_db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        robots: dict[str, Any] = {}

        def play() -> None:
            robots["summary"] = simulate_robots(
                url=url,
                campaign=spec.name,
                token=token,
                function="simplex-bumps",
                workers=2,
                log=lambda _line: None,
            )

        thread = threading.Thread(target=play, daemon=True)
        thread.start()
        try:
            output, _ = driver.communicate(timeout=480)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.communicate()
        thread.join(timeout=60)
    assert driver.returncode == 0, output
    assert "cost budget spent" in output
    assert not thread.is_alive()

    assert store.get_campaign(spec.name).status == CampaignStatus.COMPLETED
    trials = store.trials(spec.name)
    assert all(t.status == TrialStatus.COMPLETED for t in trials), [
        (t.id, t.status, t.failure_reason) for t in trials
    ]
    levels = Counter(t.parameters[FIDELITY] for t in trials)
    assert levels["lab"] >= 2 and levels["screen"] >= 2, levels
    costs = []
    for t in trials:
        assert t.measurement is not None
        level = t.parameters[FIDELITY]
        # robots measured the lab's trials, and only those; the driver the screens
        by_robot = t.measurement.source.startswith("robot-key:")
        assert by_robot == (level == "lab"), (t.id, level, t.measurement.source)
        assert t.measurement.metadata["fidelity"] == level
        assert t.measurement.metadata["cost"] == COSTS[level]
        costs.append(COSTS[level])
    # stopped once the budget was spent, over it by at most one batch in flight
    assert BUDGET <= sum(costs) < BUDGET + 3 * COSTS["lab"]
    assert check_invariants(any_db_url, spec.name) == []
    store.engine.dispose()


def test_a_screen_left_pending_is_measured_after_the_cost_budget_is_spent(
    db_url: str,
) -> None:
    """A stopped driver left a screen PENDING after the cost budget was spent:
    the next driver (which refills, as robots measure the target) claims it,
    evaluates it and completes the campaign, never returning with it claimed."""
    from loop.records import Proposal
    from loop.service.runner import run_campaign

    spec = validate(_campaign())
    store = Store(db_url)
    ensure_campaign(store, spec)
    # six lab measurements spent the budget (60); a screen was stored after them
    levels = ["lab"] * 6 + ["screen"]
    proposals = [
        Proposal(
            composition={"A": 0.1 * k, "B": 0.8 - 0.1 * k, "C": 0.05, "D": 0.05},
            parameters={FIDELITY: level},
            phase="initial",
            strategy="sobol",
        )
        for k, level in enumerate(levels)
    ]
    *spent, left = store.add_trials(spec.name, 0, proposals, budget=60)
    for t in spent:
        store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
        level = t.parameters[FIDELITY]
        store.complete(
            t.id, 1, {"y": 0.1}, metadata={"fidelity": level, "cost": COSTS[level]}
        )
    assert sum(COSTS[t.parameters[FIDELITY]] for t in spent) == BUDGET

    summary = run_campaign(store, spec.name, poll_seconds=0.1)
    trials = {t.id: t for t in store.trials(spec.name)}
    assert trials[left.id].status == TrialStatus.COMPLETED
    assert len(trials) == 7  # nothing proposed beyond the spent budget
    assert store.get_campaign(spec.name).status == CampaignStatus.COMPLETED
    assert summary.finished
    store.engine.dispose()
