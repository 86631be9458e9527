"""`strategy.transfer`: measurements of related systems the model learns from.

A lab rarely starts a composition plate or an alloy family from nothing: a
neighbouring plate shares three of its cations, last year's alloys share most of
their elements. `strategy.transfer` names such *sources*, campaigns in the same
database or tables of measurements, and the native strategy learns from them as
a related task (`loop.model.transfer`): a GP fitted to the sources predicts each
objective, and that prediction is one more input of the campaign's own GP, whose
fit decides how much to trust it. The sources are never trials of the campaign:
its proposals, best and budget count only its own.

Inputs are matched by name: components of the same name (relative amounts, so
at.% and fractions agree), numeric parameters of the same name that every source
has, objectives of the same name. Components only a source has still inform the
campaign through element descriptors when the surrogate uses them
(`surrogate.features: [fractions, element_descriptors]`); without descriptors a
source must share a component or a parameter with the campaign.

This module reads tables (no torch); `loop.sources` reads campaigns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from loop.errors import Problem
from loop.spec.base import SpecModel
from loop.spec.tables import (
    FORMULA_KEY,
    DataTable,
    find_data_file,
    not_found,
    read_frame,
    select_rows,
)

if TYPE_CHECKING:
    from loop.spec.campaign import CampaignSpec


class TransferTable(DataTable):
    """A table of measurements of a related system (CSV, or JSON records);
    `columns` may also map `composition` to a column of formulas (element
    campaigns)."""

    #: The source's components (its column names, or names mapped in
    #: `columns`); left out, the campaign's own components.
    components: tuple[str, ...] = ()


class Transfer(SpecModel):
    """Sources the native strategy learns from as related tasks."""

    #: Campaigns in the same database (their completed trials).
    campaigns: tuple[str, ...] = Field(default=(), max_length=50)
    #: Tables of measurements.
    data: tuple[TransferTable, ...] = Field(default=(), max_length=50)


@dataclass(frozen=True)
class SourceRows:
    """Measurements of one source, by name: relative amounts, numeric
    parameters and raw objective values (NaN where a row has none)."""

    label: str
    components: tuple[str, ...]
    #: rows x components, each row summing to 1 (all zero for a campaign without
    #: a composition)
    fractions: np.ndarray
    parameters: dict[str, np.ndarray] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.fractions)


def transfer_problems(spec: CampaignSpec, check_files: bool) -> list[Problem]:
    """Problems of `strategy.transfer`: an engine other than botorch, no source,
    the campaign naming itself and, with *check_files*, tables not found or not
    readable, missing columns, and sources sharing nothing with the campaign."""
    transfer = spec.strategy.transfer
    if transfer is None:
        return []
    key = "strategy.transfer"
    if spec.strategy.engine != "botorch":
        return [
            Problem(
                key,
                f"engine {spec.strategy.engine} cannot learn from other campaigns",
                "use `strategy.engine: botorch`, or remove `strategy.transfer`",
            )
        ]
    if not transfer.campaigns and not transfer.data:
        return [
            Problem(
                key,
                "no source is named",
                "list `campaigns: [NAME, ...]` or `data: [{path: FILE}, ...]`",
            )
        ]
    problems = [
        Problem(
            f"{key}.campaigns.{i}",
            "a campaign cannot transfer from itself",
            "name another campaign of the same database",
        )
        for i, name in enumerate(transfer.campaigns)
        if name == spec.name
    ]
    if check_files:
        for i, table in enumerate(transfer.data):
            found = read_table(spec, table, f"{key}.data.{i}")
            if isinstance(found, list):
                problems += found
            else:
                problems += overlap_problems(spec, found, f"{key}.data.{i}")
    return problems


def read_table(
    spec: CampaignSpec, table: TransferTable, key: str
) -> SourceRows | list[Problem]:
    """The rows of a `strategy.transfer.data` table, or what is wrong with it."""
    path, tried = find_data_file(table.path)
    if path is None:
        return [not_found(f"{key}.path", table.path, tried)]
    try:
        frame = read_frame(path)
    except (OSError, ValueError) as exc:
        return [
            Problem(
                f"{key}.path",
                f"cannot read {path} as a table: {exc}",
                "give a CSV with a header row, or JSON as a list of records",
            )
        ]
    available = [str(c) for c in frame.columns]
    missing = [c for c in table.where if c not in available]
    if missing:
        return [
            Problem(
                f"{key}.where.{c}", f"no column '{c}' in {path.name}", _shown(available)
            )
            for c in missing
        ]
    frame, _ = select_rows(frame, dict(table.where))
    columns = dict(table.columns)
    records = frame.to_dict(orient="records")
    fractions = _fractions(spec, table, columns, records, available, key)
    if isinstance(fractions, list):
        return fractions
    components, amounts = fractions
    parameters = {
        p.name: np.array([_number(r.get(columns.get(p.name, p.name))) for r in records])
        for p in spec.space.parameters
        if p.type != "categorical" and columns.get(p.name, p.name) in available
    }
    values = {
        o.name: np.array([_number(r.get(columns.get(o.name, o.name))) for r in records])
        for o in spec.objectives
        if columns.get(o.name, o.name) in available
    }
    if not any(o.name in values for o in spec.goals):
        wanted = ", ".join(o.name for o in spec.goals)
        return [
            Problem(
                f"{key}.columns",
                f"{path.name} has no column for {wanted}",
                f"map an objective to its column, e.g. `columns: {{{spec.goals[0].name}: "
                "<column>}`; " + _shown(available),
            )
        ]
    return SourceRows(path.name, components, amounts, parameters, values)


def overlap_problems(spec: CampaignSpec, source: SourceRows, key: str) -> list[Problem]:
    """A source the campaign's GP cannot relate to its own inputs: no shared
    component or parameter and no element descriptors; or components without
    descriptors when the campaign uses them."""
    comp = spec.space.composition
    described = "element_descriptors" in spec.strategy.surrogate.features
    shared = set(source.components) & set(spec.space.components)
    shared |= set(source.parameters)
    if not shared and not described:
        return [
            Problem(
                key,
                f"{source.label} shares no component or parameter with the campaign",
                "add element descriptors (`strategy.surrogate.features: [fractions, "
                "element_descriptors]`) so other elements can inform it, or name a "
                "source with the campaign's components",
            )
        ]
    if not described or comp is None:
        return []
    others = [c for c in source.components if c not in comp.components]
    if comp.kind == "element":
        from loop.spec.descriptors import element_row

        bad = []
        for c in others:
            try:
                row = element_row(c)
            except Exception:  # pymatgen raises ValueError/KeyError for non-symbols
                bad.append(c)
                continue
            if any(v is None for v in row.values()):
                bad.append(c)
        why = "are not elements with the four descriptor values"
    else:
        table = comp.descriptors or {}
        bad = [c for c in others if c not in table]
        why = "have no entry in `space.composition.descriptors`"
    if bad:
        return [
            Problem(
                f"{key}.components",
                f"{', '.join(bad)} of {source.label} {why}",
                "give their descriptors, or leave those rows out with `where`",
            )
        ]
    return []


def _fractions(
    spec: CampaignSpec,
    table: TransferTable,
    columns: dict[str, str],
    records: list[dict[str, Any]],
    available: list[str],
    key: str,
) -> tuple[tuple[str, ...], np.ndarray] | list[Problem]:
    """(components, rows x components of relative amounts), or the problems."""
    comp = spec.space.composition
    if comp is None:
        return (), np.zeros((len(records), 0))
    if FORMULA_KEY in columns:
        return _formulas(spec, columns[FORMULA_KEY], records, available, key)
    components = table.components or comp.components
    missing = [c for c in components if columns.get(c, c) not in available]
    if missing:
        return [
            Problem(
                f"{key}.columns",
                f"no column for {', '.join(missing)} in the table",
                "map each component with `columns: {NAME: <column>}`, or list the "
                "source's own in `components`; " + _shown(available),
            )
        ]
    raw = np.array(
        [[_number(r.get(columns.get(c, c))) for c in components] for r in records]
    ).reshape(len(records), len(components))
    return tuple(components), _relative(raw)


def _formulas(
    spec: CampaignSpec,
    column: str,
    records: list[dict[str, Any]],
    available: list[str],
    key: str,
) -> tuple[tuple[str, ...], np.ndarray] | list[Problem]:
    comp = spec.space.composition
    assert comp is not None
    if column not in available or comp.kind != "element":
        why = (
            f"no column '{column}' in the table"
            if column not in available
            else "a column of formulas needs an element campaign"
        )
        return [Problem(f"{key}.columns.{FORMULA_KEY}", why, _shown(available))]
    from pymatgen.core import Composition

    parsed: list[dict[str, float]] = []
    for record in records:
        try:
            c = Composition(str(record.get(column)).strip())
            elements = [str(e) for e in c.elements]
            share = c.get_wt_fraction if comp.basis == "mass" else c.get_atomic_fraction
            parsed.append({e: float(share(e)) for e in elements})
        except Exception:  # pymatgen raises several types; an unreadable row is skipped
            parsed.append({})
    seen = list(comp.components)
    for row in parsed:
        seen += [e for e in row if e not in seen]
    raw = np.array(
        [[row.get(e, math.nan if not row else 0.0) for e in seen] for row in parsed]
    )
    return tuple(seen), _relative(raw.reshape(len(records), len(seen)))


def _relative(raw: np.ndarray) -> np.ndarray:
    """Rows scaled to sum 1; rows with a missing or negative amount, or summing
    to 0, become NaN (and are left out when the source is used)."""
    total = raw.sum(axis=1, keepdims=True)
    bad = ~np.isfinite(total) | (total <= 0) | (raw < 0).any(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = raw / np.where(bad, 1.0, total)
    out[bad[:, 0]] = math.nan
    return out


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _shown(available: list[str]) -> str:
    return (
        "columns: "
        + ", ".join(available[:30])
        + (" ..." if len(available) > 30 else "")
    )
