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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loop.spec.campaign import CampaignSpec


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
