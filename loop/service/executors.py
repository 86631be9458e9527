"""Running a batch of evaluations: one by one in the driver, or on a Dask cluster.

The driver stays the only writer: executors only compute. Results come back
as they finish and the driver stores each in its own transaction, so a crash
mid-batch loses at most the evaluations still running, which `loop resume`
re-runs (the adapters that may use an executor are re-run safe).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from loop.errors import LoopError
from loop.ports import EvaluationRequest, EvaluationResult
from loop.spec.executor import Executor as ExecutorSpec


class Executor(Protocol):
    def evaluate(
        self, adapter: Any, requests: list[EvaluationRequest]
    ) -> Iterator[tuple[EvaluationRequest, EvaluationResult]]:
        """Yield (request, result) pairs as the evaluations finish."""
        ...


class InlineExecutor:
    """Evaluate in the driver's process, one request after the other."""

    def evaluate(
        self, adapter: Any, requests: list[EvaluationRequest]
    ) -> Iterator[tuple[EvaluationRequest, EvaluationResult]]:
        for request in requests:
            yield request, adapter.evaluate(request)


class DaskExecutor:
    """Evaluate on a Dask cluster; results are yielded as they complete."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._shared: dict[int, Any] = {}

    def evaluate(
        self, adapter: Any, requests: list[EvaluationRequest]
    ) -> Iterator[tuple[EvaluationRequest, EvaluationResult]]:
        from distributed import as_completed

        if not requests:
            return
        # send the adapter to the workers once per run, not with every task; keep
        # the future alive, or Dask drops the data other batches still need
        if id(adapter) not in self._shared:
            [self._shared[id(adapter)]] = self.client.scatter(
                [adapter], broadcast=True, hash=False
            )
        shared = self._shared[id(adapter)]
        futures = {
            self.client.submit(_evaluate, shared, r, pure=False): r for r in requests
        }
        try:
            for future, result in as_completed(futures, with_results=True):
                yield futures[future], result
        except LoopError:
            raise
        except Exception as exc:  # a worker died, the scheduler went away, ...
            raise LoopError(
                f"the Dask cluster failed while evaluating: {type(exc).__name__}: {exc}",
                "check the cluster (workers alive, scheduler reachable); every result "
                "stored so far is kept, and `loop resume` re-runs the rest",
            ) from exc


def _evaluate(adapter: Any, request: EvaluationRequest) -> EvaluationResult:
    return adapter.evaluate(request)  # type: ignore[no-any-return]


@contextmanager
def open_executor(spec: ExecutorSpec) -> Iterator[Executor]:
    """The executor a campaign asks for, shut down (cluster included) on exit."""
    if spec.type == "local":
        yield InlineExecutor()
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise LoopError(
            "executor type dask needs the `distributed` package",
            "pip install 'dask[distributed]'",
        ) from exc
    if spec.address:
        try:
            client = Client(spec.address, timeout="30s")
        except OSError as exc:
            raise LoopError(
                f"cannot reach the Dask scheduler at {spec.address}: {exc}",
                "check `executor.address` and that the scheduler is running",
            ) from None
        try:
            yield DaskExecutor(client)
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=spec.workers,
            threads_per_worker=1,
            processes=True,
            # a free port, so two drivers on one host do not clash over 8787
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield DaskExecutor(client)
