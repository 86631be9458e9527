"""`budget.cost`: a campaign stops when what its evaluations cost is spent (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from loop.campaign_state import CostSpent
from loop.cli import app
from tests.conftest import CAMPAIGNS

runner = CliRunner()


def test_work_in_flight_counts_at_the_mean_cost_so_far() -> None:
    spent = CostSpent(spent=30.0, expected=10.0)
    assert spent.slots(100.0) == 7  # 70 left: the 7th may go over
    assert spent.slots(100.0, promised=40.0) == 3  # 40 of the 70 already promised
    assert spent.slots(100.0, promised=70.0) == 0
    assert spent.slots(25.0) == 0  # spent already
    # before any cost is known only the experiment budget limits
    assert CostSpent(spent=0.0, expected=None).slots(100.0, promised=0.0) is None


def test_a_cost_budget_needs_an_adapter_that_records_cost(tmp_path: Path) -> None:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["budget"]["cost"] = 100
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "budget.cost" in result.output
    assert "the simulator adapter records no cost per evaluation" in result.output


def test_inspect_shows_the_cost_spent_against_the_budget(
    db_url: str, tmp_path: Path
) -> None:
    """A measured and a failed attempt, each with its cost: `loop inspect`
    shows their sum against `budget.cost`, in the table and in JSON."""
    from loop.records import Proposal, TrialStatus
    from loop.service.campaigns import ensure_campaign
    from loop.spec import validate
    from loop.storage import Store

    data = yaml.safe_load((CAMPAIGNS / "dft-emt-cu-ni-pd.yaml").read_text())
    data["budget"] = {"experiments": 8, "cost": 10}
    spec = validate(data)
    store = Store(db_url)
    ensure_campaign(store, spec)
    proposals = [
        Proposal(
            composition={"Cu": 0.5, "Ni": 0.5, "Pd": 0.0},
            phase="initial",
            strategy="sobol",
        ),
        Proposal(
            composition={"Cu": 0.2, "Ni": 0.3, "Pd": 0.5},
            phase="initial",
            strategy="sobol",
        ),
    ]
    a, b = store.add_trials(spec.name, 0, proposals, budget=8)
    for t in (a, b):
        store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
    store.complete(a.id, 1, {"mixing_energy": -0.01}, metadata={"cost": 2.5})
    store.transition(
        b.id,
        [TrialStatus.CLAIMED],
        TrialStatus.FAILED,
        attempt=1,
        reason="job ended FAILED",
        details={"cost": 1.25},
    )
    shown = runner.invoke(app, ["inspect", spec.name, "--db", db_url])
    assert shown.exit_code == 0, shown.output
    assert "cost 3.75/10" in shown.output
    as_json = runner.invoke(
        app, ["inspect", spec.name, "--db", db_url, "--format", "json"]
    )
    budget = json.loads(as_json.stdout)["budget"]
    assert budget == {"experiments": 8, "used": 2, "cost": 10.0, "cost_spent": 3.75}
