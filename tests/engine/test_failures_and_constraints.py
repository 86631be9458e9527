"""Failed experiments and outcome constraints: learned, never regressed on, respected."""

from __future__ import annotations

import pytest
import yaml

from loop.campaign_state import CampaignState, best_trial, pareto_trials
from loop.display import hypervolume_text
from loop.engine import CampaignEngine
from loop.errors import SpecError
from loop.records import Measurement, Trial, TrialStatus
from loop.spec import validate
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials


def _electrolyte(**changes) -> dict:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["strategy"]["optimizer"] = {"restarts": 4, "raw_samples": 128}
    data.update(changes)
    return data


def test_the_engine_learns_where_experiments_fail_and_avoids_it() -> None:
    data = _electrolyte()
    data["adapter"]["failures"] = {"region": {"EC": [0.3, 0.6]}}
    data["strategy"]["initial_design"] = {"size": 12}
    spec = validate(data)
    engine = CampaignEngine(spec)
    history = simulated_trials(spec, engine.ask(12, 0), 1)
    n_failed = sum(t.status is TrialStatus.FAILED for t in history)
    assert 2 <= n_failed <= 10, (
        "the design must see both outcomes for this test to mean anything"
    )
    engine.tell(history)
    batch = engine.ask(4, 1)
    # the best conductivity lies near the region's edge (EC = 0.3), so proposals
    # may graze it; none should go well inside, where every experiment failed
    inside = [p for p in batch if p.composition["EC"] >= 0.35]
    assert len(inside) <= 1, [p.composition for p in batch]
    for p in batch:
        assert p.provenance["success_model"] == {
            "n_success": 12 - n_failed,
            "n_failed": n_failed,
        }
        # the objective model is trained on measurements only, never on failures
        assert p.provenance["n_train"] == 12 - n_failed
        assert 0.0 <= p.provenance["p_success"] <= 1.2


def test_outcome_constraints_are_modelled_and_reported(db_url: str) -> None:
    data = _electrolyte()
    data["objectives"] = [
        {"name": "conductivity", "direction": "maximize", "unit": "mS/cm"},
        {
            "name": "viscosity",
            "direction": "minimize",
            "unit": "mPa s",
            "threshold": 1.2,
            "role": "constraint",
        },
    ]
    spec = validate(data)
    assert spec.acquisition == "qLogNEI"  # one goal: the constraint is not an objective
    engine = CampaignEngine(spec)
    history = simulated_trials(spec, engine.ask(6, 0), 1)
    engine.tell(history)
    (p,) = engine.ask(1, 1)
    assert p.phase == "model"
    assert set(p.predicted_mean) == {"conductivity", "viscosity"}
    # one GP with an output per measured quantity, trained on the 6 measurements
    assert p.provenance["outputs"] == ["conductivity", "viscosity"]
    assert len(p.provenance["lengthscales"]) == 2 and p.provenance["n_train"] == 6


def _trial(tid: int, values: dict[str, float]) -> Trial:
    return Trial(
        id=tid,
        campaign="c",
        iteration=0,
        status=TrialStatus.COMPLETED,
        attempt=1,
        composition={"EC": 0.3, "EMC": 0.3, "DMC": 0.4},
        parameters={"LiPF6_molality": 1.0},
        phase="initial",
        strategy="botorch",
        measurement=Measurement(trial_id=tid, attempt=1, values=values),
    )


def test_best_and_pareto_only_count_trials_that_meet_every_constraint() -> None:
    data = _electrolyte()
    data["objectives"] = [
        {"name": "conductivity", "direction": "maximize"},
        {"name": "cost", "direction": "minimize"},
        {
            "name": "viscosity",
            "direction": "minimize",
            "threshold": 2,
            "role": "constraint",
        },
    ]
    spec = validate(data)
    trials = [
        _trial(
            1, {"conductivity": 12, "cost": 5, "viscosity": 3}
        ),  # best, but too viscous
        _trial(2, {"conductivity": 10, "cost": 5, "viscosity": 1.5}),
        _trial(3, {"conductivity": 9, "cost": 2, "viscosity": 1.9}),
        _trial(4, {"conductivity": 8, "cost": 4, "viscosity": 1.0}),  # dominated by 3
    ]
    assert [t.id for t in pareto_trials(spec, trials)] == [2, 3]
    single = validate(
        {**data, "objectives": [data["objectives"][0], data["objectives"][2]]}
    )
    best = best_trial(single, trials)
    assert best is not None and best.id == 2


