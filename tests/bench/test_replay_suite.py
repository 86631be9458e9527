"""The resumable replay suite (issue 18): runs kept one by one, skipped when
started again, merged into `loop bench`'s result; and issue 18's goals read
from the merged results."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from loop.bench.replay import prepare, replay
from loop.spec import load_path
from tests.benchmarks.replay_suite import goals, report, run_path, run_suite


def _campaigns(tmp_path: Path) -> Path:
    """Two small pool campaigns (a linear and a bowl-shaped score)."""
    folder = tmp_path / "campaigns"
    folder.mkdir()
    for name, score in {
        "line": lambda a: a,
        "bowl": lambda a: -((a - 0.6) ** 2),
    }.items():
        rows = ["A,B,score"] + [
            f"{a:.2f},{1 - a:.2f},{score(a):.4f}" for a in [i / 23 for i in range(24)]
        ]
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n")
        campaign = {
            "schema_version": 1,
            "name": name,
            "space": {"composition": {"kind": "species", "components": ["A", "B"]}},
            "objectives": [{"name": "score", "direction": "maximize"}],
            "strategy": {"initial_design": {"size": 2}},
            "budget": {"experiments": 5},
            "adapter": {"type": "dataset", "path": str(tmp_path / f"{name}.csv")},
        }
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(campaign))
    return folder


def test_a_stopped_suite_runs_only_what_is_missing_and_merges_like_loop_bench(
    tmp_path: Path,
) -> None:
    campaigns, out = _campaigns(tmp_path), tmp_path / "suite"
    said: list[str] = []
    merged = run_suite(campaigns, out, ["random"], 2, log=said.append)
    assert len(said) == 4  # 2 campaigns x 1 strategy x 2 seeds
    assert sorted(p.name for p in merged) == ["bowl.json", "line.json"]

    # as if stopped before one run was kept: only that one runs again
    run_path(out, "line", "random", 1).unlink()
    said.clear()
    run_suite(campaigns, out, ["random"], 2, log=said.append)
    assert said and all(line.startswith("line random seed 1:") for line in said)
    assert len(said) == 1

    # the merged result is what `loop bench` gives for the same runs (all but
    # the seconds each proposal took)
    plan = prepare(load_path(campaigns / "line.yaml"))
    expected = replay(plan, ["random"], 2)
    got = json.loads((out / "line.json").read_text())

    def untimed(doc: dict[str, Any]) -> dict[str, Any]:
        summary = {
            k: v for k, v in doc["summary"]["random"].items() if "second" not in k
        }
        runs = [
            {k: v for k, v in r.items() if "second" not in k}
            for r in doc["runs"]["random"]
        ]
        return {"summary": summary, "runs": runs}

    assert untimed(got) == untimed(expected)
    assert [r["rows"] for r in got["runs"]["random"]] != [[], []]
    assert "| random |" in report(out)


def _result(name: str, top5: dict[str, float], ef: dict[str, float]) -> dict[str, Any]:
    return {
        "campaign": name,
        "summary": {
            s: {"top5_found": {"mean": top5[s]}, "ef_top5": ef[s]} for s in top5
        },
    }


def test_the_goals_say_which_are_met_and_where_not() -> None:
    results = [
        _result(
            "a",
            {"botorch": 0.5, "ax": 0.4, "random": 0.1},
            {"botorch": 5, "ax": 4, "random": 1},
        ),
        _result(
            "b",
            {"botorch": 0.3, "ax": 0.3, "random": 0.1},
            {"botorch": 3, "ax": 3, "random": 1},
        ),
        _result(
            "c",
            {"botorch": 0.6, "ax": 0.2, "random": 0.1},
            {"botorch": 6, "ax": 2, "random": 1},
        ),
        _result(
            "d",
            {"botorch": 0.05, "ax": 0.2, "random": 0.1},
            {"botorch": 0.5, "ax": 2, "random": 1},
        ),
    ]
    lines = goals(results)
    assert lines[0].startswith("top-5 % found at least the best peer's: 75% of 4")
    assert lines[0].endswith(": met; behind on d")
    # botorch 3.625 against ax 2.75: 1.32x
    assert "1.32x (goal 1.25x): met" in lines[1]
    assert lines[2].endswith("NOT met; below on d")


def _with_runs(name: str, found: dict[str, list[float]]) -> dict[str, Any]:
    """A merged result with per-seed runs (top-5 % found at the end of each)."""
    runs = {
        s: [{"seed": i, "top5_found": [0.0, f]} for i, f in enumerate(v)]
        for s, v in found.items()
    }
    summary = {
        s: {"top5_found": {"mean": sum(v) / len(v)}, "ef_top5": 10 * sum(v) / len(v)}
        for s, v in found.items()
    }
    return {
        "campaign": name,
        "pool_size": 100,
        "budget": 10,
        "summary": summary,
        "runs": runs,
    }


def test_the_goals_say_how_much_of_a_gap_the_draw_of_seeds_could_make() -> None:
    hits = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    fewer = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    results = [
        # below random by one hit in ten seeds: within the draw of seeds
        _with_runs("tiny", {"botorch": fewer, "random": hits, "baybe": hits}),
        # clearly ahead of both, on every seed
        _with_runs(
            "large", {"botorch": [0.5] * 10, "random": [0.1] * 10, "baybe": [0.2] * 10}
        ),
    ]
    lines = goals(results)
    ratio = next(line for line in lines if "vs baybe" in line)
    found = re.search(
        r": ([\d.]+)x \(goal.*interval over the seeds ([\d.]+)x to ([\d.]+)x$", ratio
    )
    assert found is not None, ratio
    point, low, high = (float(v) for v in found.groups())
    assert low < point < high  # the seeds of "tiny" could have gone either way
    assert "below on tiny" in lines[-2]
    gap = re.fullmatch(
        r"tiny: botorch minus random -0\.100 over 10 seeds, 90% interval (\S+) to (\S+)",
        lines[-1],
    )
    assert gap is not None, lines[-1]
    assert float(gap.group(1)) < -0.1 < 0 <= float(gap.group(2))
