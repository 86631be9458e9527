"""No finite measurement can stop a campaign from proposing (issue 15, item 1).

A robot once posted `conductivity: 1.7e308`: BoTorch's standardisation
overflowed, the fit failed with `linalg.eigh`, and every `loop resume` died the
same way. Whatever finite values the store holds, `ask` must return feasible
proposals; extreme values no operator has confirmed are held out of the model
(`loop.model.robust.held_out`), confirmed ones are winsorised before the fit,
and a model that still cannot be used falls back to random feasible points.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loop.engine import CampaignEngine, model_failure
from loop.errors import FitError
from loop.model.robust import FENCE, LIMIT, winsorise
from loop.records import Measurement, Trial
from loop.spec import validate
from loop.spec.rules import violations
from loop.spec.values import held_out
from tests.report.conftest import electrolyte
from tests.support import simulated_trials

EXTREMES = [1.7e308, -1.7e308, 1e200, -1e200, 1e-308, 0.0, 5e-324, 1e30]


def _with_values(
    trials: list[Trial], values: list[float], reviewed: bool = False
) -> list[Trial]:
    """*trials* measured *values*; *reviewed*: as an operator's amend leaves them."""
    return [
        t.model_copy(
            update={
                "measurement": Measurement(
                    trial_id=t.id,
                    attempt=1,
                    values={"conductivity": v},
                    reviewed=reviewed,
                )
            }
        )
        for t, v in zip(trials, values, strict=True)
    ]


def _spec(objectives: list[dict] | None = None):
    data = electrolyte(30)
    data["strategy"]["optimizer"] = {"restarts": 2, "raw_samples": 32}
    data["strategy"]["initial_design"] = {"size": 2}
    if objectives:
        data["objectives"] = objectives
    return validate(data)


finite = st.one_of(
    st.sampled_from(EXTREMES),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-20, 20),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(finite, min_size=2, max_size=6))
def test_any_finite_values_still_give_feasible_proposals(values: list[float]) -> None:
    spec = _spec()
    design = CampaignEngine(spec).ask(len(values), 0)
    trials = _with_values(simulated_trials(spec, design), values)
    engine = CampaignEngine(spec)
    engine.tell(trials)
    batch = engine.ask(1, 1)
    assert len(batch) == 1
    for p in batch:
        assert violations(spec, p.composition, p.parameters) == []
        assert p.phase in ("model", "fallback")
        assert all(np.isfinite(v) for v in p.predicted_mean.values())


@pytest.mark.parametrize("poison", [1.7e308, -1.7e308, 1e200])
def test_a_confirmed_extreme_value_is_modelled_and_says_what_it_pulled_in(
    poison: float,
) -> None:
    spec = _spec()
    design = CampaignEngine(spec).ask(6, 0)
    trials = simulated_trials(spec, design)
    values = [t.values["conductivity"] for t in trials]
    values[2] = poison
    engine = CampaignEngine(spec)
    # an operator confirmed the values (`loop trial amend`): the model takes
    # them, the extreme one pulled in to the fence
    engine.tell(_with_values(trials, values, reviewed=True))
    batch = engine.ask(2, 1)
    assert [p.phase for p in batch] == ["model", "model"]
    assert batch[0].provenance["winsorised"] == [1]
    # the others still shape the model: its predictions are in the range of
    # real conductivities, not dragged towards the poison
    for p in batch:
        assert abs(p.predicted_mean["conductivity"]) < 1e3


@pytest.mark.parametrize("poison", [1.7e308, -1.7e308, 1e200])
def test_an_unconfirmed_extreme_value_is_held_out_of_the_model(poison: float) -> None:
    spec = _spec()
    trials = simulated_trials(spec, CampaignEngine(spec).ask(6, 0))
    values = [t.values["conductivity"] for t in trials]
    values[2] = poison
    poisoned = _with_values(trials, values)
    held = held_out(spec, poisoned)
    assert [(h.trial_id, h.value) for h in held] == [(trials[2].id, poison)]
    engine = CampaignEngine(spec)
    engine.tell(poisoned)
    history = engine.history()
    assert len(history.y_done) == 5 and poison not in history.y_done
    batch = engine.ask(2, 1)
    assert [p.phase for p in batch] == ["model", "model"]
    assert "winsorised" not in batch[0].provenance  # nothing left to pull in


def test_two_objectives_with_a_poisoned_one_keep_a_finite_reference_point() -> None:
    spec = _spec(
        [
            {"name": "conductivity", "direction": "maximize"},
            {"name": "viscosity", "direction": "minimize"},
        ]
    )
    design = CampaignEngine(spec).ask(6, 0)
    trials = simulated_trials(spec, design)
    poisoned = [
        t.model_copy(
            update={
                "measurement": Measurement(
                    trial_id=t.id,
                    attempt=1,
                    values={
                        **t.values,
                        "viscosity": -1.7e308 if i == 1 else t.values["viscosity"],
                    },
                )
            }
        )
        for i, t in enumerate(trials)
    ]
    engine = CampaignEngine(spec)
    engine.tell(poisoned)
    batch = engine.ask(2, 1)
    assert [p.phase for p in batch] == ["model", "model"]
    assert all(np.isfinite(v) for v in batch[0].provenance["reference_point"].values())


def test_winsorising_leaves_ordinary_data_alone_and_keeps_the_order() -> None:
    rng = np.random.default_rng(0)
    ordinary = rng.lognormal(0, 1, size=(200, 2))
    same, moved = winsorise(ordinary)
    assert moved == [0, 0] and np.array_equal(same, ordinary)
    column = np.array([[1.0], [2.0], [3.0], [4.0], [1e300]])
    pulled, moved = winsorise(column)
    assert moved == [1]
    assert pulled[-1, 0] == pytest.approx(3.0 + FENCE * 2.0)  # median + FENCE IQRs
    assert np.all(np.diff(pulled[:, 0]) > 0)  # still the best
    # half the values equal: the scale comes from the others
    ties = np.array([[1.0]] * 10 + [[2.0], [0.0], [1e300]])
    pulled, moved = winsorise(ties)
    assert moved == [1] and pulled[-1, 0] == pytest.approx(1.0 + FENCE * 1.0)
    # one distinct value among equals: nothing to measure a scale by, only the cap
    lone, moved = winsorise(np.array([[1.0]] * 4 + [[1.7e308]]))
    assert lone[-1, 0] == LIMIT and moved == [1]


def test_only_numerical_failures_become_a_fallback() -> None:
    import torch

    assert model_failure(FitError("no fit", "check"))
    assert model_failure(torch.linalg.LinAlgError("eigh failed"))
    assert not model_failure(KeyError("a bug"))
    assert not model_failure(TypeError("a bug"))


def test_a_sharp_optimum_on_a_flat_landscape_stays_in_the_model() -> None:
    """Most values near zero and one real find far above them: beyond the
    winsorising fences, but not absurd, so the model keeps its best point."""
    spec = _spec()
    values = [0.011, 0.02, 0.013, 0.031, 0.017, 0.8]
    design = CampaignEngine(spec).ask(len(values), 0)
    trials = _with_values(simulated_trials(spec, design), values)
    assert held_out(spec, trials) == []
    engine = CampaignEngine(spec)
    engine.tell(trials)
    assert 0.8 in engine.history().y_done
    # the same find beside a value no instrument gives is kept; the absurd one is not
    poisoned = _with_values(simulated_trials(spec, design), [*values[:-2], 1e200, 0.8])
    assert [h.value for h in held_out(spec, poisoned)] == [1e200]
