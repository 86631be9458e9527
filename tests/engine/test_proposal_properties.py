"""Properties every proposal must have, over random valid campaigns (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loop.engine import CampaignEngine
from loop.errors import SpecError
from loop.records import Trial, TrialStatus
from loop.spec import CampaignSpec, validate
from loop.spec.rules import violations
from tests.support import simulated_trials

NAMES = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"]


@st.composite
def campaigns(draw: st.DrawFn, engine: str) -> CampaignSpec:
    """Random valid campaigns: bounds, cardinality, resolution, constraints, parameters."""
    n = draw(st.integers(2, 7))
    total = draw(st.sampled_from([1.0, 100.0]))
    names = NAMES[:n]
    bounds = {}
    for name in names:
        lo = draw(st.sampled_from([0.0, 0.0, 0.05, 0.1])) * total
        hi = draw(st.sampled_from([0.5, 0.8, 1.0])) * total
        bounds[name] = [lo, hi]
    composition: dict = {
        "kind": "species",
        "total": total,
        "components": names,
        "bounds": bounds,
    }
    if draw(st.booleans()):
        composition["max_components"] = draw(st.integers(2, n))
    if draw(st.booleans()):
        composition["resolution"] = draw(st.sampled_from([0.01, 0.05])) * total
    parameters = []
    if draw(st.booleans()):
        temperature = {"name": "T", "type": "continuous", "bounds": [300.0, 900.0]}
        step = draw(st.sampled_from([None, 5.0, 7.0]))  # 7 K ends below 900
        parameters.append(temperature | ({"resolution": step} if step else {}))
    if draw(st.booleans()):
        parameters.append({"name": "n", "type": "integer", "bounds": [1, 5]})
    if draw(st.booleans()):
        parameters.append(
            {"name": "route", "type": "categorical", "values": ["a", "b", "c"]}
        )
    constraints = []
    if draw(st.booleans()):
        limit = draw(st.sampled_from([0.5, 0.7, 0.9])) * total
        constraints.append(
            {"type": "linear", "coefficients": {names[0]: 1, names[1]: 1}, "le": limit}
        )
    data = {
        "schema_version": 1,
        "name": "prop",
        "space": {"composition": composition, "parameters": parameters},
        "constraints": constraints,
        "objectives": [{"name": "y", "direction": "maximize"}],
        "strategy": {
            "engine": engine,
            "initial_design": {"size": 4},
            "batch_size": 3,
            "optimizer": {"restarts": 2, "raw_samples": 32, "max_iterations": 30},
        },
        "budget": {"experiments": 20},
        "adapter": {"type": "simulator", "function": "simplex-bumps"},
        "seed": draw(st.integers(0, 1000)),
    }
    try:
        return validate(data)
    except SpecError:
        assume(False)
        raise


def _check_batch(spec: CampaignSpec, proposals, earlier: list[Trial]) -> None:
    for p in proposals:
        assert violations(spec, p.composition, p.parameters) == [], p
    seen = [(t.composition, t.parameters) for t in earlier]
    for p in proposals:
        assert (p.composition, p.parameters) not in seen, (
            "duplicate of a stored or pending trial"
        )
        seen.append((p.composition, p.parameters))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=campaigns("random"), data=st.data())
def test_random_and_sobol_proposals_obey_every_rule(
    spec: CampaignSpec, data: st.DataObject
) -> None:
    engine_name = data.draw(st.sampled_from(["random", "sobol"]))
    spec = validate(
        {
            **spec.model_dump(mode="json"),
            "strategy": {**spec.strategy.model_dump(), "engine": engine_name},
        }
    )
    engine = CampaignEngine(spec)
    first = engine.ask(3, 0)
    _check_batch(spec, first, [])
    earlier = simulated_trials(spec, first, 1)
    engine.tell(earlier)
    second = engine.ask(3, 1)
    _check_batch(spec, second, earlier)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=campaigns("botorch"))
def test_model_based_proposals_obey_every_rule_and_avoid_pending(
    spec: CampaignSpec,
) -> None:
    engine = CampaignEngine(spec)
    design = engine.ask(4, 0)
    _check_batch(spec, design, [])
    assert {p.phase for p in design} == {"initial"}
    done = simulated_trials(spec, design, 1)
    engine.tell(done)
    batch = engine.ask(3, 1)
    _check_batch(spec, batch, done)
    assert all(p.phase in ("model", "fallback") for p in batch)
    # in flight: the next batch must not repeat them
    in_flight = simulated_trials(spec, batch, 10, status=TrialStatus.CLAIMED)
    engine.tell(done + in_flight)
    nxt = engine.ask(3, 2)
    _check_batch(spec, nxt, done + in_flight)


def test_proposals_are_reproducible_from_the_seed(campaign_data: dict) -> None:
    spec = validate(campaign_data)
    a = CampaignEngine(spec).ask(3, 0)
    b = CampaignEngine(spec).ask(3, 0)
    assert [(p.composition, p.parameters) for p in a] == [
        (p.composition, p.parameters) for p in b
    ]


def test_model_phase_records_why_each_point_was_chosen(campaign_data: dict) -> None:
    spec = validate(campaign_data)
    engine = CampaignEngine(spec)
    done = simulated_trials(spec, engine.ask(6, 0), 1)
    engine.tell(done)
    (p,) = engine.ask(1, 1)
    assert p.phase == "model"
    assert p.acquisition_value is not None and np.isfinite(p.acquisition_value)
    assert set(p.predicted_mean) == {"y"} and p.predicted_sd["y"] >= 0
    assert p.provenance["n_train"] == 6 and p.provenance["model"] == "SingleTaskGP"


@pytest.mark.slow  # Ax: 40 s of CPU
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=campaigns("ax"))
def test_ax_proposals_obey_every_rule_after_repair(spec: CampaignSpec) -> None:
    engine = CampaignEngine(spec)
    done = simulated_trials(spec, engine.ask(4, 0), 1)
    engine.tell(done)
    batch = engine.ask(3, 1)
    _check_batch(spec, batch, done)
    assert all(p.strategy == "ax" for p in batch)
