"""Frozen records that cross layers: proposals, trials, measurements, statuses.

The storage layer returns these, never ORM rows; the engine consumes them; the CLI
and API render them. They are plain data: no behaviour beyond derived properties.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TrialStatus(StrEnum):
    """Where a trial is in its life.

    ::

        PENDING ──dispatch/claim──► CLAIMED ──start──► STARTED ──measure──► COMPLETED
           │  ▲                       │  │                │
           │  └──retryable failure────┘  │                ├──lease expired──► NEEDS_REVIEW
           │     (attempt + 1, while      │                │
           │      attempts remain)        └──fail─────────►┴──fail──► FAILED
           └──withdrawn, never claimed──► STALE
        any non-terminal ──abandon──► ABANDONED
        PENDING/CLAIMED/STARTED/NEEDS_REVIEW ──flagged value──► NEEDS_REVIEW
        PENDING ──measured / failed, told by hand (`loop tell`)──► COMPLETED / FAILED

    COMPLETED, FAILED, ABANDONED and STALE are terminal: neither the driver nor a
    robot ever changes them again (only an operator's `loop trial retry` puts a
    FAILED trial back to PENDING, see `OPERATOR_TRANSITIONS`). FAILED means the
    experiment ran and gave no usable value (no retry left); the
    engine learns from it but never regresses on it. ABANDONED and STALE free their
    budget slot; COMPLETED and FAILED spend it. A measurement outside its
    objective's bounds under `outliers: flag` is stored with its trial in
    NEEDS_REVIEW (`Trial.flagged`), which an operator amends or voids (to
    COMPLETED), retries or abandons.
    """

    PENDING = "pending"
    CLAIMED = "claimed"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    ABANDONED = "abandoned"
    STALE = "stale"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def in_flight(self) -> bool:
        """Proposed and not yet resolved: the model treats it as a pending point."""
        return self in IN_FLIGHT

    @property
    def spends_budget(self) -> bool:
        """Counts toward `budget.experiments` (committed or spent)."""
        return self not in (TrialStatus.ABANDONED, TrialStatus.STALE)


TERMINAL = frozenset(
    {
        TrialStatus.COMPLETED,
        TrialStatus.FAILED,
        TrialStatus.ABANDONED,
        TrialStatus.STALE,
    }
)
IN_FLIGHT = frozenset(
    {
        TrialStatus.PENDING,
        TrialStatus.CLAIMED,
        TrialStatus.STARTED,
        TrialStatus.NEEDS_REVIEW,
    }
)

#: Every legal transition; the store refuses any other.
TRANSITIONS: dict[TrialStatus, frozenset[TrialStatus]] = {
    # PENDING -> COMPLETED: a late measurement for the attempt before a re-offer
    # (-> NEEDS_REVIEW when it is flagged: outside its bounds, `outliers: flag`),
    # or one told by hand (`loop tell`); PENDING -> FAILED: a failure told by hand
    TrialStatus.PENDING: frozenset(
        {
            TrialStatus.CLAIMED,
            TrialStatus.COMPLETED,
            TrialStatus.FAILED,
            TrialStatus.NEEDS_REVIEW,
            TrialStatus.STALE,
            TrialStatus.ABANDONED,
        }
    ),
    TrialStatus.CLAIMED: frozenset(
        {
            TrialStatus.STARTED,
            TrialStatus.COMPLETED,
            TrialStatus.NEEDS_REVIEW,
            TrialStatus.FAILED,
            TrialStatus.PENDING,
            TrialStatus.ABANDONED,
        }
    ),
    TrialStatus.STARTED: frozenset(
        {
            TrialStatus.COMPLETED,
            TrialStatus.FAILED,
            TrialStatus.PENDING,
            TrialStatus.NEEDS_REVIEW,
            TrialStatus.ABANDONED,
        }
    ),
    # NEEDS_REVIEW -> NEEDS_REVIEW: a flagged value posted after the lease ran out
    TrialStatus.NEEDS_REVIEW: frozenset(
        {
            TrialStatus.PENDING,
            TrialStatus.COMPLETED,
            TrialStatus.NEEDS_REVIEW,
            TrialStatus.ABANDONED,
        }
    ),
    TrialStatus.COMPLETED: frozenset(),
    TrialStatus.FAILED: frozenset(),
    TrialStatus.ABANDONED: frozenset(),
    TrialStatus.STALE: frozenset(),
}


#: What only an operator may do on top of `TRANSITIONS` (`loop trial retry`).
OPERATOR_TRANSITIONS: dict[TrialStatus, frozenset[TrialStatus]] = {
    TrialStatus.FAILED: frozenset({TrialStatus.PENDING}),
}


class TrialPhase(StrEnum):
    """How a trial's configuration was chosen (stored with the trial, shown by
    `inspect` and `--explain`)."""

    #: the campaign's initial design (space-filling, before any model)
    INITIAL = "initial"
    #: the highest acquisition value under the GP
    MODEL = "model"
    #: a random feasible point where the optimiser found no new one
    FALLBACK = "fallback"
    #: a uniform sample (the random engine)
    RANDOM = "random"
    #: the next point of a Sobol sequence (the sobol engine)
    SOBOL = "sobol"
    #: chosen by the lab, not by loop: a measurement entered by hand (`loop tell`)
    MANUAL = "manual"
    #: a past measurement imported from a file (`loop import`); spends no budget
    IMPORTED = "imported"


class CampaignStatus(StrEnum):
    """Where a campaign stands as a whole (`loop inspect`, the status document).

    ACTIVE while trials remain to be proposed or measured; COMPLETED when the
    budget is spent; EXHAUSTED when the space holds no new feasible point (or a
    replay's pool is empty); NEEDS_REVIEW when the driver stopped because the
    rest of the budget waits on trials an operator must look at (robots may
    still claim what an operator re-offers, and post late measurements);
    PAUSED when too many trials failed in a row (the failure breaker,
    `budget.max_consecutive_failures`): robots get no new work until an
    operator continues. `loop resume` turns both back into ACTIVE.
    """

    ACTIVE = "active"
    COMPLETED = "completed"
    EXHAUSTED = "exhausted"
    NEEDS_REVIEW = "needs_review"
    PAUSED = "paused"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Proposal(Record):
    """A configuration the engine wants measured, with why it chose it."""

    composition: dict[str, float]
    parameters: dict[str, Any] = Field(default_factory=dict)
    phase: TrialPhase
    strategy: str
    acquisition_value: float | None = None
    predicted_mean: dict[str, float] = Field(default_factory=dict)
    predicted_sd: dict[str, float] = Field(default_factory=dict)
    seed: int | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def fields_of(source: object) -> dict[str, Any]:
        """The proposal's fields read from *source* (a proposal, a trial or a
        table row), by name: what storing a proposal copies. Always a
        `Proposal`'s fields, also when called on `Trial`."""
        return {name: getattr(source, name) for name in Proposal.model_fields}


