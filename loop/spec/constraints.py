"""Linear constraints among components and numeric parameters."""

from __future__ import annotations

import math
from typing import Literal

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
