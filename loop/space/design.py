"""Space-filling and uniform samples that respect every constraint.

* `sobol_design`: a scrambled Sobol sequence mapped onto the composition simplex
  above the lower bounds (sorted spacings), parameters scaled to their ranges;
  points that break an upper bound or a linear constraint are dropped, and if too
  few survive the rest are chosen by greedy maximin from uniform samples.
* `uniform_samples`: uniform points of the constrained polytope by hit-and-run
  (BoTorch's `get_polytope_samples`), one random feasible support at a time when
  `max_components` applies.

All samples pass through `Feasibility.finalise`, so they are exactly feasible.
"""

from __future__ import annotations

import numpy as np

from loop.errors import InfeasibleSpaceError
from loop.space.encoding import Encoder
from loop.space.feasible import TOL, Feasibility
from loop.spec.feasibility import find_point


def sobol_design(enc: Encoder, feas: Feasibility, n: int, seed: int) -> np.ndarray:
    """*n* space-filling feasible points (rows of comp-rep)."""
    from scipy.stats import qmc

    nc = len(enc.components)
    n_numeric = len(enc.numeric_idx)
    cats = list(enc.categorical.values())
    dims = max(1, max(nc - 1, 0) + n_numeric + len(cats))
    sampler = qmc.Sobol(d=dims, scramble=True, seed=seed)
    accepted: list[np.ndarray] = []
    drawn = 0
    while drawn < 2**14:
        # draw in powers of two so the sequence keeps its balance properties
        draws = (
            sampler.random_base2(max(4, int(np.ceil(np.log2(2 * n)))))
            if not drawn
            else (sampler.random(drawn))
        )
        drawn += len(draws)
        for u in draws:
            x = _map_unit(enc, feas, u, cats)
            if x is not None:
                x = feas.finalise(x)
            if x is not None and not _contains(accepted, x):
                accepted.append(x)
            if len(accepted) >= n:
                return np.stack(accepted[:n])
    rng = np.random.default_rng(seed)
    pool = uniform_samples(enc, feas, max(64, 16 * n), seed)
    chosen = maximin(
        pool, n - len(accepted), np.array(accepted).reshape(-1, enc.dim), enc, rng
    )
    return np.concatenate([np.array(accepted).reshape(-1, enc.dim), pool[chosen]])


def _map_unit(
    enc: Encoder, feas: Feasibility, u: np.ndarray, cats: list[list[int]]
) -> np.ndarray | None:
    nc = len(enc.components)
    lo, hi = enc.lower, enc.upper
    x = np.zeros(enc.dim)
    if nc and not _map_composition(enc, feas, u[: nc - 1], x):
        return None
    k = max(nc - 1, 0)
    for i in enc.numeric_idx:
        x[i] = lo[i] + u[k] * (hi[i] - lo[i])
        k += 1
    for idx in cats:
        x[idx[min(int(u[k] * len(idx)), len(idx) - 1)]] = 1.0
        k += 1
    rows = enc.linear
    if len(rows.b_ub) and np.any(rows.a_ub @ x > rows.b_ub + TOL):
        return None
    return x


def _map_composition(
    enc: Encoder, feas: Feasibility, u: np.ndarray, x: np.ndarray
) -> bool:
    """Sorted spacings of *u* as fractions above the lower bounds, written into *x*.

    Returns False when the point breaks an upper bound (the caller drops it).
    """
    nc = len(enc.components)
    lo, hi = enc.lower, enc.upper
    simplex = np.diff(np.concatenate([[0.0], np.sort(u), [1.0]]))
    flo = lo[enc.fraction_idx]
    free = 1.0 - flo.sum()
    if feas.max_components is not None and feas.max_components < nc:
        forced = flo > 0
        order = np.argsort(-(simplex + forced * 10.0), kind="stable")
        mask = np.zeros(nc, dtype=bool)
        mask[order[: feas.max_components]] = True
        simplex = np.where(mask, simplex, 0.0)
        simplex = simplex / simplex.sum()
        free = 1.0 - flo[mask].sum()
        x[enc.fraction_idx] = np.where(mask, flo + free * simplex, 0.0)
    else:
        x[enc.fraction_idx] = flo + free * simplex
    return not np.any(x[enc.fraction_idx] > hi[enc.fraction_idx] + TOL)


def uniform_samples(enc: Encoder, feas: Feasibility, n: int, seed: int) -> np.ndarray:
    """*n* feasible points drawn (close to) uniformly from the constrained space."""
    rng = np.random.default_rng(seed)
    k = feas.max_components
    nc = len(enc.components)
    if k is None or k >= nc:
        supports = [np.ones(nc, dtype=bool)] * n
    else:
        supports = [_random_support(enc, feas, rng) for _ in range(n)]
    out: list[np.ndarray] = []
    by_support: dict[bytes, int] = {}
    for s in supports:
        by_support[s.tobytes()] = by_support.get(s.tobytes(), 0) + 1
    for key, count in by_support.items():
        support = np.frombuffer(key, dtype=bool)
        raw = _polytope(enc, support, count, int(rng.integers(2**31)))
        for x in raw:
            for idx in enc.categorical.values():
                x[idx] = 0.0
                x[idx[int(rng.integers(len(idx)))]] = 1.0
            y = feas.finalise(x)
            if y is not None:
                out.append(y)
    if not out:
        raise InfeasibleSpaceError(
            "could not sample any feasible configuration",
            "check that the bounds, constraints and max_components leave room",
        )
    while len(out) < n:  # finalise refused a few (grid rounding): reuse survivors
        out.append(out[int(rng.integers(len(out)))])
    order = rng.permutation(len(out))
    return np.stack(out)[order[:n]]


