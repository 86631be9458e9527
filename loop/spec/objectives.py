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
    from loop.spec.campaign import CampaignSpec


class Objective(SpecModel):
    """One measured quantity: optimised (`role: objective`) or kept acceptable.

    `threshold` is the worst value still worth having. For an objective it sets
    the reference point of the hypervolume when there are several; for a
    `role: constraint` it is the limit (at least the threshold when
    `direction: maximize`, at most when `minimize`) and is required.
    """

    name: Annotated[str, NAME]
    direction: Literal["minimize", "maximize"]
    unit: str | None = Field(None, max_length=64)
    threshold: float | None = None
    role: Literal["objective", "constraint"] = "objective"
    #: `log`: model the logarithm (for positive quantities spanning decades,
    #: such as conductivities or degradation indices); results stay in units.
    transform: Literal["none", "log"] = "none"

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


def value_problems(
    spec: CampaignSpec, values: dict[str, float]
) -> list[tuple[str, str]]:
    """(objective, what is wrong) for measured *values*: every objective present,
    none unknown, finite, positive under `transform: log`. The robot API,
    `loop tell` / `Campaign.tell`, `loop import` and the python adapter check
    measurements with this one rule."""
    declared = {o.name: o for o in spec.objectives}
    problems = [
        (
            name,
            f"unknown objective '{name}'; this campaign measures {', '.join(declared)}",
        )
        for name in values
        if name not in declared
    ]
    for name, objective in declared.items():
        value = values.get(name)
        if value is None:
            problems.append((name, "missing"))
        elif not math.isfinite(value):
            problems.append((name, f"{value} is not a finite number"))
        elif objective.transform == "log" and value <= 0:
            problems.append(
                (
                    name,
                    f"{value} is not positive, but '{name}' is modelled on a log "
                    "scale; report the run as failed instead",
                )
            )
    return problems
