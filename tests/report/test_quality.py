"""Cross-validation under `transform: log` and outcome constraints, without the driver."""

from __future__ import annotations

import numpy as np
import pytest

from loop.engine import CampaignEngine
from loop.model.surrogate import fit_gp, hyperparameters
from loop.report.quality import model_quality, r2_score, rmse
from loop.spec import validate
from loop.strategies.botorch import gp_settings
from tests.report.conftest import electrolyte
from tests.support import simulated_trials


def test_log_objective_is_predicted_in_model_space_and_scored_in_its_units() -> None:
    data = electrolyte(10)
    data["objectives"] = [
        {"name": "conductivity", "direction": "maximize", "transform": "log"},
        {
            "name": "viscosity",
            "direction": "minimize",
            "role": "constraint",
            "threshold": 3.0,
        },
    ]
    spec = validate(data)
    engine = CampaignEngine(spec)
    trials = simulated_trials(spec, engine.ask(8, 0))
    quality = model_quality(spec, trials)
    cv = quality.cv
    assert cv["k"] == 5 and [o["name"] for o in cv["outputs"]] == [
        "conductivity",
        "viscosity",
    ]
    cond, visc = cv["outputs"]
    # one GP over log(conductivity) and -viscosity, as the engine fits it
    x = engine.encoder.encode_many([(t.composition, t.parameters) for t in trials])
    y = np.column_stack([np.log(cond["measured"]), -np.array(visc["measured"])])
    # without a stored fit: one fit to every row, whose hyperparameters each
    # fold keeps while conditioning on the other folds
    settings = gp_settings(engine.spec, engine.encoder)
    full = fit_gp(x, y, settings, spec.seed)
    assert cv["hyperparameters"]["reused"] is False
    for fold in range(cv["k"]):
        test = np.array(cond["fold"]) == fold
        model = fit_gp(
            x[~test],
            y[~test],
            settings,
            spec.seed,
            warm=hyperparameters(full.model),
            refit=False,
        )
        mu, sigma = model.predict(x[test])
        # back to units: median exp(mu) and spread exp(mu) * sigma; sign undone
        assert np.array(cond["mean"])[test] == pytest.approx(np.exp(mu[:, 0]), rel=1e-6)
        assert np.array(cond["sd"])[test] == pytest.approx(
            np.exp(mu[:, 0]) * sigma[:, 0], rel=1e-6
        )
        assert np.array(visc["mean"])[test] == pytest.approx(-mu[:, 1], rel=1e-6)
        assert np.array(visc["sd"])[test] == pytest.approx(sigma[:, 1], rel=1e-6)
    # R2 and RMSE are computed in the objective's units, not on the log scale
    assert cond["r2"] == pytest.approx(r2_score(cond["measured"], cond["mean"]))
    assert cond["rmse"] == pytest.approx(rmse(cond["measured"], cond["mean"]))
    assert quality.relevance["outputs"] == ["conductivity", "viscosity"]
    assert set(quality.relevance["permutation"]["rmse_rise"]) == {
        "conductivity",
        "viscosity",
    }


def test_scores_by_hand() -> None:
    assert r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    assert r2_score([2.0, 2.0], [1.0, 3.0]) is None  # no variance to explain
    assert rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(np.sqrt(12.5))


def test_too_few_measurements_give_a_note_instead_of_a_model() -> None:
    spec = validate(electrolyte(10))
    trials = simulated_trials(spec, CampaignEngine(spec).ask(2, 0))
    quality = model_quality(spec, trials)
    assert quality.cv is None and quality.relevance is None
    assert "at least 3" in quality.notes[0]
