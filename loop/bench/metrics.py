"""Pool-based benchmark metrics (protocol of the shared datasets README, Liang et al. 2021).

Everything works on *signed* values (larger is better): minimised objectives are
negated before they arrive here. A run is the sequence of pool rows it measured,
in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def top_set(values: Sequence[float], fraction: float) -> set[int]:
    """Rows of the best `ceil(fraction * pool size)` candidates (at least one).

    Ties at the cut-off are all included, so a tie never decides a score.
    """
    k = max(1, math.ceil(fraction * len(values)))
    cutoff = sorted(values, reverse=True)[k - 1]
    return {i for i, v in enumerate(values) if v >= cutoff}


def best_so_far(values: Sequence[float], rows: Sequence[int]) -> list[float]:
    """Best signed value found after each measurement of the run."""
    out: list[float] = []
    for row in rows:
        out.append(values[row] if not out else max(out[-1], values[row]))
    return out


def found_curve(rows: Sequence[int], top: set[int]) -> list[float]:
    """Fraction of the *top* set found after each measurement of the run."""
    found, out = 0, []
    for row in rows:
        found += row in top
        out.append(found / len(top))
    return out


def measurements_to_best(values: Sequence[float], rows: Sequence[int]) -> int | None:
    """How many measurements it took to find the pool's best (None if never)."""
    best = max(values)
    for n, row in enumerate(rows, start=1):
        if values[row] >= best:
            return n
    return None


def enhancement_factor(found_fraction: float, n: int, pool_size: int) -> float:
    """EF(N): fraction of the top set found, over what random search finds (N / pool)."""
    return found_fraction / (n / pool_size)


def acceleration_factor(mean_curve: Sequence[float], pool_size: int) -> float | None:
    """AF: measurements random search needs for the run's final top-set fraction,
    over the measurements the strategy needed for it (None if it found nothing).

    Random search without replacement finds on average N / pool of the top set
    after N measurements, so it needs `fraction * pool` measurements.
    """
    target = mean_curve[-1]
    if target <= 0:
        return None
    needed = next(n for n, f in enumerate(mean_curve, start=1) if f >= target - 1e-12)
    return target * pool_size / needed


def carried(
    curves: Sequence[Sequence[float]], length: int, empty: float | None
) -> list[list[float]]:
    """Curves made *length* long, so runs with failed measurements can be averaged.

    A curve shorter than *length* (some measurements failed) keeps its last value;
    an empty one (nothing measured) is *empty* throughout, or is left out when
    *empty* is None.
    """
    out = []
    for curve in curves:
        if not curve:
            if empty is not None:
                out.append([empty] * length)
            continue
        out.append(list(curve) + [curve[-1]] * (length - len(curve)))
    return out


def mean_and_band(curves: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean curve and half-width of its 95 % confidence band (normal approximation)."""
    arr = np.array(curves, dtype=float)
    mean = arr.mean(axis=0)
    if len(arr) < 2:
        return mean, np.zeros_like(mean)
    return mean, 1.96 * arr.std(axis=0, ddof=1) / np.sqrt(len(arr))


def stratified_bootstrap(
    groups: Sequence[np.ndarray],
    statistic: Callable[[list[np.ndarray]], float],
    level: float = 0.90,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of *statistic* over resamples of the rows of *groups*.

    A group is one campaign: one row per seed, one column per strategy. Every
    strategy starts a seed from the same initial rows, so a row is resampled
    whole (the pairing stays), and each group on its own (every campaign keeps
    its weight). With 10 seeds per campaign the interval says how much of a
    difference between strategies the draw of seeds alone could make.
    """
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for b in range(resamples):
        values[b] = statistic([g[rng.integers(0, len(g), len(g))] for g in groups])
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)
