"""Fit a BoTorch GP to comp-rep inputs and signed objective values.

The GP owns its scaling: inputs are normalised to the unit cube with the
space's bounds (`Normalize`) and outcomes standardised (`Standardize`), so
predictions come back in the objectives' own units. Values are *signed* so the
model always maximises: minimised objectives enter as their negatives.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
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
#: Rows the hyperparameters are fitted on; a seeded random subset above it. Each
#: likelihood step costs O(n^3): at 500 rows a cold fit took 9.5 s on one thread,
#: at 256 rows about 1 s, with lengthscales within about 10 % of the full fit's
#: (docs/benchmarks.md, section 6). The GP is still conditioned on every row.
FIT_POINTS = 256
#: Rows the GP is conditioned on exactly; above it, a subset of data (see
#: `conditioning_rows`). One Cholesky factor of 2000 rows takes under a second
#: on one thread and 32 MB; 10 000 rows would take minutes and 800 MB.
EXACT_POINTS = 2000
#: A source prediction (standardised) is normalised from [-SOURCE_SPREAD,
#: SOURCE_SPREAD] to the unit interval (`loop.model.transfer`).
SOURCE_SPREAD = 2.5


@dataclass
class FittedSurrogate:
    """A fitted model and a summary of it for provenance."""

    model: Any
    info: dict[str, Any]

    def predict(
        self, x: np.ndarray, observation_noise: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation (signed units) at rows of *x*.

        The sd is the model's uncertainty about the true value; with
        *observation_noise* it includes the measurement noise too, as it must
        when predictions are checked against measurements.
        """
        import torch

        with torch.no_grad(), exact_linear_algebra():
            post = self.model.posterior(
                torch.as_tensor(x, dtype=torch.double),
                observation_noise=observation_noise,
            )
            mean = post.mean.numpy()
            sd = post.variance.clamp_min(0).sqrt().numpy()
        return mean, sd

    def predict_mean(self, x: np.ndarray) -> np.ndarray:
        """Posterior mean only: linear in the number of rows, so fine for thousands."""
        import gpytorch
        import torch

        with (
            torch.no_grad(),
            exact_linear_algebra(),
            gpytorch.settings.skip_posterior_variances(),
        ):
            tx = torch.as_tensor(x, dtype=torch.double)
            return self.model.posterior(tx).mean.numpy()


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
    #: Sources' predictions appended to the comp-rep (`loop.model.transfer`);
    #: *lower* and *upper* then cover those columns too.
    transfer: Any = None
    #: Positions of the sources' predictions among the GP's inputs: the GP's
    #: mean is linear in them, its kernel leaves them out.
    source_dims: tuple[int, ...] = ()
    #: One-hot columns whose categories shift the GP's mean by a fitted
    #: offset each (the cheaper fidelities, relative to the target), so the
    #: kernel models how the levels vary together rather than where they sit.
    offset_dims: tuple[int, ...] = ()
    #: The one-hot columns of each categorical parameter (positions among the
    #: GP's inputs): the mixed kernel adds up their effects (`loop.model.kernels`).
    categorical_groups: tuple[tuple[int, ...], ...] = ()


