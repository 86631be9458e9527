"""The multi-fidelity engine (issue 17, item 2): which level a proposal buys,
the design's levels, and the target-only best."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml

from loop.campaign_state import CampaignState
from loop.engine import CampaignEngine
from loop.records import TrialPhase
from loop.space.design import uniform_samples
from loop.spec import CampaignSpec, validate
from loop.spec.fidelity import FIDELITY
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials

SCREEN, FULL = "screen", "full"


def _spec(screen_options: dict[str, Any] | None = None) -> CampaignSpec:
    data = yaml.safe_load((CAMPAIGNS / "multi-fidelity-bumps.yaml").read_text())
    if screen_options is not None:
        data["fidelities"][0]["adapter"]["options"] = screen_options
    return validate(data)


def _measured(engine: CampaignEngine, n: int, every_target: int) -> list[Any]:
    """*n* uniform points, every *every_target*-th at the target, measured."""
    plan = engine.fidelity
    assert plan is not None
    x = uniform_samples(engine.encoder, engine.feasibility, n, 5)
    rows = [
        plan.at(r, plan.target if i % every_target == 0 else 0) for i, r in enumerate(x)
    ]
    configs = [
        SimpleNamespace(
            **dict(
                zip(
                    ("composition", "parameters"), engine.encoder.decode(r), strict=True
                )
            )
        )
        for r in rows
    ]
    return simulated_trials(engine.spec, configs)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("screen", "bought"),
    [
        ({}, SCREEN),  # the screen is the target's own landscape: cheap and as good
        ({"shift": 0.5, "tilt": -2.0, "width": 0.1}, FULL),  # another landscape
    ],
    ids=["faithful screen", "unrelated screen"],
)
def test_a_screen_is_bought_only_when_it_tells_of_the_target(
    screen: dict[str, Any], bought: str
) -> None:
    """With 12 screens and 4 full evaluations measured, a faithful screen
    explains a large share of the target's uncertainty at the next point and
    costs a tenth: it is chosen. An unrelated one explains almost none: the
    target is."""
    engine = CampaignEngine(_spec(screen))
    engine.tell(_measured(engine, 16, every_target=4))
    proposals = engine.ask(2, 5)
    assert [p.phase for p in proposals] == [TrialPhase.MODEL] * 2
    for p in proposals:
        why = p.provenance["fidelity"]
        assert p.parameters[FIDELITY] == why["level"] == bought
        assert why["cost"] == (1.0 if bought == SCREEN else 10.0)
        info = why["information"]
        if bought == SCREEN:  # (0.44 with 16 points; the unrelated one's is 0.01)
            assert info[SCREEN] > 0.3
        else:
            assert info[SCREEN] < 0.1 < info[FULL]
        # the level chosen is the best value per unit cost
        assert why["per_cost"][bought] == max(why["per_cost"].values())


def test_the_design_puts_every_third_point_at_the_target() -> None:
    engine = CampaignEngine(_spec())
    proposals = engine.ask(engine.initial_size, 0)
    levels = [p.parameters[FIDELITY] for p in proposals]
    assert levels == [FULL if k % 3 == 2 else SCREEN for k in range(len(levels))]
    assert all(p.provenance["fidelity"]["rule"] == "design" for p in proposals)


def test_a_design_target_evaluation_confirms_the_best_screen() -> None:
    """Once screens are measured, the design's target evaluation is the best
    screened configuration, so the model sees both levels at one point."""
    spec = _spec()
    engine = CampaignEngine(spec)
    first = engine.ask(2, 0)
    assert [p.parameters[FIDELITY] for p in first] == [SCREEN, SCREEN]
    trials = simulated_trials(spec, first)
    engine.tell(trials)
    second = engine.ask(2, 1)
    assert [p.parameters[FIDELITY] for p in second] == [FULL, SCREEN]
    best = max(trials, key=lambda t: t.values["y"])
    assert second[0].composition == pytest.approx(best.composition)


def test_the_labs_own_points_keep_the_fidelity_they_name() -> None:
    data = yaml.safe_load((CAMPAIGNS / "multi-fidelity-bumps.yaml").read_text())
    points = [
        ({"A": 0.5, "B": 0.5, "C": 0.0, "D": 0.0}, FULL),
        ({"A": 0.2, "B": 0.3, "C": 0.5, "D": 0.0}, SCREEN),
        ({"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}, FULL),
    ]
    data["strategy"]["initial_design"] = {
        "size": 6,
        "include": [
            {"composition": c, "parameters": {FIDELITY: level}} for c, level in points
        ],
    }
    engine = CampaignEngine(validate(data))
    engine.tell([])
    proposals = engine.ask(5, 0)
    mine = [p for p in proposals if "included" in p.provenance]
    assert [(p.composition, p.parameters[FIDELITY]) for p in mine] == [
        (pytest.approx(c), level) for c, level in points
    ]
    assert all(p.provenance["fidelity"]["rule"] == "included" for p in mine)
    # the rest of the batch is the design, at its own levels
    rest = [p for p in proposals if "included" not in p.provenance]
    assert len(rest) == 2 and all(
        p.provenance["fidelity"]["rule"] == "design" for p in rest
    )


def test_only_the_target_can_be_the_best() -> None:
    """A screen that reads higher than every full evaluation is not the
    campaign's best: only the target's values count."""
    spec = _spec({"tilt": 5.0})  # a screen that overstates everything it sees
    engine = CampaignEngine(spec)
    trials = _measured(engine, 12, every_target=3)
    screens = [t for t in trials if t.parameters[FIDELITY] == SCREEN]
    fulls = [t for t in trials if t.parameters[FIDELITY] == FULL]
    top = max(trials, key=lambda t: t.values["y"])
    assert top.parameters[FIDELITY] == SCREEN  # the premise
    state = CampaignState(spec, trials)
    assert state.best is not None
    assert state.best.id == max(fulls, key=lambda t: t.values["y"]).id
    assert not any(t in state.acceptable for t in screens)
    # every evaluation recorded its level and its cost
    assert {t.measurement.metadata["cost"] for t in screens} == {1.0}
    assert {t.measurement.metadata["fidelity"] for t in fulls} == {FULL}
    assert np.isclose(
        sum(t.measurement.metadata["cost"] for t in trials), 8 * 1 + 4 * 10
    )


def test_the_fidelities_adapter_travels_to_a_worker_and_routes_by_level() -> None:
    """Pickled as for Dask, the adapter still hands each trial to its level."""
    import pickle

    from adapters.fidelity import FidelityAdapter
    from loop.ports import EvaluationRequest

    spec = _spec({"tilt": 5.0})
    adapter = pickle.loads(pickle.dumps(FidelityAdapter(spec.adapter_config(), spec)))

    def value(level: str) -> Any:
        return adapter.evaluate(
            EvaluationRequest(
                campaign=spec.name,
                trial_id=1,
                attempt=1,
                composition={"A": 0.4, "B": 0.3, "C": 0.2, "D": 0.1},
                parameters={FIDELITY: level},
                objectives=["y"],
                seed=0,
            )
        )

    screen, full = value(SCREEN), value(FULL)
    assert screen.failure is None and full.failure is None
    assert screen.values["y"] != full.values["y"]  # the screen's trend
    assert (screen.metadata["cost"], full.metadata["cost"]) == (1.0, 10.0)
    assert (
        value("dft").failure == "the trial's fidelity 'dft' is not one of screen, full"
    )
