"""Is the model's uncertainty honest? Coverage, calibration curve, AUC, Brier.

Every proposal is chosen by a predicted mean *and* sd, so an sd that is too
small (an overconfident model) makes the campaign exploit where it should look,
and one too large wastes experiments on exploration. These are the standard
checks, computed on standardised errors z = (measured - predicted mean) /
predicted sd on the model's scale (the log under `transform: log`), where the
predictive distribution is Gaussian:

* **coverage** of the central p-interval: the share of |z| <= Phi^-1((1+p)/2).
  A calibrated model covers about p of the measurements (50 % and 90 % shown);
  less means overconfident, more means underconfident.
* **calibration curve**: observed against nominal coverage at p = 0.1 ... 0.9
  (the diagonal is perfect calibration).
* for the **failure model** (predicted probability that an experiment
  succeeds): the ROC AUC (0.5 is a coin, 1 a perfect ranking) and the Brier
  score (mean squared error of the probability; 0.25 is always saying 1/2).

The report checks cross-validated predictions; `predicted_before_measured`
checks the predictions stored with each proposal against what was measured
later (`loop inspect` and the report show it).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from loop.records import Trial, TrialPhase, TrialStatus
from loop.spec import CampaignSpec

#: Nominal levels of the calibration curve.
CURVE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Levels whose coverage is quoted in reports.
QUOTED_LEVELS = (0.5, 0.9)
#: Standardised errors needed before coverage means anything.
MIN_FOR_COVERAGE = 5


def half_width(level: float) -> float:
    """|z| bound of the central *level* interval of a standard normal."""
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def coverage(z: ArrayLike, level: float) -> float | None:
    """Share of standardised errors inside the central *level* interval."""
    values = _finite(z)
    if len(values) == 0:
        return None
    return float(np.mean(np.abs(values) <= half_width(level)))


def calibration_curve(
    z: ArrayLike, levels: tuple[float, ...] = CURVE_LEVELS
) -> list[tuple[float, float]]:
    """(nominal, observed) coverage at each level; empty without errors."""
    values = _finite(z)
    if len(values) == 0:
        return []
    return [
        (level, float(np.mean(np.abs(values) <= half_width(level)))) for level in levels
    ]


def summary(z: ArrayLike) -> dict[str, Any]:
    """Coverage at the quoted levels, the curve, and a verdict in words."""
    values = _finite(z)
    return {
        "n": int(len(values)),
        "coverage": {
            f"{round(level * 100)}%": coverage(values, level) for level in QUOTED_LEVELS
        },
        "curve": calibration_curve(values),
        "verdict": verdict(values),
    }


def verdict(z: ArrayLike) -> str:
    """'calibrated', 'overconfident', 'underconfident' or 'too few to tell'.

    Judged on the 90 % interval, with a binomial allowance of two standard
    errors, so a small sample is not called miscalibrated by chance.
    """
    values = _finite(z)
    n = len(values)
    if n < MIN_FOR_COVERAGE:
        return "too few to tell"
    observed = float(np.mean(np.abs(values) <= half_width(0.9)))
    allowance = 2.0 * np.sqrt(0.9 * 0.1 / n)
    if observed < 0.9 - allowance:
        return "overconfident"
    if observed > 0.9 + allowance:
        return "underconfident"
    return "calibrated"


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float | None:
    """Area under the ROC curve: the chance a random positive outscores a random
    negative (ties count one half). None unless both classes are present."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    positive, negative = s[y], s[~y]
    if len(positive) == 0 or len(negative) == 0:
        return None
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(positive) * len(negative)))


def brier_score(labels: ArrayLike, probabilities: ArrayLike) -> float | None:
    """Mean squared error of predicted probabilities against 0/1 outcomes."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if len(y) == 0:
        return None
    return float(np.mean((p - y) ** 2))


def _finite(z: ArrayLike) -> np.ndarray:
    values = np.asarray(z, dtype=float).reshape(-1)
    return values[np.isfinite(values)]


def predicted_before_measured(
    spec: CampaignSpec, trials: list[Trial]
) -> dict[str, Any]:
    """The held-out check: each model proposal's prediction, stored when it was
    proposed, against what was then measured, per objective.

    These predictions were made before the measurement existed, so unlike
    cross-validation they test the model exactly as the campaign used it. The
    sd is the predictive one stored in provenance (`predictive_sd`: model plus
    measurement noise) when present; older proposals stored only the model's
    sd, which ignores the noise and so reads as overconfident where noise
    matters (said in `sd`).
    """
    outputs: dict[str, Any] = {}
    for o in spec.objectives:
        z, ids, kinds = [], [], set()
        for t in trials:
            if t.phase is not TrialPhase.MODEL or t.status is not TrialStatus.COMPLETED:
                continue
            value, mean = t.values.get(o.name), t.predicted_mean.get(o.name)
            predictive = (t.provenance.get("predictive_sd") or {}).get(o.name)
            sd = predictive if predictive is not None else t.predicted_sd.get(o.name)
            if value is None or mean is None or sd is None:
                continue
            error = o.standardized_error(value, mean, sd)
            if error is None:
                continue
            z.append(error)
            ids.append(t.id)
            kinds.add("predictive" if predictive is not None else "model only")
        outputs[o.name] = {
            **summary(z),
            "z": z,
            "trial_ids": ids,
            "sd": " and ".join(sorted(kinds)) or None,
        }
    return outputs
