"""The one rule for measured values, wherever they enter a campaign.

Robots (the API), push adapters (the driver), `loop tell` / `Campaign.tell`,
`loop import` and `loop trial amend` all check values here: every objective
present, none unknown, finite, positive under `transform: log`, and inside the
objective's `bounds`.

A value outside its bounds is refused, except from an *unattended* source (a
robot, an adapter) for an objective with `outliers: flag`: that value is kept
(nothing a robot sends is dropped) and its trial is held for review
(`review_reason`), out of the model until an operator amends, voids or
retries it. A person entering values (tell, import, amend) is asked to fix them
instead: a flag would only defer the same question.

Values already stored are screened by `held_out`: those outside the bounds
(stored before the bounds were declared) and those beyond the robust fences of
their column that no operator has confirmed stay out of the model and the
best-so-far until an operator voids or amends them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loop.records import Trial, TrialStatus
from loop.spec.campaign import CampaignSpec

#: Robust scales from the median beyond which a value is extreme: the model
#: pulls it in (`loop.model.robust.winsorise`) or, unconfirmed, leaves it out.
FENCE = 20.0
#: Largest magnitude a model sees (squares and sums stay finite).
LIMIT = 1e100
#: A value is absurd, and left out of the model until an operator confirms it,
#: when it lies more than this many times the spread of the other values (their
#: 10-90 % range, at least 1) from their median: 1.7e308 among values of order 1
#: is; a sharp optimum far above the rest of a flat landscape is not (beyond the
#: fences it is winsorised into the model, so the optimiser still sees its best).
ABSURD = 1000.0


@dataclass(frozen=True)
class ValueProblem:
    """Why the value of objective *name* is refused; *bounds* when the only
    fault is that it lies outside the objective's plausible range."""

    name: str
    message: str
    bounds: bool = False


def value_problems(
    spec: CampaignSpec, values: dict[str, float], *, unattended: bool = False
) -> list[ValueProblem]:
    """Every reason to refuse measured *values* (empty when they are accepted).

    *unattended* (robots, adapters): values outside the bounds of an objective
    with `outliers: flag` are accepted here and flagged by `review_reason`.
    """
    declared = {o.name: o for o in spec.objectives}
    problems = [
        ValueProblem(
            name,
            f"unknown objective '{name}'; this campaign measures {', '.join(declared)}",
        )
        for name in values
        if name not in declared
    ]
    for name, objective in declared.items():
        value = values.get(name)
        if value is None:
            problems.append(ValueProblem(name, "missing"))
        elif not math.isfinite(value):
            problems.append(ValueProblem(name, f"{value} is not a finite number"))
        elif objective.transform == "log" and value <= 0:
            problems.append(
                ValueProblem(
                    name,
                    f"{value} is not positive, but '{name}' is modelled on a log "
                    "scale; report the run as failed instead",
                )
            )
        elif (why := objective.out_of_bounds(value)) and not (
            unattended and objective.outliers == "flag"
        ):
            problems.append(ValueProblem(name, why + _CHECK, bounds=True))
    return problems


def review_reason(spec: CampaignSpec, values: dict[str, float]) -> str | None:
    """Why accepted *values* from an unattended source hold their trial for
    review (values outside the bounds of `outliers: flag` objectives), or None."""
    out = [
        why
        for o in spec.objectives
        if o.outliers == "flag"
        and o.name in values
        and (why := o.out_of_bounds(values[o.name]))
    ]
    if not out:
        return None
    return "held for review: " + "; ".join(out)


def describe(problems: list[ValueProblem]) -> str:
    """The problems in one line, each with its objective."""
    return "; ".join(f"value of '{p.name}': {p.message}" for p in problems)


#: What an out-of-bounds refusal adds: a value outside the plausible range is
#: usually a unit slip or a glitch; a real one means the bounds are wrong.
_CHECK = " (check the units and the instrument; if the value is real, widen `bounds`)"


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
    their objective's `bounds`, or absurd beside the rest of their column (on the
    model's scale, `ABSURD`) and not confirmed by an operator's amend."""
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
        clipped = np.clip(scaled, -LIMIT, LIMIT)
        for i, (t, value, v) in enumerate(zip(done, raw, clipped, strict=True)):
            assert t.measurement is not None
            why = o.out_of_bounds(float(value))
            if (
                why is None
                and not t.measurement.reviewed
                and _absurd(v, np.delete(clipped, i))
            ):
                why = (
                    f"{value:.6g} is far outside the other values of '{o.name}' "
                    f"(more than {ABSURD:g} times their spread from their median)"
                )
            if why is not None:
                held.append(Held(t.id, o.name, float(value), why))
    return held


def _absurd(value: float, others: np.ndarray) -> bool:
    """*value* is more than `ABSURD` times the spread of *others* (their 10-90 %
    range, at least 1 and at least their median's size) away from their median.
    Fewer than three others cannot say which value is the odd one."""
    if len(others) < 3:
        return False
    median = float(np.median(others))
    p10, p90 = np.percentile(others, [10, 90])
    spread = max(float(p90 - p10), abs(median), 1.0)
    return abs(value - median) > ABSURD * spread
