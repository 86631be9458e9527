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

Before that, `held_out` (`loop.spec.values`, where the fences are defined,
since the best-so-far leaves the same values out) keeps some stored
measurements out of the model
altogether until an operator has looked at them: values outside their
objective's `bounds` (stored before the bounds were declared), and values
beyond the fences that no operator has confirmed (`loop trial amend`, which
marks the measurement reviewed). A campaign database that already holds a
1.7e308 so resumes on its other measurements; `loop resume` names the values
held and the commands that resolve them (`loop.service.runner`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loop.records import Trial
from loop.spec import CampaignSpec
from loop.spec.values import FENCE, LIMIT, fences, held_out

__all__ = ["FENCE", "LIMIT", "fences", "held_out", "model_trials", "winsorise"]


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


def model_trials(spec: CampaignSpec, trials: Sequence[Trial]) -> list[Trial]:
    """*trials* without those whose measurement is `held_out`: what the engine
    (and the report's model quality) may learn from."""
    out = {h.trial_id for h in held_out(spec, trials)}
    return [t for t in trials if t.id not in out]
