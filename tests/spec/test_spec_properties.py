"""Properties of the composition block over random campaigns.

Valid blocks are built around a known feasible point: a composition `x` on a
grid of the total, with every lower bound at or below `x` and every upper bound
at or above it (and at most `max_components` non-zero entries in `x`). Such a
block must validate, keep exactly the bounds written, and round-trip through
YAML. Blocks whose lower bounds sum above the total must be refused at
`space.composition.bounds`.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loop.errors import SpecError
from loop.spec import dumps, loads

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
ELEMENT_SHAPED = re.compile(r"^[A-Z][a-z]{0,2}$")
RESERVED = {"default", "temperature"}

NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_\-]{0,9}", fullmatch=True).filter(
    lambda n: n not in RESERVED
)


def campaign(composition: dict[str, Any]) -> str:
    """A fixed valid campaign around *composition*, as YAML text."""
    data = {
        "schema_version": 1,
        "name": "property",
        "space": {
            "composition": composition,
            "parameters": [
                {"name": "temperature", "type": "continuous", "bounds": [300.0, 900.0]}
            ],
        },
        "objectives": [{"name": "y", "direction": "maximize"}],
        "strategy": {"engine": "random"},
        "budget": {"experiments": 5},
        "adapter": {"type": "simulator", "function": "simplex-bumps"},
    }
    return yaml.safe_dump(data, sort_keys=False)


@st.composite
def feasible_compositions(
    draw: st.DrawFn,
) -> tuple[dict[str, Any], dict[str, tuple[float, float]]]:
    """(composition block as written, bounds expected after expansion)."""
    explicit_kind = draw(st.booleans())
    # without `kind`, names that are not shaped like element symbols make species
    names = (
        NAME if explicit_kind else NAME.filter(lambda n: not ELEMENT_SHAPED.match(n))
    )
    components = draw(st.lists(names, min_size=2, max_size=8, unique=True))
    n = len(components)
    total = draw(st.sampled_from([1.0, 100.0]))
    steps = draw(st.sampled_from([10, 20, 100, 200, 1000]))
    step = total / steps

    # the feasible point: `steps` grid units spread over a random support
    support = draw(
        st.lists(st.sampled_from(range(n)), min_size=1, max_size=n, unique=True)
    )
    cuts = sorted(
        draw(
            st.lists(
                st.integers(1, steps - 1),
                min_size=len(support) - 1,
                max_size=len(support) - 1,
                unique=True,
            )
        )
    )
    units = [b - a for a, b in zip([0, *cuts], [*cuts, steps], strict=True)]
    x = [0.0] * n
    for i, u in zip(support, units, strict=True):
        x[i] = u * total / steps

    fraction = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0))
    bounds: dict[str, tuple[float, float]] = {}
    for i, c in enumerate(components):
        lo = x[i] * draw(fraction)
        hi = min(total, x[i] + (total - x[i]) * draw(fraction))
        bounds[c] = (lo, hi)

    block: dict[str, Any] = {"components": components, "total": total}
    if explicit_kind:
        block["kind"] = "species"
    style = draw(st.sampled_from(["explicit", "default", "none"]))
    if style == "explicit":
        block["bounds"] = {c: list(b) for c, b in bounds.items()}
    elif style == "default":
        # components left to the default get [0, d] with d covering their x
        defaulted = draw(st.lists(st.sampled_from(components), unique=True))
        d_min = max([x[components.index(c)] for c in defaulted], default=0.0)
        d = draw(st.one_of(st.just(total), st.floats(d_min, total)))
        for c in defaulted:
            bounds[c] = (0.0, d)
        block["bounds"] = {"default": [0.0, d]} | {
            c: list(b) for c, b in bounds.items() if c not in defaulted
        }
    else:
        bounds = {c: (0.0, total) for c in components}
    if draw(st.booleans()):
        block["max_components"] = draw(st.integers(len(support), n + 2))
    if draw(st.booleans()):
        block["resolution"] = step
    return block, bounds


@SETTINGS
@given(feasible_compositions())
def test_feasible_composition_validates_and_round_trips(case) -> None:
    block, expected_bounds = case
    spec = loads(campaign(block), "property.yaml")
    comp = spec.space.composition
    assert comp.components == tuple(block["components"])
    assert comp.kind == "species"
    assert comp.total == block["total"]
    assert comp.max_components == block.get("max_components")
    assert comp.resolution == block.get("resolution")
    assert comp.bounds == expected_bounds
    assert loads(dumps(spec)) == spec


@st.composite
def overfull_lower_bounds(draw: st.DrawFn) -> dict[str, Any]:
    components = draw(
        st.lists(
            NAME.filter(lambda n: not ELEMENT_SHAPED.match(n)),
            min_size=2,
            max_size=8,
            unique=True,
        )
    )
    total = draw(st.sampled_from([1.0, 100.0]))
    lows = draw(
        st.lists(
            st.floats(0.0, 1.0), min_size=len(components), max_size=len(components)
        )
    )
    assume(sum(lows) > 1.0 + 1e-6)
    bounds = {}
    for c, low in zip(components, lows, strict=True):
        lo = low * total
        hi = lo + (total - lo) * draw(st.floats(0.0, 1.0))
        bounds[c] = [lo, min(hi, total)]
    return {"components": components, "total": total, "bounds": bounds}


@SETTINGS
@given(overfull_lower_bounds())
def test_lower_bounds_above_total_are_refused(block) -> None:
    text = campaign(block)
    try:
        loads(text, "property.yaml")
    except SpecError as err:
        problems = err.problems
    else:
        raise AssertionError("lower bounds summing above the total were accepted")
    bounds_line = next(
        n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "bounds:"
    )
    at_bounds = [p for p in problems if p.path == "space.composition.bounds"]
    assert any("lower bounds sum to" in p.message for p in at_bounds), problems
    assert all(p.line == bounds_line and p.hint for p in at_bounds)
