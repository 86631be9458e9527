"""Interfaces the engine and the driver depend on, implemented elsewhere.

An adapter evaluates trials (simulator, DFT, robot). It is registered under a
name in the `loop.adapters` entry-point group and must provide:

* ``Config``: a frozen pydantic model of its YAML block (with ``type``),
* ``check(config, spec) -> list[Problem]``: cross-checks against the campaign
  (e.g. the simulator's function supports these components and objectives),
* ``__init__(config, spec)`` and ``evaluate(request) -> EvaluationResult``.

Evaluation must never raise for a bad experiment: it returns a result with
``failure`` set, so the driver records a failed trial instead of crashing.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from pydantic import Field

from loop.records import Record

#: Where adapters look for data files given by relative paths (`--data-root`).
DATA_ROOT_ENV = "LOOP_DATA_ROOT"


class EvaluationRequest(Record):
    """One trial attempt handed to an adapter."""

    campaign: str
    trial_id: int
    attempt: int
    composition: dict[str, float]
    parameters: dict[str, Any] = Field(default_factory=dict)
    objectives: list[str]
    seed: int


class EvaluationResult(Record):
    """What an adapter observed: values, or a failure with a reason."""

    values: dict[str, float] = Field(default_factory=dict)
    units: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    failure: str | None = None
    retryable: bool = False


class Adapter(Protocol):
    """A push-mode adapter: the driver calls it for each trial."""

    #: Re-running an attempt after a crash is harmless (no physical sample).
    rerun_safe: ClassVar[bool]

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult: ...
