"""Best-so-far sparklines for `loop inspect`."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from loop.cli import app
from loop.report.terminal import BARS, best_so_far, best_so_far_lines, sparkline
from tests.report.conftest import Finished

runner = CliRunner()
values = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=120
)


def _trials(ys: list[float], name: str = "y") -> list[dict]:
    return [{"measurements": {name: y}} for y in ys]


@given(values)
def test_sparkline_of_a_maximised_best_so_far_never_goes_down(ys: list[float]) -> None:
    trace = best_so_far(_trials(ys), {"name": "y", "direction": "maximize"})
    assert trace == list(np.maximum.accumulate(ys))
    levels = [BARS.index(c) for c in sparkline(trace)]
    assert levels == sorted(levels) and len(levels) == min(len(trace), 40)


@given(values)
def test_sparkline_of_a_minimised_best_so_far_never_goes_up(ys: list[float]) -> None:
    trace = best_so_far(_trials(ys), {"name": "y", "direction": "minimize"})
    levels = [BARS.index(c) for c in sparkline(trace)]
    assert levels == sorted(levels, reverse=True)


def test_sparkline_spans_the_blocks() -> None:
    assert sparkline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == BARS
    assert sparkline([]) == ""


def test_trials_missing_an_outcome_constraint_do_not_count() -> None:
    trials = [
        {"measurements": {"y": 1.0, "v": 1.0}},
        {"measurements": {"y": 9.0, "v": 5.0}},  # misses v <= 3
        {"measurements": {"y": 2.0, "v": 2.0}},
    ]
    cap = {"name": "v", "direction": "minimize", "threshold": 3.0}
    goal = {"name": "y", "direction": "maximize"}
    assert best_so_far(trials, goal, [cap]) == [1.0, 1.0, 2.0]
    doc = {
        "objectives": [goal, {**cap, "role": "constraint", "unit": "mPa s"}],
        "trials": trials,
    }
    (line,) = best_so_far_lines(doc)
    assert line.startswith("best so far  y (maximize)") and line.endswith(" 2")


def test_inspect_prints_the_sparkline_under_the_table(single: Finished) -> None:
    result = runner.invoke(app, ["inspect", single.spec.name, "--db", single.store.url])
    assert result.exit_code == 0, result.output
    lines = result.stdout.rstrip("\n").splitlines()
    bottom = max(i for i, line in enumerate(lines) if line.startswith("└"))
    # the sparkline, then the model check of stored predictions
    spark, check, *hint = lines[bottom + 1 :]
    assert check.startswith("model check  conductivity: predicted before measured")
    assert hint == [
        "cross-validated calibration and the failure model: loop report "
        f"{single.spec.name}"
    ]
    best = single.data.progress["best"]["conductivity"]
    assert spark == (
        f"best so far  conductivity (maximize)  {sparkline(best)}  {best[-1]:.6g} mS/cm"
    )
