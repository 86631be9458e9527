"""The acquisition search: projection onto the bounded simplex, and mixed local moves."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loop.acquisition.search import SearchSpace, local_search, starts
from loop.acquisition.simplex import project_np, random_supports
from loop.space.encoding import Encoder
from loop.space.feasible import Feasibility
from loop.spec import validate
from loop.spec.strategy import OptimizerSettings


@st.composite
def boxes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Component bounds that can reach 1, a support that can too, and free values."""
    n = draw(st.integers(2, 7))
    lo = np.array(draw(st.lists(st.floats(0, 0.15), min_size=n, max_size=n)))
    width = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    hi = np.minimum(lo + width, 1.0)
    k = draw(st.integers(1, n))
    seed = draw(st.integers(0, 2**16))
    supports = random_supports(lo, hi, k, 1, np.random.default_rng(seed))
    z = np.array(draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n)))
    return lo, hi, supports, z


@settings(max_examples=200, deadline=None)
@given(boxes())
def test_projection_lands_on_the_bounded_simplex(case: tuple) -> None:
    lo, hi, supports, z = case
    if supports is None or lo.sum() > 1.0 or hi.sum() < 1.0:
        return  # no support of this size reaches the total: nothing to project onto
    x = project_np(z[None], lo, hi, supports)[0]
    s = supports[0]
    assert abs(x.sum() - 1.0) < 1e-12
    assert np.all(x[s] >= lo[s] - 1e-15) and np.all(x[s] <= hi[s] + 1e-15)
    assert np.all(x[~s] == 0.0)
    # a feasible point is its own projection: nothing feasible is out of reach
    assert np.allclose(project_np(x[None], lo, hi, supports)[0], x, atol=1e-12)


def _space(data: dict) -> SearchSpace:
    enc = Encoder(validate(data))
    return SearchSpace(enc, Feasibility(enc))


def _campaign(**composition: object) -> dict:
    return {
        "schema_version": 1,
        "name": "search",
        "space": {
            "composition": {
                "kind": "species",
                "components": ["A", "B", "C", "D", "E"],
                **composition,
            },
            "parameters": [
                {"name": "t", "type": "continuous", "bounds": [0, 10]},
                {"name": "salt", "type": "categorical", "values": ["x", "y", "z"]},
            ],
        },
        "objectives": [{"name": "y", "direction": "maximize"}],
        "budget": {"experiments": 10},
        "adapter": {"type": "simulator", "function": "simplex-bumps"},
    }


class _Peak(torch.nn.Module):
    """A known acquisition surface: largest at one composition, temperature and salt."""

    def __init__(self, target: np.ndarray) -> None:
        super().__init__()
        self.model = torch.nn.Linear(1, 1)  # stands in for a GP; never called
        self.target = torch.as_tensor(target, dtype=torch.double)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.ones_like(self.target)
        scale[5] = 10.0  # temperature range
        return -(((x - self.target) / scale) ** 2).sum(-1).sum(-1)

    def set_X_pending(self, X_pending: torch.Tensor | None = None) -> None: ...


def test_search_reaches_the_best_category_and_support_from_other_starts() -> None:
    """Discrete moves change category and support; the continuous move finds the rest."""
    space = _space(_campaign(max_components=3))
    # A, C, E only; temperature 7; salt z
    target = np.array([0.5, 0.0, 0.3, 0.0, 0.2, 7.0, 0.0, 0.0, 1.0])
    x0, support0 = starts(space, 64, seed=3)
    # start every restart on a wrong salt and a support missing E
    x0[:, 6:9] = [1.0, 0.0, 0.0]
    keep = ~support0[:, 4]
    x0, support0 = x0[keep][:4], support0[keep][:4]
    assert len(x0) == 4
    optima, values = local_search(
        _Peak(target), space, x0, support0, OptimizerSettings(restarts=4)
    )
    best = optima[0]
    assert np.allclose(best, target, atol=1e-3), best
    assert values[0] > -1e-5


def test_search_with_linear_constraints_keeps_them() -> None:
    """With a YAML constraint the sum and the constraint both hold at every optimum."""
    data = _campaign(max_components=4)
    data["constraints"] = [
        {"type": "linear", "coefficients": {"A": 1, "B": 1}, "le": 0.3}
    ]
    space = _space(data)
    assert not space.projected
    target = np.array(
        [0.5, 0.3, 0.1, 0.1, 0.0, 2.0, 0.0, 1.0, 0.0]
    )  # breaks A + B <= 0.3
    x0, support0 = starts(space, 32, seed=1)
    optima, _ = local_search(
        _Peak(target), space, x0[:4], support0[:4], OptimizerSettings(restarts=4)
    )
    for x in optima:
        assert abs(x[:5].sum() - 1.0) < 1e-6
        assert x[0] + x[1] <= 0.3 + 1e-6
        assert np.count_nonzero(x[:5] > 1e-9) <= 4


def test_every_acquisition_the_yaml_names_has_a_builder_and_an_ax_class() -> None:
    from loop import acquisition
    from loop.spec.strategy import Acquisition
    from loop.strategies.ax import ACQF

    assert set(acquisition._REGISTRY) == set(Acquisition) == set(ACQF)


def test_the_projection_in_chunks_equals_the_projection_at_once(monkeypatch) -> None:
    """Chunking the rows (the memory bound for spaces of thousands of
    components) changes no number; neither does projecting a point over its
    support's columns alone (the swap neighbours)."""
    from loop.acquisition import simplex
    from loop.acquisition.search import _project_row

    rng = np.random.default_rng(4)
    n = 9
    z = rng.normal(0.2, 0.3, size=(3, 5, n))
    lo, hi = np.zeros(n), np.full(n, 0.6)
    support = rng.random((3, 5, n)) < 0.6
    support[..., :2] = True  # every support can reach the total
    whole = simplex.project_np(z, lo, hi, support)
    monkeypatch.setattr(simplex, "CHUNK_ELEMENTS", 1)  # one row at a time
    assert np.array_equal(simplex.project_np(z, lo, hi, support), whole)
    for row, keep in zip(z.reshape(-1, n), support.reshape(-1, n), strict=True):
        expected = simplex.project_np(row[None], lo, hi, keep[None])[0]
        assert np.allclose(_project_row(row, lo, hi, keep), expected, atol=1e-12)
