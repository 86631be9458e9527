"""The manual adapter: the lab measures and enters the results by hand.

For a team without a robot API: `loop run` (or `loop.Campaign.ask` in a
notebook) stores proposals as PENDING, and the measurements come back through
`loop tell NAME --trial ID --value name=x` or `Campaign.tell`. Like the robot
adapter it is pull mode: the driver keeps `strategy.batch_size` trials open and
waits; it never evaluates anything itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from loop.errors import Problem
from loop.ports import PullAdapterClass, UncostedAdapterClass

if TYPE_CHECKING:
    from loop.spec import CampaignSpec


class ManualConfig(BaseModel):
    """The `adapter:` block for `type: manual` (nothing else to set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["manual"]


class ManualAdapter:
    """Proposals wait for measurements entered by hand."""

    Config = ManualConfig
    pull: ClassVar[Literal[True]] = True
    #: `loop tell` enters values, never a cost.
    records_cost: ClassVar[Literal[False]] = False
    #: A sample may have been made: a person decides, never a silent re-run.
    rerun_safe: ClassVar[bool] = False

    def __init__(self, config: ManualConfig, spec: CampaignSpec) -> None:
        self.config = config
        self.spec = spec

    @property
    def max_attempts(self) -> int:
        """Nothing claims manual trials, so none expires; one attempt each."""
        return 1

    @staticmethod
    def check(config: ManualConfig, spec: CampaignSpec) -> list[Problem]:
        return []


_implements: PullAdapterClass[ManualConfig] = ManualAdapter
_uncosted: UncostedAdapterClass = ManualAdapter
