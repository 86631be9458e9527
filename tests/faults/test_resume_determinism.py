"""A campaign SIGKILLed after several model rounds and resumed proposes exactly
what an uninterrupted run proposes (issue 13, item 5).

The killed driver dies right after storing its third model round (the fourth
`after_commit_proposals`: one design round, then model rounds), before any of
those proposals is measured. `loop resume` is a new process with a new engine:
it must start from the hyperparameters stored with that round, re-dispatch the
stored proposals and continue, so every trial (configuration, phase, iteration)
equals the uninterrupted run's, in another database.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml

from tests.conftest import CAMPAIGNS
from tests.faults.test_kill_points import loop_cli, read

pytestmark = pytest.mark.timeout(600)

KILLED = -signal.SIGKILL
NAME = "carbonate-electrolyte"


def _campaign(tmp_path: Path) -> Path:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["budget"]["experiments"] = 12
    data["strategy"]["initial_design"]["size"] = 2
    data["strategy"]["optimizer"] = {"restarts": 4, "raw_samples": 64}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _trials(db: str) -> list[tuple]:
    return [
        (
            t.iteration,
            t.phase,
            sorted(t.composition.items()),
            sorted(t.parameters.items()),
        )
        for t in read(db, NAME)
    ]


def test_killed_after_three_model_rounds_then_resumed_proposes_the_uninterrupted_trials(
    tmp_path: Path,
) -> None:
    path = _campaign(tmp_path)
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    code, _, stderr = loop_cli("run", str(path), "--db", whole)
    assert code == 0, stderr

    killed = f"sqlite:///{tmp_path / 'killed.db'}"
    code, _, stderr = loop_cli(
        "run", str(path), "--db", killed, fault="after_commit_proposals@4"
    )
    assert code == KILLED, stderr
    at_kill = read(killed, NAME)
    assert sum(1 for t in at_kill if t.phase == "model") == 6  # three rounds of 2
    assert all(t.measurement is None for t in at_kill[-2:])  # the last round unmeasured

    code, _, stderr = loop_cli("resume", NAME, "--db", killed)
    assert code == 0, stderr
    assert _trials(killed) == _trials(whole)
    resumed = [t for t in read(killed, NAME) if t.iteration > at_kill[-1].iteration]
    assert resumed and all(t.provenance["warm_start"] for t in resumed)
