"""Test helpers shared across suites: trials measured by the real simulator adapter."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import pytest

from loop.records import Measurement, Trial, TrialStatus
from loop.spec import CampaignSpec


def simulated_trials(
    spec: CampaignSpec,
    configs: list[Any],
    start: int = 1,
    status: TrialStatus = TrialStatus.COMPLETED,
) -> list[Trial]:
    """Trials for *configs* (proposals or anything with composition and parameters).

    With `status=COMPLETED` each is evaluated by the campaign's simulator; an
    evaluation that fails becomes a FAILED trial, as the driver would store it.
    Any other status gives unmeasured trials in that state (e.g. in flight).
    """
    from loop.plugins import adapter_class
    from loop.ports import EvaluationRequest

    # the simulator, or the fidelities adapter over simulators
    adapter = adapter_class(spec.adapter["type"])(spec.adapter_config(), spec)
    out = []
    for tid, c in enumerate(configs, start):
        state, measurement, reason = status, None, None
        if status is TrialStatus.COMPLETED:
            result = adapter.evaluate(
                EvaluationRequest(
                    campaign=spec.name,
                    trial_id=tid,
                    attempt=1,
                    composition=c.composition,
                    parameters=c.parameters,
                    objectives=[o.name for o in spec.objectives],
                    seed=spec.seed,
                )
            )
            if result.failure is None:
                measurement = Measurement(
                    trial_id=tid,
                    attempt=1,
                    values=result.values,
                    metadata=result.metadata,
                )
            else:
                state, reason = TrialStatus.FAILED, result.failure
        out.append(
            Trial(
                id=tid,
                campaign=spec.name,
                iteration=0,
                status=state,
                attempt=1,
                composition=c.composition,
                parameters=c.parameters,
                phase=getattr(c, "phase", "initial"),
                strategy=getattr(c, "strategy", "random"),
                failure_reason=reason,
                measurement=measurement,
            )
        )
    return out


def unavailable(what: str, reason: str, how: str) -> NoReturn:
    """A suite that needs something this machine lacks: skipped locally with
    *how* to get it, but a failure in CI (env CI set), where nothing may skip."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{what} cannot run in CI: {reason}. {how}", pytrace=False)
    pytest.skip(f"{reason}; to run {what}: {how}")
