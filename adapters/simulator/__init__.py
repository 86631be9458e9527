"""The simulator adapter: evaluates trials with in-process functions.

Used for demos, tests and benchmarks. Functions are chosen by name
(`adapter.function`); optional Gaussian noise is seeded by trial and attempt,
so evaluating the same attempt twice gives the same value.
"""

from __future__ import annotations

import hashlib
import math
import traceback
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from adapters.simulator.functions import SimFunction, build, function_names
from loop.errors import LoopError, Problem
from loop.ports import (
    AdapterClass,
    EvaluationRequest,
    EvaluationResult,
    InputReadingAdapterClass,
    PushAdapter,
    UncostedAdapterClass,
)

if TYPE_CHECKING:
    from loop.spec import CampaignSpec


class Failures(BaseModel):
    """Injected failures, to exercise failure handling without a real lab.

    `region` maps components (in the composition's units) and numeric parameters
    to [lo, hi] ranges, and categorical parameters to lists of values: a trial
    inside every listed range fails for good (e.g. a phase that cracks).
    `transient_rate` is the chance that an attempt fails in a way worth retrying
    (seeded by trial and attempt, so it is reproducible).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: dict[str, tuple[float, float] | list[str]] = Field(default_factory=dict)
    transient_rate: float = Field(0.0, ge=0.0, le=1.0)


class SimulatorConfig(BaseModel):
    """The `adapter:` block for `type: simulator`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["simulator"]
    function: str
    noise: float = Field(
        0.0, ge=0.0, description="standard deviation added to every output"
    )
    options: dict[str, Any] = Field(default_factory=dict)
    failures: Failures = Field(default_factory=Failures)


class SimulatorAdapter:
    """Push-mode adapter over the simulator functions."""

    Config = SimulatorConfig
    rerun_safe: ClassVar[bool] = True
    #: A simulation costs nothing worth counting: no `cost` is recorded.
    records_cost: ClassVar[Literal[False]] = False

    def __init__(self, config: SimulatorConfig, spec: CampaignSpec) -> None:
        built = build(config.function, spec, config.options)
        if isinstance(built, list):
            raise LoopError(built[0].message, built[0].hint)
        self.function: SimFunction = built
        self.config = config
        comp = spec.space.composition
        self.total = comp.total if comp else 1.0

    @staticmethod
    def check(config: SimulatorConfig, spec: CampaignSpec) -> list[Problem]:
        """Problems that stop this function from serving this campaign."""
        if config.function not in function_names():
            return [
                Problem(
                    "adapter.function",
                    f"unknown simulator function '{config.function}'",
                    f"valid functions: {', '.join(function_names())}",
                )
            ]
        built = build(config.function, spec, config.options)
        if isinstance(built, list):
            return built
        problems = _region_problems(config.failures, spec)
        for i, objective in enumerate(spec.objectives):
            if objective.name not in built.outputs:
                problems.append(
                    Problem(
                        f"objectives.{i}.name",
                        f"simulator function '{config.function}' does not produce "
                        f"'{objective.name}'",
                        f"its outputs: {', '.join(built.outputs)}",
                    )
                )
            elif objective.unit and built.outputs[objective.name] not in (
                "",
                objective.unit,
            ):
                problems.append(
                    Problem(
                        f"objectives.{i}.unit",
                        f"'{objective.name}' is produced in {built.outputs[objective.name]}, "
                        f"not {objective.unit}",
                        f"set unit: {built.outputs[objective.name]}",
                    )
                )
        return problems

    @staticmethod
    def unread_parameters(config: SimulatorConfig, spec: CampaignSpec) -> list[str]:
        """Declared parameters the chosen function never reads."""
        built = build(config.function, spec, config.options)
        if isinstance(built, list) or built.parameters_read is None:
            return []
        return [
            p.name for p in spec.space.parameters if p.name not in built.parameters_read
        ]

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        injected = _injected_failure(self.config.failures, request)
        if injected is not None:
            return injected
        fractions = {c: v / self.total for c, v in request.composition.items()}
        try:
            outputs = self.function(fractions, request.parameters)
            raw = {name: _real(name, outputs) for name in request.objectives}
        except Exception as exc:  # an evaluation error is a failed trial, not a crash
            return EvaluationResult(
                failure=f"simulator raised {type(exc).__name__}: {exc}",
                metadata={"traceback": traceback.format_exc(limit=5)},
            )
        rng = _noise_rng(request)
        values = {}
        for name, value in raw.items():
            if self.config.noise:
                value += float(rng.normal(0.0, self.config.noise))
            if not math.isfinite(value):
                return EvaluationResult(
                    failure=f"simulator gave a non-finite {name}: {value}"
                )
            values[name] = value
        units = {n: self.function.outputs[n] for n in request.objectives}
        return EvaluationResult(
            values=values,
            units=units,
            metadata={"function": self.config.function, "noise": self.config.noise},
        )


#: A push adapter (loop.ports); mypy checks the class against the protocols.
_implements: AdapterClass[SimulatorConfig, PushAdapter] = SimulatorAdapter
_reads: InputReadingAdapterClass = SimulatorAdapter
_uncosted: UncostedAdapterClass = SimulatorAdapter


def _real(name: str, outputs: dict[str, Any]) -> float:
    """Output *name* as a real number; anything else is an evaluation error."""
    if name not in outputs:
        raise KeyError(f"no output '{name}'")
    value = outputs[name]
    if isinstance(value, bool) or not isinstance(
        value, int | float | np.floating | np.integer
    ):
        raise TypeError(f"output '{name}' is {value!r}, not a real number")
    return float(value)


def _injected_failure(
    failures: Failures, request: EvaluationRequest
) -> EvaluationResult | None:
    values = {**request.composition, **request.parameters}
    if failures.region and all(
        (values[name] in rule)
        if isinstance(rule, list)
        else rule[0] <= values[name] <= rule[1]
        for name, rule in failures.region.items()
    ):
        return EvaluationResult(
            failure="sample failed: inside the simulator's failure region"
        )
    if (
        failures.transient_rate
        and _noise_rng(request, "transient").random() < failures.transient_rate
    ):
        return EvaluationResult(
            failure="transient failure (injected); retry", retryable=True
        )
    return None


def _region_problems(failures: Failures, spec: CampaignSpec) -> list[Problem]:
    categorical = {p.name for p in spec.space.parameters if p.type == "categorical"}
    names = set(spec.space.components) | {p.name for p in spec.space.parameters}
    problems = []
    for name, rule in failures.region.items():
        path = f"adapter.failures.region.{name}"
        if name not in names:
            problems.append(
                Problem(
                    path,
                    f"'{name}' is neither a component nor a parameter",
                    f"known names: {', '.join(sorted(names))}",
                )
            )
        elif (name in categorical) != isinstance(rule, list):
            hint = "a list of values" if name in categorical else "a [lo, hi] range"
            problems.append(
                Problem(path, f"wrong kind of rule for '{name}'", f"give {hint}")
            )
    return problems


def _noise_rng(
    request: EvaluationRequest, purpose: str = "noise"
) -> np.random.Generator:
    key = f"{request.campaign}|{request.seed}|{request.trial_id}|{request.attempt}|{purpose}"
    digest = hashlib.sha256(key.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