def fit_gp(
    x: np.ndarray,
    y: np.ndarray,
    settings: GPSettings,
    seed: int,
    warm: dict[str, Any] | None = None,
    priority: np.ndarray | None = None,
    refit: bool = True,
) -> FittedSurrogate:
    """A SingleTaskGP (one output per column of *y*) fitted by maximum marginal likelihood.

    *warm* holds the hyperparameters of an earlier fit in the same campaign
    (`hyperparameters(model)`); starting from them, a refit after a few new
    points converges in a fraction of the optimiser's steps. With
    `refit=False` they are used as they are (no optimisation), when they fit.
    The mixed kernel with one categorical kernel per parameter is refitted
    from its defaults every time: warm-started, it stayed near the optimum of
    the first few rows, and found fewer of the best materials on every replay
    campaign with categorical parameters (docs/strategies.md).

    Large data: the hyperparameters are fitted on at most `FIT_POINTS` rows (a
    seeded random subset), and the GP is conditioned on at most
    `EXACT_POINTS` rows: above that, the rows with the highest *priority* fill
    half and a random sample of the others the rest (a subset-of-data
    approximation, recorded in the fit's info).
    """
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    keep = conditioning_rows(len(x), EXACT_POINTS, priority, rng)
    xs, ys = x[keep], y[keep]
    fit_rows = (
        np.sort(rng.permutation(len(xs))[:FIT_POINTS])
        if len(xs) > FIT_POINTS
        else np.arange(len(xs))
    )
    model, lengthscales_of = _model(xs[fit_rows], ys[fit_rows], settings)
    cold = refit and bool(settings.categorical_groups)
    warmed = _warm_start(model, None if cold else warm)
    started = time.perf_counter()
    if refit or not warmed:
        torch.manual_seed(seed)
        _maximise_likelihood(model, len(x))
    fit_seconds = time.perf_counter() - started
    lengthscales = lengthscales_of(model.covar_module).reshape(ys.shape[-1], -1)
    noise = model.likelihood.noise.detach().reshape(-1)
    if len(fit_rows) < len(xs):
        fitted = hyperparameters(model)
        model, _ = _model(xs, ys, settings)
        _warm_start(model, fitted)
    model.eval()
    info: dict[str, Any] = {
        "model": "SingleTaskGP",
        "kernel": settings.kernel,
        "n_train": int(len(x)),
        "fit_seconds": round(fit_seconds, 4),
        "warm_start": warmed,
        "refit": bool(refit or not warmed),
        "lengthscales": [[round(float(v), 6) for v in row] for row in lengthscales],
        "noise": [round(float(v), 8) for v in noise],
    }
    if len(fit_rows) < len(x):
        info["fit_points"] = int(len(fit_rows))
    if len(xs) < len(x):
        info["approximation"] = {
            "kind": "subset of data",
            "conditioned_on": int(len(xs)),
            "of": int(len(x)),
        }
    if settings.input_names:
        info["inputs"] = list(settings.input_names)
    if settings.transfer is not None:
        info["transfer"] = {
            **settings.transfer.info,
            "weights": source_weights(model, settings.transfer.names),
        }
    if settings.features is not None:
        info["features"] = (
            "fractions+descriptors"
            if settings.features.keep_fractions
            else ("descriptors")
        )
    return FittedSurrogate(model, info)


def _maximise_likelihood(model: Any, n: int) -> None:
    """Fit *model*'s hyperparameters by maximum marginal likelihood (capped steps)."""
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    try:
        with quiet_numerics():
            fit_gpytorch_mll(
                ExactMarginalLogLikelihood(model.likelihood, model),
                optimizer_kwargs={"options": {"maxiter": FIT_MAX_ITERATIONS}},
            )
    except Exception as exc:  # botorch raises several types; all mean "no model"
        raise FitError(
            f"the Gaussian process could not be fitted to {n} points: {exc}",
            "check the measurements for outliers or duplicated inputs with "
            "different values",
        ) from exc


def source_weights(model: Any, names: tuple[str, ...]) -> list[dict[str, float]]:
    """Per output, the mean's weight on each source prediction (standardised
    units: clearly positive where the source predicts the campaign, near 0
    where it does not)."""
    import torch

    # the sources' weights come first (`_mean`), then any offsets
    weight = model.mean_module.weight.detach()[..., : len(names)]
    weight = weight.reshape(-1, len(names))
    scale = torch.as_tensor(2 * SOURCE_SPREAD, dtype=weight.dtype)
    return [
        {n: round(float(w / scale), 4) for n, w in zip(names, row, strict=True)}
        for row in weight
    ]


