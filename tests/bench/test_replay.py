"""Bench runs whose measurements all failed: no curve, no crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from loop.bench.plot import bench_figure, write_plot
from loop.bench.replay import describe_run, prepare, result
from loop.records import Proposal
from loop.service.campaigns import ensure_campaign
from loop.service.runner import run_campaign
from loop.spec import validate
from loop.storage import Store


def _tiny_pool(tmp_path: Path) -> dict:
    path = tmp_path / "tiny.csv"
    path.write_text("A,B,score\n0.2,0.8,1.0\n0.5,0.5,2.0\n0.8,0.2,3.0\n")
    return {
        "schema_version": 1,
        "name": "tiny",
        "space": {"composition": {"kind": "species", "components": ["A", "B"]}},
        "objectives": [{"name": "score", "direction": "maximize"}],
        "strategy": {"engine": "random", "initial_design": {"size": 1}},
        "budget": {"experiments": 2},
        "adapter": {"type": "dataset", "path": str(path)},
    }


def test_a_run_with_every_measurement_failed_is_summarised(
    tmp_path: Path, db_url: str
) -> None:
    spec = validate(_tiny_pool(tmp_path))
    plan = prepare(spec)
    # a real run whose every measurement fails: both slots of the budget hold
    # configurations the table does not have, so the dataset adapter fails them
    store = Store(db_url)
    ensure_campaign(store, spec)
    strangers = [
        Proposal(composition={"A": a, "B": 1 - a}, phase="initial", strategy="random")
        for a in (0.3, 0.6)
    ]
    store.add_trials(spec.name, 0, strangers, spec.budget.experiments)
    summary = run_campaign(store, spec.name)
    assert summary.finished and summary.completed == 0 and summary.failed == 2
    run = describe_run(plan, 0, store.trials(spec.name))
    assert run["rows"] == [] and run["failed"] == 2 and run["best_so_far"] == []
    measured = describe_run(plan, 1, [])  # and one run that measured nothing at all
    doc = result(plan, {"random": [run, measured]}, seeds=2)
    s = doc["summary"]["random"]
    assert s["best"] is None and s["top5_found"] == {"mean": 0.0, "sd": 0.0}
    assert s["ef_top5"] == 0.0 and s["af_top5"] is None and s["failed"] == 2
    assert s["found_best"] == "0/2" and s["to_best_median"] is None
    write_plot(doc, tmp_path / "plot.html")  # empty curves are left out of the plot
    assert (tmp_path / "plot.html").stat().st_size > 0


def test_runs_with_some_failed_measurements_are_averaged_over_the_budget(
    tmp_path: Path,
) -> None:
    plan = prepare(validate(_tiny_pool(tmp_path)))
    full = {"rows": [0, 2], "best_so_far": [1.0, 3.0], "top5_found": [0.0, 1.0]}
    short = {"rows": [1], "best_so_far": [2.0], "top5_found": [0.0]}
    runs = [
        {**describe_run(plan, 0, []), **full},
        {**describe_run(plan, 1, []), **short, "failed": 1},
    ]
    s = result(plan, {"random": runs}, seeds=2)["summary"]["random"]
    assert s["best"]["mean"] == 2.5 and s["top5_found"]["mean"] == 0.5
    assert s["failed"] == 1
    write_plot(result(plan, {"random": runs}, 2), tmp_path / "plot.html")


def test_the_band_of_the_top_5_fraction_stays_between_0_and_1(tmp_path: Path) -> None:
    """Two seeds that found nothing and one that found everything: mean 1/3 with
    a band wider than the mean, which must not be drawn below 0 or above 1."""
    plan = prepare(validate(_tiny_pool(tmp_path)))
    curves = [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    runs = [
        {
            **describe_run(plan, i, []),
            "rows": [0, 1],
            "best_so_far": [1.0, 2.0],
            "top5_found": c,
        }
        for i, c in enumerate(curves)
    ]
    fig = bench_figure(result(plan, {"random": runs}, seeds=3))
    (band,) = [t for t in fig.data if t.fill == "toself" and t.xaxis == "x2"]
    assert min(band.y) == 0.0 and max(band.y) <= 1.0
    (line,) = [t for t in fig.data if t.name == "random" and t.xaxis == "x2"]
    assert line.y[0] == pytest.approx(1 / 3)
