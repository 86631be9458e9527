"""How good the campaign's model is, and which inputs it leans on.

The model is the engine's own outcome model (`loop.model.outcomes.fit_joint`:
one GP over the goals and the outcome constraints, on the engine's comp-rep
rows and signed, transformed values). Its hyperparameters are those stored with
the campaign's last model round (no likelihood optimised, so a report takes
seconds); a campaign without one (still in its design, or run by `ax`) gets one
fit to every measurement, with the campaign seed:

* **k-fold cross-validation** (k = min(5, n)): each fold's GP, with those
  hyperparameters, is conditioned on the other folds and predicts the held-out
  rows; predictions are turned back into the objective's units with
  `Objective.from_model` exactly as proposals are (under `transform: log` the
  median exp(mu) and the spread exp(mu) * sigma), and R2 and RMSE are computed
  in those units. (Keeping the hyperparameters fixed across folds is the usual
  shortcut; refitting them per fold would score a slightly more pessimistic
  model, at k times the cost.)
* **lengthscales** of the GP on every measurement, one per GP input
  (1 / lengthscale as relevance: a short lengthscale means the output changes
  quickly along that input).
* **permutation importance** on the cross-validation predictions: one input
  (a component, a parameter; a categorical's one-hot columns together) is
  shuffled across all measured rows, every row is predicted again by the GP
  that did not see it, and the rise in RMSE is the input's importance.
* **calibration** (`loop.model.calibration`): the cross-validated standardised
  errors on the model's scale, with the measurement noise in the predictive sd,
  give the coverage of the 50 % and 90 % intervals and a calibration curve; the
  predictions stored with each model proposal, against what was measured later,
  give the same check on data the model had not seen (`held_out`).
* **failure model**: with failed experiments, the success classifier is
  cross-validated the same way (its stored hyperparameters, k folds over
  measured and failed trials) and scored by ROC AUC and Brier score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from loop.model import calibration
from loop.model.outcomes import JointModel, fit_joint
from loop.model.quiet import quiet_numerics
from loop.model.robust import model_trials
from loop.model.state import from_document
from loop.model.surrogate import GPSettings, fit_gp, hyperparameters
from loop.model.transfer import fitted_transfer
from loop.records import Trial, TrialStatus
from loop.space.design import uniform_samples
from loop.space.encoding import Encoder
from loop.space.feasible import Feasibility
from loop.spec import CampaignSpec
from loop.spec.transfer import SourceRows
from loop.strategies.botorch import gp_settings
from loop.strategies.fidelity import FidelityPlan
from loop.threads import ensure_threads

#: Folds of the cross-validation (fewer when there are fewer measurements).
MAX_FOLDS = 5
#: Shuffles per input for the permutation importance.
PERMUTATIONS = 5
#: Measurements needed before a model can be cross-validated (2 to fit, 1 to test).
MIN_FOR_CV = 3


@dataclass(frozen=True)
class Quality:
    """Cross-validation, relevance and importance (None when not computable),
    the held-out check of stored predictions, and the failure model's scores."""

    cv: dict[str, Any] | None
    relevance: dict[str, Any] | None
    notes: list[str]
    held_out: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    #: With `fidelities:`, each fidelity's correlation with the target under
    #: the GP fitted to every measurement.
    fidelity: dict[str, Any] | None = None


def r2_score(measured: ArrayLike, predicted: ArrayLike) -> float | None:
    """Coefficient of determination (None when the measurements do not vary)."""
    y, p = np.asarray(measured, dtype=float), np.asarray(predicted, dtype=float)
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0.0:
        return None
    return 1.0 - float(((y - p) ** 2).sum()) / total


def rmse(measured: ArrayLike, predicted: ArrayLike) -> float:
    y, p = np.asarray(measured, dtype=float), np.asarray(predicted, dtype=float)
    return float(np.sqrt(((y - p) ** 2).mean()))


