"""A complete third-party adapter: a furnace that melts alloys (docs/how-to/write-an-adapter.md).

It "measures" each proposed composition's liquidus temperature by the rule of
mixtures, and fails, without raising, a melt hotter than the furnace can reach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from loop.errors import Problem
from loop.ports import AdapterClass, EvaluationRequest, EvaluationResult, PushAdapter

if TYPE_CHECKING:
    from loop.spec import CampaignSpec


class FurnaceConfig(BaseModel):
    """The campaign's `adapter:` block for `type: furnace`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["furnace"]
    melting_points: dict[str, float]  # K, one per component
    max_temperature: float = Field(2000.0, gt=0)  # K: hotter melts cannot be made


class FurnaceAdapter:
    """Melts each proposed alloy and reports its liquidus temperature."""

    Config = FurnaceConfig
    rerun_safe: ClassVar[bool] = True  # a crashed attempt is simply melted again

    def __init__(self, config: FurnaceConfig, spec: CampaignSpec) -> None:
        self.config = config

    @staticmethod
    def check(config: FurnaceConfig, spec: CampaignSpec) -> list[Problem]:
        """Every component needs a melting point; the furnace measures `liquidus` only."""
        problems = [
            Problem(
                "adapter.melting_points", f"no melting point for {c}", "add it in K"
            )
            for c in spec.space.components
            if c not in config.melting_points
        ]
        return problems + [
            Problem(
                f"objectives.{i}.name", f"cannot measure '{o.name}'", "use liquidus"
            )
            for i, o in enumerate(spec.objectives)
            if o.name != "liquidus"
        ]

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        total = sum(request.composition.values())
        liquidus = sum(
            amount / total * self.config.melting_points[component]
            for component, amount in request.composition.items()
        )
        if liquidus > self.config.max_temperature:  # a bad experiment: a failure
            return EvaluationResult(failure=f"melt needs {liquidus:.0f} K, too hot")
        return EvaluationResult(values={"liquidus": liquidus}, units={"liquidus": "K"})


#: A push adapter; mypy checks the class and its instances against loop.ports.
_implements: AdapterClass[FurnaceConfig, PushAdapter] = FurnaceAdapter
