"""The one-module mixed kernel computes BoTorch's MixedSingleTaskGP covariance."""

from __future__ import annotations

import pytest
import torch
from botorch.models.kernels.categorical import CategoricalKernel
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel

from loop.model.kernels import MixedKernel


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
