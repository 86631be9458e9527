"""A running engine refits its GP from the previous fit's hyperparameters."""

from __future__ import annotations

import yaml

from loop.engine import CampaignEngine
from loop.records import Proposal, Trial
from loop.spec import CampaignSpec, validate
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials


def _two_fits(data: dict) -> tuple[CampaignSpec, list[Trial], Proposal, Proposal]:
    """An engine's first model proposal after 8 measurements and its second
    after 10 (cheap optimiser settings), with the spec and the 10 trials."""
    data["strategy"]["optimizer"] = {"restarts": 2, "raw_samples": 64}
    spec = validate(data)
    engine = CampaignEngine(spec)
    history = simulated_trials(spec, engine.ask(10, 0), 1)
    engine.tell(history[:8])
    (first,) = engine.ask(1, 1)
    engine.tell(history)
    (second,) = engine.ask(1, 2)
    return spec, history, first, second


def test_the_second_fit_of_an_engine_starts_warm_and_a_fresh_engine_cold() -> None:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    spec, history, first, second = _two_fits(data)
    assert first.provenance["warm_start"] is False
    assert second.provenance["warm_start"] is True

    cold = CampaignEngine(spec)  # a fresh engine without the stored fit fits cold
    cold.tell(history)
    (again,) = cold.ask(1, 2)
    assert again.provenance["warm_start"] is False


def _mll(fitted) -> float:
    import torch
    from gpytorch.mlls import ExactMarginalLogLikelihood

    model = fitted.model
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with torch.no_grad():
        out = model(*model.train_inputs)
        return float(mll(out, model.train_targets))


def test_a_warm_fit_is_as_good_as_a_cold_one() -> None:
    """Warm starts save optimiser steps, not quality: the marginal likelihood a
    warm refit reaches is at least the cold fit's (up to optimiser tolerance)."""
    import numpy as np

    from loop.model.surrogate import GPSettings, fit_gp, hyperparameters

    rng = np.random.default_rng(3)
    x = rng.uniform(size=(40, 3))
    y = (np.sin(6 * x[:, 0]) + x[:, 1] ** 2 - x[:, 2])[:, None]
    settings = GPSettings(lower=np.zeros(3), upper=np.ones(3))
    before = fit_gp(x[:-4], y[:-4], settings, seed=0)
    warm = fit_gp(x, y, settings, seed=0, warm=hyperparameters(before.model))
    cold = fit_gp(x, y, settings, seed=0)
    assert warm.info["warm_start"] and not cold.info["warm_start"]
    assert _mll(warm) >= _mll(cold) - 0.02 * abs(_mll(cold))


def test_a_campaign_with_categorical_parameters_fits_from_the_defaults_each_time(
    campaign_data: dict,
) -> None:
    """mixed-bumps (a categorical route): the second fit of an engine is cold
    too, and the provenance says so. Warm-started, the mixed kernel stayed near
    its first optimum (docs/strategies.md)."""
    *_, first, second = _two_fits(campaign_data)
    assert first.provenance["warm_start"] is False
    assert second.provenance["warm_start"] is False
    assert second.provenance["refit"] is True
