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
    """A real-valued parameter in [lo, hi], in its own unit."""

    type: Literal["continuous"]
    name: Annotated[str, NAME]
    bounds: tuple[float, float]
    unit: str | None = Field(None, max_length=64)

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