def model_quality(
    spec: CampaignSpec,
    trials: list[Trial],
    on_step: Callable[[str], None] = lambda _m: None,
    fit: dict[str, Any] | None = None,
    sources: Sequence[SourceRows] = (),
) -> Quality:
    """Cross-validate the campaign's GP and measure what its predictions rely on.

    *sources* are the measurements of `strategy.transfer` (`loop.sources`): the
    GP checked is then the engine's, with the sources' predictions in its mean.

    *fit* is the model fit stored with the campaign's last model round
    (`Store.latest_fit`): its hyperparameters are reused, so no likelihood is
    optimised. Without one (a campaign still in its design, or run by `ax`),
    the GP is fitted once to every measurement. The cross-validation folds keep
    those hyperparameters and condition on the other folds' rows.
    """
    ensure_threads()  # `loop report` and the dashboard's model page fit GPs here
    encoder = Encoder(spec)
    # the rows the engine's model learns from
    done, x, y = encoder.measured(model_trials(spec, trials))
    ids = [t.id for t in done]
    names = [o.name for o in spec.objectives]
    held_out = calibration.predicted_before_measured(spec, trials)
    if len(x) < MIN_FOR_CV:
        return Quality(
            None,
            None,
            [
                f"model quality needs at least {MIN_FOR_CV} measured trials "
                f"(with every objective); this campaign has {len(x)}"
            ],
            held_out,
        )
    outputs = [*spec.goals, *spec.outcome_constraints]
    stored = from_document(fit).get("outcomes")
    with quiet_numerics():
        fitter = _Fitter(spec, encoder, x, y, names, sources)
        on_step(
            "the GP of the last model round, on every measurement"
            if stored
            else "fitting the GP to every measurement"
        )
        full = fitter.fit(np.arange(len(x)), stored)
        fitter.hyperparameters = hyperparameters(full.model)
        agreement = _fidelity_agreement(spec, encoder, full.model)
        on_step(f"cross-validating the GP ({fitter.k} folds, {len(x)} measurements)")
        folds = fitter.folds()
        mean, sd = fitter.predict(folds, x)
        z = fitter.standardized_errors(folds)
        on_step("permutation importance")
        importance = _permutation(fitter, folds, x, mean)
        failure = _failure_model(spec, encoder, trials, fitter, from_document(fit))
    fit_info = {
        "reused": not full.info.get("refit", True),
        "fit_seconds": full.info.get("fit_seconds"),
    }
    measured = {o.name: [float(v) for v in y[:, names.index(o.name)]] for o in outputs}
    cv: dict[str, Any] = {
        "k": fitter.k,
        "trial_ids": ids,
        "outputs": [],
        "hyperparameters": fit_info,
    }
    for j, o in enumerate(outputs):
        m, p = measured[o.name], [float(v) for v in mean[:, j]]
        cv["outputs"].append(
            {
                "name": o.name,
                "unit": o.unit,
                "role": o.role,
                "transform": o.transform,
                "measured": m,
                "mean": p,
                "sd": [float(v) for v in sd[:, j]],
                "fold": [int(f) for f in fitter.fold_of],
                "r2": r2_score(m, p),
                "rmse": rmse(m, p),
                "calibration": calibration.summary(z[:, j]),
            }
        )
    info = full.info
    lengthscales = [[float(v) for v in row] for row in info["lengthscales"]]
    relevance = {
        "outputs": [o.name for o in outputs],
        "inputs": list(info.get("inputs", [])),
        "lengthscales": lengthscales,
        "relevance": [[1.0 / v for v in row] for row in lengthscales],
        "permutation": importance,
        "n_train": int(info["n_train"]),
    }
    return Quality(cv, relevance, [], held_out, failure, agreement)


#: Configurations at which the fidelities' learned correlation is averaged.
AGREEMENT_POINTS = 64


