"""`budget.cost`: a campaign stops when what its evaluations cost is spent (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loop.campaign_state import CostSpent
from loop.cli import app
from tests.conftest import CAMPAIGNS

runner = CliRunner()


def test_work_in_flight_counts_at_the_mean_cost_so_far() -> None:
    spent = CostSpent(spent=30.0, expected=10.0)
    assert spent.slots(100.0, in_flight=0) == 7  # 70 left: the 7th may go over
    assert spent.slots(100.0, in_flight=4) == 3  # 40 of the 70 already promised
    assert spent.slots(100.0, in_flight=7) == 0
    assert spent.slots(25.0, in_flight=0) == 0  # spent already
    # before any cost is known only the experiment budget limits
    assert CostSpent(spent=0.0, expected=None).slots(100.0, in_flight=3) is None


def test_a_cost_budget_needs_an_adapter_that_records_cost(tmp_path: Path) -> None:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["budget"]["cost"] = 100
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "budget.cost" in result.output
    assert "the simulator adapter records no cost per evaluation" in result.output


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_dft_campaign_stops_when_its_cost_budget_is_spent(tmp_path: Path) -> None:
    """Local EMT jobs record their CPU seconds; with a budget smaller than one
    job, the first batch (proposed before any cost was known) runs to its end,
    nothing more is proposed, and the campaign is completed."""
    import os
    import subprocess
    import sys

    from loop.records import CampaignStatus, TrialStatus
    from loop.storage import Store

    data = yaml.safe_load((CAMPAIGNS / "dft-emt-cu-ni-pd.yaml").read_text())
    data["budget"] = {"experiments": 8, "cost": 1e-6}
    data["adapter"]["supercell"] = {"min_atoms": 4, "max_atoms": 16, "tolerance": 0.07}
    data["adapter"]["work_dir"] = str(tmp_path / "jobs")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    db = f"sqlite:///{tmp_path / 'loop.db'}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("LOOP_FAULT", None)
    done = subprocess.run(
        [sys.executable, "-m", "loop.cli", "run", str(path), "--db", db],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr
    assert "cost budget spent" in done.stdout + done.stderr
    store = Store(db, create=False)
    trials = store.trials(data["name"])
    assert store.get_campaign(data["name"]).status == CampaignStatus.COMPLETED
    # one batch of two, both measured; the experiment budget of 8 was not reached
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 2
    spent = CostSpent.of(trials, store.attempt_costs(data["name"]))
    assert spent.spent > 1e-6
    store.engine.dispose()
