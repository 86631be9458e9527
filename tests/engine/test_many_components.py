"""A composition space of 2000 components with at most 4 present (issue 15,
item 8): one proposal used to build a (start points x 4000 x 2000) table and 8000
swap neighbours per start, and ran out of 24 GB. Now the projection works in
chunks (over the support only, where it can) and the swaps tried per point are
capped, so the same campaign runs to its budget in under 1 GB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from loop.acquisition.search import MAX_SWAPS, _swaps
from loop.storage import Store
from tests.conftest import ROOT


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_2000_component_campaign_proposes_in_bounded_memory(tmp_path: Path) -> None:
    components = [f"S{i}" for i in range(2000)]
    (tmp_path / "score.py").write_text(
        "def f(composition, parameters):\n"
        "    return sum((int(k[1:]) % 7) * v for k, v in composition.items())\n"
    )
    campaign = {
        "schema_version": 1,
        "name": "many",
        "space": {
            "composition": {
                "kind": "species",
                "components": components,
                "max_components": 4,
            }
        },
        "objectives": [{"name": "y", "direction": "maximize"}],
        "strategy": {"initial_design": {"size": 6}, "batch_size": 2},
        "budget": {"experiments": 8},
        "adapter": {"type": "python", "target": "score:f", "path": str(tmp_path)},
        "seed": 0,
    }
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump(campaign))
    db = f"sqlite:///{tmp_path / 'many.db'}"
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "loop.cli", "run", str(path), "--db", db],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        # this child's own peak (wait4), not the largest of every child this
        # test process ever waited for (RUSAGE_CHILDREN): tests before this one
        # in the same worker may have run bigger children
        _, status, usage = os.wait4(run.pid, 0)
        run.returncode = os.waitstatus_to_exitcode(status)
    assert run.returncode == 0, log.read_text()[-2000:]
    peak_mb = usage.ru_maxrss / 1024
    assert peak_mb < 1500, f"peak {peak_mb:.0f} MB"
    trials = Store(db, create=False).trials("many")
    assert len(trials) == 8 and {t.phase.value for t in trials} == {"initial", "model"}
    for t in trials:
        assert 1 <= sum(1 for v in t.composition.values() if v > 0) <= 4


def test_the_swaps_tried_from_a_point_are_all_of_them_or_a_repeatable_sample() -> None:
    few = np.zeros(12, dtype=bool)
    few[[0, 3, 5, 7]] = True
    none_forced = np.zeros(12, dtype=bool)
    row = np.linspace(0, 1, 12)
    assert len(_swaps(few, none_forced, row)) == 4 * 8  # every pair
    many = np.zeros(2000, dtype=bool)
    many[[1, 10, 100, 1000]] = True
    row = np.random.default_rng(0).random(2000)
    picked = _swaps(many, np.zeros(2000, dtype=bool), row)
    assert len(picked) == MAX_SWAPS and len(set(picked)) == MAX_SWAPS
    assert all(many[i] and not many[j] for i, j in picked)
    assert picked == _swaps(many, np.zeros(2000, dtype=bool), row.copy())
