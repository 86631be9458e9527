"""A running engine refits its GP from the previous fit's hyperparameters."""

from __future__ import annotations

import yaml

from loop.engine import CampaignEngine
from loop.spec import validate
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials


def test_the_second_fit_of_an_engine_starts_warm_and_lands_on_the_same_model() -> None:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["strategy"]["optimizer"] = {"restarts": 2, "raw_samples": 64}
    spec = validate(data)
    engine = CampaignEngine(spec)
    history = simulated_trials(spec, engine.ask(10, 0), 1)
    engine.tell(history[:8])
    (first,) = engine.ask(1, 1)
    engine.tell(history)
    (second,) = engine.ask(1, 2)
    assert first.provenance["warm_start"] is False
    assert second.provenance["warm_start"] is True

    cold = CampaignEngine(spec)  # a fresh engine (e.g. after a restart) fits cold
    cold.tell(history)
    (again,) = cold.ask(1, 2)
    assert again.provenance["warm_start"] is False
    # both optimisations reach the same marginal-likelihood optimum (to within the
    # optimiser's tolerance): the warm start saves steps, not quality
    for warm_ls, cold_ls in zip(
        second.provenance["lengthscales"][0],
        again.provenance["lengthscales"][0],
        strict=True,
    ):
        assert abs(warm_ls - cold_ls) <= 0.1 * max(abs(cold_ls), 1e-3)
