"""The failure breaker: a campaign whose trials fail in a row stops, paused.

The driver (`loop.service.runner`) asks it after every step; when
`budget.max_consecutive_failures` trials in a row failed for good it marks the
campaign paused and raises `CampaignPausedError` (exit 1), naming the last
failure reasons and how to continue.
"""

from __future__ import annotations

from loop.campaign_state import CampaignState
from loop.errors import CampaignPausedError
from loop.records import CampaignStatus, Trial, TrialStatus
from loop.spec import CampaignSpec
from loop.storage import Store


class Breaker:
    """The failure breaker: too many trials in a row failed for good.

    Trials count in the order they resolved (COMPLETED or FAILED, by the time
    of that change), and only those resolved by this driver: a `loop resume`
    starts counting from zero, so an operator who fixed the cause gets a whole
    new allowance (`budget.max_consecutive_failures`, see `Budget`).
    """

    def __init__(self, spec: CampaignSpec, trials: list[Trial]) -> None:
        self.spec = spec
        self.limit = spec.budget.failure_limit(spec.strategy.batch_size)
        #: trials already resolved when this driver started: never counted
        self.before = {t.id for t in _resolved(trials)}

    def failures(self, trials: list[Trial]) -> list[Trial]:
        """The trials that failed in a row, latest last (those of this driver)."""
        run: list[Trial] = []
        for t in reversed(_resolved(trials)):
            if t.id in self.before or t.status != TrialStatus.FAILED:
                break
            run.append(t)
        return run[::-1]

    def check(self, store: Store, trials: list[Trial]) -> None:
        """Pause the campaign (paused) and raise when the limit is reached."""
        failed = self.failures(trials)
        if len(failed) < self.limit:
            return
        name = self.spec.name
        store.update_campaign(name, status=CampaignStatus.PAUSED)
        reasons: list[str] = []
        for t in reversed(failed):
            reason = (t.failure_reason or "no reason given").splitlines()[0][:200]
            if reason not in reasons:
                reasons.append(reason)
        listed = "; ".join(f"'{r}'" for r in reasons[:3]) + (
            "; ..." if len(reasons) > 3 else ""
        )
        state = CampaignState(self.spec, trials)
        raise CampaignPausedError(
            f"campaign '{name}' paused: the last {len(failed)} trials failed in a "
            f"row (trials {failed[0].id}-{failed[-1].id}; limit "
            f"budget.max_consecutive_failures = {self.limit}); last failure "
            f"reasons: {listed}. {state.budget_used} of "
            f"{self.spec.budget.experiments} experiments used; nothing more is "
            "proposed",
            "check the instrument or adapter (its configuration, credentials, data "
            f"files) and `loop inspect {name} --explain TRIAL` for a failure's "
            f"details; after fixing the cause continue with `loop resume {name}` "
            "(the count starts again), or, if such failures are expected, raise "
            "budget.max_consecutive_failures in the YAML and continue with "
            "`loop run FILE.yaml`",
        )


def _resolved(trials: list[Trial]) -> list[Trial]:
    """COMPLETED and FAILED trials in the order they resolved."""
    done = [
        t for t in trials if t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
    ]
    return sorted(done, key=lambda t: (t.updated_at is None, t.updated_at, t.id))
