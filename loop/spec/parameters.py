"""Process parameters beside the composition: continuous, integer, categorical."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from loop.spec.base import SpecModel, fail

NAME = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class ContinuousParameter(SpecModel):
    """A real-valued parameter in [lo, hi], in its own unit."""

    type: Literal["continuous"]
    name: Annotated[str, NAME]
    bounds: tuple[float, float]
    unit: str | None = None

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
        return self


class IntegerParameter(SpecModel):
    """An integer-valued parameter in [lo, hi] (both included)."""

    type: Literal["integer"]
    name: Annotated[str, NAME]
    bounds: tuple[int, int]
    unit: str | None = None

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
    values: tuple[str, ...] = Field(min_length=2)

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
