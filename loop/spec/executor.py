"""Where a push adapter's evaluations run: in the driver, on its threads, or on Dask."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from loop.spec.base import SpecModel, fail


class Executor(SpecModel):
    """`executor:` of a campaign.

    `local` (the default) evaluates one trial at a time in the driver.
    `threads` evaluates up to `workers` trials of a batch at once on threads of
    the driver: for evaluations that mostly wait (a program run as a
    subprocess, a remote service) or release the GIL. `dask` evaluates a whole
    batch in parallel on a Dask cluster: the scheduler at
    `address` (e.g. `tcp://10.0.0.5:8786`, a cluster started by dask-jobqueue on
    SLURM or PBS), or, without an address, a `LocalCluster` of `workers`
    processes on this machine; only re-run-safe adapters (simulator, python,
    local DFT) can use it. Robots pull their work: neither applies to them.
    """

    type: Literal["local", "threads", "dask"] = "local"
    address: str | None = Field(None, max_length=256)
    workers: int = Field(2, ge=1, le=1024)

    @model_validator(mode="after")
    def _address_only_for_dask(self) -> Executor:
        if self.type != "dask" and self.address is not None:
            fail(
                [
                    (
                        "`address` is only used with `type: dask`",
                        "set `type: dask`, or remove `address`",
                    )
                ]
            )
        return self
