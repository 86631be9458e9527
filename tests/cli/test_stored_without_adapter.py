"""A stored campaign reads without its adapter: `loop inspect`, `export`,
`report` and the dashboard work when the adapter's plug-in is not installed or
a python campaign's module is gone; only driving it (`loop resume`) refuses."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loop.cli import app
from loop.records import TrialStatus
from loop.service.dashboard import Dashboard
from loop.service.robots import add_robot
from loop.storage import Store

MODULE = "def toughness(composition, parameters):\n    return composition['Ni'] + parameters['t'] / 100\n"


def _campaign(adapter: dict) -> dict:
    return {
        "schema_version": 1,
        "name": "made-elsewhere",
        "space": {
            "composition": {"components": ["Cu", "Ni"]},
            "parameters": [{"name": "t", "type": "continuous", "bounds": [0, 10]}],
        },
        "objectives": [{"name": "toughness", "direction": "maximize"}],
        "strategy": {"engine": "random", "batch_size": 3},
        "budget": {"experiments": 6},
        "adapter": adapter,
    }


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working directory, with the lab's module `gonemodel.py`."""
    (tmp_path / "gonemodel.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("gonemodel", None)


def _run(lab: Path, adapter: dict) -> str:
    """Run the campaign to its budget through the CLI; returns the database URL."""
    (lab / "campaign.yaml").write_text(yaml.safe_dump(_campaign(adapter)))
    db = f"sqlite:///{lab / 'loop.db'}"
    result = CliRunner().invoke(app, ["run", "campaign.yaml", "--db", db])
    assert result.exit_code == 0, result.output
    return db


def _reads(lab: Path, db: str) -> str:
    """inspect, export and report all succeed; returns inspect's output."""
    runner = CliRunner()
    shown = runner.invoke(app, ["inspect", "made-elsewhere", "--db", db])
    assert shown.exit_code == 0, shown.output
    as_json = runner.invoke(
        app, ["inspect", "made-elsewhere", "--db", db, "--format", "json"]
    )
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["counts"] == {"completed": 6}
    exported = runner.invoke(
        app, ["export", "made-elsewhere", "--db", db, "-o", str(lab / "t.csv")]
    )
    assert exported.exit_code == 0, exported.output
    assert len((lab / "t.csv").read_text().splitlines()) == 7
    reported = runner.invoke(
        app, ["report", "made-elsewhere", "--db", db, "-o", str(lab / "r.html")]
    )
    assert reported.exit_code == 0, reported.output
    assert "made-elsewhere" in (lab / "r.html").read_text()
    return shown.output


def test_a_python_campaign_whose_module_is_gone_still_reads(lab: Path) -> None:
    db = _run(lab, {"type": "python", "target": "gonemodel:toughness"})
    (lab / "gonemodel.py").unlink()
    sys.modules.pop("gonemodel", None)  # as in a new process

    _reads(lab, db)
    resumed = CliRunner().invoke(app, ["resume", "made-elsewhere", "--db", db])

    assert resumed.exit_code != 0
    assert "adapter.target: module 'gonemodel' not found" in resumed.output
    assert "Traceback" not in resumed.output


def test_a_campaign_of_an_adapter_not_installed_reads_but_does_not_resume(
    lab: Path,
) -> None:
    db = _run(lab, {"type": "python", "target": "gonemodel:toughness"})
    store = Store(db, create=False)
    stored = store.get_campaign("made-elsewhere").spec
    # as if made with a third-party plug-in `pyfunc`, uninstalled since
    gone = {"type": "pyfunc", "function": "toughness", "retries": 2}
    store.update_campaign("made-elsewhere", spec={**stored, "adapter": gone})
    store.update_campaign("made-elsewhere", status="active")

    shown = _reads(lab, db)
    assert "unknown adapter type 'pyfunc'" in shown
    viewer = add_robot(store, "made-elsewhere", "viewer", role="read").key
    dashboard = Dashboard(store)
    assert dashboard.summary(viewer, "made-elsewhere").budget.used == 6
    assert dashboard.live(viewer, "made-elsewhere")
    listed = CliRunner().invoke(app, ["list", "--db", db])
    assert listed.exit_code == 0 and "pyfunc" in listed.output
    exported = CliRunner().invoke(
        app, ["inspect", "made-elsewhere", "--db", db, "--format", "json"]
    )
    assert json.loads(exported.stdout)["spec"]["adapter"] == gone

    resumed = CliRunner().invoke(app, ["resume", "made-elsewhere", "--db", db])

    assert resumed.exit_code == 2, resumed.output
    assert "adapter.type: unknown adapter type 'pyfunc'" in resumed.output
    assert "valid choices: dataset, dft, fidelities, manual, python" in resumed.output
    assert "Traceback" not in resumed.output
    trials = Store(db, create=False).trials("made-elsewhere")
    assert all(t.status is TrialStatus.COMPLETED for t in trials)
