"""The example campaigns validate, survive a YAML round trip, expand their
shorthand, and come back as frozen specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from loop.spec import CampaignSpec, dumps, loads, validate
from tests.conftest import reads_shared_data

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = ROOT / "campaigns"
EXAMPLES = [
    pytest.param(p, id=str(p.relative_to(CAMPAIGNS)))
    for p in sorted(CAMPAIGNS.rglob("*.yaml"))
    if "schema" not in p.relative_to(CAMPAIGNS).parts
]


def parse_example(text: str, source: str, path: Path) -> CampaignSpec:
    """The spec in *text*, read as example *path*. A benchmark campaign on a
    machine without the shared datasets is checked in full except for its data
    file (tests/bench reads that, and CI has the data)."""
    if reads_shared_data(path):
        return validate(yaml.safe_load(text), source, check_adapter=False)
    return loads(text, source)


def load_example(path: Path) -> CampaignSpec:
    return parse_example(path.read_text(encoding="utf-8"), str(path), path)


@pytest.mark.parametrize("path", EXAMPLES)
def test_example_validates(path: Path) -> None:
    spec = load_example(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(spec, CampaignSpec)
    assert spec.name == raw["name"]
    comp = spec.space.composition
    if "composition" in raw["space"]:
        assert comp.components == tuple(raw["space"]["composition"]["components"])
        assert set(comp.bounds) == set(comp.components)
    else:
        assert comp is None, "a space without a composition block stays without one"
        assert spec.space.parameters, "a space without composition has parameters"
    assert [o.name for o in spec.objectives] == [o["name"] for o in raw["objectives"]]


@pytest.mark.parametrize("path", EXAMPLES)
def test_example_round_trips_through_yaml(path: Path) -> None:
    spec = load_example(path)
    text = dumps(spec)
    again = parse_example(text, "dumped.yaml", path)
    assert again == spec
    assert dumps(again) == text, "the canonical form is a fixed point"


@pytest.mark.parametrize("path", EXAMPLES)
def test_dumped_example_spells_out_every_bound(path: Path) -> None:
    spec = load_example(path)
    data = yaml.safe_load(dumps(spec))
    comp = data["space"]["composition"]
    if spec.space.composition is None:
        assert comp is None
        return
    assert "default" not in comp["bounds"]
    assert list(comp["bounds"]) == comp["components"]
    assert comp["kind"] in ("element", "species")
    for component, (lo, hi) in comp["bounds"].items():
        assert (lo, hi) == tuple(spec.space.composition.bounds[component])
        assert 0 <= lo <= hi <= comp["total"]


def test_validate_of_a_dict_equals_loads_of_its_yaml(campaign_data: dict) -> None:
    text = yaml.safe_dump(campaign_data, sort_keys=False)
    assert validate(campaign_data) == loads(text)


def test_shorthand_default_expands_to_per_component_bounds(campaign_data: dict) -> None:
    comp = campaign_data["space"]["composition"]
    comp["bounds"] = {"default": [0, 60], "B": [10, 50]}
    spec = validate(campaign_data)
    assert spec.space.composition.bounds == {
        "A": (0.0, 60.0),
        "B": (10.0, 50.0),
        "C": (0.0, 60.0),
        "D": (0.0, 60.0),
    }
    assert spec.space.composition.lower == [0.0, 10.0, 0.0, 0.0]
    assert spec.space.composition.upper == [60.0, 50.0, 60.0, 60.0]
    assert spec.space.composition.forced == ["B"]
    # and the expanded form is what is written back out
    dumped = yaml.safe_load(dumps(spec))["space"]["composition"]["bounds"]
    assert dumped == {
        "A": [0.0, 60.0],
        "B": [10.0, 50.0],
        "C": [0.0, 60.0],
        "D": [0.0, 60.0],
    }


def test_shorthand_and_explicit_bounds_give_the_same_spec(campaign_data: dict) -> None:
    short = dict(campaign_data)
    short["space"] = {**campaign_data["space"]}
    short["space"]["composition"] = {
        **campaign_data["space"]["composition"],
        "bounds": {"default": [0, 70], "A": [5, 40]},
    }
    explicit = dict(short)
    explicit["space"] = {**short["space"]}
    explicit["space"]["composition"] = {
        **short["space"]["composition"],
        "bounds": {"A": [5, 40], "B": [0, 70], "C": [0, 70], "D": [0, 70]},
    }
    assert validate(short) == validate(explicit)


def test_missing_bounds_default_to_zero_to_total(campaign_data: dict) -> None:
    del campaign_data["space"]["composition"]["bounds"]
    del campaign_data["constraints"]
    spec = validate(campaign_data)
    total = campaign_data["space"]["composition"]["total"]
    assert spec.space.composition.bounds == {c: (0.0, total) for c in "ABCD"}


@pytest.mark.parametrize(
    ("components", "kind"),
    [
        pytest.param(["Cu", "Ni", "Pd"], "element", id="element-symbols"),
        pytest.param(["EC", "EMC", "DMC"], "species", id="solvent-names"),
        pytest.param(["Cu", "water"], "species", id="mixed-names"),
    ],
)
def test_kind_is_inferred_when_absent(
    campaign_data: dict, components, kind: str
) -> None:
    comp = campaign_data["space"]["composition"]
    del comp["kind"]
    comp["components"] = components
    comp["bounds"] = {"default": [0, 100]}
    del campaign_data["constraints"]
    spec = validate(campaign_data)
    assert spec.space.composition.kind == kind
    assert spec.space.composition.components == tuple(components)


@pytest.mark.parametrize(
    ("target", "field", "value"),
    [
        pytest.param(lambda s: s, "name", "renamed", id="name"),
        pytest.param(lambda s: s, "seed", 99, id="seed"),
        pytest.param(
            lambda s: s.space.composition, "total", 2.0, id="composition.total"
        ),
        pytest.param(
            lambda s: s.space.composition, "bounds", {}, id="composition.bounds"
        ),
        pytest.param(
            lambda s: s.space.parameters[0], "bounds", (0.0, 1.0), id="parameter.bounds"
        ),
        pytest.param(lambda s: s.constraints[0], "ge", 0.0, id="constraint.ge"),
        pytest.param(
            lambda s: s.objectives[0], "direction", "minimize", id="objective.direction"
        ),
        pytest.param(lambda s: s.strategy, "batch_size", 64, id="strategy.batch_size"),
        pytest.param(lambda s: s.budget, "experiments", 10**6, id="budget.experiments"),
    ],
)
def test_validated_spec_is_frozen(
    campaign_data: dict, target, field: str, value
) -> None:
    spec = validate(campaign_data)
    before = dumps(spec)
    block = target(spec)
    with pytest.raises(ValidationError, match="frozen"):
        setattr(block, field, value)
    assert dumps(spec) == before


# ------------------------------------------------------- immutable containers


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(
            lambda s: s.space.composition.bounds.__setitem__("A", (0.0, 100.0)),
            id="composition.bounds[...] = ...",
        ),
        pytest.param(
            lambda s: s.space.composition.components.append("E"), id="components.append"
        ),
        pytest.param(
            lambda s: s.adapter.__setitem__("function", "x"), id="adapter[...] = ..."
        ),
    ],
)
def test_validated_spec_collections_cannot_be_changed_in_place(
    campaign_data: dict, mutate
) -> None:
    """`frozen=True` only blocks attribute assignment; the lists and dicts inside
    a validated spec must be immutable too, or `bounds["A"] = ...` would bypass
    every check."""
    spec = validate(campaign_data)
    before = dumps(spec)
    with pytest.raises((TypeError, AttributeError)):
        mutate(spec)
    assert dumps(spec) == before
