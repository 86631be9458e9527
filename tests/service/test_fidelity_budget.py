"""What a multi-fidelity campaign spends (issue 17, item 1): work in flight is
counted at its own level's expected cost, a `cost: measured` level costs what
its adapter records, and a level's `max_evaluations` caps it (the target's
ends the campaign)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from loop.campaign_state import CostSpent, level_costs
from loop.cli import app
from loop.records import CampaignStatus, TrialStatus
from loop.spec import validate
from loop.spec.fidelity import FIDELITY
from loop.storage import Store
from tests.conftest import CAMPAIGNS
from tests.invariants import check_invariants
from tests.support import simulated_trials

runner = CliRunner()

#: The target: a smooth landscape on the simplex that reports what each
#: evaluation cost (3 units and a little more the further from the centre).
TARGET = """
def measure(composition, parameters, bias=0.0):
    a, b = composition["A"], composition["B"]
    far = sum((v - 0.25) ** 2 for v in composition.values())
    return {"y": -((a - 0.5) ** 2) - (b - 0.3) ** 2 + bias * a, "cost": 3.0 + far}
"""


def _bumps(**full: Any) -> dict[str, Any]:
    data = yaml.safe_load((CAMPAIGNS / "multi-fidelity-bumps.yaml").read_text())
    data["fidelities"][1].update(full)
    return data


def test_work_in_flight_counts_at_its_own_levels_cost() -> None:
    spec = validate(_bumps())
    configs = [
        SimpleNamespace(composition=c, parameters={FIDELITY: level})
        for c, level in [
            ({"A": 0.4, "B": 0.3, "C": 0.2, "D": 0.1}, "screen"),
            ({"A": 0.1, "B": 0.3, "C": 0.2, "D": 0.4}, "screen"),
        ]
    ]
    done = simulated_trials(spec, configs)
    running = simulated_trials(
        spec,
        [
            SimpleNamespace(
                composition=configs[0].composition, parameters={FIDELITY: f}
            )
            for f in ("full", "full", "screen")
        ],
        start=3,
        status=TrialStatus.CLAIMED,
    )
    spent = CostSpent.of([*done, *running], [], spec)
    assert spent.spent == 2.0  # two screens measured
    # two full evaluations (10 each) and a screen (1) in flight: 21 promised,
    # where the mean so far (1) would have promised 3
    assert spent.promised(running) == 21.0
    assert spent.slots(30.0, spent.promised(running)) == 7  # 7 left at 1 each
    assert spent.slots(23.0, spent.promised(running)) == 0


def test_before_any_cost_is_recorded_new_work_counts_at_the_cheapest_level() -> None:
    spec = validate(_bumps())
    spent = CostSpent.of([], [], spec)
    # the first points of a campaign are screens: the first batch is limited too
    assert spent.expected == 1.0
    assert spent.slots(5.0) == 5


def test_a_measured_cost_is_expected_at_its_estimate_then_at_the_mean() -> None:
    data = _bumps(
        cost="measured",
        expected_cost=12,
        adapter={"type": "python", "target": "json:dumps"},
    )
    spec = validate(data, check_adapter=False)
    assert level_costs(spec, []) == {"screen": 1.0, "full": 12.0}
    trials = simulated_trials(
        validate(_bumps()),
        [
            SimpleNamespace(
                composition={"A": 0.4, "B": 0.3, "C": 0.2, "D": 0.1},
                parameters={FIDELITY: "full"},
            )
        ]
        * 2,
    )
    for t, cost in zip(trials, (6.0, 8.0), strict=True):
        assert t.measurement is not None
        t.measurement.metadata["cost"] = cost
    assert level_costs(spec, trials) == {"screen": 1.0, "full": 7.0}


@pytest.fixture
def target_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mf_target.py").write_text(TARGET)
    yield tmp_path
    sys.modules.pop("mf_target", None)


@pytest.mark.timeout(300)
def test_a_measured_target_with_a_cap_ends_the_campaign_at_its_cap(
    target_module: Path,
) -> None:
    data = _bumps(
        cost="measured",
        expected_cost=3,
        max_evaluations=3,
        adapter={"type": "python", "target": "mf_target:measure"},
    )
    data["fidelities"][0]["adapter"] = {
        "type": "python",
        "target": "mf_target:measure",
        "options": {"bias": 0.2},
    }
    data["fidelities"][0]["max_evaluations"] = 6
    data["budget"] = {"experiments": 40}
    data["strategy"]["initial_design"] = {"size": 4}
    path = target_module / "mf.yaml"
    path.write_text(yaml.safe_dump(data))
    url = f"sqlite:///{target_module / 'mf.db'}"

    result = runner.invoke(app, ["run", str(path), "--db", url])
    assert result.exit_code == 0, result.output
    assert "(its max_evaluations)" in result.output

    store = Store(url, create=False)
    trials = store.trials(data["name"])
    assert store.get_campaign(data["name"]).status == CampaignStatus.COMPLETED
    full = [t for t in trials if t.parameters[FIDELITY] == "full"]
    screens = [t for t in trials if t.parameters[FIDELITY] == "screen"]
    # exactly the target's cap, and no more screens than theirs
    assert len(full) == 3
    assert 1 <= len(screens) <= 6
    for t in full:  # each costs what the function reported
        assert t.measurement is not None
        far = sum((v / 1.0 - 0.25) ** 2 for v in t.composition.values())
        assert t.measurement.metadata["cost"] == pytest.approx(3.0 + far)
    for t in screens:
        assert t.measurement is not None
        assert t.measurement.metadata["cost"] == 1.0
    assert check_invariants(url, data["name"]) == []

    shown = runner.invoke(app, ["inspect", data["name"], "--db", url])
    assert shown.exit_code == 0, shown.output
    store.engine.dispose()
