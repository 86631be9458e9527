"""Everything the HTML report shows, computed as plain data (lists, dicts, floats).

`build_report` reads one campaign from the store and returns a `ReportData`;
`loop.report.html.render_html` only draws it. Keeping the numbers here, apart
from the drawing, lets tests check what a plot shows without reading a picture,
and lets the page carry its data as JSON for anyone who wants the numbers.

Measurements are counted in the order they arrived (`received_at`, then trial
id). "Best so far" and the Pareto front consider only acceptable trials
(measured, with every outcome constraint met), as `loop inspect` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from loop.campaign_state import (
    acceptable,
    budget_used,
    dominated_volume,
    load_spec,
    measured_in_order,
    pareto_trials,
    recommended_tradeoff,
    reference_point,
)
from loop.display import parameter_units
from loop.errors import BadInputError
from loop.records import Trial, TrialStatus, cost_of
from loop.report.quality import model_quality
from loop.sources import read_sources
from loop.spec import CampaignSpec
from loop.spec.fidelity import FIDELITY
from loop.spec.transfer import SourceRows
from loop.spec.values import held_out
from loop.storage import Store


@dataclasses.dataclass(frozen=True)
class ReportData:
    """The numbers behind every figure and table of the report.

    Any section is None when the campaign does not have what it needs (no
    measurement yet, a single objective for `pareto`); `notes` says why.
    """

    campaign: dict[str, Any]
    progress: dict[str, Any] | None
    space: dict[str, Any] | None
    cv: dict[str, Any] | None
    relevance: dict[str, Any] | None
    pareto: dict[str, Any] | None
    trials: list[dict[str, Any]]
    notes: list[str]
    #: Stored predictions of model proposals against their later measurements,
    #: per objective (`loop.model.calibration.predicted_before_measured`).
    held_out: dict[str, Any] | None = None
    #: Cross-validated ROC AUC and Brier score of the failure model.
    failure: dict[str, Any] | None = None
    #: With `fidelities:`: cost per fidelity after each measurement, the
    #: target's best against the cost, and the fidelities' learned agreement.
    fidelity: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def build_report(
    store: Store, name: str, on_step: Callable[[str], None] = lambda _m: None
) -> ReportData:
    """Read campaign *name* and compute every figure's data (fits small GPs)."""
    on_step("reading trials")
    record = store.get_campaign(name)
    spec = load_spec(record)
    trials = store.trials(name)
    measured = measured_in_order(trials)
    notes: list[str] = []
    if not measured:
        notes.append(
            "no measurements yet: only the trial table is shown; run the campaign "
            f"(`loop run` / `loop resume {name}`) and make the report again"
        )
    sources: tuple[SourceRows, ...] = ()
    if measured and spec.strategy.transfer is not None:
        try:
            sources = read_sources(store, spec)
        except BadInputError as exc:
            notes.append(f"the model is checked without its transfer sources: {exc}")
    quality = (
        model_quality(spec, trials, on_step, store.latest_fit(name), sources)
        if measured
        else None
    )
    if quality is not None:
        notes += quality.notes
    campaign = {
        "name": record.name,
        "status": record.status,
        "description": spec.description,
        "objectives": [o.model_dump(mode="json") for o in spec.objectives],
        "components": list(spec.space.components),
        "parameters": [p.model_dump(mode="json") for p in spec.space.parameters],
        "units": parameter_units(spec),
        "budget": {"experiments": spec.budget.experiments, "used": budget_used(trials)},
        "n_trials": len(trials),
        "n_measured": len(measured),
        "acquisition": spec.acquisition,
        "engine": spec.strategy.engine,
    }
    return ReportData(
        campaign=campaign,
        progress=progress(spec, measured) if measured else None,
        space=space(spec, trials) if measured else None,
        cv=quality.cv if quality else None,
        relevance=quality.relevance if quality else None,
        pareto=pareto(spec, trials) if measured and len(spec.goals) > 1 else None,
        trials=[trial_row(spec, t) for t in trials],
        notes=notes,
        held_out=quality.held_out if quality else None,
        failure=quality.failure if quality else None,
        fidelity=(
            fidelity_progress(spec, measured, quality.fidelity if quality else None)
            if measured and spec.fidelities
            else None
        ),
    )


def fidelity_progress(
    spec: CampaignSpec, measured: list[Trial], agreement: dict[str, Any] | None
) -> dict[str, Any]:
    """After each measurement: the cost spent in all and at each fidelity, and
    the target's best for the first goal; with the model's learned agreement."""
    levels = [f.name for f in spec.fidelities]
    spent = dict.fromkeys(levels, 0.0)
    by_level: dict[str, list[float]] = {name: [] for name in levels}
    total: list[float] = []
    for t in measured:
        assert t.measurement is not None
        level = t.parameters.get(FIDELITY)
        if level in spent:
            spent[level] += cost_of(t.measurement.metadata) or 0.0
        for name in levels:
            by_level[name].append(spent[name])
        total.append(sum(spent.values()))
    goal = spec.goals[0]
    return {
        "levels": levels,
        "target": spec.target_fidelity,
        "goal": goal.name,
        "level": [t.parameters.get(FIDELITY) for t in measured],
        "values": [t.values.get(goal.name) for t in measured],
        "trial_ids": [t.id for t in measured],
        "cost": total,
        "cost_by_level": by_level,
        "best": running_best(spec, measured)[goal.name],
        "agreement": agreement,
    }


