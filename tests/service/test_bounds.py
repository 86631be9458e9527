"""Objective `bounds` and `outliers` outside the robot API (issue 15, "Values").

The YAML keys are checked with the key named; `loop tell`, `Campaign.tell` and
`loop import` refuse a value outside the bounds (exit 2, the row named); a
simulator's values pass the same rule (a failed or a flagged trial, never a
crash); and a database that already holds 1.7e308 from before bounds existed
resumes with a warning naming it, keeps it out of the model and keeps proposing.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loop
from loop.campaign_state import CampaignState, load_spec
from loop.cli import app
from loop.engine import CampaignEngine
from loop.errors import LoopError
from loop.records import TrialPhase, TrialStatus
from loop.service.campaigns import ensure_campaign
from loop.spec import validate
from loop.storage import Store
from tests.conftest import CAMPAIGNS
from tests.invariants import check_invariants

runner = CliRunner()
HEA = CAMPAIGNS / "hea-manual.yaml"
POISON = 1.7e308


def _objective(campaign_data: dict, **keys: object) -> dict:
    data = copy.deepcopy(campaign_data)
    data["objectives"] = [{"name": "y", "direction": "maximize", **keys}]
    return data


@pytest.mark.parametrize(
    ("keys", "where", "said"),
    [
        ({"bounds": [10, 0]}, "objectives.0.bounds", "low 10 is not below high 0"),
        ({"bounds": [None, None]}, "objectives.0.bounds", "both ends are null"),
        ({"bounds": [0, ".inf"]}, "objectives.0.bounds", "finite"),
        (
            {"bounds": [0, 10], "transform": "log"},
            "objectives.0.bounds",
            "must be positive under `transform: log`",
        ),
        (
            {"bounds": [0, 10], "threshold": 20},
            "objectives.0.bounds",
            "do not contain the threshold 20",
        ),
        ({"outliers": "flag"}, "objectives.0.outliers", "no effect without `bounds`"),
        ({"bounds": [0, 10], "outliers": "drop"}, "objectives.0.outliers", "refuse"),
        ({"bounds": [True, 10]}, "objectives.0.bounds", "not a number"),
    ],
)
def test_bad_bounds_exit_2_naming_the_key(
    campaign_data: dict, write_yaml, keys: dict, where: str, said: str
) -> None:
    data = _objective(campaign_data, **keys)
    text = write_yaml(data).read_text().replace("'.inf'", ".inf")
    result = runner.invoke(app, ["validate", str(write_yaml(text))])
    assert result.exit_code == 2, result.output
    assert where in result.output and said in result.output, result.output


def test_open_ended_bounds_are_valid(campaign_data: dict) -> None:
    spec = validate(_objective(campaign_data, bounds=[0, None], threshold=0.1))
    (y,) = spec.objectives
    assert y.out_of_bounds(-1e-9) and y.out_of_bounds(POISON) is None


def test_tell_and_the_python_api_refuse_a_value_outside_the_bounds(
    db_url: str, write_yaml
) -> None:
    import yaml

    data = yaml.safe_load(HEA.read_text())
    data["objectives"][0].update(bounds=[50, 1500], outliers="flag")
    campaign = loop.Campaign.from_yaml(write_yaml(data), db=db_url)
    (trial,) = campaign.ask(1)
    result = runner.invoke(
        app,
        ["tell", campaign.name, "--trial", str(trial.id), "--value",
         f"hardness={POISON}", "--db", db_url],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "1.7e+308 is outside the bounds [50, 1500] of 'hardness'" in result.output
    with pytest.raises(LoopError, match=r"outside the bounds \[50, 1500\]"):
        campaign.tell(trial.id, {"hardness": 12.0})
    assert [t.status for t in campaign.store.trials(campaign.name)] == [
        TrialStatus.PENDING
    ]
    campaign.tell(trial.id, {"hardness": 512.0})


def test_import_refuses_the_row_outside_the_bounds_by_number(
    db_url: str, tmp_path: Path, write_yaml
) -> None:
    import yaml

    data = yaml.safe_load(HEA.read_text())
    data["objectives"][0]["bounds"] = [50, 1500]
    campaign = loop.Campaign.from_yaml(write_yaml(data), db=db_url)
    path = tmp_path / "past.csv"
    path.write_text(
        "Al,Co,Cr,Fe,Ni,HV\n"
        "0.30,0.20,0.25,0.10,0.15,590\n"
        f"0.20,0.20,0.20,0.20,0.20,{POISON}\n"
    )
    result = runner.invoke(
        app,
        ["import", campaign.name, str(path), "--db", db_url,
         "--columns", "hardness=HV"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "1 of 2 rows of past.csv cannot be imported" in result.output
    assert "row 2: hardness: 1.7e+308 is outside the bounds [50, 1500]" in (
        result.output
    )
    assert campaign.store.trials(campaign.name) == []


@pytest.mark.parametrize("outliers", ["refuse", "flag"])
def test_a_simulator_value_outside_the_bounds_fails_or_flags_its_trial(
    db_url: str, campaign_data: dict, write_yaml, outliers: str
) -> None:
    data = _objective(campaign_data, bounds=[None, 0.09], outliers=outliers)
    data["strategy"] = {"engine": "random", "batch_size": 2}
    data["budget"] = {"experiments": 8}
    result = runner.invoke(app, ["run", str(write_yaml(data)), "--db", db_url])
    assert result.exit_code == 0, result.output
    trials = Store(db_url, create=False).trials("mixed-bumps")
    out = [t for t in trials if t.status is not TrialStatus.COMPLETED]
    assert out and all(t.values["y"] <= 0.09 for t in trials if t.measurement)
    for t in out:
        assert "outside the bounds [null, 0.09] of 'y'" in (t.failure_reason or "")
        if outliers == "refuse":
            assert t.status is TrialStatus.FAILED and t.flagged is None
            assert "the adapter's values were refused" in (t.failure_reason or "")
        else:
            assert t.status is TrialStatus.NEEDS_REVIEW
            assert t.flagged is not None and t.flagged.values["y"] > 0.09
    assert check_invariants(db_url, "mixed-bumps") == []
    if outliers == "flag":
        shown = runner.invoke(app, ["inspect", "mixed-bumps", "--db", db_url])
        assert "flagged)" in shown.stdout and "values waiting for review" in (
            shown.stdout
        )


def test_an_old_database_with_1_7e308_resumes_with_a_warning_and_keeps_proposing(
    db_url: str, campaign_data: dict, write_yaml
) -> None:
    data = copy.deepcopy(campaign_data)
    data["strategy"].update(initial_design={"size": 4}, batch_size=2)
    data["strategy"]["optimizer"] = {"restarts": 2, "raw_samples": 64}
    data["budget"] = {"experiments": 8}
    spec = validate(data)  # no bounds: a campaign from before they existed
    store = Store(db_url)
    ensure_campaign(store, spec)
    design = store.add_trials(spec.name, 0, CampaignEngine(spec).ask(4, 0), 8)
    for t, value in zip(design, [0.31, 0.12, POISON, 0.2], strict=True):
        store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
        store.complete(t.id, 1, {"y": value}, source="adapter:simulator")
    poisoned = design[2].id

    result = runner.invoke(app, ["resume", spec.name, "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "1 stored value kept out of the model until an operator acts" in (
        result.output
    )
    assert f"trial {poisoned}: y = 1.7e+308" in result.output
    assert f"loop trial void mixed-bumps {poisoned} --reason" in result.output
    trials = store.trials(spec.name)
    proposed = [t for t in trials if t.iteration > 0]
    assert len(proposed) == 4 and {t.phase for t in proposed} == {TrialPhase.MODEL}
    assert all(abs(t.predicted_mean["y"]) < 10 for t in proposed), [
        (t.predicted_mean, t.provenance.get("n_train")) for t in proposed
    ]
    engine = CampaignEngine(spec)
    engine.tell(trials)
    assert POISON not in engine.history().y_done
    best = CampaignState(spec, trials).best  # held for an operator: never the best
    assert best is not None and best.id != poisoned
    assert f"best {POISON:.6g}" not in result.output
    shown = runner.invoke(app, ["inspect", spec.name, "--db", db_url])
    assert "(held out)" in shown.stdout and f"trial {poisoned}:" in shown.stdout

    # bounds added to the YAML afterwards are an allowed change
    data["objectives"][0]["bounds"] = [0, 10]
    again = runner.invoke(app, ["run", str(write_yaml(data)), "--db", db_url])
    assert again.exit_code == 0, again.output
    assert "updated objectives" in again.output
    assert "outside the bounds [0, 10] of 'y'" in again.output
    bounded = load_spec(store.get_campaign(spec.name))
    assert bounded.objectives[0].bounds == (0, 10)
    best = CampaignState(bounded, store.trials(spec.name)).best
    assert best is not None and best.id != poisoned
    # an operator voids it: no more warning
    void = runner.invoke(
        app,
        ["trial", "void", spec.name, str(poisoned), "--reason", "overflow",
         "--db", db_url],
    )  # fmt: skip
    assert void.exit_code == 0, void.output
    last = runner.invoke(app, ["resume", spec.name, "--db", db_url])
    assert last.exit_code == 0 and "kept out of the model" not in last.output
    assert check_invariants(db_url, spec.name) == []


def test_an_amend_confirms_an_extreme_value_but_not_one_outside_the_bounds(
    db_url: str, campaign_data: dict
) -> None:
    spec = validate(_objective(campaign_data, bounds=[None, 1e300]))
    store = Store(db_url)
    ensure_campaign(store, validate(_objective(campaign_data)))
    design = store.add_trials(spec.name, 0, CampaignEngine(spec).ask(4, 0), 12)
    for t, value in zip(design, [0.31, 0.12, 1e200, 0.2], strict=True):
        store.transition(t.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=1)
        store.complete(t.id, 1, {"y": value})
    from loop.service.held import held_reasons

    assert list(held_reasons(spec, store.trials(spec.name))) == [design[2].id]
    args = ["trial", "amend", spec.name, str(design[2].id), "--db", db_url]
    ok = runner.invoke(app, [*args, "--value", "y=1e200", "--reason", "real"])
    assert ok.exit_code == 0, ok.output
    assert held_reasons(spec, store.trials(spec.name)) == {}
    ensure_campaign(store, validate(_objective(campaign_data, bounds=[0, 1])))
    refused = runner.invoke(app, [*args, "--value", "y=5", "--reason", "typo"])
    assert refused.exit_code == 2
    assert "5 is outside the bounds [0, 1] of 'y'" in refused.output
