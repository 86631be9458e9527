"""The fidelity robots measure, seen from the driver that evaluates the others.

In a campaign with `fidelities:` where one fidelity's adapter is `type:
robot`, one `loop run` evaluates the cheaper fidelities itself and leaves that
fidelity's trials for robots to claim over the API (`loop.service.lab` hands
out only those). The driver then needs to know which trials are the robots',
to put back claims that ran out as a robot campaign does, and to wait for
robots without blocking on its own evaluations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from loop.faults import fault
from loop.ports import Adapter, EvaluationRequest, PartlyPulledAdapter, PullAdapter
from loop.records import Trial, TrialStatus
from loop.service.executors import Executor, Finished
from loop.service.held import HeldValues
from loop.service.progress import ProgressCallback
from loop.service.progress import progress as _progress
from loop.spec import CampaignSpec
from loop.spec.fidelity import FIDELITY
from loop.storage import Store
from loop.storage.lab import reap_expired

#: Trials that occupy a robot slot: claimable, claimed or running.
ROBOT_SLOTS = (TrialStatus.PENDING, TrialStatus.CLAIMED, TrialStatus.STARTED)


@dataclass
class RobotLevel:
    """The fidelity robots measure in a campaign whose other fidelities the
    driver evaluates (`loop.ports.PartlyPulledAdapter`): the driver leaves its
    trials claimable, puts back expired claims, and polls for their
    measurements between its own evaluations."""

    store: Store
    spec: CampaignSpec
    levels: frozenset[str]
    robot: PullAdapter
    poll_seconds: float
    said: str = ""

    @classmethod
    def of(
        cls, store: Store, spec: CampaignSpec, adapter: Adapter, poll_seconds: float
    ) -> RobotLevel | None:
        if not isinstance(adapter, PartlyPulledAdapter) or adapter.robot is None:
            return None
        return cls(store, spec, adapter.pulled, adapter.robot, poll_seconds)

    def measures(self, trial: Trial) -> bool:
        return str(trial.parameters.get(FIDELITY)) in self.levels

    def reaped(self) -> list[Trial]:
        """The campaign's trials, after expired claims were put back."""
        reap_expired(self.store, self.spec.name, self.robot.max_attempts)
        fault("after_reap")
        return self.store.trials(self.spec.name)

    def work(self, trials: list[Trial]) -> list[Trial]:
        """The robots' trials in flight: claimable, claimed or running."""
        return [t for t in trials if t.status in ROBOT_SLOTS and self.measures(t)]

    def wait(
        self,
        executor: Executor,
        running: dict[int, EvaluationRequest],
        trials: list[Trial],
        report: ProgressCallback,
        held: HeldValues,
    ) -> Finished | None:
        """The driver's next finished evaluation, or None after *poll_seconds*
        (robots may have reported meanwhile)."""
        if running:
            return executor.next_result(timeout=self.poll_seconds)
        away = self.work(trials)
        message = f"waiting for robots: {len(away)} in flight"
        news = held.news(trials)
        if message != self.said or news:
            report(_progress(self.spec, trials, message, news))
            self.said = message
        time.sleep(self.poll_seconds)
        return None
