"""A tiny `loop bench` end to end on the dataset shipped in the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
from tests.conftest import CAMPAIGNS, ROOT


def test_tiny_bench_runs_every_strategy_from_the_same_initial_rows(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(ROOT)
    out, plot = tmp_path / "bench.json", tmp_path / "bench.html"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            str(CAMPAIGNS / "perovskite-replay.yaml"),
            "--strategies",
            "botorch,random",
            "--seeds",
            "2",
            "--budget",
            "8",
            "-o",
            str(out),
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "pool: 94 candidates from 139 rows; no row dropped" in result.stdout
    doc = json.loads(out.read_text())
    assert doc["pool_size"] == 94 and doc["budget"] == 8 and doc["top5_size"] == 5
    for seed in range(2):
        firsts = {s: doc["runs"][s][seed]["rows"][:5] for s in ("botorch", "random")}
        assert firsts["botorch"] == firsts["random"], (
            "initial rows must be shared per seed"
        )
    for runs in doc["runs"].values():
        for run in runs:
            assert len(run["rows"]) == 8 == len(set(run["rows"])), (
                "a row was measured twice"
            )
            curve = run["top5_found"]
            assert curve == sorted(curve) and 0 <= curve[-1] <= 1
            # minimised objective: the best-so-far never goes up
            assert run["best_so_far"] == sorted(run["best_so_far"], reverse=True)
    assert set(doc["summary"]) == {"botorch", "random"}
    assert doc["summary"]["botorch"]["propose_seconds_median"] > 0
    # two seeds are too few to say how sure the gap to random search is
    assert "top5_vs_random" not in doc["summary"]["botorch"]
    assert "plotly" in plot.read_text()[:5000].lower()


def test_bench_refuses_a_campaign_that_is_not_a_replay() -> None:
    result = CliRunner().invoke(
        app, ["bench", str(CAMPAIGNS / "mixed-bumps.yaml"), "--seeds", "1"]
    )
    assert result.exit_code == 2 and "replays dataset campaigns" in result.stderr


def test_bench_refuses_unknown_strategies() -> None:
    result = CliRunner().invoke(
        app, ["bench", str(CAMPAIGNS / "perovskite-replay.yaml"), "--strategies", "gpt"]
    )
    assert result.exit_code == 2 and "choose from" in result.stderr


def test_a_budget_above_the_pool_is_refused_before_any_progress_is_shown() -> None:
    result = CliRunner().invoke(
        app,
        ["bench", str(CAMPAIGNS / "perovskite-replay.yaml"), "--budget", "1000"],
    )
    assert result.exit_code == 2 and "exceeds the pool of 94" in result.stderr
    assert "bench" not in result.stdout and "starting" not in result.stdout


def test_bench_prints_the_rows_dropped_from_the_pool_with_their_reason(
    tmp_path: Path, write_yaml
) -> None:
    table = tmp_path / "table.csv"
    table.write_text(
        "A,B,score\n0.2,0.8,1.0\n0.5,0.5,2.0\n0.8,0.2,3.0\n"
        "0.4,0.6,\n0.6,0.4,\n"  # two missing values
        "0.9,0.1,inf\n"  # one objective that is not finite
    )
    campaign = write_yaml(
        {
            "schema_version": 1,
            "name": "rough",
            "space": {"composition": {"kind": "species", "components": ["A", "B"]}},
            "objectives": [{"name": "score", "direction": "maximize"}],
            "strategy": {"initial_design": {"size": 1}},
            "budget": {"experiments": 2},
            "adapter": {"type": "dataset", "path": str(table)},
        }
    )
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["bench", str(campaign), "--strategies", "random", "--seeds", "1"]
        + ["-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "pool: 3 candidates from 6 rows" in result.stdout
    assert "2 rows dropped: missing value" in result.stdout
    assert "1 row dropped: objective not finite" in result.stdout
    doc = json.loads(out.read_text())
    assert doc["pool_rows"] == 6
    assert doc["dropped"] == {"missing value": 2, "objective not finite": 1}


def test_bench_in_a_log_prints_a_line_per_run_and_an_unsqueezed_table(
    tmp_path: Path, monkeypatch
) -> None:
    """Not a terminal (CliRunner, a pipe, a CI log): no progress bar redrawn in
    place but one line per finished run, and the table at its natural width."""
    monkeypatch.chdir(ROOT)
    args = ["bench", str(CAMPAIGNS / "perovskite-replay.yaml"), "--strategies",
            "random", "--seeds", "2", "--budget", "4"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "bench 1/2 random seed 0" in result.stdout
    assert "bench 2/2 random seed 1" in result.stdout
    assert "strategy" in result.stdout and "strat…" not in result.stdout
    assert "to best (median)" in result.stdout
    markdown = CliRunner().invoke(app, [*args, "--format", "markdown"])
    assert markdown.exit_code == 0, markdown.output
    assert "| strategy | top-5 % found |" in markdown.stdout
    assert "| random |" in markdown.stdout
    as_json = CliRunner().invoke(app, [*args, "--format", "json"])
    start = as_json.stdout.index("{")
    doc = json.loads(as_json.stdout[start:])
    assert doc["seeds"] == 2 and set(doc["summary"]) == {"random"}


def test_bench_says_how_sure_each_gap_to_random_search_is(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "bench.json"
    args = ["bench", str(CAMPAIGNS / "perovskite-replay.yaml"), "--strategies",
            "sobol,random", "--seeds", "5", "--budget", "20", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "top-5 % vs random (90 % interval)" in result.stdout
    doc = json.loads(out.read_text())
    gap = doc["summary"]["sobol"]["top5_vs_random"]
    # seed for seed, from the runs themselves
    found = {
        s: {r["seed"]: r["top5_found"][-1] for r in doc["runs"][s]}
        for s in ("sobol", "random")
    }
    diffs = [found["sobol"][seed] - found["random"][seed] for seed in range(5)]
    assert gap["seeds"] == 5
    assert gap["mean"] == pytest.approx(sum(diffs) / 5)
    assert min(diffs) <= gap["low"] <= gap["mean"] <= gap["high"] <= max(diffs)
    assert "top5_vs_random" not in doc["summary"]["random"]
    shown = f"{gap['mean']:+.2f} ({gap['low']:+.2f} to {gap['high']:+.2f})"
    assert shown in result.stdout
