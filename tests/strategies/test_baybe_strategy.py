"""The BayBE strategy (the optional `peers` extra): real BayBE, small pools and budgets.

In a replay BayBE chooses among the pool's rows not yet taken, from the same
seeded initial rows as every other engine, in the direction the YAML asks;
outside a replay its proposals obey every rule of the campaign. Without BayBE
a run stops before its first proposal with an error naming the extra.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from loop.cli import app
from loop.engine import CampaignEngine
from loop.errors import BadInputError, LoopError
from loop.plugins import adapter_class
from loop.records import Measurement, Trial, TrialStatus
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import CampaignSpec, validate
from loop.spec.rules import violations
from loop.spec.strategy import STRATEGY_ENGINES, Acquisition
from loop.storage import Store
from loop.strategies import check_strategy, get_strategy
from loop.strategies.baybe import BaybeStrategy, require_baybe
from loop.strategies.baybe_mapping import BaybeMapping
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials

#: a peer strategy or a fuzzer: minutes of CPU, run by `make test-slow` and CI
pytestmark = pytest.mark.slow

PEROVSKITE = CAMPAIGNS / "data" / "pvlab_perovskite_stability" / "data.csv"


def _replay(engine: str = "baybe", **changes: Any) -> CampaignSpec:
    """The shipped perovskite replay (94 rows, instability minimised), changed."""
    data = yaml.safe_load((CAMPAIGNS / "perovskite-replay.yaml").read_text())
    data["adapter"]["path"] = str(PEROVSKITE)
    data["strategy"] = {
        "engine": engine,
        "initial_design": {"method": "random", "size": 4},
        "batch_size": 2,
    }
    data.update(changes)
    return validate(data)


def _trials(
    engine: CampaignEngine, values: list[dict[str, float]], states: list[TrialStatus]
) -> list[Trial]:
    """Trials for the engine's first design rows, in *states* (measured from the pool)."""
    assert engine.pool is not None
    proposals = engine.ask(len(states), 0)
    out = []
    for tid, (p, state) in enumerate(zip(proposals, states, strict=True), 1):
        row = engine.pool.index((p.composition, p.parameters))
        measured = state is TrialStatus.COMPLETED
        out.append(
            Trial(
                id=tid,
                campaign=engine.spec.name,
                iteration=0,
                status=state,
                attempt=1,
                composition=p.composition,
                parameters=p.parameters,
                phase=p.phase,
                strategy=p.strategy,
                measurement=Measurement(trial_id=tid, attempt=1, values=values[row])
                if measured
                else None,
            )
        )
    return out


def test_a_replay_proposes_untaken_pool_rows_from_the_shared_initial_rows() -> None:
    spec = _replay()
    adapter = adapter_class("dataset")(spec.adapter_config(), spec)
    pool, values = adapter.pool(), adapter.pool_values()
    engine = CampaignEngine(spec, pool)
    states = [TrialStatus.COMPLETED] * 4 + [TrialStatus.FAILED, TrialStatus.PENDING]
    trials = _trials(engine, values, states)
    # every engine draws the initial rows with the campaign seed: botorch too
    botorch = CampaignEngine(_replay("botorch"), pool).ask(6, 0)
    assert [(t.composition, t.parameters) for t in trials] == [
        (p.composition, p.parameters) for p in botorch
    ]
    engine.tell(trials)
    history = engine.history()
    taken = {pool.index((t.composition, t.parameters)) for t in trials}

    batch = get_strategy("baybe").propose(engine.context, history, 3, seed=5)
    rows = [c.pool_index for c in batch]
    assert len(batch) == 3 and len(set(rows)) == 3
    assert all(r is not None and r not in taken for r in rows)
    for c in batch:
        assert c.pool_index is not None
        np.testing.assert_array_equal(c.x, engine.encoder.encode(*pool[c.pool_index]))
        assert c.phase == "model"
        assert set(c.predicted_mean) == {"instability"} and c.predicted_sd
    given = batch[0].provenance["baybe"]
    assert (given["completed"], given["failed"], given["pending"]) == (4, 1, 1)
    assert given["search_space"] == "discrete" and given["candidates"] == 94 - 6
    assert given["recommender"] == "BotorchRecommender"
    assert given["acquisition"] == "qLogEI" and given["version"].startswith("0.15")
    assert batch[0].provenance["baybe_step"] == "BotorchRecommender"
    # the same history and seed give the same rows
    again = BaybeStrategy().propose(engine.context, history, 3, seed=5)
    assert [c.pool_index for c in again] == rows


