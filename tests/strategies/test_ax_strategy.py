"""The Ax strategy: valid, new, pending-aware and reproducible proposals, and a full run.

Ax's proposals are checked with the independent rule checker of the engine
tests (exp-rep, YAML units), so a mapping error that `finalise` happened to
repair silently would still show up as a proposal Ax did not make ("model"
phase missing) rather than pass unnoticed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from loop.engine import CampaignEngine
from loop.records import Proposal, Trial, TrialStatus
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import CampaignSpec, load_path, validate
from loop.spec.rules import violations
from loop.storage import Store
from loop.strategies import get_strategy
from loop.strategies.ax import AxMapping, AxStrategy
from loop.strategies.base import Candidate
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials

#: a peer strategy or a fuzzer: minutes of CPU, run by `make test-slow` and CI
pytestmark = pytest.mark.slow

#: A four-component simplex with a linear constraint and a non-zero lower bound.
PURE = {
    "schema_version": 1,
    "name": "pure-simplex",
    "space": {
        "composition": {
            "kind": "species",
            "components": ["A", "B", "C", "D"],
            "total": 100,
            "bounds": {"default": [0, 60], "D": [5, 50]},
            "resolution": 0.5,
        }
    },
    "constraints": [{"type": "linear", "coefficients": {"A": 1, "B": 1}, "le": 50}],
    "objectives": [{"name": "y", "direction": "maximize"}],
    "strategy": {
        "engine": "ax",
        "initial_design": {"size": 6},
        "batch_size": 2,
        "optimizer": {"restarts": 2, "raw_samples": 64},
    },
    "budget": {"experiments": 10},
    "adapter": {"type": "simulator", "function": "simplex-bumps"},
    "seed": 4,
}


def _designed(spec: CampaignSpec, n: int = 6) -> tuple[CampaignEngine, list[Trial]]:
    """An engine told about *n* measured initial-design trials."""
    engine = CampaignEngine(spec)
    trials = simulated_trials(spec, engine.ask(n, 0), 1)
    engine.tell(trials)
    return engine, trials


def _config(engine: CampaignEngine, c: Candidate) -> dict:
    composition, parameters = engine.encoder.decode(c.x)
    return {"composition": composition, "parameters": parameters}


def _check(engine: CampaignEngine, batch: list[Candidate], n: int) -> None:
    """Every rule holds, nothing repeats history or the batch, Ax made points."""
    spec, history = engine.spec, engine.history()
    assert len(batch) == n
    phases = [c.phase for c in batch]
    # Ax may repeat itself when its model is flat; repeats are replaced at random
    assert "model" in phases, (phases, batch[-1].provenance.get("ax_error"))
    taken = list(history.x_all)
    for c in batch:
        composition, parameters = engine.encoder.decode(c.x)
        assert violations(spec, composition, parameters) == []
        assert engine.context.is_new(c.x, taken), "repeats a stored or batch point"
        taken.append(c.x)
        if c.phase == "model":
            assert c.provenance["ax_node"] == "MBM"
            assert set(c.predicted_mean) == {o.name for o in spec.objectives}


def test_mixed_space_proposals_are_valid_new_and_avoid_the_batch_in_flight() -> None:
    spec = load_path(CAMPAIGNS / "mixed-bumps.yaml")
    engine, trials = _designed(spec)
    first = AxStrategy().propose(engine.context, engine.history(), 2, seed=1)
    _check(engine, first, 2)
    given = first[0].provenance["ax"]
    assert given["completed"] == 6 and given["pending"] == 0
    assert given["derived"] == ["c3"]  # D = 1 - A - B - C, computed by Ax
    assert given["objective"] == "m0"

    # the first batch goes out: Ax must see it as pending and propose elsewhere
    # (same seed and data: an Ax blind to pending trials repeats first[0], which
    # is then dropped and replaced at random, so no "model" phase is left)
    sent = [Proposal(**_config(engine, c), phase=c.phase, strategy="ax") for c in first]
    engine.tell(
        trials + simulated_trials(spec, sent, len(trials) + 1, TrialStatus.PENDING)
    )
    second = AxStrategy().propose(engine.context, engine.history(), 1, seed=1)
    assert second[0].provenance["ax"]["pending"] == 2
    _check(engine, second, 1)  # a model point: Ax did not simply repeat the batch


def test_composition_with_a_linear_constraint_is_valid_and_reproducible() -> None:
    spec = validate(PURE)
    engine, _ = _designed(spec)
    batch = AxStrategy().propose(engine.context, engine.history(), 3, seed=7)
    _check(engine, batch, 3)
    # A + B <= 50 in amounts is 100*c0 + 100*c1 <= 50 in fractions for Ax
    assert (
        "100.0*c0 + 100.0*c1 <= 50.0"
        in batch[0].provenance["ax"]["parameter_constraints"]
    )
    again = AxStrategy().propose(engine.context, engine.history(), 3, seed=7)
    assert [c.phase for c in again] == [c.phase for c in batch]
    np.testing.assert_array_equal(
        np.array([c.x for c in again]), np.array([c.x for c in batch])
    )


def test_equalities_become_derived_parameters_and_ax_starts_with_sobol() -> None:
    data = {
        **PURE,
        "constraints": [{"type": "linear", "coefficients": {"A": 1, "B": 1}, "eq": 40}],
    }
    spec = validate(data)
    engine = CampaignEngine(spec)
    mapping = AxMapping(engine.context)
    # sum to one solved for D, A + B = 0.4 for B: Ax optimises only A and C
    assert [mapping.names[i] for i in mapping.ranges] == ["c0", "c2"]
    assert sorted(mapping.names[i] for i in mapping.derived) == ["c1", "c3"]
    x = engine.encoder.encode({"A": 10, "B": 30, "C": 20, "D": 40}, {})
    np.testing.assert_allclose(mapping.from_ax(mapping.to_ax(x)), x)
    # with no data Ax is still in its own Sobol step: phase "initial", all valid
    trials = simulated_trials(spec, engine.ask(1, 0), 1)
    engine.tell(trials)
    batch = AxStrategy().propose(engine.context, engine.history(), 3, seed=3)
    assert [c.phase for c in batch] == ["initial"] * 3
    for c in batch:
        assert violations(spec, *engine.encoder.decode(c.x)) == []


def test_two_objectives_with_a_threshold_give_valid_proposals() -> None:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["objectives"] = [
        {"name": "conductivity", "direction": "maximize"},
        {"name": "viscosity", "direction": "minimize", "threshold": 8.0},
    ]
    data["strategy"] = {"engine": "ax", "optimizer": {"restarts": 2, "raw_samples": 64}}
    spec = validate(data)
    engine, _ = _designed(spec)
    batch = get_strategy("ax").propose(engine.context, engine.history(), 2, seed=2)
    _check(engine, batch, 2)
    given = batch[0].provenance["ax"]
    assert given["objective"] == "m0, -m1"
    assert given["outcome_constraints"] == ["m1 <= 8.0"]  # an objective threshold


def test_a_campaign_with_engine_ax_runs_to_its_budget(tmp_path: Path) -> None:
    data = {
        **PURE,
        "budget": {"experiments": 9},
        "strategy": {**PURE["strategy"], "initial_design": {"size": 5}},
    }
    store = Store(f"sqlite:///{tmp_path / 'loop.db'}")
    spec = validate(data)
    ensure_campaign(store, spec)
    summary = run_campaign(store, spec.name)
    assert summary.finished and summary.used == 9
    trials = store.trials(spec.name)
    assert len(trials) == 9
    assert {t.strategy for t in trials} == {"ax"}
    phases = [t.phase for t in trials]
    assert phases[:5] == ["initial"] * 5  # loop's design, then Ax
    assert "model" in phases[5:] and set(phases[5:]) <= {"model", "fallback"}
    for t in trials:
        assert t.status is TrialStatus.COMPLETED
        assert violations(spec, t.composition, t.parameters) == []
    keys = {(tuple(sorted(t.composition.items()))) for t in trials}
    assert len(keys) == len(trials)
