"""Where a push adapter's evaluations run: in the driver, or on a Dask cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from loop.spec.base import SpecModel, fail


class Executor(SpecModel):
    """`executor:` of a campaign.

    `local` (the default) evaluates one trial at a time in the driver. `dask`
    evaluates a whole batch in parallel on a Dask cluster: the scheduler at
    `address` (e.g. `tcp://10.0.0.5:8786`, a cluster started by dask-jobqueue on
    SLURM or PBS), or, without an address, a `LocalCluster` of `workers`
    processes on this machine. Only re-run-safe adapters (simulator, local DFT)
    can use it; robots pull their work instead.
    """

    type: Literal["local", "dask"] = "local"
    address: str | None = Field(None, max_length=256)
    workers: int = Field(2, ge=1, le=1024)

    @model_validator(mode="after")
    def _address_only_for_dask(self) -> Executor:
        if self.type == "local" and self.address is not None:
            fail(
                [
                    (
                        "`address` is only used with `type: dask`",
                        "set `type: dask`, or remove `address`",
                    )
                ]
            )
        return self
