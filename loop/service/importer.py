"""`loop import` and `prior_data`: past measurements from a CSV or JSON file become trials.

Rows are read with the dataset adapter's rules (`loop.spec.tables` and
`loop.spec.rows`: the same column mapping and `where` filter), each kept as its
own trial (replicates are not averaged: each was an experiment). A row must be
usable, with values inside their objectives' `bounds` (`loop.spec.values`; an
import refuses them even under `outliers: flag`), and inside the campaign's
space, unless `keep_outside`: then a row outside the bounds, grids or
constraints is stored with provenance `outside_space: [why]`, for the model to
learn from but never as the campaign's best (`loop.campaign_state.acceptable`).
A row that means nothing to the model (another set of components, amounts that
do not sum to the total, an undeclared category) is refused even then.

`loop import` stores every row or none: one refused row refuses the file, and
each refused row is reported with its line, column and reason. A `prior_data`
file (*partial*) stores its usable rows and reports the others; a file with
none is an error. The rows become COMPLETED trials of phase `imported`, with
provenance {source file name, sha256 of the file, row number}; they spend no
budget, count as measurements for the model and for the best, and (those inside
the space) stand in for initial-design points.

Importing the same content twice adds nothing. A file whose content changed
(rows appended or corrected) is a new source, but its rows equal to ones
already imported from a file of the same name (configuration and values) are
not stored again: appending rows to a spreadsheet imports only the new rows.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loop.campaign_state import load_spec
from loop.errors import BadInputError
from loop.records import Proposal, Trial, TrialPhase
from loop.spec import CampaignSpec
from loop.spec.rows import column_names, read_configuration, read_values
from loop.spec.rules import outside_space, unrepresentable
from loop.spec.tables import read_frame, select_rows
from loop.spec.values import value_problems
from loop.storage import Store
from loop.storage.manual import import_measured

#: Refused rows listed in an error or a report (the count says how many more).
SHOWN = 20

Row = tuple[Proposal, dict[str, float]]


@dataclass(frozen=True)
class Imported:
    """What an import did: rows stored (0 when the file was imported before)."""

    file: str
    sha256: str
    rows: int
    stored: int
    already: bool
    #: Rows left out of a partial import (`prior_data`), each with why.
    refused: tuple[str, ...] = ()
    #: Rows stored outside the campaign's space (`keep_outside`).
    outside: int = 0
    #: Rows of a changed file already imported from an earlier version of it.
    repeated: int = 0


def import_file(
    store: Store,
    name: str,
    path: Path,
    columns: dict[str, str] | None = None,
    normalize: bool = False,
    *,
    where: dict[str, Any] | None = None,
    keep_outside: bool = False,
    partial: bool = False,
) -> Imported:
    """Import the rows of *path* (CSV, or JSON: a list of records) into *name*.

    *where* selects rows as the dataset adapter's `where` does; rows count from
    1 after the header, before that selection. *partial*: store the usable rows
    and list the others in `Imported.refused` instead of refusing the file.
    """
    frame, digest = _read(path)
    return import_frame(
        store,
        name,
        frame,
        digest,
        path.name,
        columns,
        normalize,
        where=where,
        keep_outside=keep_outside,
        partial=partial,
    )


def import_frame(
    store: Store,
    name: str,
    frame: Any,
    digest: str,
    source: str,
    columns: dict[str, str] | None = None,
    normalize: bool = False,
    *,
    where: dict[str, Any] | None = None,
    keep_outside: bool = False,
    partial: bool = False,
) -> Imported:
    """Import the rows of a table (a pandas DataFrame) read from *source*,
    whose content has the sha256 *digest*, under the rules of `import_file`."""
    spec = load_spec(store.get_campaign(name))
    earlier = [
        t for t in store.trials(name) if t.phase is TrialPhase.IMPORTED
    ]  # the store checks again in its transaction; this spares the report
    if any(t.provenance.get("sha256") == digest for t in earlier):
        return Imported(source, digest, 0, 0, already=True)
    col = column_names(spec, columns or {})
    known = [str(c) for c in frame.columns]
    absent = sorted({c for c in [*col.values(), *(where or {})] if c not in known})
    if len(frame) and absent:
        raise BadInputError(
            f"{source} has no column {', '.join(absent)}",
            f"its columns are {', '.join(sorted(known))}; map a campaign name to a "
            "column with --columns name=column (`columns:` in prior_data)",
        )
    total = len(frame)
    frame, _ = select_rows(frame, where or {})
    records = [
        (int(i) + 1, {k: (None if _missing(v) else v) for k, v in r.items()})
        for i, r in zip(frame.index, frame.to_dict(orient="records"), strict=True)
    ]
    stamp = {"source": source, "sha256": digest}
    rows, refused, outside = _rows(spec, records, col, normalize, keep_outside, stamp)
    if refused and not partial:
        more = len(refused) - SHOWN
        raise BadInputError(
            f"{len(refused)} of {total} rows of {source} cannot be imported "
            f"into '{name}', so none was:\n  "
            + "\n  ".join(refused[:SHOWN])
            + (f"\n  ... and {more} more" if more > 0 else ""),
            "fix or remove those rows (rows count from 1 after the header), or map "
            "columns with --columns name=column"
            + (
                "; rows outside the campaign's space can be kept for the model "
                "(never as the best) with --keep-outside"
                if outside
                else ""
            ),
        )
    if not rows:
        shown = "".join(f"\n  {r}" for r in refused[:SHOWN])
        raise BadInputError(
            f"{source} has no usable row ({total} read, {len(records)} selected)"
            + shown,
            "give a file with measurements of the campaign's components, parameters "
            "and objectives (map columns with `columns`, select rows with `where`)",
        )
    rows, repeated = _new_rows(rows, [t for t in earlier if _source(t) == source])
    units = {o.name: o.unit for o in spec.objectives if o.unit}
    stored = import_measured(store, name, rows, digest, source=source, units=units)
    return Imported(
        source,
        digest,
        len(rows),
        len(stored or []),
        already=stored is None,
        refused=tuple(refused),
        outside=sum(1 for p, _ in rows if "outside_space" in p.provenance),
        repeated=repeated,
    )


def _rows(
    spec: CampaignSpec,
    records: list[tuple[int, dict[str, Any]]],
    col: dict[str, str],
    normalize: bool,
    keep_outside: bool,
    stamp: dict[str, str],
) -> tuple[list[Row], list[str], bool]:
    """The usable rows, the refused ones with why, and whether a row was
    refused only for lying outside the space (`keep_outside` would keep it)."""
    rows: list[Row] = []
    refused: list[str] = []
    only_outside = False
    for number, record in records:
        line = f"row {number}"
        config = read_configuration(record, spec, col, normalize)
        if not isinstance(config[0], dict):
            refused.append(f"{line}, column {config[0]}: {config[1]}")
            continue
        values = read_values(record, spec, col)
        if isinstance(values, tuple):
            refused.append(f"{line}, column {values[0]}: {values[1]}")
            continue
        composition, parameters = config
        problems = [(p.name, p.message) for p in value_problems(spec, values)]
        problems += [("", why) for why in unrepresentable(spec, *config)]
        outside = outside_space(spec, *config)
        if outside and not keep_outside and not problems:
            only_outside = True
        if problems or (outside and not keep_outside):
            problems += [("", why) for why in outside]
            said = "; ".join(f"{n + ': ' if n else ''}{why}" for n, why in problems)
            refused.append(f"{line}: {said}")
            continue
        provenance: dict[str, Any] = {**stamp, "row": number}
        if outside:
            provenance["outside_space"] = outside
        rows.append(
            (
                Proposal(
                    composition=composition,
                    parameters=parameters,
                    phase=TrialPhase.IMPORTED,
                    strategy="import",
                    provenance=provenance,
                ),
                values,
            )
        )
    return rows, refused, only_outside


def _new_rows(rows: list[Row], earlier: list[Trial]) -> tuple[list[Row], int]:
    """*rows* without those equal to a row imported before from a file of the
    same name (a multiset: two equal rows stay two); and how many were left out."""
    seen = Counter(_key(t.composition, t.parameters, t.values) for t in earlier)
    new = []
    for proposal, values in rows:
        key = _key(proposal.composition, proposal.parameters, values)
        if seen[key] > 0:
            seen[key] -= 1
            continue
        new.append((proposal, values))
    return new, len(rows) - len(new)


def _key(
    composition: dict[str, float], parameters: dict[str, Any], values: dict[str, float]
) -> tuple[Any, ...]:
    def exact(block: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            (k, v if isinstance(v, str) else float(f"{float(v):.10g}"))
            for k, v in sorted(block.items())
        )

    return exact(composition), exact(parameters), exact(values)


def _source(trial: Trial) -> str | None:
    return trial.provenance.get("source")


def frame_digest(frame: Any) -> str:
    """The sha256 of a DataFrame's content (as CSV, without the index): the
    same table given twice is the same source."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def _read(path: Path) -> tuple[Any, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(
            f"cannot read {path}: {exc.strerror or exc}", "check the path"
        ) from None
    try:
        frame = read_frame(path)
    except ValueError as exc:
        raise BadInputError(
            f"{path.name} is not a readable {'JSON' if path.suffix == '.json' else 'CSV'} "
            f"table: {exc}",
            "give a CSV with a header row, or JSON as a list of records",
        ) from None
    return frame, hashlib.sha256(data).hexdigest()


def _missing(value: Any) -> bool:
    return isinstance(value, float) and value != value  # NaN: an empty cell
