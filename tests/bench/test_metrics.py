"""Benchmark metrics on hand-made pools whose answers are known."""

from __future__ import annotations

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
