"""The latency benchmark's own logic (tests/benchmarks/latency*.py); nothing is timed."""

from __future__ import annotations

import numpy as np
import pytest

from loop.spec import validate
from tests.benchmarks.common import observed_trials
from tests.benchmarks.latency_cases import (
    allowed,
    campaign,
    parse_max_n,
    reference_propose,
    training_data,
    warm_asks,
)


def test_max_n_limits_engines_and_refuses_what_is_not_engine_equals_n() -> None:
    limits = parse_max_n(["ax=2000", "reference=500,botorch=10000"])
    assert limits == {"ax": 2000, "reference": 500, "botorch": 10000}
    assert parse_max_n([]) == {}
    assert allowed(limits, "ax", 2000) and not allowed(limits, "ax", 2001)
    assert allowed({}, "ax", 10_000)
    for bad in ("ax", "ax:100", "baybe=100", "ax=many", "ax=0"):
        with pytest.raises(ValueError, match="--max-n"):
            parse_max_n([bad])


def test_warm_setting_stays_above_the_initial_design() -> None:
    assert warm_asks(500, 8, 3) == 3
    assert warm_asks(20, 1, 3) == 3
    assert warm_asks(20, 8, 3) == 1  # told 12, then 20: never below the design size
    assert warm_asks(12, 8, 3) == 1


def test_reference_proposes_points_of_the_simplex_from_loops_history() -> None:
    spec = validate(campaign("botorch", 1))
    x, y = training_data(spec, observed_trials(spec, 20, seed=1))
    assert x.shape == (20, 6) and y.shape == (20, 1)
    np.testing.assert_allclose(x.sum(axis=1), 1.0, atol=1e-9)
    candidates, seconds = reference_propose(
        x, y, q=2, seed=0, restarts=2, raw_samples=32
    )
    assert candidates.shape == (2, 6) and seconds > 0
    np.testing.assert_allclose(candidates.sum(axis=1), 1.0, atol=1e-6)
    assert candidates.min() >= -1e-9 and candidates.max() <= 1 + 1e-9
