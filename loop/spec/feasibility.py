"""Is there any configuration at all? A linear program answers before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loop.errors import Problem
from loop.spec.constraints import constraint_rows

if TYPE_CHECKING:
    from loop.spec.campaign import CampaignSpec


def linear_problems(spec: CampaignSpec) -> list[Problem]:
    """Problems with linear constraints: unknown names, or no feasible point."""
    numeric = {p.name: p for p in spec.space.parameters if p.type != "categorical"}
    categorical = {p.name for p in spec.space.parameters if p.type == "categorical"}
    known = set(spec.space.components) | set(numeric)
    problems = []
    for index, con in enumerate(spec.constraints):
        for name in con.coefficients:
            if name in categorical:
                problems.append(
                    Problem(
                        f"constraints.{index}.coefficients.{name}",
                        f"'{name}' is categorical and cannot appear in a linear constraint",
                        "use components or continuous/integer parameters only",
                    )
                )
            elif name not in known:
                problems.append(
                    Problem(
                        f"constraints.{index}.coefficients.{name}",
                        f"'{name}' is neither a component nor a numeric parameter",
                        f"known names: {', '.join(sorted(known))}",
                    )
                )
    comp = spec.space.composition
    k = comp.max_components if comp else None
    with_cardinality = k is not None and k < len(spec.space.components)
    if problems or not (spec.constraints or with_cardinality):
        return problems
    if not spec.constraints:
        if not _feasible(spec, []):
            problems.append(
                Problem(
                    "space.composition.max_components",
                    f"no composition with at most {k} components meets the bounds",
                    "raise max_components or widen the bounds",
                )
            )
        return problems
    if not _feasible(spec, range(len(spec.constraints))):
        alone = [i for i in range(len(spec.constraints)) if not _feasible(spec, [i])]
        blamed = alone or list(range(len(spec.constraints)))
        for i in blamed:
            what = "on its own" if alone else "together with the other constraints"
            cap = f" with at most {k} components" if with_cardinality else ""
            problems.append(
                Problem(
                    f"constraints.{i}",
                    f"no configuration within the bounds{cap} satisfies "
                    f"{spec.constraints[i].describe()} {what}",
                    "relax the constraint, widen the bounds"
                    + (" or raise max_components" if with_cardinality else ""),
                )
            )
    return problems


def _feasible(spec: CampaignSpec, which: range | list[int]) -> bool:
    comp = spec.space.composition
    components = spec.space.components
    numeric = [p for p in spec.space.parameters if p.type != "categorical"]
    names = [*components, *(p.name for p in numeric)]
    n_comp = len(components)
    comp_lo = [comp.bounds[c][0] for c in components] if comp else []
    comp_hi = [comp.bounds[c][1] for c in components] if comp else []
    lower = np.array(comp_lo + [p.bounds[0] for p in numeric], dtype=float)
    upper = np.array(comp_hi + [p.bounds[1] for p in numeric], dtype=float)
    a_eq, b_eq, a_ub, b_ub = constraint_rows(
        [spec.constraints[i] for i in which], names
    )
    if comp is not None:  # the amounts sum to the composition's total
        total = np.array([1.0] * n_comp + [0.0] * len(numeric))
        a_eq, b_eq = np.vstack([total, a_eq]), np.concatenate([[comp.total], b_eq])
    k = comp.max_components if comp else None
    point = find_point(
        lower,
        upper,
        a_eq,
        b_eq,
        a_ub,
        b_ub,
        cardinality=(np.arange(n_comp), k) if k is not None and k < n_comp else None,
    )
    return point is not None


def find_point(
    lower: np.ndarray,
    upper: np.ndarray,
    a_eq: np.ndarray,
    b_eq: np.ndarray,
    a_ub: np.ndarray,
    b_ub: np.ndarray,
    cardinality: tuple[np.ndarray, int] | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray | None:
    """A point within bounds meeting the linear rows, or None if there is none.

    With cardinality the returned vector is the point followed by its 0/1 switches.

    With `cardinality=(indices, k)` at most k of those variables may be non-zero:
    a small mixed-integer program (HiGHS through `scipy.optimize.milp`) with one
    binary switch per variable. `weights` on the switches steer which support is
    found (random weights give a random feasible support).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(lower)
    if cardinality is None:
        from scipy.optimize import linprog

        result = linprog(
            np.zeros(n),
            A_ub=a_ub if len(b_ub) else None,
            b_ub=b_ub if len(b_ub) else None,
            A_eq=a_eq if len(b_eq) else None,
            b_eq=b_eq if len(b_eq) else None,
            bounds=list(zip(lower, upper, strict=True)),
            method="highs",
        )
        return result.x if result.status == 0 else None
    idx, k = cardinality
    m = len(idx)
    rows: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []
    for a, b in zip(a_eq, b_eq, strict=True):
        rows.append(np.concatenate([a, np.zeros(m)]))
        lo.append(b)
        hi.append(b)
    for a, b in zip(a_ub, b_ub, strict=True):
        rows.append(np.concatenate([a, np.zeros(m)]))
        lo.append(-np.inf)
        hi.append(b)
    for j, i in enumerate(idx):
        # x_i <= upper_i * z_j   and   x_i >= lower_i * z_j
        up = np.zeros(n + m)
        up[i], up[n + j] = 1.0, -upper[i]
        rows.append(up)
        lo.append(-np.inf)
        hi.append(0.0)
        down = np.zeros(n + m)
        down[i], down[n + j] = 1.0, -lower[i]
        rows.append(down)
        lo.append(0.0)
        hi.append(np.inf)
    count = np.concatenate([np.zeros(n), np.ones(m)])
    rows.append(count)
    lo.append(0.0)
    hi.append(float(k))
    var_lo = np.concatenate(
        [np.where(np.isin(np.arange(n), idx), 0.0, lower), np.zeros(m)]
    )
    var_lo[n:] = (lower[idx] > 0).astype(
        float
    )  # a positive lower bound forces presence
    result = milp(
        np.concatenate([np.zeros(n), weights if weights is not None else np.zeros(m)]),
        integrality=np.concatenate([np.zeros(n), np.ones(m)]),
        bounds=Bounds(var_lo, np.concatenate([upper, np.ones(m)])),
        constraints=LinearConstraint(np.array(rows), lo, hi),
    )
    return result.x if result.status == 0 else None
