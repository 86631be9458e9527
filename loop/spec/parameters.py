"""Process parameters beside the composition: continuous, integer, categorical."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from loop.spec.base import SpecModel, fail

NAME = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _number_as_text(value: Any) -> Any:
    """A category written as a number (`values: [1, 2, 3]`) is kept as its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


#: A category name; numbers are accepted and kept as text ("2", "2.5").
Category = Annotated[
    str,
    BeforeValidator(_number_as_text),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}]}),
]


class ContinuousParameter(SpecModel):
    """A real-valued parameter in [lo, hi], in its own unit.

    `resolution` is the step the lab can set it to (a furnace set in 5 K steps,
    a time in whole minutes): proposals are multiples of it counted from the
    lower bound, so no one is asked for 302.0539513155818 K.
    """

    type: Literal["continuous"]
    name: Annotated[str, NAME]
    bounds: tuple[float, float]
    unit: str | None = Field(None, max_length=64)
    resolution: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check_bounds(self) -> ContinuousParameter:
        lo, hi = self.bounds
        if not (math.isfinite(lo) and math.isfinite(hi)):
            fail(
                [(f"bounds of '{self.name}' must be finite numbers", "write [lo, hi]")]
            )
        if lo >= hi:
            fail(
                [
                    (
                        f"lower bound {lo} of '{self.name}' is not below its upper bound {hi}",
                        "write the bounds as [lower, upper] with lower < upper",
                    )
                ]
            )
        step = self.resolution
        if step is not None:
            if not math.isfinite(step) or step > hi - lo:
                fail(
                    [
                        (
                            f"resolution {step:g} of '{self.name}' is wider than its "
                            f"bounds [{lo:g}, {hi:g}]",
                            "choose a resolution smaller than upper - lower",
                            "resolution",
                        )
                    ]
                )
            if (hi - lo) / step > 1e9:
                fail(
                    [
                        (
                            f"resolution {step:g} of '{self.name}' gives more than 1e9 "
                            "settings",
                            "choose a coarser resolution, or remove it",
                            "resolution",
                        )
                    ]
                )
        return self

    def grid(self, value: float) -> float:
        """*value* on the resolution grid (lower bound + whole steps, inside the
        bounds), written as exactly as floats allow; unchanged without one."""
        if self.resolution is None:
            return value
        lo, hi = self.bounds
        steps = min(max(round((value - lo) / self.resolution), 0), self.top_step)
        return round(lo + steps * self.resolution, 12)

    @property
    def top_step(self) -> int:
        """The last whole step inside the bounds."""
        assert self.resolution is not None
        lo, hi = self.bounds
        return int(math.floor((hi - lo) / self.resolution + 1e-9))


class IntegerParameter(SpecModel):
    """An integer-valued parameter in [lo, hi] (both included)."""

    type: Literal["integer"]
    name: Annotated[str, NAME]
    bounds: tuple[int, int]
    unit: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _check_bounds(self) -> IntegerParameter:
        lo, hi = self.bounds
        if lo >= hi:
            fail(
                [
                    (
                        f"lower bound {lo} of '{self.name}' is not below its upper bound {hi}",
                        "write the bounds as [lower, upper] with lower < upper",
                    )
                ]
            )
        return self


class CategoricalParameter(SpecModel):
    """A choice among named values (salt identity, processing route, ...)."""

    type: Literal["categorical"]
    name: Annotated[str, NAME]
    values: tuple[Category, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _check_values(self) -> CategoricalParameter:
        if len(set(self.values)) != len(self.values):
            fail(
                [
                    (
                        f"values of '{self.name}' are listed more than once",
                        "list each once",
                    )
                ]
            )
        return self


Parameter = Annotated[
    ContinuousParameter | IntegerParameter | CategoricalParameter,
    Field(discriminator="type"),
]
