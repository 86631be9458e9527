"""`strategy.transfer` in the model: what a related source gives the GP (issue 14, item 4)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from loop.errors import SpecError
from loop.model.surrogate import fit_gp
from loop.model.transfer import fit_transfer
from loop.space.design import uniform_samples
from loop.space.encoding import Encoder
from loop.space.feasible import Feasibility
from loop.spec import CampaignSpec, validate
from loop.spec.transfer import SourceRows
from loop.strategies.botorch import gp_settings
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials


def _electrolyte(**strategy: object) -> dict:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["strategy"].update(strategy)
    return data


def _measured(
    spec: CampaignSpec, n: int, seed: int, objective: str = "conductivity"
) -> tuple[np.ndarray, np.ndarray]:
    """*n* uniform points of *spec*'s space and their simulated *objective*."""
    enc = Encoder(spec)
    x = uniform_samples(enc, Feasibility(enc), n, seed)
    configs = [
        SimpleNamespace(
            **dict(zip(("composition", "parameters"), enc.decode(r), strict=True))
        )
        for r in x
    ]
    trials = simulated_trials(spec, configs)
    return x, np.array([t.values[objective] for t in trials])


def _source(spec: CampaignSpec, x: np.ndarray, y: np.ndarray) -> SourceRows:
    enc = Encoder(spec)
    fractions = x[:, enc.fraction_idx]
    molality = x[:, enc.numeric_idx[0]]
    return SourceRows(
        "past.csv",
        tuple(spec.space.components),
        fractions / fractions.sum(axis=1, keepdims=True),
        {"LiPF6_molality": molality},
        {"conductivity": y},
    )


def _rmse(model: object, x: np.ndarray, truth: np.ndarray) -> float:
    from loop.model.surrogate import FittedSurrogate

    mean, _ = FittedSurrogate(model, {}).predict(x)
    return float(np.sqrt(np.mean((mean[:, 0] - truth) ** 2)))


@pytest.mark.timeout(300)
def test_a_related_source_makes_five_measurements_predict_far_better() -> None:
    """A previous campaign on the same electrolytes, measured on an instrument
    that reads 2 mS/cm high: with it, the GP of five new measurements predicts
    the whole space at least twice as well as without it."""
    spec = validate(_electrolyte(transfer={"campaigns": ["older"]}))
    enc = Encoder(spec)
    x_src, y_src = _measured(spec, 60, seed=1)
    x, y = _measured(spec, 5, seed=2)
    x_test, truth = _measured(spec, 200, seed=3)
    tm = fit_transfer([_source(spec, x_src, y_src + 2.0)], spec, enc, seed=0)
    assert tm.names == ("conductivity",)
    assert tm.info["rows"] == {"conductivity": 60}

    cold = fit_gp(x, y[:, None], gp_settings(spec, enc), seed=0)
    warm = fit_gp(x, y[:, None], gp_settings(spec, enc, tm), seed=0)
    assert warm.info["inputs"] == cold.info["inputs"]  # the kernel's inputs
    assert warm.info["transfer"]["sources"] == ["past.csv"]
    # the fit leans on the source: about one standardised unit per unit
    assert warm.info["transfer"]["weights"][0]["conductivity"] > 0.5
    cold_rmse = _rmse(cold.model, x_test, truth)
    warm_rmse = _rmse(warm.model, x_test, truth)
    assert warm_rmse < 0.5 * cold_rmse, (warm_rmse, cold_rmse)


@pytest.mark.timeout(300)
def test_remembered_source_predictions_equal_fresh_ones() -> None:
    """The transform keeps predictions of rows it has seen (a replay's pool, the
    training rows); those must be exactly what the sources' GP predicts, also
    when a row comes back in another batch shape or with gradients."""
    import torch

    spec = validate(_electrolyte(transfer={"campaigns": ["older"]}))
    enc = Encoder(spec)
    x_src, y_src = _measured(spec, 30, seed=4)
    tm = fit_transfer([_source(spec, x_src, y_src)], spec, enc, seed=0)
    x_new, _ = _measured(spec, 7, seed=5)
    first = tm.predict(x_new)
    again = tm.predict(x_new[::-1].copy())[::-1]
    batched = tm.predict(x_new.reshape(7, 1, -1)).reshape(7, -1)
    graded = torch.as_tensor(x_new, dtype=torch.double).requires_grad_(True)
    fresh = tm.transform()(graded)[:, -1:].detach().numpy()
    assert len(tm.predicted) == 7
    np.testing.assert_allclose(again, first, rtol=1e-12)
    np.testing.assert_allclose(batched, first, rtol=1e-12)
    np.testing.assert_allclose(fresh, first, rtol=1e-9)


