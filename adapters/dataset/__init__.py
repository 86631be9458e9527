"""The dataset adapter: replay a table of past experiments as a candidate pool.

The rows of a CSV file are the only candidates (pool-based replay, Liang et al.
2021): the campaign's components, parameters and objectives are mapped to
columns, replicate rows with identical inputs are averaged, and "measuring" a
candidate reveals its tabulated value. The engine chooses among the rows not yet
measured, so a row is never measured twice.

The file is found from `adapter.path`: an absolute path, else relative to the
data root (`--data-root` or the `LOOP_DATA_ROOT` environment variable), else
relative to the working directory. One small table ships with loop
(`campaigns/data/pvlab_perovskite_stability/`, MIT) for the example campaign and
the tests; the benchmark campaigns read the shared datasets through the data
root.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.dataset.table import Pool, load_pool
from loop.errors import LoopError, Problem
from loop.ports import (
    EvaluationRequest,
    EvaluationResult,
    PinningAdapterClass,
    PoolAdapter,
    PooledAdapterClass,
    UncostedAdapterClass,
)
from loop.spec.tables import WhereEntry, find_data_file, not_found

if TYPE_CHECKING:
    from loop.spec import CampaignSpec


class DatasetConfig(BaseModel):
    """The `adapter:` block for `type: dataset`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["dataset"]
    path: str = Field(min_length=1)
    #: Campaign name (component, parameter or objective) -> CSV column, where they differ.
    columns: dict[str, str] = Field(default_factory=dict)
    #: Keep only rows whose column equals the value (or one of the values), or
    #: lies in a numeric range (`{ge: 292.15, le: 294.15}`).
    where: dict[str, WhereEntry] = Field(default_factory=dict)
    #: Rescale each row's composition to the campaign's total (e.g. at.% to fractions).
    normalize: bool = True
    #: SHA-256 the file must have. Stored with every new campaign (`pin`), so a
    #: campaign never continues on a file that has changed since it was created.
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


class DatasetAdapter:
    """Reveals tabulated values for rows of the candidate pool."""

    Config = DatasetConfig
    rerun_safe: ClassVar[bool] = True
    #: Adapter-block keys fixed when a campaign is created (`pin`).
    pinned: ClassVar[tuple[str, ...]] = ("sha256",)
    #: Proposals are rows of the table, and replaying one costs nothing.
    pooled: ClassVar[Literal[True]] = True
    records_cost: ClassVar[Literal[False]] = False

    def __init__(self, config: DatasetConfig, spec: CampaignSpec) -> None:
        pool, problems = _pool(config, spec)
        if problems or pool is None:
            first = problems[0]
            raise LoopError(f"{first.path}: {first.message}", first.hint)
        self.data: Pool = pool
        self.objectives = [o.name for o in spec.objectives]

    @staticmethod
    def check(config: DatasetConfig, spec: CampaignSpec) -> list[Problem]:
        """Problems with the file, its columns, or a pool too small for the budget."""
        pool, problems = _pool(config, spec)
        if pool is not None and not problems and len(pool) < spec.budget.experiments:
            problems.append(
                Problem(
                    "budget.experiments",
                    f"the budget of {spec.budget.experiments} exceeds the pool of "
                    f"{len(pool)} candidates in {config.path}",
                    f"set budget.experiments to at most {len(pool)}",
                )
            )
        return problems

    @staticmethod
    def pin(config: DatasetConfig, spec: CampaignSpec) -> dict[str, Any]:
        """Stored with a new campaign: the data file's SHA-256, compared at every start."""
        path, _ = find_data_file(config.path)
        return {"sha256": _digest(path)} if path is not None else {}

    def pool(self) -> list[tuple[dict[str, float], dict[str, Any]]]:
        """Every candidate configuration, in a fixed order."""
        return list(self.data.configs)

    def pool_values(self) -> list[dict[str, float]]:
        """The tabulated (replicate-averaged) objective values of every candidate."""
        return list(self.data.values)

    def pool_report(self) -> dict[str, Any]:
        """How the pool was built: rows read, candidates, rows dropped by reason."""
        return {
            "rows": self.data.rows,
            "candidates": len(self.data),
            "dropped": dict(self.data.dropped),
        }

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        row = self.data.find(request.composition, request.parameters)
        if row is None:
            return EvaluationResult(
                failure="not a row of the dataset: a replay can only measure its rows"
            )
        return EvaluationResult(
            values={name: self.data.values[row][name] for name in request.objectives},
            metadata={
                "row": row,
                "replicates": self.data.replicates[row],
                "sha256": self.data.sha256,
            },
        )


#: A pool adapter that pins its data file (loop.ports); mypy checks the class
#: against the protocols.
_implements: PinningAdapterClass[DatasetConfig, PoolAdapter] = DatasetAdapter
_pooled: PooledAdapterClass = DatasetAdapter
_uncosted: UncostedAdapterClass = DatasetAdapter


def _pool(
    config: DatasetConfig, spec: CampaignSpec
) -> tuple[Pool | None, list[Problem]]:
    path, tried = find_data_file(config.path)
    if path is None:
        return None, [not_found("adapter.path", config.path, tried)]
    digest = _digest(path)
    if config.sha256 is not None and digest != config.sha256:
        return None, [
            Problem(
                "adapter.sha256",
                f"the data file {path} has changed since the campaign was created "
                f"(SHA-256 {config.sha256[:12]}... recorded, {digest[:12]}... now)",
                "restore the file the campaign was created with, or start a new "
                "campaign (a new `name`) to use the changed data",
            )
        ]
    return load_pool(path, digest, config.columns, config.where, config.normalize, spec)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
