"""Is there any configuration at all? A linear program answers before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from loop.errors import Problem

if TYPE_CHECKING:
    from loop.spec.campaign import CampaignSpec


def linear_problems(spec: CampaignSpec) -> list[Problem]:
    """Problems with linear constraints: unknown names, or no feasible point."""
    comp = spec.space.composition
    numeric = {p.name: p for p in spec.space.parameters if p.type != "categorical"}
    categorical = {p.name for p in spec.space.parameters if p.type == "categorical"}
    known = set(comp.components) | set(numeric)
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
    if problems or not spec.constraints:
        return problems
    if not _feasible(spec, range(len(spec.constraints))):
        alone = [i for i in range(len(spec.constraints)) if not _feasible(spec, [i])]
        blamed = alone or list(range(len(spec.constraints)))
        for i in blamed:
            what = "on its own" if alone else "together with the other constraints"
            problems.append(
                Problem(
                    f"constraints.{i}",
                    f"no configuration within the bounds satisfies "
                    f"{spec.constraints[i].describe()} {what}",
                    "relax the constraint or widen the composition/parameter bounds",
                )
            )
    return problems


def _feasible(spec: CampaignSpec, which: range | list[int]) -> bool:
    from scipy.optimize import linprog

    comp = spec.space.composition
    numeric = [p for p in spec.space.parameters if p.type != "categorical"]
    names = [*comp.components, *(p.name for p in numeric)]
    index = {n: i for i, n in enumerate(names)}
    bounds = [comp.bounds[c] for c in comp.components] + [tuple(p.bounds) for p in numeric]
    a_eq = [[1.0 if i < len(comp.components) else 0.0 for i in range(len(names))]]
    b_eq = [comp.total]
    a_ub: list[list[float]] = []
    b_ub: list[float] = []
    for i in which:
        con = spec.constraints[i]
        row = np.zeros(len(names))
        for name, coef in con.coefficients.items():
            row[index[name]] = coef
        if con.eq is not None:
            a_eq.append(list(row))
            b_eq.append(con.eq)
        if con.le is not None:
            a_ub.append(list(row))
            b_ub.append(con.le)
        if con.ge is not None:
            a_ub.append(list(-row))
            b_ub.append(-con.ge)
    result = linprog(
        np.zeros(len(names)),
        A_ub=a_ub or None,
        b_ub=b_ub or None,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=bounds,
        method="highs",
    )
    return bool(result.status == 0)
