"""A tiny `loop bench` end to end on the dataset shipped in the repository."""

from __future__ import annotations

import json
from pathlib import Path

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
