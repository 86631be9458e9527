"""Linear constraints among components and numeric parameters."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from loop.spec.base import Frozen, SpecModel, fail


class LinearConstraint(SpecModel):
    """`sum(coefficient * value)` kept `le` (<=), `ge` (>=) and/or `eq` (=) a number.

    Values are in the units of the YAML: component amounts in the composition's
    `total` (e.g. 0.4 or 40 at.%), parameters in their own units.
    """

    type: Literal["linear"] = "linear"
    coefficients: Frozen[dict[str, float]] = Field(min_length=1)
    le: float | None = None
    ge: float | None = None
    eq: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> LinearConstraint:
        if self.eq is not None and (self.le is not None or self.ge is not None):
            fail(
                [
                    (
                        "give either `eq` or `le`/`ge`, not both",
                        "drop `eq`, or drop `le`/`ge`",
                    )
                ]
            )
        if self.eq is None and self.le is None and self.ge is None:
            fail([("a linear constraint needs `le`, `ge` or `eq`", "e.g. `le: 0.4`")])
        if self.le is not None and self.ge is not None and self.ge > self.le:
            fail([(f"`ge` {self.ge} is above `le` {self.le}", "swap them")])
        numbers = [*self.coefficients.values(), self.le, self.ge, self.eq]
        if not all(math.isfinite(v) for v in numbers if v is not None):
            fail([("coefficients and limits must be finite numbers", "remove inf/nan")])
        return self

    def describe(self) -> str:
        lhs = " + ".join(f"{c:g}*{n}" for n, c in self.coefficients.items())
        parts = []
        if self.eq is not None:
            parts.append(f"{lhs} = {self.eq:g}")
        if self.ge is not None:
            parts.append(f"{lhs} >= {self.ge:g}")
        if self.le is not None:
            parts.append(f"{lhs} <= {self.le:g}")
        return " and ".join(parts)


def constraint_rows(
    constraints: Sequence[LinearConstraint],
    columns: Sequence[str],
    scale: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """*constraints* as matrix rows over *columns*: `(a_eq, b_eq, a_ub, b_ub)` with
    `a_eq @ x = b_eq` and `a_ub @ x <= b_ub` (a `ge` limit is a negated row).

    The one place constraints become rows: the validator's feasibility proof
    (columns in the YAML's units) and the model's encoder (composition columns
    as fractions, so *scale* multiplies their coefficients by the `total`) both
    call it. A name missing from *columns* is a bug here, not input: validation
    refuses unknown names before.
    """
    index = {name: i for i, name in enumerate(columns)}
    factor = scale or {}
    eq: list[tuple[np.ndarray, float]] = []
    ub: list[tuple[np.ndarray, float]] = []
    for con in constraints:
        row = np.zeros(len(columns))
        for name, coef in con.coefficients.items():
            row[index[name]] = coef * factor.get(name, 1.0)
        if con.eq is not None:
            eq.append((row, con.eq))
        if con.le is not None:
            ub.append((row, con.le))
        if con.ge is not None:
            ub.append((-row, -con.ge))

    def stacked(rows: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, np.ndarray]:
        a = np.array([r for r, _ in rows]).reshape(-1, len(columns))
        return a, np.array([b for _, b in rows], dtype=float)

    return (*stacked(eq), *stacked(ub))