def _problems(data: dict) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        validate(data)
    return {p.path: f"{p.message} | {p.hint}" for p in caught.value.problems}


def test_transfer_problems_name_their_key_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOP_DATA_ROOT", str(tmp_path))
    (tmp_path / "other.csv").write_text("PC,FEC,sigma\n0.5,0.5,3.0\n0.2,0.8,4.0\n")
    (tmp_path / "novalue.csv").write_text("EC,EMC,DMC,LiPF6_molality\n0.3,0.3,0.4,1\n")

    ax = _problems(_electrolyte(engine="ax", transfer={"campaigns": ["older"]}))
    assert "strategy.engine: botorch" in ax["strategy.transfer"]
    empty = _problems(_electrolyte(transfer={}))
    assert "no source is named" in empty["strategy.transfer"]
    itself = _problems(_electrolyte(transfer={"campaigns": ["carbonate-electrolyte"]}))
    assert "itself" in itself["strategy.transfer.campaigns.0"]
    missing = _problems(_electrolyte(transfer={"data": [{"path": "nowhere.csv"}]}))
    assert "nowhere.csv" in missing["strategy.transfer.data.0.path"]
    no_value = _problems(_electrolyte(transfer={"data": [{"path": "novalue.csv"}]}))
    assert "no column for conductivity" in no_value["strategy.transfer.data.0.columns"]
    unrelated = {
        "path": "other.csv",
        "components": ["PC", "FEC"],
        "columns": {"conductivity": "sigma"},
    }
    apart = _problems(_electrolyte(transfer={"data": [unrelated]}))
    assert "shares no component or parameter" in apart["strategy.transfer.data.0"]
    assert "element_descriptors" in apart["strategy.transfer.data.0"]


