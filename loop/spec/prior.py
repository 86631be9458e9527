"""`prior_data:` past measurements a campaign starts from (issue 14).

Each entry names a table (CSV, or JSON records) read with the dataset
adapter's rules (`loop.spec.tables`: the data root, `columns`, `where`). When
`loop run` or `loop.Campaign.from_yaml` creates or continues the campaign, each
file is imported as `loop import` would (`loop.service.prior`): its rows become
trials of phase `imported` that spend no budget, once per file content.
Validation checks that every file is found and readable and that its columns
map; which rows are usable is decided at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loop.errors import Problem
from loop.spec.tables import (
    DataTable,
    column_problems,
    find_data_file,
    not_found,
    read_frame,
    unknown_names,
)

if TYPE_CHECKING:
    from loop.spec.campaign import CampaignSpec


class PriorData(DataTable):
    """One file of past measurements to import into the campaign."""

    #: Rescale each row's composition to the campaign's total (e.g. at.% to fractions).
    normalize: bool = False
    #: Store rows outside the campaign's space (bounds, grids, constraints) for
    #: the model to learn from, never as the campaign's best, instead of
    #: refusing them.
    keep_outside: bool = False


def prior_problems(spec: CampaignSpec, check_files: bool) -> list[Problem]:
    """Problems of the `prior_data` entries: names that are not the campaign's
    and, with *check_files*, files not found or unreadable and columns they
    lack."""
    problems = []
    for i, entry in enumerate(spec.prior_data):
        key = f"prior_data.{i}"
        if not check_files:
            problems += unknown_names(key, dict(entry.columns), spec)
            continue
        path, tried = find_data_file(entry.path)
        if path is None:
            problems.append(not_found(f"{key}.path", entry.path, tried))
            continue
        try:
            frame = read_frame(path)
        except (OSError, ValueError) as exc:
            problems.append(
                Problem(
                    f"{key}.path",
                    f"cannot read {path} as a table: {exc}",
                    "give a CSV with a header row, or JSON as a list of records",
                )
            )
            continue
        problems += column_problems(
            key, dict(entry.columns), dict(entry.where), list(frame.columns), spec
        )
    return problems
