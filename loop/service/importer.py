"""`loop import`: past measurements from a CSV or JSON file become trials.

Rows are read with the dataset adapter's rules (`loop.spec.rows`: the same
column mapping), each kept as its own trial (replicates are not averaged: each
was an experiment). Every row must be usable, inside the campaign's space and
with values inside their objectives' `bounds` (`loop.spec.values`; an import
refuses them even under `outliers: flag`), or nothing is stored and each
refused row is reported with its line, column and reason. The rows become COMPLETED trials of phase `imported`, with
provenance {source file name, sha256 of the file, row number}; they spend no
budget, count as measurements for the model and for the best, and stand in for
initial-design points. Importing the same content twice adds nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loop.campaign_state import load_spec
from loop.errors import BadInputError
from loop.records import Proposal, TrialPhase
from loop.spec.rows import column_names, read_configuration, read_values
from loop.spec.rules import violations
from loop.spec.values import value_problems
from loop.storage import Store
from loop.storage.manual import import_measured

#: Refused rows listed in an error (the count says how many more).
SHOWN = 20


@dataclass(frozen=True)
class Imported:
    """What an import did: rows stored (0 when the file was imported before)."""

    file: str
    sha256: str
    rows: int
    stored: int
    already: bool


def import_file(
    store: Store,
    name: str,
    path: Path,
    columns: dict[str, str] | None = None,
    normalize: bool = False,
) -> Imported:
    """Import every row of *path* (CSV, or JSON: a list of records) into *name*."""
    spec = load_spec(store.get_campaign(name))
    records, digest = _read(path)
    col = column_names(spec, columns or {})
    known = {n for record in records for n in record}
    absent = sorted({c for c in col.values() if c not in known})
    if records and absent:
        raise BadInputError(
            f"{path.name} has no column {', '.join(absent)}",
            f"its columns are {', '.join(sorted(known))}; map a campaign name to a "
            "column with --columns name=column",
        )
    rows: list[tuple[Proposal, dict[str, float]]] = []
    refused: list[str] = []
    for number, record in enumerate(records, start=1):
        line = f"row {number}"
        config = read_configuration(record, spec, col, normalize)
        if not isinstance(config[0], dict):
            refused.append(f"{line}, column {config[0]}: {config[1]}")
            continue
        values = read_values(record, spec, col)
        if isinstance(values, tuple):
            refused.append(f"{line}, column {values[0]}: {values[1]}")
            continue
        problems = [(p.name, p.message) for p in value_problems(spec, values)]
        problems += [("", why) for why in violations(spec, *config)]
        if problems:
            said = "; ".join(f"{n + ': ' if n else ''}{why}" for n, why in problems)
            refused.append(f"{line}: {said}")
            continue
        composition, parameters = config
        rows.append(
            (
                Proposal(
                    composition=composition,
                    parameters=parameters,
                    phase=TrialPhase.IMPORTED,
                    strategy="import",
                    provenance={"source": path.name, "sha256": digest, "row": number},
                ),
                values,
            )
        )
    if refused:
        more = len(refused) - SHOWN
        raise BadInputError(
            f"{len(refused)} of {len(records)} rows of {path.name} cannot be imported "
            f"into '{name}', so none was:\n  "
            + "\n  ".join(refused[:SHOWN])
            + (f"\n  ... and {more} more" if more > 0 else ""),
            "fix or remove those rows (rows count from 1 after the header), or map "
            "columns with --columns name=column",
        )
    if not rows:
        raise BadInputError(f"{path.name} has no rows", "give a file with measurements")
    units = {o.name: o.unit for o in spec.objectives if o.unit}
    stored = import_measured(store, name, rows, digest, source=path.name, units=units)
    return Imported(
        path.name, digest, len(rows), len(stored or []), already=stored is None
    )


def _read(path: Path) -> tuple[list[dict[str, Any]], str]:
    import pandas as pd

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(
            f"cannot read {path}: {exc.strerror or exc}", "check the path"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    try:
        if path.suffix.lower() == ".json":
            frame = pd.read_json(path, orient="records")
        else:
            frame = pd.read_csv(path)
    except ValueError as exc:
        raise BadInputError(
            f"{path.name} is not a readable {'JSON' if path.suffix == '.json' else 'CSV'} "
            f"table: {exc}",
            "give a CSV with a header row, or JSON as a list of records",
        ) from None
    records = [
        {k: (None if _missing(v) else v) for k, v in r.items()}
        for r in frame.to_dict(orient="records")
    ]
    return records, digest


def _missing(value: Any) -> bool:
    return isinstance(value, float) and value != value  # NaN: an empty cell
