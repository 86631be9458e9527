"""The default single-goal acquisition, qUCB, explores less as the experiment
budget runs out, and the budget's last experiment goes where the model
predicts the best value (docs/strategies.md, "Exploration that runs out")."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from loop.acquisition import UCB_START_SDS, exploration_sds
from loop.engine import CampaignEngine
from loop.records import TrialPhase
from loop.spec import validate
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials


@given(budget=st.integers(1, 2000), taken=st.integers(0, 2100))
def test_exploration_falls_with_each_experiment_and_ends_at_the_last(
    budget: int, taken: int
) -> None:
    sds = exploration_sds(budget, taken)
    assert 0.0 <= sds <= UCB_START_SDS
    assert exploration_sds(budget, taken + 1) <= sds
    assert (sds == 0.0) == (taken >= budget - 1)


def _engine(budget: int) -> CampaignEngine:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["budget"]["experiments"] = budget
    data["strategy"]["batch_size"] = 1
    data["strategy"]["optimizer"] = {"restarts": 4, "raw_samples": 128}
    spec = validate(data)
    assert spec.acquisition == "qUCB"
    return CampaignEngine(spec)


def test_the_last_experiment_exploits_and_an_early_one_explores() -> None:
    """The same 9 measurements, two budgets: with 1 experiment left the
    proposal is where the mean is highest (no sds added); with 41 left (this
    one and 40 after it) it looks 3.2 sds above the mean, so it goes where
    the model is less sure."""
    last, early = _engine(10), _engine(50)
    history = simulated_trials(last.spec, last.ask(6, 0), 1)
    last.tell(history)
    history += simulated_trials(last.spec, last.ask(3, 1), len(history) + 1)
    for engine in (last, early):
        engine.tell(history)
    (exploit,) = last.ask(1, 2)
    (explore,) = early.ask(1, 2)

    assert exploit.provenance["exploration_sds"] == 0.0
    assert explore.provenance["exploration_sds"] == round(UCB_START_SDS * 40 / 50, 4)
    name = "conductivity"
    assert explore.predicted_sd[name] > 1.5 * exploit.predicted_sd[name]
    assert explore.predicted_mean[name] < exploit.predicted_mean[name]
    # the exploiting proposal is predicted about as good as the best
    # measurement at least (a feasible point it could have chosen; measured
    # with noise of sd 0.05)
    best_measured = max(t.values[name] for t in history if t.values)
    assert exploit.predicted_mean[name] >= best_measured - 0.1


def test_imported_past_measurements_do_not_use_up_the_exploration() -> None:
    """Past measurements (`loop import`) spend no budget, so the first
    proposal of a campaign of 10 with 9 of them still explores as the first."""
    engine = _engine(10)
    past = [
        t.model_copy(update={"phase": TrialPhase.IMPORTED})
        for t in simulated_trials(engine.spec, engine.ask(9, 0), 1)
    ]
    engine.tell(past)
    (first,) = engine.ask(1, 1)
    assert first.phase == "model"
    assert first.provenance["exploration_sds"] == round(UCB_START_SDS * 9 / 10, 4)
