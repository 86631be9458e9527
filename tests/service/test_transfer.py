"""`strategy.transfer.campaigns`: a campaign learns from another in the same
database, and counts only its own trials (issue 14, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import loop
from loop.cli import app
from loop.records import TrialPhase, TrialStatus
from loop.report.data import build_report
from tests.conftest import CAMPAIGNS
from tests.invariants import check_invariants

runner = CliRunner()


def _campaign(tmp_path: Path, name: str, budget: int, **strategy: object) -> Path:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["name"] = name
    data["budget"] = {"experiments": budget}
    data["strategy"].update({"initial_design": {"size": 3}, "batch_size": 1})
    data["strategy"]["optimizer"] = {"restarts": 2, "raw_samples": 64}
    data["strategy"].update(strategy)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.timeout(600)
def test_a_campaign_learns_from_a_finished_one_and_counts_only_its_own(
    any_db_url: str, tmp_path: Path
) -> None:
    older = runner.invoke(
        app, ["run", str(_campaign(tmp_path, "older", 10)), "--db", any_db_url]
    )
    assert older.exit_code == 0, older.output
    newer = _campaign(tmp_path, "newer", 5, transfer={"campaigns": ["older"]})
    result = runner.invoke(app, ["run", str(newer), "--db", any_db_url])
    assert result.exit_code == 0, result.output

    campaign = loop.Campaign.open("newer", db=any_db_url)
    trials = campaign.store.trials("newer")
    assert len(trials) == 5  # the budget counts only its own experiments
    assert all(t.status is TrialStatus.COMPLETED for t in trials)
    model = [t for t in trials if t.phase is TrialPhase.MODEL]
    assert len(model) == 2
    for t in model:
        transfer = t.provenance["transfer"]
        assert transfer["sources"] == ["campaign older"]
        assert transfer["rows"] == {"conductivity": 10}
        assert set(transfer["weights"][0]) == {"conductivity"}
    # the best is one of its own measurements, never the source's
    own = max(t.values["conductivity"] for t in trials)
    best = campaign.best()
    assert best is not None
    assert best.values["conductivity"] == own
    shown = runner.invoke(
        app, ["inspect", "newer", "--explain", str(model[-1].id), "--db", any_db_url]
    )
    assert shown.exit_code == 0, shown.output
    assert "learned from" in shown.output
    assert "campaign older (conductivity 10 rows)" in shown.output
    # the report checks the model that proposed: the same GP, sources included
    data = build_report(campaign.store, "newer")
    assert data.cv is not None and data.relevance is not None
    assert not [n for n in data.notes if "transfer" in n]
    older_trials = campaign.store.trials("older")
    assert len(older_trials) == 10  # the source is read, never written
    assert check_invariants(any_db_url, "newer") == []


def test_a_source_campaign_that_is_not_there_stops_the_run_with_exit_2(
    db_url: str, tmp_path: Path
) -> None:
    path = _campaign(tmp_path, "newer", 4, transfer={"campaigns": ["nowhere"]})
    result = runner.invoke(app, ["run", str(path), "--db", db_url])
    assert result.exit_code == 2, result.output
    assert "strategy.transfer.campaigns.0" in result.output
    assert "no campaign named 'nowhere'" in result.output
    assert "Traceback" not in result.output


def test_validate_refuses_transfer_for_another_engine(tmp_path: Path) -> None:
    path = _campaign(
        tmp_path, "newer", 4, engine="random", transfer={"campaigns": ["older"]}
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "strategy.transfer" in result.output
    assert "engine random cannot learn from other campaigns" in result.output


@pytest.mark.timeout(600)
def test_a_notebook_ask_learns_from_a_table_of_a_related_system(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Campaign.ask` builds its engine with the sources as `loop run` does."""
    monkeypatch.setenv("LOOP_DATA_ROOT", str(tmp_path))
    (tmp_path / "past.csv").write_text(
        "EC,EMC,DMC,LiPF6_molality,sigma\n"
        "0.3,0.4,0.3,1.0,9.8\n0.5,0.2,0.3,1.2,10.4\n0.2,0.4,0.4,0.8,8.9\n"
        "0.4,0.3,0.3,1.5,10.1\n0.6,0.2,0.2,1.1,9.9\n"
    )
    table = {"path": "past.csv", "columns": {"conductivity": "sigma"}}
    path = _campaign(tmp_path, "notebook", 6, transfer={"data": [table]})
    campaign = loop.Campaign.from_yaml(path, db=db_url)
    for _ in range(2):  # the initial design (3), then the model's
        for trial in campaign.ask(3):
            campaign.tell(trial.id, {"conductivity": 9.0 + trial.id / 10})
    model = [
        t for t in campaign.store.trials("notebook") if t.phase is TrialPhase.MODEL
    ]
    assert model
    assert model[0].provenance["transfer"]["sources"] == ["past.csv"]
    assert model[0].provenance["transfer"]["rows"] == {"conductivity": 5}
