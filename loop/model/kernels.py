"""The GP kernel for spaces with categorical parameters, as one GPyTorch module.

The covariance is the one of BoTorch's `MixedSingleTaskGP`::

    k(x, x') = s1 * (k_num(x, x') + s2 * k_cat(x, x')) + s3 * k_num'(x, x') * k_cat'(x, x')

with Matern-5/2 (or RBF) kernels `k_num`, `k_num'` on the numeric inputs (ARD, with
BoTorch's dimension-scaled lengthscale prior) and categorical kernels `k_cat`,
`k_cat'` that count mismatching one-hot columns, each with its own lengthscales.

With `groups` (the one-hot columns of each categorical parameter), the sum's
`k_cat` is instead the mean of one categorical kernel per parameter, so that each
parameter's effect adds to the others' (a value seen with one route says
something about it with every route), while the product term still compares all
categories at once and learns their interactions. On the replay suite's four
campaigns with categorical parameters this found more of the best candidates
than BoTorch's kernel and than one Matern kernel over the one-hot columns
(BayBE's) on every one, once fitted from its defaults at every fit rather than
from the last fit (docs/benchmarks.md, section 5; `loop.model.surrogate.fit_gp`).

Why one module instead of BoTorch's composition of seven kernels: GPyTorch spends
most of a small model's time in per-kernel bookkeeping (batch shapes recomputed
through the tree of sub-kernels on every call), not in arithmetic. Measured on the
electrolyte campaign of issue 12 (8 points, 3 outputs, one thread): fitting the
composed kernel took 10 s, nearly all of it in that bookkeeping. Here every
covariance is a few matrix products, so fitting and acquisition optimisation cost
what their arithmetic costs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from gpytorch.constraints import GreaterThan, Positive
from gpytorch.kernels import Kernel
from gpytorch.priors import LogNormalPrior

#: Lower bound of numeric lengthscales (on the unit cube), as in BoTorch.
MIN_LENGTHSCALE = 2.5e-2


def dim_scaled_prior(d: int) -> LogNormalPrior:
    """BoTorch's lengthscale prior for *d* inputs (Hvarfner et al. 2024)."""
    return LogNormalPrior(
        loc=math.sqrt(2) + math.log(max(d, 1)) * 0.5, scale=math.sqrt(3)
    )


