"""The one-module mixed kernel computes BoTorch's MixedSingleTaskGP covariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.models.kernels.categorical import CategoricalKernel
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel

from loop.model.kernels import MixedKernel
from loop.model.surrogate import GPSettings


def _botorch_composition(mixed: MixedKernel, rbf: bool) -> ScaleKernel:
    """BoTorch's sum-and-product kernel with *mixed*'s hyperparameters copied in."""
    num, cat = mixed.numeric_dims, mixed.categorical_dims
    base = RBFKernel if rbf else MaternKernel

    def numeric(lengthscale: torch.Tensor) -> MaternKernel | RBFKernel:
        k = base(ard_num_dims=len(num), active_dims=num)
        k.lengthscale = lengthscale.detach().clone()
        return k

    def categorical(lengthscale: torch.Tensor) -> CategoricalKernel:
        k = CategoricalKernel(ard_num_dims=len(cat), active_dims=cat)
        k.lengthscale = lengthscale.detach().clone()
        return k

    inner = ScaleKernel(categorical(mixed.cat_sum))
    inner.outputscale = mixed._get("scale_cat").detach().clone()
    left = ScaleKernel(numeric(mixed.num_sum) + inner)
    left.outputscale = mixed._get("scale_all").detach().clone()
    right = ScaleKernel(numeric(mixed.num_prod) * categorical(mixed.cat_prod))
    right.outputscale = mixed._get("scale_prod").detach().clone()
    return left + right


@pytest.mark.parametrize("rbf", [False, True])
def test_mixed_kernel_matches_botorchs_composed_kernel(rbf: bool) -> None:
    torch.manual_seed(0)
    mixed = MixedKernel([0, 1, 2], [3, 4, 5], rbf=rbf).double()
    with torch.no_grad():
        for name in ("num_sum", "num_prod", "cat_sum", "cat_prod"):
            mixed._set(name, torch.rand(getattr(mixed, name).shape) + 0.2)
        for name in ("scale_all", "scale_cat", "scale_prod"):
            mixed._set(name, torch.rand(()) + 0.5)
    reference = _botorch_composition(mixed, rbf).double()

    def points(n: int) -> torch.Tensor:
        numeric = torch.rand(n, 3, dtype=torch.double)
        onehot = torch.nn.functional.one_hot(torch.randint(3, (n,)), 3).double()
        return torch.cat([numeric, onehot], dim=-1)

    x1, x2 = points(7), points(5)
    with torch.no_grad():
        ours = mixed(x1, x2).to_dense()
        theirs = reference(x1, x2).to_dense()
        assert torch.allclose(ours, theirs, atol=1e-12)
        assert torch.allclose(
            mixed(x1, diag=True), reference(x1, diag=True), atol=1e-12
        )
        assert torch.allclose(
            mixed(x1, x1).to_dense().diagonal(), mixed(x1, diag=True), atol=1e-12
        )


def test_mixed_kernel_is_differentiable_at_coincident_points() -> None:
    """Acquisition gradients at a training point must be finite (no NaN from r = 0)."""
    mixed = MixedKernel([0, 1], [2, 3]).double()
    x = torch.tensor([[0.3, 0.4, 1.0, 0.0]], dtype=torch.double, requires_grad=True)
    train = x.detach().clone()
    mixed(x, train).to_dense().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_with_groups_the_sum_part_is_the_mean_of_one_categorical_kernel_per_parameter() -> (
    None
):
    """Two categorical parameters (3 and 2 values): the sum part's categorical
    kernel is the mean of BoTorch's categorical kernel on each parameter's
    columns, with a changed value costing the mean of its two columns' inverse
    lengthscales; the product part is unchanged."""
    torch.manual_seed(1)
    groups = [[0, 1, 2], [3, 4]]
    grouped = MixedKernel([0], [1, 2, 3, 4, 5], groups=groups).double()
    plain = MixedKernel([0], [1, 2, 3, 4, 5]).double()
    with torch.no_grad():
        for name in ("num_sum", "num_prod", "cat_sum", "cat_prod"):
            value = torch.rand(getattr(grouped, name).shape) + 0.2
            grouped._set(name, value)
            plain._set(name, value)
        for name in ("scale_all", "scale_cat", "scale_prod"):
            grouped._set(name, torch.tensor(1.0))
            plain._set(name, torch.tensor(1.0))

    def points(n: int) -> torch.Tensor:
        a = torch.nn.functional.one_hot(torch.randint(3, (n,)), 3).double()
        b = torch.nn.functional.one_hot(torch.randint(2, (n,)), 2).double()
        return torch.cat([torch.rand(n, 1, dtype=torch.double), a, b], dim=-1)

    x1, x2 = points(6), points(4)
    per_parameter = []
    for g in groups:
        k = CategoricalKernel(ard_num_dims=len(g))
        k.lengthscale = grouped.cat_sum[..., g].detach() * 2 / len(g)
        per_parameter.append(k(x1[:, [1 + i for i in g]], x2[:, [1 + i for i in g]]))
    expected_cat = (per_parameter[0].to_dense() + per_parameter[1].to_dense()) / 2
    with torch.no_grad():
        # grouped - plain = only the difference in the sum's categorical kernel
        plain_cat = CategoricalKernel(ard_num_dims=5)
        plain_cat.lengthscale = plain.cat_sum.detach()
        expected = plain(x1, x2).to_dense() - plain_cat(x1[:, 1:], x2[:, 1:]).to_dense()
        expected = expected + expected_cat
        assert torch.allclose(grouped(x1, x2).to_dense(), expected, atol=1e-12)
        assert torch.allclose(
            grouped(x1, x1).to_dense().diagonal(), grouped(x1, diag=True), atol=1e-12
        )


def test_grouped_categories_carry_a_main_effect_to_an_unseen_combination() -> None:
    """y = a(first) + b(second), measured on 5 of the 6 combinations of two
    parameters: with each parameter's effect added up, the GP predicts the
    unseen one close to its additive value, closer than without groups."""
    from loop.model.surrogate import GPSettings, fit_gp

    a = {0: 0.0, 1: 2.0, 2: 4.0}
    b = {0: 0.0, 1: 3.0}
    combos = [(i, j) for i in a for j in b]
    unseen = (2, 1)

    def row(i: int, j: int) -> list[float]:
        return [float(i == k) for k in range(3)] + [float(j == k) for k in range(2)]

    seen = [c for c in combos if c != unseen]
    x = np.array([row(*c) for c in seen])
    y = np.array([[a[i] + b[j]] for i, j in seen])
    truth = a[unseen[0]] + b[unseen[1]]
    errors = {}
    for groups in ((), ((0, 1, 2), (3, 4))):
        settings = GPSettings(
            np.zeros(5),
            np.ones(5),
            categorical_dims=(0, 1, 2, 3, 4),
            categorical_groups=groups,
        )
        fitted = fit_gp(x, y, settings, seed=0)
        mean, _ = fitted.predict(np.array([row(*unseen)]))
        errors[bool(groups)] = abs(float(mean[0, 0]) - truth)
    assert errors[True] < 1.0, errors
    assert errors[True] < errors[False], errors


def _categorical_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One numeric input and two categorical parameters (3 and 2 values)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(3, size=n), rng.integers(2, size=n)
    x = np.column_stack([rng.random(n), np.eye(3)[a], np.eye(2)[b]])
    y = np.sin(6 * x[:, :1]) + a[:, None] - 2 * b[:, None]
    return x, y


def _categorical_settings() -> GPSettings:
    return GPSettings(
        np.zeros(6),
        np.ones(6),
        categorical_dims=(1, 2, 3, 4, 5),
        categorical_groups=((1, 2, 3), (4, 5)),
    )


def test_a_stored_fit_of_the_mixed_kernel_is_reused_as_it_was_made() -> None:
    """A report reusing a stored fit (refit=False) does not refit, although a
    refit of this kernel starts cold: it predicts exactly what the stored fit
    predicted."""
    from loop.model.surrogate import fit_gp, hyperparameters

    x, y = _categorical_data(14, seed=5)
    settings = _categorical_settings()
    first = fit_gp(x, y, settings, seed=0)
    again = fit_gp(
        x, y, settings, seed=1, warm=hyperparameters(first.model), refit=False
    )
    assert type(again.model.covar_module) is type(first.model.covar_module)
    assert again.info["warm_start"] is True and again.info["refit"] is False
    probe = _categorical_data(5, seed=9)[0]
    assert np.allclose(first.predict(probe)[0], again.predict(probe)[0], atol=1e-9)


def test_the_per_parameter_sum_is_refitted_from_its_defaults_not_the_last_fit() -> None:
    """Warm-started, the mixed kernel stayed near the first rows' optimum and
    found fewer of the best materials (docs/strategies.md): a refit given the
    last fit's hyperparameters makes the same model as one given none."""
    from loop.model.surrogate import fit_gp, hyperparameters

    x, y = _categorical_data(14, seed=5)
    settings = _categorical_settings()
    earlier = fit_gp(x[:10], y[:10], settings, seed=0)
    warm = fit_gp(x, y, settings, seed=0, warm=hyperparameters(earlier.model))
    cold = fit_gp(x, y, settings, seed=0)
    assert warm.info["warm_start"] is False and warm.info["refit"] is True
    probe = _categorical_data(5, seed=9)[0]
    assert np.allclose(warm.predict(probe)[0], cold.predict(probe)[0], atol=1e-9)
