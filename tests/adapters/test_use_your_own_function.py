"""docs/how-to/use-your-own-function.md, followed literally: its Python file and
campaign file are written into an empty folder, and the commands it shows run
there through the real CLI on the SQLite file they default to."""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop.cli import app
from loop.records import TrialStatus
from loop.spec import load_path
from loop.storage import Store
from tests.conftest import ROOT

HOW_TO = ROOT / "docs" / "how-to" / "use-your-own-function.md"


def blocks(language: str) -> list[str]:
    """The how-to's fenced code blocks in *language*, in page order."""
    text = HOW_TO.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The empty folder the how-to starts in, as the working directory."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("my_model", None)


def test_the_how_to_runs_as_written(folder: Path) -> None:
    # the first Python block is my_model.py, the first YAML block campaign.yaml
    (folder / "my_model.py").write_text(blocks("python")[0])
    (folder / "campaign.yaml").write_text(blocks("yaml")[0])
    commands = [shlex.split(line) for line in blocks("console")[0].splitlines()]
    assert [c[:2] for c in commands] == [["loop", "run"], ["loop", "inspect"]]

    outputs = []
    for command in commands:
        result = CliRunner().invoke(app, command[1:])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)

    spec = load_path(folder / "campaign.yaml")
    trials = Store(f"sqlite:///{folder / 'loop.db'}", create=False).trials(spec.name)
    assert len(trials) == spec.budget.experiments == 12
    completed = [t for t in trials if t.status is TrialStatus.COMPLETED]
    failed = [t for t in trials if t.status is TrialStatus.FAILED]
    assert len(completed) + len(failed) == 12 and len(completed) >= 8
    # the function's exception is the failed trial's reason, as the page says
    assert failed, "the page promises that a raise fails the trial"
    for t in failed:
        assert t.failure_reason == (
            "my_model:hardness raised ValueError: brittle: the Al-rich sample "
            "cracked during the anneal"
        )
    assert "best so far" in outputs[1] and "hardness" in outputs[1]
    shown = CliRunner().invoke(app, ["inspect", spec.name, "--format", "json"])
    assert json.loads(shown.stdout)["best"]["measurements"]["hardness"] > 60


def test_the_options_block_of_the_how_to_validates(folder: Path) -> None:
    (folder / "models").mkdir()
    module = blocks("python")[0].replace(
        "def hardness(composition, parameters):",
        "def hardness(composition, parameters, calibration=1.0):",
    )
    (folder / "models" / "my_model.py").write_text(module)
    campaign = blocks("yaml")[0].split("adapter:")[0] + blocks("yaml")[1]
    (folder / "campaign.yaml").write_text(campaign)

    result = CliRunner().invoke(app, ["validate", "campaign.yaml"])

    assert result.exit_code == 0, result.output
    assert load_path(folder / "campaign.yaml").adapter["options"] == {
        "calibration": 1.05
    }
