"""`loop inspect NAME --explain TRIAL`: the stored reasons and the true nearest neighbours."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from loop.cli import app
from loop.engine import CampaignEngine
from loop.errors import NotFoundError
from loop.records import Trial, TrialStatus
from loop.report.terminal import explanation_panel
from loop.service.explain import explain_trial, nearest_measured
from loop.space.encoding import Encoder
from loop.spec import CampaignSpec, validate
from loop.storage import Store, migrations
from tests.report.conftest import Finished
from tests.support import simulated_trials

runner = CliRunner()
FROZEN = Path(__file__).parents[1] / "storage" / "data" / "loop-schema-1.db"


def brute_force_neighbours(
    spec: CampaignSpec, trials: list[Trial], trial: Trial, k: int = 3
) -> list[tuple[int, float]]:
    """Every measured trial's distance, column by column, sorted; the first *k*."""
    enc = Encoder(spec)
    here = enc.encode(trial.composition, trial.parameters)
    found = []
    for other in trials:
        if other.id == trial.id or other.measurement is None:
            continue
        there = enc.encode(other.composition, other.parameters)
        total = 0.0
        for i, col in enumerate(enc.columns):
            width = col.upper - col.lower or 1.0
            total += ((here[i] - there[i]) / width) ** 2
        found.append((math.sqrt(total), other.id))
    return [(i, d) for d, i in sorted(found)[:k]]


def test_a_model_trial_reports_its_stored_acquisition_and_prediction(
    single: Finished,
) -> None:
    trials = single.store.trials(single.spec.name)
    trial = next(t for t in trials if t.phase == "model")
    doc = explain_trial(single.store, single.spec.name, trial.id)
    assert doc.phase == "model" and doc.reason.startswith("model-based")
    assert doc.acquisition.model_dump() == {
        "function": single.spec.acquisition,
        "value": trial.acquisition_value,
    }
    assert trial.acquisition_value is not None
    assert {n: p.model_dump() for n, p in doc.predicted.items()} == {
        "conductivity": {
            "mean": trial.predicted_mean["conductivity"],
            "sd": trial.predicted_sd["conductivity"],
        }
    }
    assert doc.measured == trial.values
    assert doc.model.n_train == trial.provenance["n_train"]
    # qUCB, the default here: how far above the mean the proposal looked
    assert doc.model.exploration_sds == trial.provenance["exploration_sds"] > 0
    surprise = (trial.values["conductivity"] - trial.predicted_mean["conductivity"]) / (
        trial.predicted_sd["conductivity"]
    )
    assert doc.surprise["conductivity"] == pytest.approx(surprise)


def test_neighbours_are_the_truly_nearest_measured_trials(single: Finished) -> None:
    trials = single.store.trials(single.spec.name)
    for trial in trials:
        doc = explain_trial(single.store, single.spec.name, trial.id)
        got = [(n.id, n.distance) for n in doc.neighbours]
        expected = brute_force_neighbours(single.spec, trials, trial)
        assert [i for i, _ in got] == [i for i, _ in expected]
        assert [d for _, d in got] == pytest.approx([d for _, d in expected])
        by_id = {t.id: t for t in trials}
        for n in doc.neighbours:
            assert n.measurements == by_id[n.id].values
            # known at proposal time exactly when measured before it was stored
            arrived = by_id[n.id].measurement.received_at
            assert n.measured_before == (arrived <= trial.created_at)


def test_neighbours_with_categories_integers_and_a_percent_total(
    campaign_data: dict,
) -> None:
    """mixed-bumps: total 100, an integer and a categorical parameter."""
    spec = validate(campaign_data)
    trials = simulated_trials(spec, CampaignEngine(spec).ask(9, 0))
    for trial in trials:
        got = [(n.id, n.distance) for n in nearest_measured(spec, trials, trial)]
        expected = brute_force_neighbours(spec, trials, trial)
        assert [i for i, _ in got] == [i for i, _ in expected]
        assert [d for _, d in got] == pytest.approx([d for _, d in expected])


def test_an_initial_design_trial_says_so(single: Finished) -> None:
    first = single.store.trials(single.spec.name)[0]
    doc = explain_trial(single.store, single.spec.name, first.id)
    assert doc.phase == "initial" and doc.reason.startswith("initial design")
    assert doc.acquisition.model_dump() == {"function": None, "value": None}
    assert doc.predicted == {}


def test_unknown_trial_is_bad_input_with_a_hint(single: Finished) -> None:
    with pytest.raises(NotFoundError, match="has no trial 9999"):
        explain_trial(single.store, single.spec.name, 9999)
    result = runner.invoke(
        app,
        ["inspect", single.spec.name, "--db", single.store.url, "--explain", "9999"],
    )
    assert result.exit_code == 2
    assert "has no trial 9999" in result.output and "loop inspect" in result.output


def test_cli_prints_a_panel_and_json(single: Finished) -> None:
    name, url = single.spec.name, single.store.url
    trial = next(t for t in single.store.trials(name) if t.phase == "model")
    args = ["inspect", name, "--db", url, "--explain", str(trial.id)]
    as_json = runner.invoke(app, [*args, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    expected = explain_trial(single.store, name, trial.id)
    assert json.loads(as_json.stdout) == expected.model_dump(mode="json")
    panel = runner.invoke(app, args, env={"COLUMNS": "120"})
    assert panel.exit_code == 0, panel.output
    text = panel.stdout
    assert f"trial {trial.id} of {name}" in text
    assert f"{trial.acquisition_value:.6g} ({single.spec.acquisition})" in text
    for n in expected.neighbours:
        assert f"trial {n.id}" in text


def test_a_failed_attempt_shows_what_the_adapter_reported(tmp_path: Path) -> None:
    """The frozen schema-1 database, upgraded: a retry with a job's scheduler
    state, then a failure with a traceback; the panel gives one line each."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    shutil.copyfile(FROZEN, tmp_path / "old.db")
    migrations.upgrade(url)
    store = Store(url)
    name = "carbonate-electrolyte"
    (trial,) = [t for t in store.trials(name) if t.status is TrialStatus.CLAIMED]
    job = {"name": "loop-t5-a2", "id": "4711", "state": "TIMEOUT", "history": []}
    store.transition(
        trial.id,
        [TrialStatus.CLAIMED],
        TrialStatus.PENDING,
        attempt=trial.attempt,
        reason="scheduler: job timed out",
        next_attempt=True,
        details={"job": job},
    )
    store.transition(trial.id, [TrialStatus.PENDING], TrialStatus.CLAIMED)
    trace = "Traceback (most recent call last):\n  File ...\nValueError: bad cell\n"
    store.transition(
        trial.id,
        [TrialStatus.CLAIMED],
        TrialStatus.FAILED,
        reason="adapter raised ValueError: bad cell",
        details={"traceback": trace},
    )
    doc = explain_trial(store, name, trial.id)
    assert [(f.to_status, f.details) for f in doc.failures[-2:]] == [
        ("pending", {"job": job}),
        ("failed", {"traceback": trace}),
    ]
    args = ["inspect", name, "--db", url, "--explain", str(trial.id)]
    assert runner.invoke(app, args).exit_code == 0
    # the panel's own lines, on a console wide enough not to fold them
    wide = Console(width=200, record=True)
    wide.print(explanation_panel(doc))
    text = wide.export_text()
    assert (
        "from claimed: scheduler: job timed out; job loop-t5-a2 (id 4711) TIMEOUT"
        in text
    )
    assert (
        "from claimed: adapter raised ValueError: bad cell; ValueError: bad cell"
        in text
    )
