"""Does a configuration obey the campaign's rules? Checked in the YAML's own units.

The engine never needs this (its proposals are feasible by construction, see
`loop.space.feasible`); it serves what comes from outside, such as dataset rows,
and the tests, which check every proposal against the YAML independently of the
engine's comp-rep machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loop.spec.campaign import CampaignSpec

TOLERANCE = 1e-9


def violations(
    spec: CampaignSpec, composition: dict[str, float], parameters: dict[str, Any]
) -> list[str]:
    """Every rule of *spec* the configuration breaks (empty when it obeys them all)."""
    return unrepresentable(spec, composition, parameters) + outside_space(
        spec, composition, parameters
    )


def unrepresentable(
    spec: CampaignSpec, composition: dict[str, float], parameters: dict[str, Any]
) -> list[str]:
    """The rules a configuration must obey to mean anything to the campaign's
    model: its components, no negative amount, amounts summing to the total, a
    declared category, a whole number for an integer parameter. A row kept
    outside the space (`keep_outside`) must still obey these."""
    out = []
    comp = spec.space.composition
    if comp is None:
        if composition:
            out.append("the campaign has no composition")
    elif set(composition) != set(comp.components):
        out.append(f"components {sorted(composition)} != {sorted(comp.components)}")
    else:
        total = sum(composition.values())
        if abs(total - comp.total) > TOLERANCE:
            out.append(f"sum {total!r} != total {comp.total}")
        out += [f"{c}={v} negative" for c, v in composition.items() if v < 0]
    for p in spec.space.parameters:
        v = parameters.get(p.name)
        if p.type == "categorical":
            if v not in p.values:
                out.append(f"{p.name}={v!r} not in {p.values}")
        elif p.type == "integer":
            if not isinstance(v, int):
                out.append(f"{p.name}={v!r} not a whole number in {p.bounds}")
        elif not isinstance(v, int | float):
            out.append(f"{p.name}={v!r} outside {p.bounds}")
    return out


def outside_space(
    spec: CampaignSpec, composition: dict[str, float], parameters: dict[str, Any]
) -> list[str]:
    """The rules of the campaign's space a representable configuration breaks:
    bounds, resolution grids, `max_components` and linear constraints."""
    return (
        _composition_violations(spec, composition)
        + _parameter_violations(spec, parameters)
        + _constraint_violations(spec, composition, parameters)
    )


def _composition_violations(
    spec: CampaignSpec, composition: dict[str, float]
) -> list[str]:
    comp = spec.space.composition
    if comp is None or set(composition) != set(comp.components):
        return []  # `unrepresentable`
    out = []
    for c, v in composition.items():
        lo, hi = comp.bounds[c]
        if v < 0:
            continue  # `unrepresentable`
        if v != 0.0 and not (lo - TOLERANCE <= v <= hi + TOLERANCE):
            out.append(f"{c}={v} outside [{lo}, {hi}]")
        elif v == 0.0 and lo > 0:
            out.append(f"{c}=0 below its lower bound {lo}")
    if comp.max_components is not None:
        nonzero = sum(1 for v in composition.values() if v != 0.0)
        if nonzero > comp.max_components:
            out.append(f"{nonzero} non-zero components > {comp.max_components}")
    if comp.resolution is not None:
        for c, v in composition.items():
            steps = v / comp.resolution
            if abs(steps - round(steps)) > 1e-6:
                out.append(f"{c}={v} is off the {comp.resolution} grid")
    return out


def _parameter_violations(spec: CampaignSpec, parameters: dict[str, Any]) -> list[str]:
    out = []
    for p in spec.space.parameters:
        v = parameters.get(p.name)
        if p.type == "categorical" or not isinstance(v, int | float):
            continue  # `unrepresentable`
        if p.type == "integer":
            if isinstance(v, int) and not (p.bounds[0] <= v <= p.bounds[1]):
                out.append(f"{p.name}={v!r} not a whole number in {p.bounds}")
        elif not (p.bounds[0] - TOLERANCE <= v <= p.bounds[1] + TOLERANCE):
            out.append(f"{p.name}={v!r} outside {p.bounds}")
        elif p.resolution is not None and abs(v - p.grid(v)) > 1e-9 * max(1, abs(v)):
            out.append(f"{p.name}={v!r} is off its {p.resolution:g} grid")
    return out


def _constraint_violations(
    spec: CampaignSpec, composition: dict[str, float], parameters: dict[str, Any]
) -> list[str]:
    values = {
        **composition,
        **{k: v for k, v in parameters.items() if not isinstance(v, str)},
    }
    out = []
    for con in spec.constraints:
        if any(name not in values for name in con.coefficients):
            continue  # reported as a missing component or parameter above
        lhs = sum(coef * values[name] for name, coef in con.coefficients.items())
        slack = TOLERANCE * max(1.0, abs(lhs))
        if con.le is not None and lhs > con.le + slack:
            out.append(f"{con.describe()} broken: {lhs}")
        if con.ge is not None and lhs < con.ge - slack:
            out.append(f"{con.describe()} broken: {lhs}")
        if con.eq is not None and abs(lhs - con.eq) > slack:
            out.append(f"{con.describe()} broken: {lhs}")
    return out
