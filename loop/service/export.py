"""Exporting a campaign (`loop export`): every trial with its history and provenance.

Each trial carries what `inspect` shows (`trial_document`) plus the full
measurement (values, units, metadata, source, late, received_at), every status
change of every attempt (events, each with the `details` an adapter reported,
e.g. about a failed job) and how it was proposed (iteration, phase, strategy,
acquisition value, predicted mean/sd, seed, propose_seconds and the rest of the
provenance). JSON keeps that structure; CSV flattens it to one row
per trial with `composition.X`, `parameter.Y`, `value.Z` ... columns, and the
nested parts (metadata, events, provenance) as JSON text.

Numbers are written so that they read back exactly: CSV uses Python's shortest
round-tripping repr; JSON, which has no NaN or infinity, writes those as null.

A CSV text cell that a spreadsheet would run as a formula (it starts with `=`,
`+`, `-`, `@`, a tab or a carriage return: a robot's failure reason
`=HYPERLINK(...)`) is written with a leading single quote, as OWASP advises;
numbers, negative ones included, are written as numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime
from typing import Any

from loop.campaign_state import CampaignState, load_spec
from loop.errors import BadInputError
from loop.records import Trial
from loop.service.campaigns import pareto_ids, trial_document
from loop.service.held import held_reasons
from loop.spec import CampaignSpec
from loop.storage import Store

FORMATS = ("csv", "json")


def export_trials(store: Store, name: str) -> list[dict[str, Any]]:
    """The trial documents of campaign *name*, oldest first, each with its events."""
    spec = load_spec(store.get_campaign(name))
    trials = store.trials(name)
    held = held_reasons(spec, trials)
    front = pareto_ids(CampaignState(spec, trials))
    return [_document(store, spec, t, held, front) for t in trials]


def render(store: Store, name: str, fmt: str) -> str:
    """Campaign *name* as CSV or JSON text."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown format '{fmt}'", f"use {' or '.join(FORMATS)}")
    spec = load_spec(store.get_campaign(name))
    docs = export_trials(store, name)
    if fmt == "json":
        return json.dumps(_finite(docs), indent=2, allow_nan=False) + "\n"
    return to_csv(spec, docs)


def _document(
    store: Store,
    spec: CampaignSpec,
    t: Trial,
    held: dict[int, str],
    front: set[int] | None,
) -> dict[str, Any]:
    m = t.measurement or t.voided or t.flagged
    return {
        "campaign": spec.name,
        **trial_document(t, spec, held, front),
        "seed": t.seed,
        "propose_seconds": t.provenance.get("propose_seconds"),
        "provenance": t.provenance,
        "measurement": None
        if m is None
        else {
            "attempt": m.attempt,
            "values": m.values,
            "units": m.units,
            "metadata": m.metadata,
            "source": m.source,
            "late": m.late,
            "received_at": _when(m.received_at),
            # voided by an operator (`loop trial void`): shown, counted nowhere
            "voided": t.voided is not None,
        },
        "lease_expires_at": _when(t.lease_expires_at),
        "started_at": _when(t.started_at),
        "created_at": _when(t.created_at),
        "updated_at": _when(t.updated_at),
        "events": [
            {
                "attempt": e["attempt"],
                "from_status": e["from_status"],
                "to_status": e["to_status"],
                "reason": e["reason"],
                "details": e["details"],
                "at": _when(e["at"]),
            }
            for e in store.events(t.id)
        ],
    }


#: Plain per-trial CSV columns, before and after the spread-out blocks.
LEADING = (
    "campaign",
    "id",
    "iteration",
    "status",
    "attempt",
    "phase",
    "strategy",
    "seed",
    "acquisition_value",
    "propose_seconds",
    "feasible",
    "is_pareto",
)
TRAILING = (
    "failure_reason",
    "held_out",
    "outside_space",
    "lease_expires_at",
    "started_at",
    "created_at",
    "updated_at",
)


def csv_columns(spec: CampaignSpec, docs: list[dict[str, Any]]) -> list[str]:
    """The CSV header: the spec's names first, then any others the trials hold."""

    def names(declared: list[str], key: str, sub: str | None = None) -> list[str]:
        seen = list(declared)
        for d in docs:
            block = d[key] if sub is None else (d[key] or {}).get(sub, {})
            seen += [k for k in block or {} if k not in seen]
        return seen

    objectives = [o.name for o in spec.objectives]
    values = names(objectives, "measurement", "values")
    return [
        *LEADING,
        *(
            f"composition.{c}"
            for c in names(list(spec.space.components), "composition")
        ),
        # element campaigns: the atom-fraction formula beside the amounts
        *(["formula"] if any(d.get("formula") for d in docs) else []),
        *(
            f"parameter.{p}"
            for p in names([p.name for p in spec.space.parameters], "parameters")
        ),
        *(f"value.{o}" for o in values),
        *(f"unit.{o}" for o in names(objectives, "measurement", "units")),
        *(f"predicted_mean.{o}" for o in names(objectives, "predicted_mean")),
        *(f"predicted_sd.{o}" for o in names(objectives, "predicted_sd")),
        "measurement_attempt",
        "source",
        "late",
        "voided",
        "received_at",
        "metadata",
        *TRAILING,
        "events",
        "provenance",
    ]


def to_csv(spec: CampaignSpec, docs: list[dict[str, Any]]) -> str:
    columns = csv_columns(spec, docs)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for d in docs:
        writer.writerow({k: _cell(v) for k, v in _flat(d).items()})
    return buffer.getvalue()


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    m = d["measurement"] or {}
    row = {k: d[k] for k in (*LEADING, *TRAILING)}
    for prefix, block in (
        ("composition", d["composition"]),
        ("parameter", d["parameters"]),
        ("value", m.get("values", {})),
        ("unit", m.get("units", {})),
        ("predicted_mean", d["predicted_mean"]),
        ("predicted_sd", d["predicted_sd"]),
    ):
        row.update({f"{prefix}.{k}": v for k, v in block.items()})
    if m:
        row.update(
            measurement_attempt=m["attempt"],
            source=m["source"],
            late=m["late"],
            voided=m["voided"],
            received_at=m["received_at"],
            metadata=_json(m["metadata"]),
        )
    if d.get("formula"):
        row["formula"] = d["formula"]
    row["events"] = _json(d["events"])
    row["provenance"] = _json(d["provenance"])
    return row


#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """*text* as a CSV cell no spreadsheet runs: a leading `'` before a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return inert(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    if isinstance(value, dict | list):
        return _json(value)
    return value


def _json(value: Any) -> str:
    return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    """*value* with NaN and infinities replaced by None (JSON cannot hold them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
