"""Turn a CSV table into a candidate pool for a campaign.

Steps, each counting the rows it removes by reason (`Pool.dropped`, also
logged): keep the rows the `where` filter selects (a value, a list of values, or
a numeric `Range`); map campaign names to
columns; drop rows with a missing input or objective, an objective that is not
a number or not finite, or unusable inputs; rescale compositions to the total
(`normalize`); average replicate rows (identical inputs) into one candidate;
drop candidates that break the campaign's own rules (bounds, constraints,
categories), since the engine may only propose what the YAML allows. Last, an
objective modelled on a log scale must be positive in every candidate.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loop.errors import Problem
from loop.spec.rows import column_names, read_configuration
from loop.spec.rules import violations
from loop.spec.tables import FORMULA_KEY, column_problems, read_frame, select_rows

if TYPE_CHECKING:
    from loop.spec import CampaignSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pool:
    """Candidate configurations with their averaged objective values."""

    configs: list[tuple[dict[str, float], dict[str, Any]]]
    values: list[dict[str, float]]
    replicates: list[int]
    sha256: str
    #: Rows of the file removed, by reason (only reasons that removed some).
    dropped: dict[str, int] = field(default_factory=dict)
    #: Rows in the file, before anything was removed or averaged.
    rows: int = 0
    _index: dict[tuple[Any, ...], int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.configs)

    def find(
        self, composition: dict[str, float], parameters: dict[str, Any]
    ) -> int | None:
        """The row of this configuration, or None if it is not a candidate."""
        return self._index.get(config_key(composition, parameters))


def config_key(
    composition: dict[str, float], parameters: dict[str, Any]
) -> tuple[Any, ...]:
    """A hashable identity of a configuration, insensitive to float dust."""
    comp = tuple((k, float(f"{v:.10g}")) for k, v in sorted(composition.items()))
    params = tuple(
        (k, v if isinstance(v, str) else float(f"{float(v):.10g}"))
        for k, v in sorted(parameters.items())
    )
    return comp + params


def load_pool(
    path: Path,
    digest: str,
    columns: dict[str, str],
    where: dict[str, Any],
    normalize: bool,
    spec: CampaignSpec,
) -> tuple[Pool | None, list[Problem]]:
    import pandas as pd

    try:
        frame = read_frame(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        return None, [
            Problem("adapter.path", f"cannot read {path}: {exc}", "check the file")
        ]
    problems = column_problems("adapter", columns, where, list(frame.columns), spec)
    if problems:
        return None, problems
    rows_read = len(frame)
    frame, dropped = select_rows(frame, where)
    components = list(spec.space.components)
    params = list(spec.space.parameters)
    objectives = [o.name for o in spec.objectives]
    col = column_names(spec, columns)  # `composition`: a column of formulas
    read_as = [FORMULA_KEY] if FORMULA_KEY in col else components
    inputs = [col[c] for c in read_as] + [col[p.name] for p in params]
    complete = frame[inputs + [col[o] for o in objectives]].notna().all(axis=1)
    dropped["missing value"] = int((~complete).sum())
    frame = frame[complete]
    numbers = frame[[col[o] for o in objectives]].apply(pd.to_numeric, errors="coerce")
    number = numbers.notna().all(axis=1)
    dropped["objective not a number"] = int((~number).sum())
    finite = numbers.abs().lt(math.inf).all(axis=1) | ~number
    dropped["objective not finite"] = int((~finite).sum())
    frame = frame[number & finite]
    groups: dict[tuple[Any, ...], list[int]] = {}
    configs: dict[tuple[Any, ...], tuple[dict[str, float], dict[str, Any]]] = {}
    bad = 0
    for i, row in enumerate(frame.itertuples(index=False)):
        record = dict(zip(frame.columns, row, strict=True))
        config = read_configuration(record, spec, col, normalize)
        if not isinstance(config[0], dict):  # (column, why): not a configuration
            bad += 1
            continue
        key = config_key(*config)
        groups.setdefault(key, []).append(i)
        configs[key] = config
    dropped["unusable inputs"] = bad
    # one array, not a DataFrame per candidate: a pool of 1000 groups is built
    # in a fraction of the time
    values = frame[[col[o] for o in objectives]].apply(pd.to_numeric).to_numpy(float)
    pool_configs, pool_values, replicates, outside = [], [], [], 0
    for key, rows in groups.items():
        composition, parameters = configs[key]
        if violations(spec, composition, parameters):
            outside += len(rows)
            continue
        means = values[rows].mean(axis=0)
        pool_configs.append((composition, parameters))
        pool_values.append({o: float(means[j]) for j, o in enumerate(objectives)})
        replicates.append(len(rows))
    dropped["outside the campaign's space"] = outside
    dropped = {why: n for why, n in dropped.items() if n}
    if not pool_configs:
        return None, [
            Problem(
                "adapter",
                f"no candidate of {path.name} fits the campaign's space "
                f"(removed: {_describe(dropped)})",
                "widen the bounds or check the column mapping and `where` filter",
            )
        ]
    problems = _log_problems(spec, pool_values, col, path)
    if problems:
        return None, problems
    index = {config_key(*c): i for i, c in enumerate(pool_configs)}
    pool = Pool(
        pool_configs, pool_values, replicates, digest, dropped, rows_read, index
    )
    log.info(
        "%s: %d rows, %d candidates; %s",
        path,
        rows_read,
        len(pool),
        "; ".join(dropped_lines(dropped)) or "no row dropped",
    )
    return pool, []


def dropped_lines(dropped: dict[str, int]) -> list[str]:
    """One line per reason: `N rows dropped: reason`."""
    return [
        f"{n} row{'' if n == 1 else 's'} dropped: {why}" for why, n in dropped.items()
    ]


def _log_problems(
    spec: CampaignSpec, values: list[dict[str, float]], col: dict[str, str], path: Path
) -> list[Problem]:
    """An objective with `transform: log` must be positive in every candidate."""
    problems = []
    for i, o in enumerate(spec.objectives):
        if o.transform != "log":
            continue
        bad = [v[o.name] for v in values if v[o.name] <= 0]
        if bad:
            problems.append(
                Problem(
                    f"objectives.{i}.transform",
                    f"'{o.name}' has transform: log but {len(bad)} of the "
                    f"{len(values)} candidates have a value of column '{col[o.name]}' "
                    f"in {path.name} that is not positive (smallest {min(bad):g})",
                    "remove `transform: log` from this objective, or leave those rows "
                    "out with `where`",
                )
            )
    return problems


def _describe(dropped: dict[str, int]) -> str:
    return ", ".join(f"{n} ({why})" for why, n in dropped.items() if n) or "nothing"
