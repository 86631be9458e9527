"""Maximising an acquisition function over a mixed, constrained space in one search.

Every restart carries its own discrete choices: a value for each categorical
parameter and, with `max_components`, a support (the components allowed to be
non-zero). The search alternates two moves, in the spirit of BoTorch's
alternating mixed optimiser (`optimize_acqf_mixed_alternating`), which does not
take our sum-to-one composition:

1. *discrete*, on the start points (see 3).
2. *continuous*: all restarts at once, with their discrete choices held fixed,
   by one batched gradient optimisation. Without linear constraints from the
   YAML the composition goes through `simplex.project` and BoTorch's batched
   L-BFGS-B optimises each restart on its own (box bounds only). With linear
   constraints the sum and the constraints are passed to SLSQP, all restarts as
   one problem, with each restart's discrete choices fixed by its own bounds.
3. *discrete*: every restart's neighbours (each other value of one categorical
   parameter; one support member swapped for an outside component, taking its
   amount or at least a fair share) are scored in one batch; a restart moves to
   its best neighbour when that is better, and moved restarts are optimised
   again.

So the work per proposal grows with the number of restarts, not with the number
of category combinations or supports. Integer parameters are relaxed to real
numbers here and rounded by `Feasibility.finalise`; the dosing grid is applied
there too.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from loop.acquisition.simplex import (
    project,
    project_np,
    random_supports,
    simplex_points,
)
from loop.model.quiet import optimisation_warnings_hidden
from loop.space.encoding import Encoder
from loop.space.feasible import TOL, Feasibility
from loop.spec.strategy import OptimizerSettings

#: Discrete moves (each followed by a continuous optimisation of the rows that
#: moved) after the first continuous optimisation.
DISCRETE_ROUNDS = 1
#: A neighbour must beat the current point by this much (log-acquisition units).
MIN_GAIN = 1e-6
#: Support swaps tried per point and discrete move: all of them up to this many
#: (a 16-component space capped at 4 has 48), a seeded sample beyond.
MAX_SWAPS = 96


@dataclass(frozen=True)
class SearchSpace:
    """The comp-rep space as the acquisition search sees it."""

    enc: Encoder
    feas: Feasibility

    @property
    def frac(self) -> np.ndarray:
        return self.enc.fraction_idx

    @property
    def groups(self) -> list[list[int]]:
        return list(self.enc.categorical.values())

    @property
    def onehot(self) -> list[int]:
        return [i for g in self.groups for i in g]

    @property
    def projected(self) -> bool:
        """True when the sum and the bounds are the only composition constraints."""
        lin = self.enc.linear
        return not len(lin.b_ub) and len(lin.b_eq) <= lin.user_eq_start

    @property
    def capped(self) -> bool:
        k = self.feas.max_components
        return k is not None and k < len(self.frac)


def starts(space: SearchSpace, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """*n* start candidates and their supports: random supports and categories.

    Fractions are uniform on each support's simplex pushed into the bounds by
    the projection; numeric parameters uniform in their ranges. With linear
    constraints from the YAML the candidates that break one are dropped (and
    hit-and-run samples of the constrained space fill in when too few remain).
    """
    enc = space.enc
    rng = np.random.default_rng(seed)
    lo, hi = enc.lower, enc.upper
    x = np.zeros((n, enc.dim))
    nf = len(space.frac)
    support = np.ones((n, nf), dtype=bool)
    if nf:
        flo, fhi = lo[space.frac], hi[space.frac]
        drawn = random_supports(flo, fhi, space.feas.max_components, n, rng)
        if drawn is None:
            return _constrained_starts(space, n, seed)
        support = drawn
        x[:, space.frac] = project_np(simplex_points(support, rng), flo, fhi, support)
    num = enc.numeric_idx
    x[:, num] = lo[num] + rng.random((n, len(num))) * (hi[num] - lo[num])
    for group in space.groups:
        x[np.arange(n)[:, None], np.array(group)[None]] = 0.0
        x[np.arange(n), np.array(group)[rng.integers(len(group), size=n)]] = 1.0
    if space.projected:
        return x, support
    lin = enc.linear
    ok = np.all(lin.a_ub @ x.T <= lin.b_ub[:, None] + TOL, axis=0)
    if ok.sum() >= max(1, n // 4):
        return x[ok], support[ok]
    return _constrained_starts(space, n, seed)


def _constrained_starts(
    space: SearchSpace, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hit-and-run samples of the constrained space (slower, always feasible)."""
    from loop.space.design import uniform_samples

    x = uniform_samples(space.enc, space.feas, n, seed)
    return x, support_of(space, x)