def _random_support(
    enc: Encoder, feas: Feasibility, rng: np.random.Generator
) -> np.ndarray:
    """A random set of at most k components that can meet every constraint.

    A small mixed-integer program with random weights on the component switches
    finds a feasible support directly, however few of the possible supports are
    feasible; nothing is enumerated.
    """
    nc = len(enc.components)
    k = feas.max_components or nc
    lin = enc.linear
    cont = np.array([i for i, c in enumerate(enc.columns) if c.kind != "onehot"])
    point = find_point(
        enc.lower[cont],
        enc.upper[cont],
        lin.a_eq[:, cont],
        lin.b_eq,
        lin.a_ub[:, cont],
        lin.b_ub,
        cardinality=(np.arange(nc), k),
        weights=-rng.random(nc),  # all negative: the k switches with the most weight
    )
    if point is None:
        raise InfeasibleSpaceError(
            f"no set of at most {k} components meets the bounds and constraints",
            "raise max_components or relax the bounds and constraints",
        )
    return np.asarray(point[len(cont) :] > 0.5)


def polytope_pool(enc: Encoder, support: np.ndarray, n: int, seed: int) -> np.ndarray:
    """*n* points meeting the bounds and linear constraints with only *support* non-zero.

    Categorical columns are left at 0 (callers fix them); integers are not rounded.
    Used as start points for the acquisition optimiser.
    """
    return _polytope(enc, support, n, seed)


def _polytope(enc: Encoder, support: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Hit-and-run samples over the continuous columns with the support's fractions free."""
    import torch
    from botorch.utils.sampling import get_polytope_samples

    frac_cols = enc.fraction_idx[support]
    free = np.concatenate([frac_cols, enc.numeric_idx]).astype(int)
    fixed_lo = enc.lower[free] == enc.upper[free]
    x = np.zeros((n, enc.dim))
    x[:, free[fixed_lo]] = enc.lower[free[fixed_lo]]
    var = free[~fixed_lo]
    offset = np.zeros(enc.dim)
    offset[free[fixed_lo]] = enc.lower[free[fixed_lo]]
    rows = enc.linear
    eq = [
        (
            torch.tensor(np.flatnonzero(r[var])),
            torch.tensor(r[var][r[var] != 0]),
            float(b - r @ offset),
        )
        for r, b in zip(rows.a_eq, rows.b_eq, strict=True)
        if np.any(r[var] != 0)
    ]
    ineq = [
        (
            torch.tensor(np.flatnonzero(r[var])),
            torch.tensor(-r[var][r[var] != 0]),
            float(-(b - r @ offset)),
        )
        for r, b in zip(rows.a_ub, rows.b_ub, strict=True)
        if np.any(r[var] != 0)
    ]
    if len(var) - len(eq) <= 0:
        a = np.array([r[var] for r in rows.a_eq if np.any(r[var] != 0)])
        b = np.array([e[2] for e in eq])
        sol = np.linalg.lstsq(a, b, rcond=None)[0] if len(var) else np.zeros(0)
        x[:, var] = sol
        return x
    bounds = torch.tensor(
        np.stack([enc.lower[var], enc.upper[var]]), dtype=torch.double
    )
    samples = get_polytope_samples(
        n=n,
        bounds=bounds,
        inequality_constraints=ineq or None,
        equality_constraints=eq or None,
        seed=seed,
        n_burnin=500,
        n_thinning=max(4, 2 * len(var)),
    )
    x[:, var] = samples.numpy()
    return x


def maximin(
    pool: np.ndarray,
    n: int,
    existing: np.ndarray,
    enc: Encoder,
    rng: np.random.Generator,
) -> list[int]:
    """Greedily pick *n* rows of *pool* far from each other and from *existing*."""
    if n <= 0:
        return []
    scale = np.where(enc.upper > enc.lower, enc.upper - enc.lower, 1.0)
    p = pool / scale
    if len(existing):
        d = np.min(
            np.linalg.norm(p[:, None, :] - (existing / scale)[None], axis=-1), axis=1
        )
    else:
        d = np.full(len(p), np.inf)
        first = int(rng.integers(len(p)))
        d = np.minimum(d, np.linalg.norm(p - p[first], axis=1))
        chosen = [first]
    chosen = [] if len(existing) else chosen
    while len(chosen) < n and len(chosen) < len(p):
        i = int(np.argmax(d))
        chosen.append(i)
        d = np.minimum(d, np.linalg.norm(p - p[i], axis=1))
    return chosen


def _contains(rows: list[np.ndarray], x: np.ndarray) -> bool:
    return any(np.allclose(r, x, atol=1e-12, rtol=0) for r in rows)
