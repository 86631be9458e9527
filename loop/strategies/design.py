"""Model-free strategies: uniform random and Sobol, the baselines and cold starts."""

from __future__ import annotations

import numpy as np

from loop.space.design import sobol_design, uniform_samples
from loop.strategies.base import Candidate, Context, History


def fresh(
    ctx: Context, pool: np.ndarray, history: History, n: int, phase: str
) -> list[Candidate]:
    """The first *n* rows of *pool* that repeat neither a stored trial nor each other."""
    taken = list(history.x_all)
    out = []
    for x in pool:
        if ctx.is_new(x, taken):
            out.append(Candidate(x=x, phase=phase))
            taken.append(x)
        if len(out) == n:
            break
    return out


class RandomStrategy:
    """Uniform samples of the constrained space (hit-and-run), never repeating a trial."""

    name = "random"

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        out: list[Candidate] = []
        for attempt in range(5):
            pool = uniform_samples(
                ctx.encoder, ctx.feasibility, 4 * n + 8, seed + 7919 * attempt
            )
            out += fresh(
                ctx, pool, _with(history, [c.x for c in out]), n - len(out), "random"
            )
            if len(out) >= n:
                break
        return out


class SobolStrategy:
    """Successive points of one scrambled Sobol sequence mapped onto the space."""

    name = "sobol"

    def propose(
        self, ctx: Context, history: History, n: int, seed: int
    ) -> list[Candidate]:
        size = len(history.x_all) + n
        pool = sobol_design(ctx.encoder, ctx.feasibility, size + 8, ctx.spec.seed)
        out = fresh(ctx, pool, history, n, "sobol")
        if len(out) < n:
            out += RandomStrategy().propose(
                ctx, _with(history, [c.x for c in out]), n - len(out), seed
            )
        return out


def _with(history: History, extra: list[np.ndarray]) -> History:
    if not extra:
        return history
    return History(
        history.x_done,
        history.y_done,
        history.x_failed,
        history.x_pending,
        np.concatenate(
            [history.x_all.reshape(-1, np.asarray(extra).shape[1]), np.asarray(extra)]
        ),
    )
