"""Large campaigns: hyperparameters fitted on a subset, the GP conditioned on a
subset of data above a threshold, and proposals still feasible and new.

The thresholds are lowered here so the path is taken with tens of points instead
of thousands; the code is the same."""

from __future__ import annotations

import numpy as np
import pytest

from loop.engine import CampaignEngine
from loop.model import surrogate
from loop.model.surrogate import conditioning_rows
from loop.spec import validate
from loop.spec.rules import violations
from loop.strategies import botorch
from tests.benchmarks.common import observed_trials
from tests.benchmarks.latency_cases import campaign as simplex_campaign


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(surrogate, "EXACT_POINTS", 40)
    monkeypatch.setattr(surrogate, "FIT_POINTS", 24)
    monkeypatch.setattr(botorch, "BASELINE_POINTS", 16)


def test_above_the_threshold_the_gp_is_a_recorded_subset_and_proposals_stay_valid(
    small_thresholds: None,
) -> None:
    spec = validate(simplex_campaign("botorch", 3))
    history = observed_trials(spec, 60, seed=2)
    engine = CampaignEngine(spec)
    engine.tell(history)
    proposals = engine.ask(3, iteration=100)
    assert len(proposals) == 3
    for p in proposals:
        assert p.phase == "model"
        assert p.provenance["approximation"] == {
            "kind": "subset of data",
            "conditioned_on": 40,
            "of": 60,
        }
        assert p.provenance["fit_points"] == 24
        assert violations(spec, p.composition, p.parameters) == []
    seen = [sorted(t.composition.items()) for t in history]
    new = [sorted(p.composition.items()) for p in proposals]
    assert len({str(c) for c in new}) == 3
    assert not any(c in seen for c in new)


def test_below_the_threshold_every_row_conditions_the_gp(
    small_thresholds: None,
) -> None:
    spec = validate(simplex_campaign("botorch", 1))
    history = observed_trials(spec, 30, seed=2)
    engine = CampaignEngine(spec)
    engine.tell(history)
    (p,) = engine.ask(1, iteration=100)
    assert "approximation" not in p.provenance
    assert p.provenance["fit_points"] == 24  # hyperparameters still on a subset
    assert p.provenance["n_train"] == 30


def test_the_subset_keeps_the_best_rows_and_samples_the_rest() -> None:
    priority = np.arange(100.0)  # row i has priority i
    rows = conditioning_rows(100, 20, priority, np.random.default_rng(0))
    assert len(rows) == 20 and len(set(rows)) == 20
    assert set(range(90, 100)) <= set(rows)  # the best half
    assert len(set(rows) - set(range(90, 100))) == 10  # the rest, sampled
    assert list(
        conditioning_rows(10, 20, priority[:10], np.random.default_rng(0))
    ) == list(range(10))