def test_the_hypervolume_is_in_the_objectives_units_above_their_thresholds() -> None:
    """Two fronts points, conductivity up and cost down, thresholds 5 and 6:
    the dominated region is two boxes (5 and 16 mS/cm x USD/kg) overlapping in
    4, so 17; a trial failing the viscosity limit adds nothing."""
    data = _electrolyte()
    data["objectives"] = [
        {"name": "conductivity", "direction": "maximize", "threshold": 5},
        {"name": "cost", "direction": "minimize", "threshold": 6},
        {
            "name": "viscosity",
            "direction": "minimize",
            "threshold": 2,
            "role": "constraint",
        },
    ]
    spec = validate(data)
    trials = [
        _trial(1, {"conductivity": 10, "cost": 5, "viscosity": 1}),
        _trial(2, {"conductivity": 9, "cost": 2, "viscosity": 1}),
        _trial(3, {"conductivity": 30, "cost": 1, "viscosity": 3}),  # too viscous
    ]
    hv = CampaignState(spec, trials).hypervolume
    assert hv is not None
    assert hv.value == pytest.approx(17.0)
    assert hv.reference == {"conductivity": 5.0, "cost": 6.0}
    text = hypervolume_text(
        hv.value, hv.reference, {"conductivity": "mS/cm", "cost": "USD/kg"}
    )
    assert (
        text == "hypervolume 17 mS/cm·USD/kg above conductivity 5 mS/cm, cost 6 USD/kg"
    )
    assert CampaignState(spec, trials[2:]).hypervolume is None  # nothing counts yet


@pytest.mark.parametrize(
    ("objectives", "words"),
    [
        pytest.param(
            [
                {"name": "conductivity", "direction": "maximize"},
                {"name": "viscosity", "direction": "minimize", "role": "constraint"},
            ],
            "has no threshold",
            id="constraint-without-threshold",
        ),
        pytest.param(
            [
                {
                    "name": "viscosity",
                    "direction": "minimize",
                    "threshold": 2,
                    "role": "constraint",
                }
            ],
            "only constraints",
            id="only-constraints",
        ),
    ],
)
def test_bad_outcome_constraints_are_refused(objectives: list, words: str) -> None:
    with pytest.raises(SpecError) as info:
        validate(_electrolyte(objectives=objectives))
    assert words in str(info.value)


def test_a_log_transformed_objective_is_modelled_on_the_log_scale() -> None:
    data = _electrolyte()
    data["objectives"][0]["transform"] = "log"
    spec = validate(data)
    engine = CampaignEngine(spec)
    history = simulated_trials(spec, engine.ask(6, 0), 1)
    engine.tell(history)
    (p,) = engine.ask(1, 1)
    assert p.phase == "model"
    # predictions come back in mS/cm (the median of the log-normal), positive
    assert p.predicted_mean["conductivity"] > 0
    measured = [t.values["conductivity"] for t in history]
    assert min(measured) / 3 < p.predicted_mean["conductivity"] < 3 * max(measured)


def test_log_transform_refuses_non_positive_thresholds_and_values() -> None:
    from loop.errors import FitError

    data = _electrolyte()
    data["objectives"][0] |= {"transform": "log", "threshold": 0}
    with pytest.raises(SpecError, match="not positive"):
        validate(data)
    objective = (
        validate(_electrolyte()).objectives[0].model_copy(update={"transform": "log"})
    )
    with pytest.raises(FitError, match="not positive"):
        objective.to_model([1.0, 0.0])