def support_of(space: SearchSpace, x: np.ndarray) -> np.ndarray:
    """Supports of rows of *x*: every component when uncapped, else the non-zero ones
    filled up to k with the components of most room (so swaps have somewhere to go)."""
    nf = len(space.frac)
    if not space.capped:
        return np.ones((len(x), nf), dtype=bool)
    k = space.feas.max_components
    assert k is not None
    f = x[:, space.frac]
    room = space.enc.upper[space.frac]
    out = f > 0
    for row in range(len(x)):
        for j in np.argsort(-room, kind="stable"):
            if out[row].sum() >= k:
                break
            out[row, j] = True
    return out


def _projected(acqf: Any, space: SearchSpace) -> Any:
    """The acquisition function of `project(z)`, the support riding in extra columns."""
    from botorch.acquisition import AcquisitionFunction

    class Projected(AcquisitionFunction):
        def __init__(self) -> None:
            super().__init__(model=acqf.model)
            self.inner = acqf
            enc = space.enc
            self.d = enc.dim
            self.frac = torch.as_tensor(space.frac, dtype=torch.long)
            self.lo = torch.as_tensor(enc.lower[space.frac], dtype=torch.double)
            self.hi = torch.as_tensor(enc.upper[space.frac], dtype=torch.double)

        def point(self, ext: torch.Tensor) -> torch.Tensor:
            z, mask = ext[..., : self.d], ext[..., self.d :] > 0.5
            if not len(self.frac):
                return z
            x = z.clone()
            x[..., self.frac] = project(z[..., self.frac], self.lo, self.hi, mask)
            return x

        def forward(self, ext: torch.Tensor) -> torch.Tensor:
            return self.inner(self.point(ext))

    return Projected()