def squared_distance(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances by matrix products (no n1 x n2 x d tensor)."""
    sq1 = x1.pow(2).sum(-1, keepdim=True)
    sq2 = x2.pow(2).sum(-1, keepdim=True)
    out = sq1 - 2 * x1 @ x2.transpose(-2, -1) + sq2.transpose(-2, -1)
    return out.clamp_min(0.0)


def stationary(sq: torch.Tensor, rbf: bool) -> torch.Tensor:
    """Matern-5/2 (or RBF) correlation from scaled squared distances."""
    if rbf:
        return torch.exp(-0.5 * sq)
    r = sq.clamp_min(1e-30).sqrt()
    s5 = math.sqrt(5.0) * r
    return (1.0 + s5 + (5.0 / 3.0) * sq) * torch.exp(-s5)


class MixedKernel(Kernel):
    """Sum-and-product kernel of numeric and one-hot categorical inputs (see module doc)."""

    has_lengthscale = False

    def __init__(
        self,
        numeric_dims: list[int],
        categorical_dims: list[int],
        batch_shape: torch.Size | None = None,
        rbf: bool = False,
        groups: list[list[int]] | None = None,
    ) -> None:
        super().__init__(batch_shape=batch_shape or torch.Size([]))
        self.numeric_dims = list(numeric_dims)
        self.categorical_dims = list(categorical_dims)
        #: Positions among `categorical_dims` of each parameter's one-hot columns.
        self.groups = [list(g) for g in groups] if groups else None
        self.rbf = rbf
        b = self.batch_shape
        d_num, d_cat = len(self.numeric_dims), len(self.categorical_dims)
        prior = dim_scaled_prior(d_num)
        for name in ("num_sum", "num_prod"):
            self.register_parameter(
                f"raw_{name}", torch.nn.Parameter(torch.zeros(*b, 1, d_num))
            )
            self.register_constraint(
                f"raw_{name}",
                GreaterThan(MIN_LENGTHSCALE, transform=None, initial_value=prior.mode),
            )
            self.register_prior(
                f"{name}_prior",
                dim_scaled_prior(d_num),
                lambda m, n=name: getattr(m, n),
                lambda m, v, n=name: m._set(n, v),
            )
            self._set(name, prior.mode)
        for name in ("cat_sum", "cat_prod"):
            self.register_parameter(
                f"raw_{name}", torch.nn.Parameter(torch.zeros(*b, 1, d_cat))
            )
            self.register_constraint(f"raw_{name}", GreaterThan(1e-6))
        for name in ("scale_all", "scale_cat", "scale_prod"):
            self.register_parameter(f"raw_{name}", torch.nn.Parameter(torch.zeros(b)))
            self.register_constraint(f"raw_{name}", Positive())

    def _get(self, name: str) -> torch.Tensor:
        constraint = getattr(self, f"raw_{name}_constraint")
        return constraint.transform(getattr(self, f"raw_{name}"))

    def _set(self, name: str, value: Any) -> None:
        raw = getattr(self, f"raw_{name}")
        value = torch.as_tensor(value, dtype=raw.dtype).expand_as(raw)
        constraint = getattr(self, f"raw_{name}_constraint")
        self.initialize(**{f"raw_{name}": constraint.inverse_transform(value)})

    @property
    def num_sum(self) -> torch.Tensor:
        return self._get("num_sum")

    @property
    def num_prod(self) -> torch.Tensor:
        return self._get("num_prod")

    @property
    def cat_sum(self) -> torch.Tensor:
        return self._get("cat_sum")

    @property
    def cat_prod(self) -> torch.Tensor:
        return self._get("cat_prod")

    def lengthscales(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(numeric, categorical) lengthscales of the sum part, for reports."""
        return self.num_sum.detach(), self.cat_sum.detach()

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **_: Any
    ) -> torch.Tensor:
        num, cat = self.numeric_dims, self.categorical_dims
        n1, n2 = x1[..., num], x2[..., num]
        c1, c2 = x1[..., cat], x2[..., cat]
        if diag:
            k_num = stationary(((n1 - n2) / self.num_sum).pow(2).sum(-1), self.rbf)
            k_num2 = stationary(((n1 - n2) / self.num_prod).pow(2).sum(-1), self.rbf)
            k_cat = self._additive(c1, c2, diag=True)
            k_cat2 = torch.exp(-((c1 - c2).abs() / self.cat_prod).mean(-1))
            s_all, s_cat, s_prod = (
                self._get(n)[..., None]
                for n in ("scale_all", "scale_cat", "scale_prod")
            )
        else:
            k_num = stationary(
                squared_distance(n1 / self.num_sum, n2 / self.num_sum), self.rbf
            )
            k_num2 = stationary(
                squared_distance(n1 / self.num_prod, n2 / self.num_prod), self.rbf
            )
            k_cat = self._additive(c1, c2, diag=False)
            k_cat2 = torch.exp(-_mismatch(c1, c2, self.cat_prod))
            s_all, s_cat, s_prod = (
                self._get(n)[..., None, None]
                for n in ("scale_all", "scale_cat", "scale_prod")
            )
        return s_all * (k_num + s_cat * k_cat) + s_prod * k_num2 * k_cat2

    def _additive(self, c1: torch.Tensor, c2: torch.Tensor, diag: bool) -> torch.Tensor:
        """The sum part's categorical kernel: over all one-hot columns at once, or
        with `groups` the mean of one kernel per parameter."""
        ls = self.cat_sum
        if not self.groups:
            if diag:
                return torch.exp(-((c1 - c2).abs() / ls).mean(-1))
            return torch.exp(-_mismatch(c1, c2, ls))
        # a parameter whose value differs differs in two one-hot columns: divided
        # by two, its distance is the mean of those two values' inverse lengthscales
        parts = [
            torch.exp(-0.5 * ((c1[..., g] - c2[..., g]).abs() / ls[..., g]).sum(-1))
            if diag
            else torch.exp(-_mismatch(c1[..., g], c2[..., g], ls[..., g], per=2))
            for g in self.groups
        ]
        return torch.stack(parts).mean(0)


def _mismatch(
    c1: torch.Tensor, c2: torch.Tensor, lengthscale: torch.Tensor, per: int = 0
) -> torch.Tensor:
    """Sum over one-hot columns of |c1 - c2| / lengthscale, divided by *per*
    (default: the number of columns, a mean), by matrix products.

    For 0/1 columns |a - b| = a + b - 2ab, so the weighted count of mismatching
    columns needs no n1 x n2 x d tensor.
    """
    w = 1.0 / (lengthscale * (per or c1.shape[-1]))
    a = (c1 * w).sum(-1, keepdim=True)
    b = (c2 * w).sum(-1, keepdim=True)
    return a + b.transpose(-2, -1) - 2 * (c1 * w) @ c2.transpose(-2, -1)
