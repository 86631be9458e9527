"""Model-free strategies: uniform random and Sobol, the baselines and cold starts.

With a candidate pool (a dataset replay) both choose among the remaining rows:
`random` uniformly without replacement, `sobol` by greedy max-min distance
from everything already taken (a space-filling pick from a finite set).
"""

from __future__ import annotations

import numpy as np

from loop.records import TrialPhase
from loop.space.design import maximin, sobol_design, uniform_samples
from loop.strategies.base import Candidate, Context, History


def fresh(
    ctx: Context, samples: np.ndarray, history: History, n: int, phase: TrialPhase
) -> list[Candidate]:
    """The first *n* rows of *samples* that repeat neither a stored trial nor each other."""
    taken = list(history.x_all)
    out = []
    for x in samples:
        if ctx.is_new(x, taken):
            out.append(Candidate(x=x, phase=phase))
            taken.append(x)
        if len(out) == n:
            break
    return out


def from_pool(
    history: History, order: np.ndarray, n: int, phase: TrialPhase
) -> list[Candidate]:
    """Candidates for the first *n* remaining pool rows at positions *order*."""
    assert history.pool is not None and history.pool_index is not None
    return [
        Candidate(x=history.pool[i], phase=phase, pool_index=int(history.pool_index[i]))
        for i in order[:n]
    ]


class RandomStrategy:
    """Uniform samples of the constrained space (hit-and-run), never repeating a trial."""

    name = "random"

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        if history.pool is not None:
            order = np.random.default_rng(seed).permutation(len(history.pool))
            return from_pool(history, order, n, TrialPhase.RANDOM)
        out: list[Candidate] = []
        for attempt in range(5):
            samples = uniform_samples(
                ctx.encoder, ctx.feasibility, 4 * n + 8, seed + 7919 * attempt
            )
            taken = history.taking([c.x for c in out])
            out += fresh(ctx, samples, taken, n - len(out), TrialPhase.RANDOM)
            if len(out) >= n:
                break
        return out


class SobolStrategy:
    """Successive points of one scrambled Sobol sequence mapped onto the space."""

    name = "sobol"

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        if history.pool is not None:
            rng = np.random.default_rng(seed)
            order = np.array(maximin(history.pool, n, history.x_all, ctx.encoder, rng))
            return from_pool(history, order, n, TrialPhase.SOBOL)
        size = len(history.x_all) + n
        samples = sobol_design(ctx.encoder, ctx.feasibility, size + 8, ctx.spec.seed)
        out = fresh(ctx, samples, history, n, TrialPhase.SOBOL)
        if len(out) < n:
            out += RandomStrategy().propose(
                ctx, history.taking([c.x for c in out]), n - len(out), seed
            )
        return out
