"""An independent checker of proposals against the YAML's rules (exp-rep only)."""

from __future__ import annotations

from typing import Any

from loop.spec import CampaignSpec


def violations(
    spec: CampaignSpec, composition: dict[str, float], parameters: dict[str, Any]
) -> list[str]:
    """Every rule of *spec* the configuration breaks, computed from the YAML's units."""
    comp = spec.space.composition
    out = []
    if set(composition) != set(comp.components):
        out.append(f"components {sorted(composition)} != {sorted(comp.components)}")
        return out
    total = sum(composition.values())
    if abs(total - comp.total) > 1e-9:
        out.append(f"sum {total!r} != total {comp.total}")
    for c, v in composition.items():
        lo, hi = comp.bounds[c]
        if v != 0.0 and not (lo - 1e-9 <= v <= hi + 1e-9):
            out.append(f"{c}={v} outside [{lo}, {hi}]")
        if v == 0.0 and lo > 0:
            out.append(f"{c}=0 below its lower bound {lo}")
        if v < 0:
            out.append(f"{c}={v} negative")
    if comp.max_components is not None:
        nonzero = sum(1 for v in composition.values() if v != 0.0)
        if nonzero > comp.max_components:
            out.append(f"{nonzero} non-zero components > {comp.max_components}")
    if comp.resolution is not None:
        for c, v in composition.items():
            steps = v / comp.resolution
            if abs(steps - round(steps)) > 1e-6:
                out.append(f"{c}={v} is off the {comp.resolution} grid")
    for p in spec.space.parameters:
        v = parameters.get(p.name)
        if p.type == "categorical":
            if v not in p.values:
                out.append(f"{p.name}={v!r} not in {p.values}")
        elif p.type == "integer":
            if not isinstance(v, int) or not (p.bounds[0] <= v <= p.bounds[1]):
                out.append(f"{p.name}={v!r} not a whole number in {p.bounds}")
        elif not (p.bounds[0] - 1e-9 <= v <= p.bounds[1] + 1e-9):
            out.append(f"{p.name}={v} outside {p.bounds}")
    values = {
        **composition,
        **{k: v for k, v in parameters.items() if not isinstance(v, str)},
    }
    for con in spec.constraints:
        lhs = sum(coef * values[name] for name, coef in con.coefficients.items())
        scale = max(1.0, abs(lhs))
        if con.le is not None and lhs > con.le + 1e-9 * scale:
            out.append(f"{con.describe()} broken: {lhs}")
        if con.ge is not None and lhs < con.ge - 1e-9 * scale:
            out.append(f"{con.describe()} broken: {lhs}")
        if con.eq is not None and abs(lhs - con.eq) > 1e-9 * scale:
            out.append(f"{con.describe()} broken: {lhs}")
    return out


def same_configuration(a: Any, b: Any) -> bool:
    return a.composition == b.composition and a.parameters == b.parameters
