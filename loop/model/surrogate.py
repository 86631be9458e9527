"""Fit a BoTorch GP to comp-rep inputs and signed objective values.

The GP owns its scaling: inputs are normalised to the unit cube with the
space's bounds (`Normalize`) and outcomes standardised (`Standardize`), so
predictions come back in the objectives' own units. Values are *signed* so the
model always maximises: minimised objectives enter as their negatives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from loop.errors import FitError
from loop.model.features import FeatureSpec
from loop.model.quiet import quiet_numerics

#: L-BFGS-B iterations of a hyperparameter fit. BoTorch's default (15 000) lets a
#: fit creep along flat directions of the likelihood (typically a noise level
#: heading for its lower bound on noise-free data) for hundreds of steps that
#: barely change predictions; measured on the electrolyte campaign of issue 12
#: (8 points, 3 outputs): 836 steps, 10 s, log-likelihood -12.33 per point; at
#: 200 steps 2.4 s and -12.35. Warm-started refits converge well before the cap.
FIT_MAX_ITERATIONS = 200


@dataclass
class FittedSurrogate:
    """A fitted model and a summary of it for provenance."""

    model: Any
    info: dict[str, Any]

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (signed units) at rows of *x*."""
        import torch

        with torch.no_grad():
            post = self.model.posterior(torch.as_tensor(x, dtype=torch.double))
            mean = post.mean.numpy()
            sd = post.variance.clamp_min(0).sqrt().numpy()
        return mean, sd


@dataclass(frozen=True)
class GPSettings:
    """How to build a GP for this campaign's comp-rep inputs."""

    lower: np.ndarray
    upper: np.ndarray
    kernel: str = "matern52"
    features: FeatureSpec | None = None
    #: Names of the GP's input columns, in order (for provenance and reports).
    input_names: tuple[str, ...] = ()
    #: Positions of one-hot categorical columns among the GP's inputs.
    categorical_dims: tuple[int, ...] = ()


def fit_gp(
    x: np.ndarray,
    y: np.ndarray,
    settings: GPSettings,
    seed: int,
    warm: dict[str, Any] | None = None,
) -> FittedSurrogate:
    """A SingleTaskGP (one output per column of *y*) fitted by maximum marginal likelihood.

    *warm* holds the hyperparameters of the previous fit in the same campaign
    (`hyperparameters(model)`); starting from them, a refit after a few new
    points converges in a fraction of the optimiser's steps.
    """
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    torch.manual_seed(seed)
    tx = torch.as_tensor(x, dtype=torch.double)
    ty = torch.as_tensor(y, dtype=torch.double)
    transform, d = _input_transform(settings)
    m = ty.shape[-1]
    batch = torch.Size([m]) if m > 1 else torch.Size([])
    covar, lengthscales_of = _covariance(settings, d, batch)
    model = SingleTaskGP(
        tx,
        ty,
        covar_module=covar,
        input_transform=transform,
        outcome_transform=Standardize(m=m),
    )
    kernel = settings.kernel
    warmed = _warm_start(model, warm)
    started = time.perf_counter()
    try:
        with quiet_numerics():
            fit_gpytorch_mll(
                ExactMarginalLogLikelihood(model.likelihood, model),
                optimizer_kwargs={"options": {"maxiter": FIT_MAX_ITERATIONS}},
            )
    except Exception as exc:  # botorch raises several types; all mean "no model"
        raise FitError(
            f"the Gaussian process could not be fitted to {len(x)} points: {exc}",
            "check the measurements for outliers or duplicated inputs with different values",
        ) from exc
    lengthscales = lengthscales_of(covar).reshape(m, -1)
    info = {
        "model": "SingleTaskGP",
        "kernel": kernel,
        "n_train": int(len(x)),
        "fit_seconds": round(time.perf_counter() - started, 4),
        "warm_start": warmed,
        "lengthscales": [[round(float(v), 6) for v in row] for row in lengthscales],
        "noise": [
            round(float(v), 8) for v in model.likelihood.noise.detach().reshape(-1)
        ],
    }
    if settings.input_names:
        info["inputs"] = list(settings.input_names)
    if settings.features is not None:
        info["features"] = (
            "fractions+descriptors"
            if settings.features.keep_fractions
            else ("descriptors")
        )
    return FittedSurrogate(model, info)


def hyperparameters(model: Any) -> dict[str, Any]:
    """The fitted model's hyperparameters (raw values), for a warm start."""
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _warm_start(model: Any, warm: dict[str, Any] | None) -> bool:
    """Load *warm* into *model* when it fits exactly (same names and shapes)."""
    if not warm:
        return False
    own = dict(model.named_parameters())
    if set(own) != set(warm) or any(own[n].shape != warm[n].shape for n in own):
        return False
    import torch

    with torch.no_grad():
        for name, value in warm.items():
            own[name].copy_(value)
    return True


def _covariance(settings: GPSettings, d: int, batch: Any) -> tuple[Any, Any]:
    """The kernel, and how to read its lengthscales (one per input) after fitting.

    Without categoricals: a Matern-5/2 (or RBF) kernel with ARD and BoTorch's
    dimension-scaled lengthscale prior. With categoricals: the mixed kernel of
    BoTorch's MixedSingleTaskGP (a sum and a product of a kernel on the numeric
    inputs and a categorical kernel that counts mismatching one-hot columns), so
    categories are compared as categories, not as points in space.
    """
    from botorch.models.utils.gpytorch_modules import (
        get_covar_module_with_dim_scaled_prior,
    )

    rbf = settings.kernel == "rbf"
    cat = list(settings.categorical_dims)
    if not cat:
        covar = get_covar_module_with_dim_scaled_prior(
            ard_num_dims=d, batch_shape=batch, use_rbf_kernel=rbf
        )
        return covar, lambda k: k.lengthscale.detach().numpy()
    from loop.model.kernels import MixedKernel

    num = [i for i in range(d) if i not in set(cat)]
    mixed = MixedKernel(num, cat, batch_shape=batch, rbf=rbf)

    def lengthscales(_: Any) -> np.ndarray:
        out = np.zeros((*batch, 1, d))
        numeric, categorical = mixed.lengthscales()
        out[..., num] = numeric.numpy()
        out[..., cat] = categorical.numpy()
        return out

    return mixed, lengthscales


def _input_transform(settings: GPSettings) -> tuple[Any, int]:
    """Normalisation to the unit cube, after descriptor features when asked for."""
    import torch
    from botorch.models.transforms import Normalize
    from botorch.models.transforms.input import ChainedInputTransform

    lower, upper = settings.lower, settings.upper
    if settings.features is None:
        hi = np.where(upper > lower, upper, lower + 1.0)  # fixed columns: no zero range
        bounds = torch.as_tensor(np.stack([lower, hi]), dtype=torch.double)
        return Normalize(d=len(lower), bounds=bounds), len(lower)
    f = settings.features
    bounds = torch.as_tensor(f.feature_bounds(lower, upper), dtype=torch.double)
    chained = ChainedInputTransform(
        features=f.transform(), normalize=Normalize(d=f.out_dim, bounds=bounds)
    )
    return chained, f.out_dim
