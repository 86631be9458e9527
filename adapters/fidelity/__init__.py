"""The fidelities adapter: each trial evaluated by its fidelity's own adapter.

A campaign with `fidelities:` (`loop.spec.fidelity`) gets this adapter. It
builds every level's adapter with the campaign as that adapter sees it (its
own block, without the `fidelity` parameter), hands each trial to the adapter
of the level in its `fidelity` parameter, and records with the result the
level (`fidelity`) and the level's `cost`, the number the cost budget counts.
An adapter that records a cost of its own (DFT's core-hours) keeps it as
`adapter_cost`: the campaign counts in one unit, the one of `budget.cost`;
with `cost: measured` the adapter's own cost is the one counted.

Evaluations are pushed by the driver, except at a fidelity measured by robots
(`type: robot`, at most one): its trials wait for robots to claim them over
the API (`robot`, `pulled`), the driver keeps evaluating the others meanwhile,
and a robot's measurement is charged the level's cost when it is stored
(`loop.service.lab`). When a level waits on long jobs (DFT on a scheduler),
the adapter is a `JobAdapter` too: the driver keeps the most in flight that
any such level allows, and closing closes every level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from loop.errors import LoopError, Problem
from loop.plugins import adapter_class
from loop.ports import (
    AdapterClass,
    EvaluationRequest,
    EvaluationResult,
    JobAdapter,
    PullAdapter,
    PushAdapter,
)
from loop.spec.fidelity import (
    FIDELITY,
    FIDELITY_ADAPTER,
    charged,
    level_spec,
    robot_level,
)

if TYPE_CHECKING:
    from loop.spec import CampaignSpec


class FidelitiesConfig(BaseModel):
    """The `adapter:` block loop writes for a campaign with `fidelities:`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["fidelities"]


class FidelityAdapter:
    """Routes each trial to the adapter of its fidelity."""

    Config = FidelitiesConfig
    #: Only push adapters may be levels (validation), and those are re-run safe.
    rerun_safe: ClassVar[bool] = True

    def __new__(
        cls, config: FidelitiesConfig | None = None, spec: CampaignSpec | None = None
    ) -> FidelityAdapter:
        if spec is None:  # unpickled on a Dask worker: the state follows
            return super().__new__(cls)
        levels = _levels(spec)
        jobs = any(isinstance(a, JobAdapter) for a in levels.values())
        made = super().__new__(FidelityJobAdapter if jobs else cls)
        made._levels = levels
        return made

    def __init__(self, config: FidelitiesConfig, spec: CampaignSpec) -> None:
        self.costs = {f.name: f.declared_cost for f in spec.fidelities}
        self.measured = {f.name for f in spec.fidelities if f.measured}
        self._levels: dict[str, Any]
        pulled = [a for a in self._levels.values() if isinstance(a, PullAdapter)]
        #: The robot adapter of the fidelity robots measure (None: no robots).
        self.robot: PullAdapter | None = pulled[0] if pulled else None
        #: The fidelities whose trials robots claim; the driver leaves them.
        self.pulled = frozenset(
            name for name, a in self._levels.items() if isinstance(a, PullAdapter)
        )
        unsafe = [
            name
            for name, a in self._levels.items()
            if name not in self.pulled and not a.rerun_safe
        ]
        if unsafe:
            raise LoopError(
                f"the adapter of fidelity '{unsafe[0]}' may not run an attempt twice",
                "use adapters that can be re-run for every fidelity",
            )

    @staticmethod
    def check(config: FidelitiesConfig, spec: CampaignSpec) -> list[Problem]:
        """Each level's block is checked by its own adapter (`fidelity_problems`)."""
        if not spec.fidelities:
            return [
                Problem(
                    "adapter.type",
                    f"type '{FIDELITY_ADAPTER}' is the adapter of a campaign with "
                    "`fidelities:`",
                    "declare `fidelities:` (each with its own adapter), or use "
                    "another adapter type",
                )
            ]
        return []

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """The level's adapter's result, with the level and its cost recorded."""
        parameters = dict(request.parameters)
        level = str(parameters.pop(FIDELITY, ""))
        adapter = self._levels.get(level)
        if level in self.pulled:
            return EvaluationResult(
                failure=f"fidelity '{level}' is measured by robots, not the driver"
            )
        if adapter is None:
            return EvaluationResult(
                failure=f"the trial's fidelity '{level}' is not one of "
                f"{', '.join(self._levels)}"
            )
        result: EvaluationResult = adapter.evaluate(
            request.model_copy(update={"parameters": parameters})
        )
        return result.model_copy(
            update={"metadata": self._costed(level, dict(result.metadata))}
        )

    def _costed(self, level: str, metadata: dict[str, Any]) -> dict[str, Any]:
        return charged(self.costs[level], level in self.measured, level, metadata)


class FidelityJobAdapter(FidelityAdapter):
    """The fidelities adapter when a level waits on long jobs (DFT)."""

    @property
    def max_in_flight(self) -> int:
        return max(
            a.max_in_flight for a in self._levels.values() if isinstance(a, JobAdapter)
        )

    def close(self) -> None:
        for a in self._levels.values():
            if isinstance(a, JobAdapter):
                a.close()


def _levels(spec: CampaignSpec) -> dict[str, Any]:
    """Each fidelity's adapter, built for the campaign as it sees it."""
    out: dict[str, Any] = {}
    for f in spec.fidelities:
        plugin = adapter_class(f.adapter["type"])
        adapter = plugin(
            plugin.Config.model_validate(dict(f.adapter)), level_spec(spec, f)
        )
        if isinstance(adapter, PullAdapter) and f is robot_level(spec):
            out[f.name] = adapter
            continue
        if not isinstance(adapter, PushAdapter):
            raise LoopError(
                f"the adapter of fidelity '{f.name}' ({f.adapter['type']}) is not "
                "evaluated by the driver",
                "use push adapters for every fidelity (simulator, dft, python)",
            )
        out[f.name] = adapter
    return out


_implements: AdapterClass[FidelitiesConfig, PushAdapter] = FidelityAdapter
