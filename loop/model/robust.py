"""Measured values made safe for a GP, whatever a robot or a file sent.

A single value such as 1.7e308 (a robot's overflow, a unit slip, a sensor
glitch) makes BoTorch's standardisation overflow, and one a million times
the rest leaves every other measurement indistinguishable: the fit fails or
the model is useless, and the campaign cannot propose any more. So before a
fit each output column is *winsorised*: values farther than `FENCE` robust
scales from the column's median are pulled in to that fence (a monotone map:
the order of the measurements is kept, so an extreme best is still the best).
The robust scale is the interquartile range; when half the values are equal
(IQR 0) it is the median distance of the other values from the median. No
real benchmark column comes near the fence (the largest seen is about 6 IQRs,
docs/benchmarks.md), so ordinary data are never touched. Independently,
magnitudes are capped at `LIMIT`, far below where squares overflow.

What was pulled in is recorded in the fit's provenance (`winsorised`), so the
operator sees that the model did not take a value at face value.

Before that, `held_out` keeps some stored measurements out of the model
altogether until an operator has looked at them: values outside their
objective's `bounds` (stored before the bounds were declared), and values
beyond the fences that no operator has confirmed (`loop trial amend`, which
marks the measurement reviewed). A campaign database that already holds a
1.7e308 so resumes on its other measurements; `loop resume` names the values
held and the commands that resolve them (`loop.service.runner`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loop.records import Trial, TrialStatus
from loop.spec import CampaignSpec

#: Robust scales from the median beyond which a value is pulled in.
FENCE = 20.0
#: Largest magnitude a model sees (squares and sums stay finite).
LIMIT = 1e100


def winsorise(y: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """*y* (rows, outputs) with extreme values pulled in, and per output how many."""
    out = np.clip(np.asarray(y, dtype=float), -LIMIT, LIMIT)
    moved = []
    for j in range(out.shape[1]):
        column = out[:, j]
        low, high = fences(column)
        clipped = np.clip(column, low, high)
        moved.append(int(np.sum(clipped != np.asarray(y, dtype=float)[:, j])))
        out[:, j] = clipped
    return out, moved


def fences(column: np.ndarray) -> tuple[float, float]:
    """(low, high): the median -/+ `FENCE` robust scales (infinite when the
    column has no spread to measure one by)."""
    if len(column) < 3:
        return -np.inf, np.inf
    median = float(np.median(column))
    q1, q3 = np.percentile(column, [25, 75])
    scale = float(q3 - q1)
    if scale <= 0:
        others = np.abs(column[column != median] - median)
        scale = float(np.median(others)) if len(others) else 0.0
    if not np.isfinite(scale) or scale <= 0:
        return -np.inf, np.inf
    return median - FENCE * scale, median + FENCE * scale


@dataclass(frozen=True)
class Held:
    """A COMPLETED measurement the model does not learn from, and why."""

    trial_id: int
    name: str
    value: float
    reason: str


def held_out(spec: CampaignSpec, trials: Sequence[Trial]) -> list[Held]:
    """Stored measurements kept out of the model until an operator acts: outside
    their objective's `bounds`, or beyond the fences of their column (on the
    model's scale) and not confirmed by an operator's amend."""
    names = [o.name for o in spec.objectives]
    done = [
        t
        for t in trials
        if t.status == TrialStatus.COMPLETED
        and t.measurement is not None
        and all(n in t.values for n in names)
    ]
    held: list[Held] = []
    for o in spec.objectives:
        raw = np.array([t.values[o.name] for t in done], dtype=float)
        scaled = np.log(raw) if o.transform == "log" and np.all(raw > 0) else raw
        low, high = fences(np.clip(scaled, -LIMIT, LIMIT))
        for t, value, v in zip(done, raw, scaled, strict=True):
            assert t.measurement is not None
            why = o.out_of_bounds(float(value))
            if why is None and not t.measurement.reviewed and not low <= v <= high:
                why = (
                    f"{value:.6g} is far outside the other values of "
                    f"'{o.name}' (more than {FENCE:g} robust scales from their median)"
                )
            if why is not None:
                held.append(Held(t.id, o.name, float(value), why))
    return held


def model_trials(spec: CampaignSpec, trials: Sequence[Trial]) -> list[Trial]:
    """*trials* without those whose measurement is `held_out`: what the engine
    (and the report's model quality) may learn from."""
    out = {h.trial_id for h in held_out(spec, trials)}
    return [t for t in trials if t.id not in out]
