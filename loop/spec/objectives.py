"""What is measured and which way is better."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from loop.errors import FitError
from loop.spec.base import SpecModel, fail
from loop.spec.parameters import NAME

if TYPE_CHECKING:
    pass


class Objective(SpecModel):
    """One measured quantity: optimised (`role: objective`) or kept acceptable.

    `threshold` is the worst value still worth having. For an objective it sets
    the reference point of the hypervolume when there are several; for a
    `role: constraint` it is the limit (at least the threshold when
    `direction: maximize`, at most when `minimize`) and is required.

    `bounds` is the plausible range of a measured value: a value outside it (a
    unit slip, an overflow, a sensor glitch) is refused where it enters, or with
    `outliers: flag` stored with its trial held for review and kept out of the
    model (`loop.spec.values`). A threshold must lie inside the bounds: a limit
    no plausible value can pass, or every one passes, is a typo.
    """

    name: Annotated[str, NAME]
    direction: Literal["minimize", "maximize"]
    unit: str | None = Field(None, max_length=64)
    threshold: float | None = None
    role: Literal["objective", "constraint"] = "objective"
    #: `log`: model the logarithm (for positive quantities spanning decades,
    #: such as conductivities or degradation indices); results stay in units.
    transform: Literal["none", "log"] = "none"
    #: The plausible range [low, high] of a measured value; either end may be
    #: null (open-ended). Outside it a value is refused or flagged (`outliers`).
    bounds: tuple[float | None, float | None] | None = None
    #: A value outside `bounds`: `refuse` it (HTTP 422, exit 2), or `flag` it
    #: (stored, its trial held in needs_review and out of the model until an
    #: operator amends, voids or retries it). Robots and adapters only: `loop
    #: tell`, `loop import` and `loop trial amend` always refuse.
    outliers: Literal["refuse", "flag"] = "refuse"

    @model_validator(mode="after")
    def _consistent(self) -> Objective:
        if self.threshold is not None and not math.isfinite(self.threshold):
            fail(
                [
                    (
                        f"threshold of '{self.name}' must be a finite number",
                        "remove inf/nan",
                    )
                ]
            )
        if (
            self.transform == "log"
            and self.threshold is not None
            and self.threshold <= 0
        ):
            fail(
                [
                    (
                        f"'{self.name}' is modelled on a log scale but its threshold "
                        f"{self.threshold} is not positive",
                        "use a positive threshold, or remove `transform: log`",
                    )
                ]
            )
        fail(self._bounds_problems())
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

    def _bounds_problems(self) -> list[tuple[str, str, str]]:
        """What is wrong with `bounds` and `outliers` (each under its own key)."""
        if self.bounds is None:
            if self.outliers == "flag":
                return [
                    (
                        f"`outliers: flag` of '{self.name}' has no effect without "
                        "`bounds`",
                        "add `bounds: [low, high]`, or remove `outliers`",
                        "outliers",
                    )
                ]
            return []
        low, high = self.bounds
        ends = [v for v in self.bounds if v is not None]
        why = None
        if not ends:
            why = (
                "bound nothing (both ends are null)",
                "give at least one end, or remove `bounds`",
            )
        elif not all(math.isfinite(v) for v in ends):
            why = (
                "must be finite numbers",
                "leave an end null (~) for open-ended, not inf/nan",
            )
        elif low is not None and high is not None and not low < high:
            why = f"low {low:g} is not below high {high:g}", "write them as [low, high]"
        elif self.transform == "log" and any(v <= 0 for v in ends):
            why = (
                "must be positive under `transform: log` (the log of a value <= 0 "
                "does not exist)",
                "use a positive low end (or null), or remove `transform: log`",
            )
        elif self.threshold is not None and self.out_of_bounds(self.threshold):
            why = (
                f"do not contain the threshold {self.threshold:g}",
                "a threshold is itself a plausible value: widen `bounds` or move "
                "`threshold` inside them",
            )
        if why is None:
            return []
        return [
            (f"bounds {self.bounds_text} of '{self.name}' {why[0]}", why[1], "bounds")
        ]

    @property
    def bounds_text(self) -> str:
        """The bounds as written, e.g. [0, 100] or [0, null]."""
        if self.bounds is None:
            return "none"
        return (
            "["
            + ", ".join("null" if v is None else f"{v:g}" for v in self.bounds)
            + "]"
        )

    def out_of_bounds(self, value: float) -> str | None:
        """Why *value* is implausible for this objective (outside `bounds`), or
        None when it is inside them or there are none."""
        if self.bounds is None:
            return None
        low, high = self.bounds
        if (low is not None and value < low) or (high is not None and value > high):
            return (
                f"{value:.6g} is outside the bounds {self.bounds_text} of '{self.name}'"
            )
        return None

    def model_units(self, values: Any) -> Any:
        """Values on the scale the models see (the log under `transform: log`)."""
        values = np.asarray(values, dtype=float)
        if self.transform == "log":
            if np.any(values <= 0):
                raise FitError(
                    f"'{self.name}' has transform: log but a measured value is not positive",
                    "remove `transform: log` from this objective, or check the measurements",
                )
            values = np.log(values)
        return values

    def to_model(self, values: Any) -> Any:
        """Values on the model's scale, signed so that larger is better."""
        return self.sign * self.model_units(values)

    def from_model(self, mean: float, sd: float) -> tuple[float, float]:
        """A model prediction (mean, sd) back in the objective's units.

        Under `transform: log` the mean is the median exp(mu) and the sd the
        first-order (delta-method) spread exp(mu) * sigma.
        """
        mu = self.sign * mean
        if self.transform == "log":
            return float(np.exp(mu)), float(np.exp(mu) * sd)
        return float(mu), float(sd)

    def standardized_error(self, value: float, mean: float, sd: float) -> float | None:
        """(measured - predicted) / sd on the model's scale, for a prediction
        given in units as `from_model` returns it (under `transform: log`: the
        median and the spread median * sigma). None when it is undefined (a zero
        sd, or a non-positive value under the log)."""
        if self.transform == "log":
            if value <= 0 or mean <= 0 or sd <= 0:
                return None
            return float((np.log(value) - np.log(mean)) / (sd / mean))
        if sd <= 0:
            return None
        return float((value - mean) / sd)

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
