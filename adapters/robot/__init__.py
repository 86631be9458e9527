"""The robot adapter: robot controllers pull work from loop over HTTP.

Nothing is pushed: `loop run` stores proposals as PENDING and keeps
`strategy.batch_size` of them in flight, while robots claim them through
`loop serve` (see docs/how-to/connect-a-robot.md) and post measurements back.
The controller side lives in `adapters.robot.client`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from loop.durations import Duration
from loop.errors import Problem
from loop.ports import PullAdapterClass, RobotSimulatorClass

if TYPE_CHECKING:
    from loop.spec import CampaignSpec


class RobotConfig(BaseModel):
    """The `adapter:` block for `type: robot`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["robot"]
    claim_ttl: Duration = Field(
        900.0,
        gt=0,
        description="how long a claim lasts without a heartbeat (seconds, or '15m', "
        "'2h', 'PT15M')",
    )
    max_attempts: int = Field(
        3, ge=1, le=20, description="claims per trial before it is abandoned"
    )


class RobotAdapter:
    """Pull-mode adapter: the driver waits while robots claim and report."""

    Config = RobotConfig
    #: Robots pull work; the driver never calls `evaluate`.
    pull: ClassVar[Literal[True]] = True
    #: A started robot run may have made a sample: never re-run it silently.
    rerun_safe: ClassVar[bool] = False

    def __init__(self, config: RobotConfig, spec: CampaignSpec) -> None:
        self.config = config
        self.spec = spec

    @property
    def max_attempts(self) -> int:
        """Claims per trial before an expired one is abandoned (`max_attempts`)."""
        return self.config.max_attempts

    @staticmethod
    def check(config: RobotConfig, spec: CampaignSpec) -> list[Problem]:
        return []

    @staticmethod
    def simulate(**options: Any) -> Any:
        """Play simulated robots against a running API (`loop robot simulate`).

        The options are those of `adapters.robot.simulate.run`; it returns its
        `SimulationSummary`. Imported on use, so the adapter stays light.
        """
        from adapters.robot.simulate import run

        return run(**options)


#: A pull adapter that can also play robots (loop.ports); mypy checks the class
#: against the protocols.
_implements: PullAdapterClass[RobotConfig] = RobotAdapter
_simulates: RobotSimulatorClass = RobotAdapter
