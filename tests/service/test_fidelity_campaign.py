"""A multi-fidelity campaign driven end to end (issue 17): the driver hands each
trial to its fidelity's adapter, records the level and its cost, stops at the
cost budget, and `loop inspect` says why each level was chosen."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from loop.cli import app
from loop.records import TrialPhase, TrialStatus
from loop.spec.fidelity import FIDELITY
from loop.storage import Store
from tests.conftest import CAMPAIGNS
from tests.invariants import check_invariants

runner = CliRunner()
NAME = "multi-fidelity-bumps"
COSTS = {"screen": 1.0, "full": 10.0}


def small(cost: float = 60) -> dict[str, Any]:
    """The example at a smaller cost budget and a four-point design."""
    data = yaml.safe_load((CAMPAIGNS / "multi-fidelity-bumps.yaml").read_text())
    data["budget"] = {"experiments": 60, "cost": cost}
    data["strategy"]["initial_design"] = {"size": 4}
    return data


@pytest.mark.slow  # real botorch rounds to a cost budget, on both backends
@pytest.mark.timeout(600)
def test_a_campaign_spends_its_cost_budget_across_fidelities(
    any_db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "mf.yaml"
    path.write_text(yaml.safe_dump(small()))
    result = runner.invoke(app, ["run", str(path), "--db", any_db_url])
    assert result.exit_code == 0, result.output
    assert "cost budget spent" in result.output

    store = Store(any_db_url, create=False)
    trials = store.trials(NAME)
    assert all(t.status == TrialStatus.COMPLETED for t in trials)
    levels = Counter(t.parameters[FIDELITY] for t in trials)
    assert set(levels) == {"screen", "full"}, levels
    # each evaluation recorded its level and that level's cost
    costs = []
    for t in trials:
        assert t.measurement is not None
        level = t.parameters[FIDELITY]
        assert t.measurement.metadata["fidelity"] == level
        assert t.measurement.metadata["cost"] == COSTS[level]
        costs.append(COSTS[level])
    # stopped once the budget was spent, over it by at most the last batch
    assert sum(costs) >= 60
    assert sum(costs) - sum(costs[-2:]) < 60
    # the model chose levels itself after the design
    chosen = [t for t in trials if t.phase is TrialPhase.MODEL]
    assert chosen
    assert all("information" in t.provenance["fidelity"] for t in chosen)
    assert check_invariants(any_db_url, NAME) == []

    shown = runner.invoke(
        app, ["inspect", NAME, "--db", any_db_url, "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.output)
    # the best is a full evaluation, whatever the screens read
    full = {t.id: t for t in trials if t.parameters[FIDELITY] == "full"}
    assert doc["best"]["id"] in full, doc["best"]
    assert doc["best"]["parameters"][FIDELITY] == "full"
    assert doc["budget"]["cost_spent"] == pytest.approx(sum(costs))
    by_level = doc["budget"]["cost_by_fidelity"]
    assert list(by_level) == ["screen", "full"]
    assert by_level["full"] == 10.0 * levels["full"]
    assert by_level["screen"] == 1.0 * levels["screen"]

    explained = runner.invoke(
        app, ["inspect", NAME, "--db", any_db_url, "--explain", str(chosen[0].id)]
    )
    assert explained.exit_code == 0, explained.output
    level = chosen[0].parameters[FIDELITY]
    assert f"fidelity      {level} (cost {COSTS[level]:g})" in explained.output
    assert "most information about the target per cost" in explained.output

    # the report: cost per fidelity, the target's best against cost, agreement
    from loop.report.data import build_report
    from loop.report.html import render_html

    data = build_report(store, NAME)
    assert data.fidelity is not None
    f = data.fidelity
    assert {k: v[-1] for k, v in f["cost_by_level"].items()} == by_level
    assert f["cost"][-1] == pytest.approx(sum(costs))
    # the best line moves only at full evaluations
    for k in range(1, len(f["best"])):
        if f["best"][k] != f["best"][k - 1]:
            assert f["level"][k] == "full"
    agreement = f["agreement"]["correlation"]
    assert agreement["full"] == pytest.approx(1.0)
    assert -1.0 <= agreement["screen"] <= 1.0
    page = render_html(data)
    assert 'id="fig-fidelity"' in page and 'id="fidelity-summary"' in page
    store.engine.dispose()
