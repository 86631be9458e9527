"""Data files of a campaign: where they are found, how they are read and filtered.

The dataset adapter (a pool to replay) and `prior_data` (past measurements to
import) name a table the same way, so these rules are written once: a relative
path starts from the data root (`--data-root`, `LOOP_DATA_ROOT`) and else from
the working directory; a `.json` file is a list of records and anything else a
CSV with a header row; `columns` maps campaign names to columns, and every
mapped name and every column it needs must exist; `where` keeps the rows whose
column equals a value, is one of a list, or lies in a numeric `Range`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from loop.errors import Problem
from loop.ports import DATA_ROOT_ENV
from loop.spec.base import Frozen, SpecModel

#: The `columns` key that maps a column of formulas to the whole composition
#: (element campaigns; `loop.spec.rows`).
FORMULA_KEY = "composition"

if TYPE_CHECKING:
    import pandas as pd

    from loop.spec.campaign import CampaignSpec


class Range(BaseModel):
    """A `where` entry that keeps rows whose column is a number with ge <= value <= le.

    For a column of measured or digitised values (a temperature of 292.65 K or
    293.0497925 K), where listing every value would be brittle. Cells that are
    not numbers are not selected.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ge: float | None = None
    le: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Range:
        if self.ge is None and self.le is None:
            raise ValueError("a range needs `ge`, `le` or both")
        if self.ge is not None and self.le is not None and self.ge > self.le:
            raise ValueError(f"the range is empty: ge {self.ge} > le {self.le}")
        return self


def _where_kind(value: Any) -> str:
    if isinstance(value, dict | Range):
        return "range"
    return "values" if isinstance(value, list | tuple) else "value"


#: One `where` entry: a value, a list of values, or a numeric range. A mapping is
#: always read as a range, so its mistakes are reported as such.
WhereEntry = Annotated[
    Annotated[Range, Tag("range")]
    | Annotated[tuple[str | float, ...], Tag("values")]
    | Annotated[str | float, Tag("value")],
    Discriminator(_where_kind),
]


class DataTable(SpecModel):
    """A table of measurements named in the YAML (`prior_data`, `strategy.transfer.data`)."""

    #: CSV with a header row, or JSON (a list of records); relative paths start
    #: from the data root (`--data-root`, `LOOP_DATA_ROOT`), else the working
    #: directory.
    path: str = Field(min_length=1)
    #: Name (component, parameter or objective) -> column, where they differ.
    columns: Frozen[dict[str, str]] = Field(default_factory=dict)
    #: Keep only rows whose column equals the value (or one of the values), or
    #: lies in a numeric range (`{ge: 292.15, le: 294.15}`).
    where: Frozen[dict[str, WhereEntry]] = Field(default_factory=dict)


def find_data_file(path: str) -> tuple[Path | None, list[Path]]:
    """The data file for *path*, and every place that was tried."""
    raw = Path(path).expanduser()
    tried = []
    if raw.is_absolute():
        tried.append(raw)
    else:
        root = os.environ.get(DATA_ROOT_ENV)
        if root:
            tried.append(Path(root).expanduser() / raw)
        tried.append(Path.cwd() / raw)
    return next((p for p in tried if p.is_file()), None), tried


def not_found(key: str, path: str, tried: list[Path]) -> Problem:
    """The problem of a data file found in none of the places *tried*."""
    where = ", ".join(str(p) for p in tried)
    return Problem(
        key,
        f"data file not found: {path} (looked in {where})",
        f"pass --data-root DIR or set {DATA_ROOT_ENV}=DIR to the folder that "
        "holds it (e.g. ../shared/datasets)",
    )


def read_frame(path: Path) -> pd.DataFrame:
    """The table in *path*: JSON records for `.json`, else CSV with a header.

    Raises OSError or ValueError (pandas' parser errors are ValueErrors).
    """
    import pandas as pd

    if path.suffix.lower() == ".json":
        return pd.read_json(path, orient="records")
    return pd.read_csv(path)


def where_mask(cells: pd.Series, wanted: Any) -> pd.Series:
    """Mask of the cells a `where` entry keeps: a value, a list of values, a Range."""
    import pandas as pd

    if isinstance(wanted, Range | dict):
        wanted = Range.model_validate(wanted)
        numbers = pd.to_numeric(cells, errors="coerce")
        keep = numbers.notna()
        if wanted.ge is not None:
            keep &= numbers >= wanted.ge
        if wanted.le is not None:
            keep &= numbers <= wanted.le
        return keep
    return cells.isin(list(wanted) if isinstance(wanted, list | tuple) else [wanted])


def select_rows(
    frame: pd.DataFrame, where: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """*frame* without the rows `where` leaves out, and how many each entry removed."""
    dropped: dict[str, int] = {}
    for column, wanted in where.items():
        keep = where_mask(frame[column], wanted)
        dropped[f"not selected by `where` on {column}"] = int((~keep).sum())
        frame = frame[keep]
    return frame, dropped


def column_problems(
    key: str,
    columns: dict[str, str],
    where: dict[str, Any],
    available: list[str],
    spec: CampaignSpec,
) -> list[Problem]:
    """Mapped names that are not the campaign's, and columns the table lacks.

    *key* is the YAML block the mapping sits in (`adapter`, `prior_data.0`):
    a problem names `KEY.columns.NAME` for a mapped name, `KEY.columns` for a
    name read from its own column, and `KEY.where.COLUMN`.
    """
    names = _names(spec)
    if FORMULA_KEY in columns:  # one column of formulas for every component
        names = [FORMULA_KEY] + [n for n in names if n not in spec.space.components]
    problems = unknown_names(key, columns, spec)
    shown = ", ".join(available[:30]) + (" ..." if len(available) > 30 else "")
    for name in names:
        column = columns.get(name, name)
        if column not in available:
            problems.append(
                Problem(
                    f"{key}.columns.{name}" if name in columns else f"{key}.columns",
                    f"no column '{column}' for '{name}' in the data file",
                    f"map it with `columns: {{{name}: <column>}}`; columns: {shown}",
                )
            )
    problems += [
        Problem(
            f"{key}.where.{column}",
            f"no column '{column}' in the data file",
            f"columns: {shown}",
        )
        for column in where
        if column not in available
    ]
    return problems


def unknown_names(
    key: str, columns: dict[str, str], spec: CampaignSpec
) -> list[Problem]:
    """`KEY.columns.NAME` for each mapped name that is not a component,
    parameter or objective of the campaign (no file needed)."""
    names = _names(spec)
    comp = spec.space.composition
    problems = []
    if FORMULA_KEY in columns and (comp is None or comp.kind != "element"):
        problems.append(
            Problem(
                f"{key}.columns.{FORMULA_KEY}",
                "a column of formulas needs an element campaign "
                "(`space.composition.kind: element`)",
                "map each component to its own column instead",
            )
        )
    return problems + [
        Problem(
            f"{key}.columns.{name}",
            f"'{name}' is not a component, parameter or objective of the campaign",
            f"map only these names: {', '.join(sorted(names))}, or `{FORMULA_KEY}` "
            "to a column of formulas (element campaigns)",
        )
        for name in columns
        if name not in names and name != FORMULA_KEY
    ]


def _names(spec: CampaignSpec) -> list[str]:
    names = [*spec.space.components, *(p.name for p in spec.space.parameters)]
    return names + [o.name for o in spec.objectives]
