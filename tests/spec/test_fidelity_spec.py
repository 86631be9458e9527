"""`fidelities:` as a campaign file meets validation (issue 17, item 1): each bad
block is refused with the YAML path of what is wrong and how to fix it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from loop.cli import app
from loop.errors import SpecError
from loop.spec import validate
from loop.spec.fidelity import FIDELITY
from tests.conftest import CAMPAIGNS

EXAMPLE = CAMPAIGNS / "multi-fidelity-bumps.yaml"


def _example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def _paths(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate(data)
    return [p.path for p in info.value.problems]


def test_the_levels_become_a_fidelity_parameter_and_the_spec_reads_back_the_same() -> (
    None
):
    spec = validate(_example())
    fidelity = next(p for p in spec.space.parameters if p.name == FIDELITY)
    assert fidelity.type == "categorical"
    assert fidelity.values == ("screen", "full")
    assert spec.target_fidelity == "full"
    assert spec.adapter["type"] == "fidelities"
    # what is stored is read back unchanged (no second parameter, same adapter)
    again = validate(spec.model_dump(mode="json"), check_adapter=False)
    assert again == spec


def _changed(edit: Any) -> dict[str, Any]:
    data = copy.deepcopy(_example())
    edit(data)
    return data


BAD = {
    "one level": (
        lambda d: d.update(fidelities=d["fidelities"][1:]),
        "fidelities",
    ),
    "same name twice": (
        lambda d: d["fidelities"][1].update(name="screen"),
        "fidelities.1.name",
    ),
    "costs not increasing": (
        lambda d: d["fidelities"][1].update(cost=0.5),
        "fidelities.1.cost",
    ),
    "a cost of zero": (
        lambda d: d["fidelities"][0].update(cost=0),
        "fidelities.0.cost",
    ),
    "a top-level adapter too": (
        lambda d: d.update(adapter={"type": "simulator", "function": "simplex-bumps"}),
        "adapter",
    ),
    "a measured cost without an estimate": (
        lambda d: d["fidelities"][1].update(
            cost="measured", adapter={"type": "python", "target": "json:dumps"}
        ),
        "fidelities.1.expected_cost",
    ),
    "a measured cost from an adapter that records none": (
        lambda d: d["fidelities"][1].update(cost="measured", expected_cost=10),
        "fidelities.1.cost",
    ),
    "an expected cost beside a fixed one": (
        lambda d: d["fidelities"][0].update(expected_cost=2),
        "fidelities.0.expected_cost",
    ),
    "an estimate not above the level before": (
        lambda d: d["fidelities"][1].update(
            cost="measured",
            expected_cost=0.5,
            adapter={"type": "python", "target": "json:dumps"},
        ),
        "fidelities.1.expected_cost",
    ),
    "a cap of zero": (
        lambda d: d["fidelities"][1].update(max_evaluations=0),
        "fidelities.1.max_evaluations",
    ),
    "a level's adapter that does not measure an objective": (
        lambda d: d["objectives"].append({"name": "z", "direction": "minimize"}),
        "objectives.1.name",
    ),
    "another engine": (
        lambda d: d["strategy"].update(engine="random"),
        "strategy.engine",
    ),
    "an unknown adapter type": (
        lambda d: d["fidelities"][0]["adapter"].update(type="nope"),
        "fidelities.0.adapter.type",
    ),
    "an unknown option of a level's adapter": (
        lambda d: d["fidelities"][0]["adapter"].update(colour="red"),
        "fidelities.0.adapter.colour",
    ),
    "a level's adapter refusing the campaign": (
        lambda d: d["fidelities"][1]["adapter"].update(function="no-such-function"),
        "fidelities.1.adapter.function",
    ),
    "a dataset as a level": (
        lambda d: d["fidelities"][0].update(
            adapter={"type": "dataset", "path": "x.csv"}
        ),
        "fidelities.0.adapter.type",
    ),
    "a person as a level": (
        lambda d: d["fidelities"][1].update(adapter={"type": "manual"}),
        "fidelities.1.adapter.type",
    ),
    "a level with fidelities of its own": (
        lambda d: d["fidelities"][1].update(adapter={"type": "fidelities"}),
        "fidelities.1.adapter.type",
    ),
    "a parameter named fidelity": (
        lambda d: (
            d["space"]
            .setdefault("parameters", [])
            .append({"name": FIDELITY, "type": "categorical", "values": ["a", "b"]})
        ),
        "space.parameters.0.name",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_fidelity_block_is_refused_at_its_yaml_path(case: str) -> None:
    edit, path = BAD[case]
    assert path in _paths(_changed(edit))


def test_the_fidelities_adapter_without_fidelities_says_what_it_is_for() -> None:
    data = _changed(lambda d: d.pop("fidelities"))
    data["adapter"] = {"type": "fidelities"}
    assert "adapter.type" in _paths(data)


def test_an_objective_a_level_does_not_measure_names_the_level() -> None:
    data = _changed(
        lambda d: d["objectives"].append({"name": "z", "direction": "minimize"})
    )
    with pytest.raises(SpecError) as info:
        validate(data)
    said = [p.message for p in info.value.problems if p.path == "objectives.1.name"]
    assert any(m.startswith("fidelity 'screen': ") for m in said), said


def test_loop_validate_exits_2_naming_the_key(tmp_path: Any) -> None:
    path = tmp_path / "bad.yaml"
    data = _changed(lambda d: d["fidelities"][1].update(cost=0.5))
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "fidelities.1.cost" in result.output
    assert "cheapest first" in result.output
    assert "Traceback" not in result.output
