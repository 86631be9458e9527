"""What a strategy receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from loop.records import TrialPhase
from loop.space.encoding import Encoder
from loop.space.feasible import Feasibility
from loop.spec import CampaignSpec
from loop.spec.transfer import SourceRows

if TYPE_CHECKING:
    from loop.strategies.fidelity import FidelityPlan


@dataclass(frozen=True)
class History:
    """Everything known about earlier trials, in comp-rep.

    `y_done` holds raw objective values (columns in `spec.objectives` order);
    `x_all` is every trial that may not be proposed again (all but STALE).
    For a dataset replay, `pool` holds the candidates not yet taken (rows of
    comp-rep) and `pool_index` their positions in the campaign's full pool;
    strategies then choose among those rows instead of the continuous space.
    """

    x_done: np.ndarray
    y_done: np.ndarray
    x_failed: np.ndarray
    x_pending: np.ndarray
    x_all: np.ndarray
    pool: np.ndarray | None = None
    pool_index: np.ndarray | None = None
    #: The levels of a campaign with `fidelities:`, their expected costs and
    #: caps as of these trials (None without fidelities).
    fidelity: FidelityPlan | None = None
    #: Experiments that count toward `budget.experiments` (not imported past
    #: measurements, not abandoned trials): how much of the budget is used.
    spent: int = 0

    def taking(
        self, rows: list[np.ndarray], indices: list[int] | None = None
    ) -> History:
        """This history with *rows* added as pending and taken (and off the pool)."""
        if not rows:
            return self
        extra = np.array(rows)
        pool, pool_index = self.pool, self.pool_index
        if pool is not None and pool_index is not None and indices is not None:
            keep = ~np.isin(pool_index, indices)
            pool, pool_index = pool[keep], pool_index[keep]
        return History(
            self.x_done,
            self.y_done,
            self.x_failed,
            np.concatenate([self.x_pending.reshape(-1, extra.shape[1]), extra]),
            np.concatenate([self.x_all.reshape(-1, extra.shape[1]), extra]),
            pool,
            pool_index,
            self.fidelity,
            self.spent + len(rows),
        )


@dataclass(frozen=True)
class Candidate:
    """A feasible comp-rep point with the reasons it was chosen."""

    x: np.ndarray
    phase: TrialPhase
    acquisition_value: float | None = None
    predicted_mean: dict[str, float] = field(default_factory=dict)
    predicted_sd: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: Position in the campaign's candidate pool (dataset replays only).
    pool_index: int | None = None


#: Where the native strategy keeps its fitted hyperparameters in `Context.memory`
#: (the engine stores and restores them: `CampaignEngine.last_fit`).
MODEL_MEMORY = "botorch"
#: Where the native strategy keeps the sources' fitted GPs (`strategy.transfer`):
#: fitted once per engine, never stored.
TRANSFER_MEMORY = "transfer"


@dataclass(frozen=True)
class Context:
    """The campaign's space as the strategies see it."""

    spec: CampaignSpec
    encoder: Encoder
    feasibility: Feasibility
    #: Measurements of related systems (`strategy.transfer`), read by the service.
    sources: tuple[SourceRows, ...] = ()
    #: What a strategy keeps between two asks of the same engine: the last
    #: fitted GP hyperparameters, to start the next fit from (warm start).
    memory: dict[str, Any] = field(default_factory=dict, compare=False)

    def is_new(self, x: np.ndarray, taken: list[np.ndarray] | np.ndarray) -> bool:
        """True when *x* differs from every row of *taken* (relative to each range)."""
        if len(taken) == 0:
            return True
        enc = self.encoder
        scale = np.where(enc.upper > enc.lower, enc.upper - enc.lower, 1.0)
        diff = np.abs(np.asarray(taken) - x) / scale
        return bool(np.all(diff.max(axis=1) > 1e-6))


class Strategy(Protocol):
    """Proposes `n` new, feasible, never-seen points."""

    name: str

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]: ...
