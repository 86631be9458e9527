"""What is measured and which way is better."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import model_validator

from loop.spec.base import SpecModel, fail
from loop.spec.parameters import NAME


class Objective(SpecModel):
    """One measured quantity to minimise or maximise.

    `threshold` is the worst value still worth having; with several objectives it
    sets the reference point of the hypervolume.
    """

    name: Annotated[str, NAME]
    direction: Literal["minimize", "maximize"]
    unit: str | None = None
    threshold: float | None = None

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
        return self

    @property
    def sign(self) -> float:
        """+1 to maximise, -1 to minimise: the model always maximises sign * value."""
        return 1.0 if self.direction == "maximize" else -1.0

    def better(self, a: float, b: float) -> bool:
        """True when value *a* is strictly better than *b*."""
        return self.sign * a > self.sign * b