def _line(tmp_path: Path, direction: str) -> CampaignSpec:
    """A pool of 21 rows on a line: score = A, so the best row is at one end."""
    table = tmp_path / "line.csv"
    lines = ["A,B,score"]
    lines += [f"{a / 20:.2f},{1 - a / 20:.2f},{a / 20:.2f}" for a in range(21)]
    table.write_text("\n".join(lines) + "\n")
    return validate(
        {
            "schema_version": 1,
            "name": f"line-{direction}",
            "space": {"composition": {"kind": "species", "components": ["A", "B"]}},
            "objectives": [{"name": "score", "direction": direction}],
            "strategy": {
                "engine": "baybe",
                "initial_design": {"method": "random", "size": 4},
            },
            "budget": {"experiments": 6},
            "adapter": {"type": "dataset", "path": str(table)},
            "seed": 2,
        }
    )


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_a_replay_follows_the_objectives_direction(
    tmp_path: Path, direction: str
) -> None:
    spec = _line(tmp_path, direction)
    target = BaybeMapping(CampaignEngine(spec).context).objective().targets[0]
    assert target.minimize is (direction == "minimize")
    store = Store(f"sqlite:///{tmp_path / 'loop.db'}")
    ensure_campaign(store, spec)
    summary = run_campaign(store, spec.name)
    assert summary.finished and summary.completed == 6
    trials = store.trials(spec.name)
    assert [t.phase for t in trials] == ["initial"] * 4 + ["model"] * 2
    measured = [t.values["score"] for t in trials]
    assert len(set(measured)) == 6  # no row twice
    first = [t.values["score"] for t in trials[:4]]
    proposed = measured[4:]
    # on a straight line, BayBE's model points go beyond the best initial row
    if direction == "minimize":
        assert min(proposed) < min(first), (first, proposed)
    else:
        assert max(proposed) > max(first), (first, proposed)


def test_a_continuous_campaign_gets_valid_repaired_proposals() -> None:
    data = {
        "schema_version": 1,
        "name": "simplex-baybe",
        "space": {
            "composition": {
                "kind": "species",
                "components": ["A", "B", "C"],
                "total": 100,
                "bounds": {"default": [0, 70], "C": [5, 60]},
                "resolution": 0.5,
            }
        },
        "constraints": [{"type": "linear", "coefficients": {"A": 1, "B": 1}, "le": 60}],
        "objectives": [{"name": "y", "direction": "maximize"}],
        "strategy": {
            "engine": "baybe",
            "initial_design": {"size": 5},
            "optimizer": {"restarts": 2, "raw_samples": 32},
        },
        "budget": {"experiments": 10},
        "adapter": {"type": "simulator", "function": "simplex-bumps"},
        "seed": 1,
    }
    spec = validate(data)
    engine = CampaignEngine(spec)
    trials = simulated_trials(spec, engine.ask(5, 0), 1)
    engine.tell(trials)
    batch = BaybeStrategy().propose(engine.context, engine.history(), 2, seed=3)
    assert [c.phase for c in batch] == ["model", "model"], batch[0].provenance
    taken = list(engine.history().x_all)
    for c in batch:
        composition, parameters = engine.encoder.decode(c.x)
        assert violations(spec, composition, parameters) == []
        assert engine.context.is_new(c.x, taken)
        taken.append(c.x)
    given = batch[0].provenance["baybe"]
    # the sum to one and A + B <= 60 (in fractions) become BayBE constraints
    assert given["search_space"] == "continuous"
    assert given["linear_constraints"] == 2 and given["not_given"] == ["resolution"]


