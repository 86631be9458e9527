"""`budget.cost`: a campaign stops when what its evaluations cost is spent (issue 17)."""

from __future__ import annotations

from pathlib import Path

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