class Measurement(Record):
    """The objective values accepted for one trial attempt."""

    trial_id: int
    attempt: int
    values: dict[str, float]
    units: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: str = ""
    late: bool = False
    received_at: datetime | None = None
    #: An operator amended these values (`loop trial amend`, also to the same
    #: numbers: a confirmation); the model then takes them even when they lie
    #: beyond its robust fences (`loop.model.robust.held_out`).
    reviewed: bool = False


class Trial(Proposal):
    """A stored proposal with its status and, once measured, its measurement.

    Every field of the `Proposal` it was stored from, then what the store adds.
    """

    id: int
    campaign: str
    iteration: int
    status: TrialStatus
    attempt: int
    failure_reason: str | None = None
    #: The measurement that counts (model, best, Pareto front); None when the
    #: trial has none or an operator voided it.
    measurement: Measurement | None = None
    #: A measurement an operator voided (`loop trial void`): kept and shown, but
    #: it counts nowhere; the experiment still spent its budget.
    voided: Measurement | None = None
    #: A measurement stored with a trial that is not COMPLETED: a value outside
    #: its objective's bounds under `outliers: flag` (the trial NEEDS_REVIEW,
    #: why in `failure_reason`), or one left on a trial an operator abandoned.
    #: Kept and shown, counted nowhere.
    flagged: Measurement | None = None
    lease_expires_at: datetime | None = None
    claimed_by_key: int | None = None
    started_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def spends_budget(self) -> bool:
        """Counts toward `budget.experiments`: committed or spent, and not a past
        measurement imported from a file."""
        return self.status.spends_budget and self.phase is not TrialPhase.IMPORTED

    @property
    def values(self) -> dict[str, float]:
        return self.measurement.values if self.measurement else {}

    @property
    def outside_space(self) -> list[str]:
        """Why an imported past measurement lies outside the campaign's space
        (`keep_outside`; provenance `outside_space`), or [] for a trial inside
        it. The model learns from such a trial; it is never the best or on the
        Pareto front (`loop.campaign_state.acceptable`)."""
        return list(self.provenance.get("outside_space") or [])


class CampaignRecord(Record):
    """A campaign as stored: its name, status and the validated spec snapshot."""

    id: int
    name: str
    status: CampaignStatus
    spec: dict[str, Any]
    created_at: datetime | None = None


def cost_of(block: object) -> float | None:
    """The finite, non-negative `cost` of a metadata or details block, if any."""
    if not isinstance(block, dict):
        return None
    value = block.get("cost")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None