def test_the_spec_accepts_engine_baybe_and_refuses_what_baybe_cannot_express() -> None:
    assert "baybe" in STRATEGY_ENGINES
    assert _replay().strategy.engine == "baybe"
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["strategy"] = {"engine": "baybe"}
    data["objectives"] = [
        {"name": "conductivity", "direction": "maximize"},
        {
            "name": "viscosity",
            "direction": "minimize",
            "role": "constraint",
            "threshold": 8.0,
        },
    ]
    spec = validate(data)  # valid YAML; the strategy refuses it before a run
    with pytest.raises(BadInputError, match="role: constraint") as caught:
        check_strategy("baybe", spec, pooled=False)
    assert "strategy.engine: baybe" in str(caught.value)


def test_a_missing_baybe_stops_runs_and_benchmarks_before_they_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "baybe", None)  # `import baybe` now fails
    with pytest.raises(LoopError) as caught:
        require_baybe()
    text = str(caught.value)
    assert "strategy.engine: baybe" in text and "[peers]" in text

    spec = _replay()
    store = Store(f"sqlite:///{tmp_path / 'loop.db'}")
    ensure_campaign(store, spec)
    with pytest.raises(LoopError, match="BayBE"):
        run_campaign(store, spec.name)
    assert store.trials(spec.name) == []  # stopped before the initial design

    campaign = tmp_path / "replay.yaml"
    campaign.write_text(yaml.safe_dump(_replay().model_dump(mode="json")))
    result = CliRunner().invoke(
        app, ["bench", str(campaign), "--strategies", "random,baybe", "--seeds", "1"]
    )
    assert result.exit_code == 1 and "[peers]" in result.stderr
    assert "starting" not in result.stdout  # nothing ran


def test_bench_compares_baybe_with_the_others_from_the_same_initial_rows(
    tmp_path: Path,
) -> None:
    campaign = tmp_path / "replay.yaml"
    campaign.write_text(yaml.safe_dump(_replay().model_dump(mode="json")))
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["bench", str(campaign), "--strategies", "baybe,random", "--seeds", "1"]
        + ["--budget", "6", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "baybe" in result.stdout
    doc = json.loads(out.read_text())
    assert set(doc["summary"]) == {"baybe", "random"}
    baybe, random = doc["runs"]["baybe"][0], doc["runs"]["random"][0]
    assert baybe["rows"][:4] == random["rows"][:4], "initial rows must be shared"
    assert len(baybe["rows"]) == 6 == len(set(baybe["rows"]))
    assert doc["summary"]["baybe"]["propose_seconds_median"] > 0


def test_a_named_qucb_is_handed_to_baybe_as_its_own() -> None:
    """`acquisition: qUCB` reaches BayBE as its qUCB (its own beta: the
    budget-annealed one is the botorch engine's), and the spec's default for
    engine baybe stays BayBE's."""
    from baybe.acquisition import qUCB

    from loop.strategies.baybe_mapping import BaybeMapping

    default = _replay()
    assert default.strategy.acquisition is None
    assert default.acquisition is not Acquisition.qUCB
    strategy = {
        "engine": "baybe",
        "initial_design": {"method": "random", "size": 4},
        "acquisition": "qUCB",
    }
    spec = _replay(strategy=strategy)
    engine = CampaignEngine(
        spec, adapter_class("dataset")(spec.adapter_config(), spec).pool()
    )
    chosen = BaybeMapping(engine.context).recommender().recommender.acquisition_function
    assert isinstance(chosen, qUCB)