def test_a_table_of_formulas_brings_other_elements_through_descriptors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A published table names alloys by formula, with elements the campaign
    lacks (Cu, Ti): read on the campaign's basis, the other elements join the
    sources' space, and descriptors relate them; without descriptors, the
    shared elements are enough to validate."""
    from loop.spec.transfer import TransferTable, read_table

    monkeypatch.setenv("LOOP_DATA_ROOT", str(tmp_path))
    (tmp_path / "published.csv").write_text(
        "alloy,HV\nAlCoCrFeNi,520\nAl0.5CoCrCuFeNi,400\nCoCrFeNiTi0.5,610\nnot-a-formula,300\n"
    )
    data = yaml.safe_load((CAMPAIGNS / "hea-manual.yaml").read_text())
    table = {
        "path": "published.csv",
        "columns": {"composition": "alloy", "hardness": "HV"},
    }
    data["strategy"]["transfer"] = {"data": [table]}
    plain = validate(data)
    data["strategy"]["surrogate"] = {"features": ["fractions", "element_descriptors"]}
    spec = validate(data)
    rows = read_table(
        spec, TransferTable.model_validate(table), "strategy.transfer.data.0"
    )
    assert isinstance(rows, SourceRows)
    assert rows.components == ("Al", "Co", "Cr", "Fe", "Ni", "Cu", "Ti")
    np.testing.assert_allclose(rows.fractions[0], [0.2] * 5 + [0, 0])
    np.testing.assert_allclose(rows.fractions[2, 6], 0.5 / 4.5)
    assert np.isnan(rows.fractions[3]).all()  # an unreadable formula is left out
    tm = fit_transfer([rows], spec, Encoder(spec), seed=0)
    assert tm.info["rows"] == {"hardness": 3}
    assert tm.info["components"] == ["Al", "Co", "Cr", "Fe", "Ni", "Cu", "Ti"]
    assert plain.strategy.transfer is not None


@pytest.mark.timeout(300)
def test_an_unrelated_source_gets_little_weight_and_costs_little_accuracy() -> None:
    """A source whose values have nothing to do with the campaign (noise): the
    fit gives it a small weight, and the GP of twelve measurements predicts
    about as well as without it."""
    spec = validate(_electrolyte(transfer={"campaigns": ["older"]}))
    enc = Encoder(spec)
    x_src, _ = _measured(spec, 60, seed=6)
    noise = np.random.default_rng(7).normal(8.0, 2.0, len(x_src))
    x, y = _measured(spec, 12, seed=8)
    x_test, truth = _measured(spec, 200, seed=9)
    tm = fit_transfer([_source(spec, x_src, noise)], spec, enc, seed=0)
    cold = fit_gp(x, y[:, None], gp_settings(spec, enc), seed=0)
    warm = fit_gp(x, y[:, None], gp_settings(spec, enc, tm), seed=0)
    related = fit_transfer(
        [_source(spec, *_measured(spec, 60, seed=6))], spec, enc, seed=0
    )
    leaning = fit_gp(x, y[:, None], gp_settings(spec, enc, related), seed=0)
    weight = abs(warm.info["transfer"]["weights"][0]["conductivity"])
    assert weight < 0.25 * leaning.info["transfer"]["weights"][0]["conductivity"]
    cold_rmse = _rmse(cold.model, x_test, truth)
    warm_rmse = _rmse(warm.model, x_test, truth)
    assert warm_rmse < 1.25 * cold_rmse, (warm_rmse, cold_rmse)


@pytest.mark.timeout(300)
def test_a_mixed_space_transfers_its_numeric_inputs_and_still_proposes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign with a categorical route, an integer and a constraint, and a
    past table in at.% without the route: the sources' GP uses the amounts and
    both numeric parameters, the campaign's GP (mixed kernel) adds the route,
    and a batch of feasible proposals comes out."""
    from loop.engine import CampaignEngine

    monkeypatch.setenv("LOOP_DATA_ROOT", str(tmp_path))
    data = yaml.safe_load((CAMPAIGNS / "mixed-bumps.yaml").read_text())
    spec0 = validate(data)
    x_src, y_src = _measured(spec0, 40, seed=1, objective="y")
    enc0 = Encoder(spec0)
    lines = ["A,B,C,D,temperature,layers,Y\n"]
    for row, value in zip(x_src, y_src, strict=True):
        comp, params = enc0.decode(row)
        amounts = ",".join(f"{comp[c]:.3f}" for c in "ABCD")
        lines.append(f"{amounts},{params['temperature']},{params['layers']},{value}\n")
    (tmp_path / "past.csv").write_text("".join(lines))
    data["strategy"]["transfer"] = {
        "data": [{"path": "past.csv", "columns": {"y": "Y"}}]
    }
    spec = validate(data)
    from loop.sources import read_sources

    sources = read_sources(None, spec)  # type: ignore[arg-type]  # tables need no store
    assert sorted(sources[0].parameters) == ["layers", "temperature"]
    engine = CampaignEngine(spec, sources=sources)
    design = engine.ask(6, 0)
    engine.tell(simulated_trials(spec, design))
    batch = engine.ask(3, 1)
    assert len(batch) == 3
    # the sources make the acquisition flat away from the first pick, so the
    # later picks' restarts land on taken points; the best raw samples stand in
    # (not a random fallback)
    assert [p.phase for p in batch] == ["model"] * 3
    transfer = batch[0].provenance["transfer"]
    assert transfer["parameters"] == ["temperature", "layers"]
    assert transfer["weights"][0]["y"] > 0.3  # the same function: leaned on
    rows = [engine.encoder.encode(p.composition, p.parameters) for p in batch]
    assert all(engine.feasibility.is_feasible(x) for x in rows)
    assert len({x.round(9).tobytes() for x in rows}) == 3


def test_with_sources_the_exploration_starts_from_half_the_weight() -> None:
    """Sources already tell the model where good materials are, so qUCB looks
    2 sds above the mean at the start instead of 4 (docs/benchmarks.md §10),
    falling to 0 at the budget's last experiment as without them."""
    from loop.acquisition import UCB_TRANSFER_START_SDS
    from loop.engine import CampaignEngine

    data = _electrolyte(batch_size=1, optimizer={"restarts": 2, "raw_samples": 64})
    spec = validate(data)
    assert spec.acquisition == "qUCB"
    x, y = _measured(spec, 30, seed=1)
    engine = CampaignEngine(spec, sources=(_source(spec, x, y),))
    engine.tell(simulated_trials(spec, engine.ask(6, 0)))
    (first,) = engine.ask(1, 1)
    budget = spec.budget.experiments
    assert first.phase == "model"
    assert first.provenance["exploration_sds"] == round(
        UCB_TRANSFER_START_SDS * (budget - 7) / budget, 4
    )
    assert "transfer" in first.provenance
