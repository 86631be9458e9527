"""The composition block: components that share a fixed total."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from loop.spec.base import Frozen, SpecModel, fail

ELEMENT_SHAPE = re.compile(r"^[A-Z][a-z]{0,2}$")
#: Tolerance used when comparing sums of fractions against the total.
SUM_TOLERANCE = 1e-9


def is_element(name: str) -> bool:
    """True when *name* is a chemical element symbol known to pymatgen."""
    from pymatgen.core.periodic_table import Element

    return bool(Element.is_valid_symbol(name))


class CompositionSpec(SpecModel):
    """Components (elements or named species) whose amounts sum to `total`.

    `bounds` accepts `{default: [lo, hi], Cu: [lo, hi]}`; the validated spec holds
    explicit bounds for every component. `kind: auto` becomes `element` when every
    component is an element symbol and `species` otherwise.
    """

    basis: Literal["atomic", "mass", "volume", "molar"] = "atomic"
    total: float = Field(1.0, gt=0)
    kind: Literal["auto", "element", "species"] = "auto"
    components: tuple[str, ...] = Field(min_length=2)
    max_components: int | None = Field(None, ge=1)
    resolution: float | None = Field(None, gt=0)
    bounds: Frozen[dict[str, tuple[float, float]]] = Field(default_factory=dict)
    descriptors: Frozen[dict[str, dict[str, float]]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        components = data.get("components")
        names_ok = isinstance(components, list | tuple) and all(
            isinstance(c, str) for c in components
        )
        if data.get("kind", "auto") == "auto" and names_ok:
            data["kind"] = _infer_kind(list(components))
        bounds = data.get("bounds", {})
        if isinstance(bounds, dict) and names_ok:
            total = data.get("total", 1.0)
            default = bounds.get("default", [0.0, total])
            expanded = {
                c: bounds.get(c, default) for c in components if isinstance(c, str)
            }
            extra = {
                k: v for k, v in bounds.items() if k != "default" and k not in expanded
            }
            data["bounds"] = {**expanded, **extra}
        return data

    @field_validator("components")
    @classmethod
    def _check_components(
        cls, components: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        problems: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for index, name in enumerate(components):
            if name in seen:
                problems.append(
                    (f"component '{name}' is listed twice", "list it once", str(index))
                )
            seen.add(name)
            if not name.strip():
                problems.append(
                    ("empty component name", "name every component", str(index))
                )
        if info.data.get("kind") == "element":
            for index, name in enumerate(components):
                if name.strip() and not is_element(name):
                    problems.append(
                        (
                            f"unknown element '{name}'",
                            "use element symbols such as Cu, Ni, Al; for named species "
                            "such as solvents set `kind: species`",
                            str(index),
                        )
                    )
        fail(problems)
        return components

    @field_validator("bounds")
    @classmethod
    def _check_bounds(
        cls, bounds: dict[str, tuple[float, float]], info: ValidationInfo
    ) -> dict[str, tuple[float, float]]:
        total = info.data.get("total", 1.0)
        components = info.data.get("components")
        if components is None:
            return bounds  # the components are invalid and already reported
        problems: list[tuple[str, str, str]] = []
        for name, (lo, hi) in bounds.items():
            if name not in components:
                problems.append(
                    (
                        f"'{name}' is not a component",
                        f"components: {', '.join(components)}",
                        name,
                    )
                )
            elif not (math.isfinite(lo) and math.isfinite(hi)):
                problems.append(
                    ("bounds must be finite numbers", "write [lo, hi]", name)
                )
            elif lo > hi:
                problems.append(
                    (
                        f"lower bound {lo:g} is above upper bound {hi:g}",
                        "swap them",
                        name,
                    )
                )
            elif lo < 0 or hi > total + SUM_TOLERANCE:
                problems.append(
                    (
                        f"bounds [{lo:g}, {hi:g}] leave [0, total={total:g}]",
                        "keep every bound between 0 and the total",
                        name,
                    )
                )
        if not problems:
            problems = [
                (m, h, "")
                for m, h in composition_problems(
                    total,
                    bounds,
                    info.data.get("max_components"),
                    info.data.get("resolution"),
                )
            ]
        fail(problems)
        return bounds

    @field_validator("descriptors")
    @classmethod
    def _check_descriptors(
        cls, table: dict[str, dict[str, float]] | None, info: ValidationInfo
    ) -> dict[str, dict[str, float]] | None:
        components = info.data.get("components")
        if table is None or components is None:
            return table
        problems: list[tuple[str, str, str]] = []
        keys = {k for row in table.values() for k in row}
        for name in components:
            row = table.get(name)
            if row is None:
                problems.append(
                    (
                        f"no descriptors for component '{name}'",
                        "give every component a row",
                        name,
                    )
                )
            elif set(row) != keys:
                missing = ", ".join(sorted(keys - set(row)))
                problems.append(
                    (
                        f"'{name}' lacks {missing}",
                        "give every component the same properties",
                        name,
                    )
                )
            elif not all(math.isfinite(v) for v in row.values()):
                problems.append(
                    ("descriptor values must be finite", "remove inf/nan", name)
                )
        for name in table:
            if name not in components:
                problems.append(
                    (
                        f"'{name}' is not a component",
                        f"components: {', '.join(components)}",
                        name,
                    )
                )
        fail(problems)
        return table

    @property
    def lower(self) -> list[float]:
        return [self.bounds[c][0] for c in self.components]

    @property
    def upper(self) -> list[float]:
        return [self.bounds[c][1] for c in self.components]

    @property
    def forced(self) -> list[str]:
        """Components whose lower bound is positive: always present."""
        return [c for c in self.components if self.bounds[c][0] > 0]


def _infer_kind(components: list[str]) -> str:
    """`element` when every name looks like an element symbol, else `species`.

    Names shaped like symbols but unknown (`Xx`) then fail as unknown elements,
    which catches typos in alloy campaigns; named species (EC, DMC) are not
    symbol-shaped, and anything else can say `kind: species`.
    """
    if all(ELEMENT_SHAPE.match(c) for c in components):
        return "element"
    return "species"


def composition_problems(
    total: float,
    bounds: dict[str, tuple[float, float]],
    max_components: int | None,
    resolution: float | None,
) -> list[tuple[str, str]]:
    """(message, hint) reasons the composition block cannot produce any composition."""
    problems: list[tuple[str, str]] = []
    lo = [b[0] for b in bounds.values()]
    hi = [b[1] for b in bounds.values()]
    if sum(lo) > total + SUM_TOLERANCE:
        problems.append(
            (
                f"lower bounds sum to {sum(lo):g}, above the total {total:g}",
                "lower some lower bounds so that they sum to at most the total",
            )
        )
    if sum(hi) < total - SUM_TOLERANCE:
        problems.append(
            (
                f"upper bounds sum to {sum(hi):g}, below the total {total:g}: "
                "no composition can reach the total",
                "raise some upper bounds (or the default) so that they sum to at least the total",
            )
        )
    k = max_components
    if k is not None:
        forced = [c for c, b in bounds.items() if b[0] > 0]
        if k < len(forced):
            problems.append(
                (
                    f"max_components is {k} but {len(forced)} components have a positive "
                    f"lower bound ({', '.join(forced)})",
                    "raise max_components or set those lower bounds to 0",
                )
            )
        else:
            others = sorted(
                (b[1] for c, b in bounds.items() if c not in forced), reverse=True
            )
            reach = sum(bounds[c][1] for c in forced) + sum(others[: k - len(forced)])
            if reach < total - SUM_TOLERANCE:
                problems.append(
                    (
                        f"with at most {k} components the upper bounds reach only "
                        f"{reach:g} of the total {total:g}",
                        "raise max_components or the upper bounds",
                    )
                )
    step = resolution
    if step is not None:
        if abs(total / step - round(total / step)) > 1e-6:
            problems.append(
                (
                    f"resolution {step:g} does not divide the total {total:g}",
                    "choose a resolution such as 0.01 or 0.005 that divides the total",
                )
            )
        else:
            grid_lo = sum(math.ceil(v / step - 1e-9) * step for v in lo)
            grid_hi = sum(math.floor(v / step + 1e-9) * step for v in hi)
            if grid_lo > total + 1e-9 or grid_hi < total - 1e-9:
                problems.append(
                    (
                        f"no point of the {step:g} dosing grid lies within the bounds "
                        "and sums to the total",
                        "widen the bounds or refine the resolution",
                    )
                )
    return problems