def _fidelity_agreement(
    spec: CampaignSpec, encoder: Encoder, model: Any
) -> dict[str, Any] | None:
    """How far the GP learned each fidelity agrees with the target: the
    correlation of their values for the first goal, averaged over uniform
    configurations of the space (None without fidelities)."""
    plan = FidelityPlan.of(spec, encoder)
    if plan is None:
        return None
    x = uniform_samples(encoder, Feasibility(encoder), AGREEMENT_POINTS, spec.seed)
    correlation = plan.correlation(model, x, 0)
    return {
        "goal": spec.goals[0].name,
        "points": len(x),
        "correlation": {
            name: round(float(c), 4)
            for name, c in zip(plan.names, correlation, strict=True)
        },
    }


class _Fitter:
    """Fits the engine's outcome model on subsets of the measured rows."""

    def __init__(
        self,
        spec: CampaignSpec,
        encoder: Encoder,
        x: np.ndarray,
        y: np.ndarray,
        names: list[str],
        sources: Sequence[SourceRows] = (),
    ) -> None:
        self.spec, self.x, self.encoder = spec, x, encoder
        self.goals, self.cons = spec.goals, spec.outcome_constraints
        self.outputs = [*self.goals, *self.cons]
        transfer = fitted_transfer(sources, spec, encoder) if sources else None
        self.settings = gp_settings(spec, encoder, transfer)
        column = {o.name: y[:, names.index(o.name)] for o in self.outputs}
        #: Measured values of the outputs in their units (columns in output order).
        self.measured = np.column_stack([column[o.name] for o in self.outputs])
        self.y_goals = _columns([o.to_model(column[o.name]) for o in self.goals], x)
        self.y_cons = _columns([o.to_model(column[o.name]) for o in self.cons], x)
        self.thresholds = [float(o.to_model(o.threshold)) for o in self.cons]
        self.k = min(MAX_FOLDS, len(x))
        #: Hyperparameters every fold keeps (those of the model on every row).
        self.hyperparameters: dict[str, Any] | None = None
        order = np.random.default_rng(spec.seed).permutation(len(x))
        self.fold_of = np.zeros(len(x), dtype=int)
        for f, rows in enumerate(np.array_split(order, self.k)):
            self.fold_of[rows] = f

    def fit(self, rows: np.ndarray, warm: dict[str, Any] | None) -> JointModel:
        """The outcome model on *rows*: with *warm* hyperparameters as they are
        (when they fit this campaign's model), else fitted."""
        none = np.zeros((0, self.x.shape[1]))
        return fit_joint(
            self.x[rows],
            self.y_goals[rows],
            self.y_cons[rows],
            self.thresholds,
            none,
            self.settings,
            self.spec.seed,
            memory={"outcomes": warm} if warm else None,
            refit=False,
        )

    def folds(self) -> list[JointModel]:
        """One model per fold, conditioned on the other folds' rows."""
        return [
            self.fit(np.flatnonzero(self.fold_of != f), self.hyperparameters)
            for f in range(self.k)
        ]

    def predict(
        self, folds: list[JointModel], x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row of *x* predicted by the model that did not see it, in units."""
        mean = np.zeros((len(x), len(self.outputs)))
        sd = np.zeros_like(mean)
        for f, model in enumerate(folds):
            rows = np.flatnonzero(self.fold_of == f)
            mu, sigma = model.predict(x[rows])
            for j, o in enumerate(self.outputs):
                for r, m_, s_ in zip(rows, mu[:, j], sigma[:, j], strict=True):
                    mean[r, j], sd[r, j] = o.from_model(float(m_), float(s_))
        return mean, sd

    def standardized_errors(self, folds: list[JointModel]) -> np.ndarray:
        """Per measured row and output, (measured - predicted) / predictive sd on
        the model's scale, predicted by the fold that did not see the row; the
        sd includes the measurement noise (a measurement is checked, not the
        true value)."""
        z = np.full((len(self.x), len(self.outputs)), np.nan)
        model_values = np.column_stack(
            [o.to_model(self.measured[:, j]) for j, o in enumerate(self.outputs)]
        )
        for f, model in enumerate(folds):
            rows = np.flatnonzero(self.fold_of == f)
            mu, sigma = model.predict(self.x[rows], observation_noise=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                z[rows] = (model_values[rows] - mu) / sigma
        return z


def _failure_model(
    spec: CampaignSpec,
    encoder: Encoder,
    trials: list[Trial],
    fitter: _Fitter,
    stored: dict[str, Any],
) -> dict[str, Any] | None:
    """Cross-validated ROC AUC and Brier score of the success classifier (None
    until at least two experiments have failed and two succeeded)."""
    failed = [t for t in trials if t.status == TrialStatus.FAILED]
    if len(failed) < 2 or len(fitter.x) < 2:
        return None
    x = np.concatenate(
        [fitter.x, encoder.encode_many([(t.composition, t.parameters) for t in failed])]
    )
    labels = np.concatenate([np.ones(len(fitter.x)), np.zeros(len(failed))])
    settings: GPSettings = fitter.settings
    seed = spec.seed + 2  # the engine's success model's seed (`fit_joint`)
    warm = stored.get("success")
    full = fit_gp(x, labels[:, None], settings, seed, warm=warm, refit=not warm)
    kept = hyperparameters(full.model)
    k = min(MAX_FOLDS, len(x))
    fold_of = np.zeros(len(x), dtype=int)
    order = np.random.default_rng(spec.seed).permutation(len(x))
    for f, rows in enumerate(np.array_split(order, k)):
        fold_of[rows] = f
    p = np.zeros(len(x))
    for f in range(k):
        train, test = fold_of != f, fold_of == f
        if labels[train].min() == labels[train].max():
            p[test] = labels[train][0]  # one class only: a classifier says just that
            continue
        model = fit_gp(
            x[train], labels[train][:, None], settings, seed, kept, refit=False
        )
        mean, _ = model.predict(x[test])
        p[test] = np.clip(mean[:, 0], 0.0, 1.0)
    return {
        "k": k,
        "n_success": int(len(fitter.x)),
        "n_failed": len(failed),
        "auc": calibration.roc_auc(labels, p),
        "brier": calibration.brier_score(labels, p),
        "brier_constant": calibration.brier_score(
            labels, np.full(len(labels), labels.mean())
        ),
    }


def _columns(columns: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """*columns* side by side, (n, 0) when there are none."""
    if not columns:
        return np.zeros((len(x), 0))
    return np.column_stack(columns)


def _permutation(
    fit: _Fitter, folds: list[JointModel], x: np.ndarray, mean: np.ndarray
) -> dict[str, Any]:
    """Rise in cross-validated RMSE when one input is shuffled (mean over shuffles)."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(fit.encoder.columns):
        groups.setdefault(c.parameter or c.name, []).append(i)
    rng = np.random.default_rng(fit.spec.seed + 1)
    units = fit.measured
    base = [rmse(units[:, j], mean[:, j]) for j in range(len(fit.outputs))]
    rise: dict[str, list[float]] = {o.name: [] for o in fit.outputs}
    for cols in groups.values():
        scores = np.zeros((PERMUTATIONS, len(fit.outputs)))
        for r in range(PERMUTATIONS):
            shuffled = x.copy()
            shuffled[:, cols] = x[rng.permutation(len(x))][:, cols]
            p, _ = fit.predict(folds, shuffled)
            scores[r] = [
                rmse(units[:, j], p[:, j]) - base[j] for j in range(len(fit.outputs))
            ]
        for j, o in enumerate(fit.outputs):
            rise[o.name].append(float(scores[:, j].mean()))
    return {
        "inputs": list(groups),
        "rmse_rise": rise,
        "permutations": PERMUTATIONS,
    }
