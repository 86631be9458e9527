"""The composition simplex as the optimiser sees it: a projection and start points.

The acquisition optimiser works on free variables `z`, one per component, each
inside its component's bounds; the composition it scores is `project(z)`, the
point of {sum = 1, lo <= x <= hi, x = 0 off the support} reached by shifting
every component by one common amount and clipping (the Euclidean projection onto
that set). Feasible points are their own projection, so every feasible
composition is reachable, and the sum needs no equality constraint: the
optimiser only sees box bounds and can use BoTorch's batched L-BFGS-B, in which
each restart converges on its own. The projection is piecewise linear, and its
gradient passes through the components that are not at a bound.

Start points come from `sample_starts`: uniform points of each row's support
simplex pushed into the bounds by the same projection, with a random support of
at most `max_components` components (always keeping components whose lower bound
is positive) and random categories, so restarts explore supports and categories
together instead of one optimisation per combination.
"""

from __future__ import annotations

import numpy as np
import torch


def project(
    z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, support: torch.Tensor
) -> torch.Tensor:
    """Rows of *z* projected onto {sum = 1, lo <= x <= hi, x = 0 where not *support*}.

    *z* is `(..., n)`; *lo* and *hi* broadcast to it; *support* is a boolean mask
    of the same shape as *z* (or broadcastable). The support must be able to reach
    the total (sum of `hi` over it >= 1 >= sum of `lo`), which `sample_starts`
    guarantees. Differentiable in *z* almost everywhere.

    The common shift `tau` solves g(tau) = sum clip(z - tau, lo, hi) = 1; g is
    piecewise linear and decreasing, with kinks at z - hi and z - lo, so it is
    evaluated at every kink and interpolated on the segment that crosses 1
    (exact, a few tensor operations for any number of rows).
    """
    zeros = torch.zeros_like(z)
    lo_s = torch.where(support, lo, zeros)
    hi_s = torch.where(support, hi, zeros)
    with torch.no_grad():
        shift = _shift(z, lo_s, hi_s)
        clipped = torch.clamp(z - shift, lo_s, hi_s)
        free = support & (z - shift > lo_s) & (z - shift < hi_s)
        at_bound = torch.where(free, zeros, clipped)
        n_free = free.sum(-1, keepdim=True).clamp_min(1)
        left_over = 1.0 - at_bound.sum(-1, keepdim=True)
    # the same shift, written so gradients flow through the free components
    tau = (torch.where(free, z, zeros).sum(-1, keepdim=True) - left_over) / n_free
    return torch.where(free, z - tau, at_bound)


#: Elements of the (rows, 2n, n) table of `_shift` built at once: 2**24 doubles,
#: 128 MB. Rows are taken in chunks under it, so a 10-component space does 800
#: rows at a time while a 2000-component one (32 MB per row) goes row by row;
#: unchunked, 1024 start points of 2000 components asked for 64 GB.
CHUNK_ELEMENTS = 2**24


def _shift(z: torch.Tensor, lo_s: torch.Tensor, hi_s: torch.Tensor) -> torch.Tensor:
    """The shift tau of each row of *z* (`(..., 1)`), with the support's bounds
    *lo_s* and *hi_s* (zero off the support) of z's shape."""
    n = z.shape[-1]
    flat = [t.reshape(-1, n) for t in (z, lo_s, hi_s)]
    rows = max(1, CHUNK_ELEMENTS // (2 * n * n))
    parts = [
        _shift_rows(*(t[i : i + rows] for t in flat))
        for i in range(0, flat[0].shape[0], rows)
    ]
    return torch.cat(parts).reshape(*z.shape[:-1], 1)


def _shift_rows(
    z: torch.Tensor, lo_s: torch.Tensor, hi_s: torch.Tensor
) -> torch.Tensor:
    # kinks off the support repeat a kink of the support (z - hi = z - lo = z)
    # and change nothing, so every row can use all 2n of them
    kinks = torch.cat([z - hi_s, z - lo_s], dim=-1).sort(dim=-1).values
    g = torch.clamp(
        z.unsqueeze(-2) - kinks.unsqueeze(-1),
        lo_s.unsqueeze(-2),
        hi_s.unsqueeze(-2),
    ).sum(-1)
    # g falls from sum(hi) >= 1 at the first kink to sum(lo) <= 1 at the last
    above = (g >= 1.0).sum(-1, keepdim=True).clamp(1, kinks.shape[-1] - 1)
    t0, t1 = kinks.gather(-1, above - 1), kinks.gather(-1, above)
    g0, g1 = g.gather(-1, above - 1), g.gather(-1, above)
    drop = (g0 - g1).clamp_min(1e-300)
    return t0 + (g0 - 1.0) / drop * (t1 - t0)


def project_np(
    z: np.ndarray, lo: np.ndarray, hi: np.ndarray, support: np.ndarray
) -> np.ndarray:
    """`project` for numpy rows (start points, tests)."""
    with torch.no_grad():
        out = project(
            torch.as_tensor(z, dtype=torch.double),
            torch.as_tensor(lo, dtype=torch.double),
            torch.as_tensor(hi, dtype=torch.double),
            torch.as_tensor(support),
        )
    return out.numpy()


def random_supports(
    lo: np.ndarray, hi: np.ndarray, k: int | None, n: int, rng: np.random.Generator
) -> np.ndarray | None:
    """*n* random supports (boolean rows) of at most *k* components that can reach 1.

    Components with a positive lower bound are always in; the others are drawn
    uniformly. Returns None when random draws keep missing (a support must be
    found some other way, e.g. by `loop.space.design`'s mixed-integer program).
    """
    nc = len(lo)
    if k is None or k >= nc:
        return np.ones((n, nc), dtype=bool)
    forced = lo > 0
    out = np.zeros((n, nc), dtype=bool)
    for row in range(n):
        for _ in range(50):
            keep = forced.copy()
            others = rng.permutation(np.flatnonzero(~forced))
            keep[others[: max(k - int(forced.sum()), 0)]] = True
            if hi[keep].sum() >= 1.0 - 1e-12 and lo[keep].sum() <= 1.0 + 1e-12:
                out[row] = keep
                break
        else:
            return None
    return out


def simplex_points(support: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform points of each row's support simplex (zeros off the support)."""
    e = rng.exponential(size=support.shape) * support
    return e / e.sum(axis=1, keepdims=True)