def local_search(
    acqf: Any,
    space: SearchSpace,
    x0: np.ndarray,
    support0: np.ndarray,
    settings: OptimizerSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Local optima reached from the rows of *x0* (with supports *support0*), and their
    acquisition values, best first.

    A discrete move first (cheap: one batch of scores, no gradients), then the
    continuous optimisation of every row, then, for the rows a second discrete
    move improves, one more continuous optimisation.
    """
    x, support = x0.copy(), support0.copy()
    scores = values(acqf, x)
    _, x, support, scores = _discrete(acqf, space, x, support, scores)
    x = _continuous(acqf, space, x, support, settings)
    scores = values(acqf, x)
    for _ in range(DISCRETE_ROUNDS):
        moved, x, support, scores = _discrete(acqf, space, x, support, scores)
        if not moved.any():
            break
        x[moved] = _continuous(acqf, space, x[moved], support[moved], settings)
        scores[moved] = values(acqf, x[moved])
    order = np.argsort(-scores, kind="stable")
    return x[order], scores[order]


def values(acqf: Any, x: np.ndarray) -> np.ndarray:
    """Acquisition values of rows of *x* (no gradients), in chunks."""
    with torch.no_grad():
        tx = torch.as_tensor(x[:, None, :], dtype=torch.double)
        return torch.cat([acqf(chunk) for chunk in tx.split(256)]).reshape(-1).numpy()


def _continuous(
    acqf: Any,
    space: SearchSpace,
    x: np.ndarray,
    support: np.ndarray,
    settings: OptimizerSettings,
) -> np.ndarray:
    """One batched gradient optimisation of every row, discrete choices held fixed."""
    if not len(x):
        return x
    with optimisation_warnings_hidden():
        return _gradient_steps(acqf, space, x, support, settings)


def _gradient_steps(
    acqf: Any,
    space: SearchSpace,
    x: np.ndarray,
    support: np.ndarray,
    settings: OptimizerSettings,
) -> np.ndarray:
    from botorch.generation.gen import gen_candidates_scipy

    enc = space.enc
    options = {"maxiter": settings.max_iterations}
    onehot = space.onehot
    if space.projected:
        nf = len(space.frac)
        ext = np.concatenate([x, support.astype(float)], axis=1)
        tx = torch.as_tensor(ext[:, None, :], dtype=torch.double)
        lo = np.concatenate([enc.lower, np.zeros(nf)])
        hi = np.concatenate([np.maximum(enc.upper, enc.lower), np.ones(nf)])
        fixed: dict[int, Any] = {i: tx[:, 0, i].clone() for i in onehot}
        fixed.update({enc.dim + j: tx[:, 0, enc.dim + j].clone() for j in range(nf)})
        wrapped = _projected(acqf, space)
        out, _ = gen_candidates_scipy(
            initial_conditions=tx,
            acquisition_function=wrapped,
            lower_bounds=torch.as_tensor(lo, dtype=torch.double),
            upper_bounds=torch.as_tensor(hi, dtype=torch.double),
            fixed_features=fixed or None,
            options=options,
        )
        with torch.no_grad():
            return wrapped.point(out)[:, 0, :].numpy()
    from loop.acquisition import botorch_constraints

    lo = np.tile(enc.lower, (len(x), 1))
    hi = np.tile(np.maximum(enc.upper, enc.lower), (len(x), 1))
    for cols in (onehot,):
        lo[:, cols] = hi[:, cols] = x[:, cols]
    off = np.zeros_like(lo, dtype=bool)
    off[:, space.frac] = ~support
    lo[off] = hi[off] = 0.0
    start = np.clip(x, lo, hi)
    ineq, eq = botorch_constraints(enc)
    out, _ = gen_candidates_scipy(
        initial_conditions=torch.as_tensor(start[:, None, :], dtype=torch.double),
        acquisition_function=acqf,
        lower_bounds=torch.as_tensor(lo[:, None, :], dtype=torch.double),
        upper_bounds=torch.as_tensor(hi[:, None, :], dtype=torch.double),
        inequality_constraints=ineq or None,
        equality_constraints=eq or None,
        options=options,
    )
    return out[:, 0, :].detach().numpy()


def _discrete(
    acqf: Any,
    space: SearchSpace,
    x: np.ndarray,
    support: np.ndarray,
    current: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Move each row to its best neighbour (other category, swapped support member)."""
    rows: list[int] = []
    points: list[np.ndarray] = []
    supports: list[np.ndarray] = []
    enc = space.enc
    flo, fhi = enc.lower[space.frac], enc.upper[space.frac]
    forced = flo > 0
    for r in range(len(x)):
        for group in space.groups:
            for col in group:
                if x[r, col] == 1.0:
                    continue
                y = x[r].copy()
                y[group] = 0.0
                y[col] = 1.0
                rows.append(r)
                points.append(y)
                supports.append(support[r])
        if space.capped:
            f = x[r, space.frac]
            for i, j in _swaps(support[r], forced, x[r]):  # i leaves, j joins
                s = support[r].copy()
                s[i], s[j] = False, True
                if fhi[s].sum() < 1.0 - TOL:
                    continue
                g = f.copy()
                # the newcomer takes the leaver's amount, and at least a fair
                # share, so swapping out a component sitting at 0 still moves
                g[j], g[i] = max(f[i], 1.0 / (2 * s.sum())), 0.0
                y = x[r].copy()
                y[space.frac] = _project_row(g, flo, fhi, s)
                rows.append(r)
                points.append(y)
                supports.append(s)
    if not points:
        return np.zeros(len(x), dtype=bool), x, support, current
    if not space.projected:
        keep = [i for i, p in enumerate(points) if _meets_linear(enc, p)]
        rows = [rows[i] for i in keep]
        points = [points[i] for i in keep]
        supports = [supports[i] for i in keep]
        if not points:
            return np.zeros(len(x), dtype=bool), x, support, current
    scores = values(acqf, np.array(points))
    moved = np.zeros(len(x), dtype=bool)
    x, support, current = x.copy(), support.copy(), current.copy()
    for k in np.argsort(-scores, kind="stable"):
        r = rows[k]
        if not moved[r] and scores[k] > current[r] + MIN_GAIN:
            moved[r] = True
            x[r], support[r], current[r] = points[k], supports[k], scores[k]
    return moved, x, support, current


def _swaps(
    support: np.ndarray, forced: np.ndarray, row: np.ndarray
) -> list[tuple[int, int]]:
    """The support swaps tried from one point: every (leaver, newcomer) pair,
    or, when there are more than `MAX_SWAPS` (hundreds of components), a
    sample of them, seeded by the point itself so that a proposal repeats.
    Without the cap a 2000-component space with at most 4 present built
    8000 neighbours of 2000 columns per restart and ran out of 24 GB."""
    leavers = np.flatnonzero(support & ~forced)
    newcomers = np.flatnonzero(~support)
    count = len(leavers) * len(newcomers)
    if count <= MAX_SWAPS:
        return [(int(i), int(j)) for i in leavers for j in newcomers]
    rng = np.random.default_rng(zlib.crc32(row.tobytes()))
    picked = rng.choice(count, MAX_SWAPS, replace=False)
    return [
        (int(leavers[k // len(newcomers)]), int(newcomers[k % len(newcomers)]))
        for k in np.sort(picked)
    ]


def _project_row(
    f: np.ndarray, lo: np.ndarray, hi: np.ndarray, support: np.ndarray
) -> np.ndarray:
    """*f* projected onto its support's simplex; only the support's columns
    take part (off it the projection is 0), so the cost is that of the support."""
    out = np.zeros_like(f)
    keep = np.flatnonzero(support)
    out[keep] = project_np(
        f[None, keep], lo[keep], hi[keep], np.ones((1, len(keep)), dtype=bool)
    )[0]
    return out


def _meets_linear(enc: Encoder, x: np.ndarray) -> bool:
    lin = enc.linear
    return bool(np.all(lin.a_ub @ x <= lin.b_ub + TOL))
