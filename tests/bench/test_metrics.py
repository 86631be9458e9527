"""Benchmark metrics on hand-made pools whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from loop.bench import metrics

# 20 candidates, signed values 20 (best) down to 1: row i has value 20 - i
POOL = [20.0 - i for i in range(20)]


def test_top_sets_round_up_and_keep_ties() -> None:
    assert metrics.top_set(POOL, 0.05) == {0}  # ceil(0.05 * 20) = 1
    assert metrics.top_set(POOL, 0.10) == {0, 1}
    assert metrics.top_set(POOL, 0.01) == {0}  # never empty
    assert metrics.top_set([3.0, 5.0, 5.0, 1.0], 0.25) == {1, 2}  # a tie at the cut


def test_best_so_far_and_found_curves() -> None:
    rows = [5, 3, 10, 1, 0]
    assert metrics.best_so_far(POOL, rows) == [15, 17, 17, 19, 20]
    top = metrics.top_set(POOL, 0.10)  # rows 0 and 1
    assert metrics.found_curve(rows, top) == [0, 0, 0, 0.5, 1.0]
    assert metrics.measurements_to_best(POOL, rows) == 5
    assert metrics.measurements_to_best(POOL, rows[:4]) is None


def test_enhancement_factor_against_random_expectation() -> None:
    # finding the whole top 10 % (2 of 20) in 4 measurements; random finds 4/20
    assert metrics.enhancement_factor(1.0, 4, 20) == pytest.approx(5.0)
    assert metrics.enhancement_factor(0.2, 4, 20) == pytest.approx(1.0)


def test_acceleration_factor() -> None:
    # the strategy reached its final fraction 0.5 after 2 measurements; random
    # search needs 0.5 * 20 = 10 on average
    assert metrics.acceleration_factor([0.0, 0.5, 0.5, 0.5], 20) == pytest.approx(5.0)
    assert metrics.acceleration_factor([0.0, 0.0], 20) is None


def test_mean_and_band() -> None:
    mean, band = metrics.mean_and_band([[0.0, 1.0], [2.0, 3.0]])
    assert mean.tolist() == [1.0, 2.0]
    assert band.tolist() == pytest.approx([1.96 * 2**0.5 / 2**0.5] * 2)


def _mean_gap(groups: list[np.ndarray]) -> float:
    return float(np.mean([(g[:, 0] - g[:, 1]).mean() for g in groups]))


def test_a_bootstrap_interval_is_wide_for_a_coin_flip_narrow_for_a_real_gap() -> None:
    # ten seeds of found / not found: a gap of one hit is within the draw of seeds
    ours = [1, 0, 0, 1, 0, 1, 0, 0, 1, 0]
    theirs = [0, 0, 1, 1, 0, 0, 0, 0, 1, 0]
    coin = np.column_stack([ours, theirs]).astype(float)
    low, high = metrics.stratified_bootstrap([coin], _mean_gap)
    assert low < 0 < high
    assert low < _mean_gap([coin]) < high
    # every seed better by 0.2 to 0.4: the interval excludes no difference
    rng = np.random.default_rng(1)
    better = np.column_stack([rng.uniform(0.5, 0.7, 10), rng.uniform(0.2, 0.3, 10)])
    low, high = metrics.stratified_bootstrap([better], _mean_gap)
    assert 0.2 < low < high < 0.5


def test_the_bootstrap_keeps_pairs_and_each_campaigns_weight() -> None:
    # pairs that always differ by exactly 0.1: resampling whole rows can never
    # break a pair, so every resample's gap is 0.1
    paired = np.column_stack(
        [np.linspace(0.1, 0.9, 10) + 0.1, np.linspace(0.1, 0.9, 10)]
    )
    low, high = metrics.stratified_bootstrap([paired], _mean_gap)
    assert low == pytest.approx(0.1) and high == pytest.approx(0.1)
    # two campaigns of 10 and 3 seeds: each is resampled within itself, so a
    # campaign with a constant gap stays at its gap whatever the other does
    small = np.array([[0.5, 0.5]] * 3)
    low, high = metrics.stratified_bootstrap([paired, small], _mean_gap)
    assert low == pytest.approx(0.05) and high == pytest.approx(0.05)
