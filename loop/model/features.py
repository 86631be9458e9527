"""GP inputs beyond the raw comp-rep: composition-weighted component descriptors.

The acquisition function is still optimised over comp-rep (fractions and
parameters); this transform, attached to the GP, turns each comp-rep vector into
the model's features: the non-fraction columns, the fractions (if listed in
`surrogate.features`), and for every descriptor property the fraction-weighted
mean and spread. Being part of the model, it is differentiable and applied
identically at fit and at prediction time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature transform needs: where the fractions are and the table."""

    fraction_idx: np.ndarray
    table: np.ndarray  # components x properties
    keep_fractions: bool
    dim: int  # comp-rep width

    @property
    def out_dim(self) -> int:
        kept = self.dim - (0 if self.keep_fractions else len(self.fraction_idx))
        return kept + 2 * self.table.shape[1]

    def feature_bounds(self, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
        """(2, out_dim) bounds of the features, for normalising them."""
        keep = self._kept_columns()
        lo, hi = list(lower[keep]), list(upper[keep])
        span = self.table.max(axis=0) - self.table.min(axis=0)
        lo += list(self.table.min(axis=0)) + [0.0] * self.table.shape[1]
        hi += list(self.table.max(axis=0)) + list(np.maximum(span / 2, 1e-9))
        lo_a, hi_a = np.array(lo), np.array(hi)
        return np.stack([lo_a, np.where(hi_a > lo_a, hi_a, lo_a + 1.0)])

    def _kept_columns(self) -> np.ndarray:
        frac = set(self.fraction_idx.tolist())
        return np.array(
            [i for i in range(self.dim) if self.keep_fractions or i not in frac],
            dtype=int,
        )

    def transform(self) -> Any:
        """A BoTorch input transform computing these features."""
        return _DescriptorFeatures(self)


def _make_transform_class() -> Any:
    import torch
    from botorch.models.transforms.input import InputTransform

    class DescriptorFeatures(InputTransform, torch.nn.Module):
        """comp-rep -> [kept columns, weighted mean, weighted spread] per property."""

        # buffers, registered in __init__ (annotated: Module.__getattr__ is untyped)
        table: torch.Tensor
        frac: torch.Tensor
        keep: torch.Tensor

        def __init__(self, spec: FeatureSpec) -> None:
            super().__init__()
            self.transform_on_train = True
            self.transform_on_eval = True
            self.transform_on_fantasize = True
            self.register_buffer(
                "table", torch.as_tensor(spec.table, dtype=torch.double)
            )
            self.register_buffer(
                "frac", torch.as_tensor(spec.fraction_idx, dtype=torch.long)
            )
            self.register_buffer(
                "keep", torch.as_tensor(spec._kept_columns(), dtype=torch.long)
            )

        def transform(self, X: Any) -> Any:
            f = X[..., self.frac].clamp_min(0.0)
            w = f / f.sum(dim=-1, keepdim=True).clamp_min(1e-12)
            mean = w @ self.table
            var = (w @ self.table**2 - mean**2).clamp_min(0.0)
            spread = torch.sqrt(var + 1e-12)
            return torch.cat([X[..., self.keep], mean, spread], dim=-1)

    return DescriptorFeatures


_cls: Any = None


def _DescriptorFeatures(spec: FeatureSpec) -> Any:  # noqa: N802 (a lazy class)
    global _cls
    if _cls is None:
        _cls = _make_transform_class()
    return _cls(spec)