def running_best(spec: CampaignSpec, measured: list[Trial]) -> dict[str, list[Any]]:
    """Best contending value of each goal after each measurement (None before
    one): acceptable, and not held for an operator as implausibly extreme."""
    held = {h.trial_id for h in held_out(spec, measured)}
    out: dict[str, list[Any]] = {}
    for goal in spec.goals:
        best: float | None = None
        trace: list[Any] = []
        for t in measured:
            if t.id not in held and acceptable(spec, t):
                v = t.values[goal.name]
                best = v if best is None or goal.better(v, best) else best
            trace.append(best)
        out[goal.name] = trace
    return out


def progress(spec: CampaignSpec, measured: list[Trial]) -> dict[str, Any]:
    """Measured values, best so far and (several goals) hypervolume, per measurement."""
    data: dict[str, Any] = {
        "measurement": list(range(1, len(measured) + 1)),
        "trial_ids": [t.id for t in measured],
        "acceptable": [acceptable(spec, t) for t in measured],
        "values": {
            o.name: [t.values.get(o.name) for t in measured] for o in spec.objectives
        },
        "best": running_best(spec, measured),
        "hypervolume": None,
        "reference_point": None,
    }
    if len(spec.goals) > 1:
        data.update(hypervolume_trace(spec, measured))
    return data


def hypervolume_trace(spec: CampaignSpec, measured: list[Trial]) -> dict[str, Any]:
    """Hypervolume of the contending points after each measurement, in the
    objectives' own units (`loop.campaign_state.Hypervolume`), against one
    reference for the whole trace: the one of all the measurements."""
    held = {h.trial_id for h in held_out(spec, measured)}
    ok = [t for t in measured if acceptable(spec, t) and t.id not in held]
    ref = reference_point(spec, ok)
    if ref is None:
        return {"hypervolume": [0.0] * len(measured), "reference_point": None}
    seen: list[Trial] = []
    trace: list[float] = []
    for t in measured:
        if t.id not in held and acceptable(spec, t):
            seen.append(t)
        trace.append(dominated_volume(spec, seen, ref) if seen else 0.0)
    return {
        "hypervolume": trace,
        "reference_point": {
            o.name: o.sign * float(r) for o, r in zip(spec.goals, ref, strict=True)
        },
    }


#: Components from which the space figure draws stacked bars, not parallel axes.
BARS_FROM = 6


def space(spec: CampaignSpec, trials: list[Trial]) -> dict[str, Any]:
    """Where the trials are: a ternary for three components, stacked bars (one
    per measured trial, best first) from `BARS_FROM` components on, where
    parallel axes become unreadable; else parallel axes.

    Values are shown as stored (the composition in the units of its `total`,
    parameters in their units); categorical values become axis codes.
    """
    components = list(spec.space.components)
    kind = (
        "ternary"
        if len(components) == 3
        else "bars"
        if len(components) >= BARS_FROM
        else "parallel"
    )
    colour = spec.goals[0]
    rows = [t for t in trials if t.status != TrialStatus.STALE]
    axes: list[dict[str, Any]] = [
        {"name": c, "kind": "component", "values": [t.composition.get(c) for t in rows]}
        for c in components
    ]
    for p in spec.space.parameters:
        values = [t.parameters.get(p.name) for t in rows]
        if p.type == "categorical":
            labels = [str(v) for v in p.values]
            axes.append(
                {
                    "name": p.name,
                    "kind": "categorical",
                    "labels": labels,
                    "values": [labels.index(str(v)) for v in values],
                }
            )
        else:
            axes.append(
                {"name": p.name, "kind": p.type, "unit": p.unit, "values": values}
            )
    return {
        "kind": kind,
        "trial_ids": [t.id for t in rows],
        "status": [t.status.value for t in rows],
        "colour": {
            "name": colour.name,
            "unit": colour.unit,
            "direction": colour.direction,
            "values": [t.values.get(colour.name) for t in rows],
        },
        "axes": axes,
    }


def pareto(spec: CampaignSpec, trials: list[Trial]) -> dict[str, Any]:
    """Acceptable measured points of every goal and which of them are on the front."""
    goals = spec.goals
    ok = [t for t in trials if acceptable(spec, t)]
    members = pareto_trials(spec, trials)
    front = {t.id for t in members}
    recommended = recommended_tradeoff(spec, members)
    return {
        "goals": [
            {"name": o.name, "direction": o.direction, "unit": o.unit} for o in goals
        ],
        "trial_ids": [t.id for t in ok],
        "values": {o.name: [t.values[o.name] for t in ok] for o in goals},
        "front": [t.id in front for t in ok],
        "recommended": recommended.id if recommended else None,
        # what the front is made of: one bar per member, ordered along the first goal
        "members": [
            {"id": t.id, "composition": dict(t.composition)}
            for t in sorted(members, key=lambda t: t.values[goals[0].name])
        ],
    }


def trial_row(spec: CampaignSpec, t: Trial) -> dict[str, Any]:
    """One row of the trial table: configuration, provenance and result."""
    names = [o.name for o in spec.objectives]
    return {
        "id": t.id,
        "iteration": t.iteration,
        "phase": t.phase,
        "strategy": t.strategy,
        "status": t.status.value,
        "attempt": t.attempt,
        "composition": dict(t.composition),
        "parameters": dict(t.parameters),
        "acquisition_value": t.acquisition_value,
        "predicted": {
            n: [t.predicted_mean[n], t.predicted_sd.get(n)]
            for n in names
            if n in t.predicted_mean
        },
        "measured": {n: t.values[n] for n in names if n in t.values},
        "p_success": t.provenance.get("p_success"),
        "n_train": t.provenance.get("n_train"),
        "failure_reason": t.failure_reason
        if t.voided is None
        else "measurement voided by an operator (counted nowhere): "
        + ", ".join(f"{n} = {v:.6g}" for n, v in t.voided.values.items()),
    }
