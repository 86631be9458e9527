"""What is measured and which way is better."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import model_validator

from loop.spec.base import SpecModel, fail
from loop.spec.parameters import NAME


class Objective(SpecModel):
    """One measured quantity: optimised (`role: objective`) or kept acceptable.

    `threshold` is the worst value still worth having. For an objective it sets
    the reference point of the hypervolume when there are several; for a
    `role: constraint` it is the limit (at least the threshold when
    `direction: maximize`, at most when `minimize`) and is required.
    """

    name: Annotated[str, NAME]
    direction: Literal["minimize", "maximize"]
    unit: str | None = None
    threshold: float | None = None
    role: Literal["objective", "constraint"] = "objective"

    @model_validator(mode="after")
    def _finite_threshold(self) -> Objective:
        if self.threshold is not None and not math.isfinite(self.threshold):
            fail(
                [
                    (
                        f"threshold of '{self.name}' must be a finite number",
                        "remove inf/nan",
                    )
                ]
            )
        if self.role == "constraint" and self.threshold is None:
            fail(
                [
                    (
                        f"'{self.name}' is a constraint but has no threshold",
                        "add `threshold:` (the worst acceptable value)",
                    )
                ]
            )
        return self

    @property
    def is_constraint(self) -> bool:
        return self.role == "constraint"

    def acceptable(self, value: float) -> bool:
        """True when *value* meets this objective's threshold (or it has none)."""
        if self.threshold is None:
            return True
        return self.sign * value >= self.sign * self.threshold

    @property
    def sign(self) -> float:
        """+1 to maximise, -1 to minimise: the model always maximises sign * value."""
        return 1.0 if self.direction == "maximize" else -1.0

    def better(self, a: float, b: float) -> bool:
        """True when value *a* is strictly better than *b*."""
        return self.sign * a > self.sign * b
