"""Storing what a push adapter's evaluation gave: a measurement, a retry, or a failure.

The driver (`loop.service.runner`) calls `settle` for each finished
evaluation. An adapter's values pass the same rule as a robot's
(`loop.spec.values`), so a simulator, a dataset or a DFT job cannot put a value
in the store that the robot API would refuse.
"""

from __future__ import annotations

from loop.faults import fault
from loop.ports import EvaluationRequest, EvaluationResult
from loop.records import TrialStatus
from loop.spec import CampaignSpec
from loop.spec.values import describe, review_reason, value_problems
from loop.storage import Store

#: Tries per trial for failures an adapter marks retryable.
MAX_ATTEMPTS = 3


def settle(
    store: Store,
    spec: CampaignSpec,
    request: EvaluationRequest,
    result: EvaluationResult,
) -> None:
    """Store what an evaluation gave: a measurement, a retry, or a failure.

    Values are checked as a robot's are (`loop.spec.values`): refused ones (an
    objective missing, a value outside its bounds) fail the trial, values
    outside bounds under `outliers: flag` hold it for review. A failure's
    metadata (the job, its cost, a traceback) goes with the trial's audit
    event, so it is kept even though nothing was measured.
    """
    trial_id, attempt = request.trial_id, request.attempt
    refused = result.failure is None and value_problems(
        spec, result.values, unattended=True
    )
    if refused:
        failure = f"the adapter's values were refused: {describe(refused)}"
        result = EvaluationResult(failure=failure, metadata=result.metadata)
    if result.failure is None:
        store.complete(
            trial_id,
            attempt,
            result.values,
            units=result.units,
            metadata=result.metadata,
            source=f"adapter:{spec.adapter['type']}",
            review=review_reason(spec, result.values),
        )
        fault("after_complete")
    elif result.retryable and attempt < MAX_ATTEMPTS:
        store.transition(
            trial_id,
            [TrialStatus.CLAIMED],
            TrialStatus.PENDING,
            attempt=attempt,
            reason=result.failure,
            next_attempt=True,
            details=result.metadata or None,
        )
    else:
        store.transition(
            trial_id,
            [TrialStatus.CLAIMED],
            TrialStatus.FAILED,
            attempt=attempt,
            reason=result.failure,
            details=result.metadata or None,
        )
