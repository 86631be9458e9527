"""Read the sources of `strategy.transfer`: campaigns of the same store and tables.

A source campaign gives its completed trials (without values held out for an
operator), read when the engine is built: a run or an ask sees the sources as
they stand then. Problems a campaign file cannot show (a source campaign that
does not exist, or shares nothing with this one) stop the run with exit 2 before
anything is proposed.
"""

from __future__ import annotations

import numpy as np

from loop.campaign_state import load_spec
from loop.errors import BadInputError, CampaignNotFoundError, Problem
from loop.model.robust import model_trials
from loop.records import TrialStatus
from loop.spec import CampaignSpec
from loop.spec.transfer import SourceRows, overlap_problems, read_table
from loop.storage import Store


def read_sources(store: Store, spec: CampaignSpec) -> tuple[SourceRows, ...]:
    """Every source of *spec*'s `strategy.transfer` (none without it)."""
    transfer = spec.strategy.transfer
    if transfer is None:
        return ()
    key = "strategy.transfer"
    sources: list[SourceRows] = []
    problems: list[Problem] = []
    for i, name in enumerate(transfer.campaigns):
        try:
            source = campaign_rows(store, spec, name)
        except CampaignNotFoundError as exc:
            problems.append(Problem(f"{key}.campaigns.{i}", exc.message, exc.hint))
            continue
        problems += overlap_problems(spec, source, f"{key}.campaigns.{i}")
        sources.append(source)
    for i, table in enumerate(transfer.data):
        found = read_table(spec, table, f"{key}.data.{i}")
        if isinstance(found, list):
            problems += found
        else:
            sources.append(found)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BadInputError(f"{first.path}: {first.message}{more}", first.hint)
    return tuple(sources)


def campaign_rows(store: Store, spec: CampaignSpec, name: str) -> SourceRows:
    """The completed trials of campaign *name*, by the names of *spec*."""
    source = load_spec(store.get_campaign(name))
    trials = [
        t
        for t in model_trials(source, store.trials(name))
        if t.status is TrialStatus.COMPLETED
    ]
    components = tuple(source.space.components)
    raw = np.array(
        [[float(t.composition.get(c, 0.0)) for c in components] for t in trials]
    ).reshape(len(trials), len(components))
    total = raw.sum(axis=1, keepdims=True)
    fractions = raw / np.where(total > 0, total, 1.0)
    numeric = {p.name for p in source.space.parameters if p.type != "categorical"}
    parameters = {
        p.name: np.array([float(t.parameters[p.name]) for t in trials])
        for p in spec.space.parameters
        if p.type != "categorical" and p.name in numeric
    }
    values = {
        o.name: np.array([float(t.values.get(o.name, np.nan)) for t in trials])
        for o in spec.objectives
        if any(o.name == s.name for s in source.objectives)
    }
    return SourceRows(f"campaign {name}", components, fractions, parameters, values)
