"""The adapter of docs/how-to/write-an-adapter.md, plugged in as a third party would.

`furnace_installed` registers it the way an installed package is found: a
`*.dist-info` directory with an `entry_points.txt` naming it in the
`loop.adapters` group, on `sys.path` (what `pip install` leaves in
site-packages). A campaign then runs through the real CLI on a SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import LoopError, Problem, SpecError
from loop.plugins import adapter_class, adapter_names
from loop.records import TrialStatus
from loop.spec import validate
from loop.storage import Store
from tests.adapters.example_adapter import FurnaceAdapter
from tests.conftest import ROOT

MELTING_POINTS = {"Cu": 1358.0, "Ni": 1728.0, "Al": 933.0}
MAX_TEMPERATURE = 1400.0


def install(site: Path, entry_points: str) -> None:
    """Write a distribution's metadata with *entry_points* into the folder *site*."""
    info = site / "loop_furnace-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: loop-furnace\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def furnace_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The furnace adapter installed under `type: furnace` (and broken plug-ins)."""
    site = tmp_path / "site"
    install(
        site,
        "[loop.adapters]\n"
        "furnace = tests.adapters.example_adapter:FurnaceAdapter\n"
        "not-an-adapter = tests.adapters.example_adapter:FurnaceConfig\n"
        "broken = tests.adapters.no_such_module:FurnaceAdapter\n",
    )
    monkeypatch.syspath_prepend(str(site))
    adapter_names.cache_clear()
    adapter_class.cache_clear()
    yield
    adapter_names.cache_clear()
    adapter_class.cache_clear()


def furnace_campaign(**adapter: object) -> dict:
    return {
        "schema_version": 1,
        "name": "furnace-demo",
        "space": {"composition": {"components": ["Cu", "Ni", "Al"]}},
        "objectives": [{"name": "liquidus", "direction": "minimize", "unit": "K"}],
        "strategy": {"engine": "random", "batch_size": 2},
        "budget": {"experiments": 8},
        "adapter": {
            "type": "furnace",
            "melting_points": MELTING_POINTS,
            "max_temperature": MAX_TEMPERATURE,
            **adapter,
        },
        "seed": 3,
    }


def liquidus(composition: dict[str, float]) -> float:
    total = sum(composition.values())
    return sum(x / total * MELTING_POINTS[c] for c, x in composition.items())


def test_a_campaign_runs_through_the_example_adapter(
    furnace_installed: None, tmp_path: Path
) -> None:
    path = tmp_path / "furnace.yaml"
    path.write_text(yaml.safe_dump(furnace_campaign()))
    db = f"sqlite:///{tmp_path / 'loop.db'}"

    result = CliRunner().invoke(app, ["run", str(path), "--db", db])

    assert result.exit_code == 0, result.output
    trials = Store(db, create=False).trials("furnace-demo")
    assert len(trials) == 8
    completed = [t for t in trials if t.status is TrialStatus.COMPLETED]
    failed = [t for t in trials if t.status is TrialStatus.FAILED]
    assert completed and failed and len(completed) + len(failed) == 8
    for t in completed:
        assert t.values["liquidus"] == pytest.approx(liquidus(t.composition))
        assert t.values["liquidus"] <= MAX_TEMPERATURE
        assert t.measurement is not None and t.measurement.units == {"liquidus": "K"}
    for t in failed:
        # a melt too hot is a failed trial, reported by the adapter, not a crash
        assert liquidus(t.composition) > MAX_TEMPERATURE
        assert t.failure_reason is not None and "too hot" in t.failure_reason


def test_the_example_adapter_checks_the_campaign(furnace_installed: None) -> None:
    data = furnace_campaign(melting_points={"Cu": 1358.0, "Ni": 1728.0})
    data["objectives"] = [{"name": "hardness", "direction": "maximize"}]

    with pytest.raises(SpecError) as caught:
        validate(data)

    paths = {p.path for p in caught.value.problems}
    assert paths == {"adapter.melting_points", "objectives.0.name"}


def test_the_registry_finds_the_plug_in_and_refuses_what_is_no_adapter(
    furnace_installed: None,
) -> None:
    assert "furnace" in adapter_names()
    assert adapter_class("furnace") is FurnaceAdapter
    with pytest.raises(LoopError) as caught:
        adapter_class("not-an-adapter")
    assert "not an adapter class" in caught.value.message
    assert "write-an-adapter" in caught.value.hint
    with pytest.raises(LoopError) as caught:
        adapter_class("broken")
    assert caught.value.exit_code == 2
    assert "'broken' (tests.adapters.no_such_module:FurnaceAdapter) cannot be " in (
        caught.value.message
    )
    assert "ModuleNotFoundError" in caught.value.message


def test_what_an_adapter_class_declares_decides_what_validation_refuses(
    furnace_installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Capabilities are asked of the adapter's class (`loop.ports`), never read
    from its name: the furnace may record costs and measure any alloy until its
    class says otherwise."""
    costed = furnace_campaign()
    costed["budget"] = {"experiments": 8, "cost": 100.0}
    included = furnace_campaign()
    included["strategy"]["initial_design"] = {"include": [{"composition": "Cu50Ni50"}]}
    assert validate(costed).budget.cost == 100.0
    assert len(validate(included).strategy.initial_design.include) == 1

    monkeypatch.setattr(FurnaceAdapter, "records_cost", False, raising=False)
    problem = _only_problem(costed)
    assert problem.path == "budget.cost"
    assert "the furnace adapter records no cost per evaluation" in problem.message

    monkeypatch.setattr(FurnaceAdapter, "pooled", True, raising=False)
    problem = _only_problem(included)
    assert problem.path == "strategy.initial_design.include"
    assert "the furnace adapter replays a table" in problem.message


def _only_problem(data: dict) -> Problem:
    """The one problem validation finds in *data*."""
    with pytest.raises(SpecError) as caught:
        validate(data)
    [problem] = caught.value.problems
    return problem


def test_the_how_to_shows_the_adapter_the_tests_run() -> None:
    page = (ROOT / "docs" / "how-to" / "write-an-adapter.md").read_text()
    code = (ROOT / "tests" / "adapters" / "example_adapter.py").read_text()
    assert f"```python\n{code}```" in page