def conditioning_rows(
    n: int, limit: int, priority: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Rows an exact GP is conditioned on: all up to *limit*, else a subset of data.

    Half the subset is the rows of highest *priority* (where the optimum is
    being sought, so the model stays exact there), the other half a uniform
    sample of the rest (so the model still knows the whole space).
    """
    if n <= limit:
        return np.arange(n)
    if priority is None:
        return np.sort(rng.permutation(n)[:limit])
    order = np.argsort(-np.asarray(priority), kind="stable")
    best = order[: limit // 2]
    rest = rng.permutation(order[limit // 2 :])[: limit - len(best)]
    return np.sort(np.concatenate([best, rest]))


def _model(x: np.ndarray, y: np.ndarray, settings: GPSettings) -> tuple[Any, Any]:
    """An unfitted SingleTaskGP on rows *x*, *y*, and how to read its lengthscales."""
    import torch
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize

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
        mean_module=_mean(settings, batch),
        input_transform=transform,
        outcome_transform=Standardize(m=m),
    )
    return model, lengthscales_of


def _mean(settings: GPSettings, batch: Any) -> Any:
    """BoTorch's constant mean, or a constant plus a weight per source
    prediction and per offset column (`loop.model.transfer.source_mean`)."""
    dims = settings.source_dims + settings.offset_dims
    if not dims:
        return None
    from loop.model.transfer import source_mean

    return source_mean(dims, batch)


@contextmanager
def exact_linear_algebra() -> Iterator[None]:
    """GPyTorch solves with Cholesky up to `EXACT_POINTS` rows (its default switches
    to iterative solvers at 800, which are slower and noisier at these sizes)."""
    import gpytorch

    with gpytorch.settings.max_cholesky_size(EXACT_POINTS + 1):
        yield


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
    categories are compared as categories, not as points in space; with
    `categorical_groups`, each parameter's effect adds to the others'.
    """
    from botorch.models.utils.gpytorch_modules import (
        get_covar_module_with_dim_scaled_prior,
    )

    rbf = settings.kernel == "rbf"
    cat = list(settings.categorical_dims)
    active = [i for i in range(d) if i not in settings.source_dims]
    if not cat:
        covar = get_covar_module_with_dim_scaled_prior(
            ard_num_dims=len(active),
            batch_shape=batch,
            use_rbf_kernel=rbf,
            active_dims=active if settings.source_dims else None,
        )
        return covar, lambda k: k.lengthscale.detach().numpy()
    from loop.model.kernels import MixedKernel

    num = [i for i in active if i not in set(cat)]
    where = {dim: j for j, dim in enumerate(cat)}
    groups = [[where[d] for d in g] for g in settings.categorical_groups] or None
    mixed = MixedKernel(num, cat, batch_shape=batch, rbf=rbf, groups=groups)
    at = {dim: j for j, dim in enumerate(active)}

    def lengthscales(_: Any) -> np.ndarray:
        out = np.zeros((*batch, 1, len(active)))
        numeric, categorical = mixed.lengthscales()
        out[..., [at[i] for i in num]] = numeric.numpy()
        out[..., [at[i] for i in cat]] = categorical.numpy()
        return out

    return mixed, lengthscales


def _input_transform(settings: GPSettings) -> tuple[Any, int]:
    """Normalisation to the unit cube, after the sources' predictions and the
    descriptor features when asked for."""
    import torch
    from botorch.models.transforms import Normalize
    from botorch.models.transforms.input import ChainedInputTransform

    lower, upper = settings.lower, settings.upper
    steps: dict[str, Any] = {}
    if settings.transfer is not None:
        steps["sources"] = settings.transfer.transform()
    if settings.features is None:
        hi = np.where(upper > lower, upper, lower + 1.0)  # fixed columns: no zero range
        bounds = torch.as_tensor(np.stack([lower, hi]), dtype=torch.double)
        d = len(lower)
    else:
        f = settings.features
        steps["features"] = f.transform()
        bounds = torch.as_tensor(f.feature_bounds(lower, upper), dtype=torch.double)
        d = f.out_dim
    normalize = Normalize(d=d, bounds=bounds)
    if not steps:
        return normalize, d
    return ChainedInputTransform(**steps, normalize=normalize), d
