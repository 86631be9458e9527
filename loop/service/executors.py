"""Where evaluations run: in the driver, on threads of the driver, or on Dask.

The driver stays the only writer: executors only compute. It hands an
executor one claimed trial at a time (`submit`) while fewer than `capacity`
are running, and takes results back one at a time as they finish
(`next_result`), storing each in its own transaction, so a crash loses at most
the evaluations still running, which `loop resume` re-runs (the adapters that
may run in parallel are re-run safe).

* `InlineExecutor`: one evaluation at a time, in the driver (the default).
* `ThreadExecutor`: up to N evaluations at once on threads of the driver, for
  adapters whose evaluation mostly waits on something else (a DFT adapter
  following jobs on a scheduler declares `max_in_flight`; `executor: {type:
  threads}` asks for it with any push adapter).
* `DaskExecutor`: evaluations on a Dask cluster's workers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from loop.errors import LoopError
from loop.ports import EvaluationRequest, EvaluationResult, PushAdapter
from loop.spec.executor import Executor as ExecutorSpec

Finished = tuple[EvaluationRequest, EvaluationResult]


class Executor(Protocol):
    #: How many evaluations it runs at once.
    capacity: int

    def submit(self, adapter: PushAdapter, request: EvaluationRequest) -> None:
        """Start evaluating *request* (or queue it until `next_result`)."""
        ...

    def next_result(self, timeout: float) -> Finished | None:
        """The next evaluation to finish, or None if none did within *timeout* s."""
        ...


class InlineExecutor:
    """Evaluate in the driver's process, one request after the other."""

    capacity = 1

    def __init__(self) -> None:
        self._waiting: deque[tuple[PushAdapter, EvaluationRequest]] = deque()

    def submit(self, adapter: PushAdapter, request: EvaluationRequest) -> None:
        self._waiting.append((adapter, request))

    def next_result(self, timeout: float) -> Finished | None:
        if not self._waiting:
            return None
        adapter, request = self._waiting.popleft()
        return request, adapter.evaluate(request)


class ThreadExecutor:
    """Up to *capacity* evaluations at once on daemon threads of the driver.

    Daemon threads, so a driver that stops is never held up by an evaluation
    still waiting on a job; the adapter is told to stop waiting by its
    `close()` (the driver calls it on the way out).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._done: queue.Queue[tuple[EvaluationRequest, Any]] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def submit(self, adapter: PushAdapter, request: EvaluationRequest) -> None:
        def run() -> None:
            try:
                outcome: Any = adapter.evaluate(request)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the driver
                outcome = exc
            self._done.put((request, outcome))

        thread = threading.Thread(
            target=run, name=f"loop-trial-{request.trial_id}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def next_result(self, timeout: float) -> Finished | None:
        try:
            request, outcome = self._done.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(outcome, BaseException):
            raise outcome
        return request, outcome

    def join(self, timeout: float) -> None:
        """Give running evaluations up to *timeout* s in all to wind down."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class DaskExecutor:
    """Evaluate on a Dask cluster; results come back as they complete."""

    def __init__(self, client: Any, limit: int | None = None) -> None:
        self.client = client
        threads = sum(client.nthreads().values()) or 1
        self.capacity = min(threads, limit) if limit else threads
        self._shared: dict[int, Any] = {}
        self._running: dict[Any, EvaluationRequest] = {}

    def submit(self, adapter: PushAdapter, request: EvaluationRequest) -> None:
        # send the adapter to the workers once per run, not with every task; keep
        # the future alive, or Dask drops the data later tasks still need
        if id(adapter) not in self._shared:
            [self._shared[id(adapter)]] = self.client.scatter(
                [adapter], broadcast=True, hash=False
            )
        future = self.client.submit(
            _evaluate, self._shared[id(adapter)], request, pure=False
        )
        self._running[future] = request

    def next_result(self, timeout: float) -> Finished | None:
        """The first submitted evaluation that has finished, waiting at most
        *timeout* s for one (so that the driver still checks its stop flag)."""
        from distributed import wait

        if not self._running:
            return None
        try:
            with self.client.as_current():  # wait() asks the current client
                wait(list(self._running), timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return None
        except Exception as exc:  # a cancelled future, the scheduler went away
            raise _cluster_failed(exc) from exc
        future = next(f for f in self._running if f.done())
        request = self._running.pop(future)
        try:
            return request, future.result()
        except LoopError:
            raise
        except Exception as exc:  # a worker died
            raise _cluster_failed(exc) from exc


def _cluster_failed(exc: Exception) -> LoopError:
    return LoopError(
        f"the Dask cluster failed while evaluating: {type(exc).__name__}: {exc}",
        "check the cluster (workers alive, scheduler reachable); every result "
        "stored so far is kept, and `loop resume` re-runs the rest",
    )


def _evaluate(adapter: PushAdapter, request: EvaluationRequest) -> EvaluationResult:
    return adapter.evaluate(request)


@contextmanager
def open_executor(
    spec: ExecutorSpec, in_flight: int | None = None
) -> Iterator[Executor]:
    """The executor a campaign asks for, shut down (cluster included) on exit.

    *in_flight* is what the adapter allows at once (`max_in_flight`, e.g. a DFT
    adapter's `max_concurrent_jobs`): in the driver it runs that many
    evaluations on threads; on Dask it caps how many are sent to the workers.
    `threads` without it runs `workers` evaluations at once.
    """
    if spec.type in ("local", "threads"):
        if in_flight is None and spec.type == "local":
            yield InlineExecutor()
            return
        # even one job is followed on a thread, so that the driver, waiting
        # for it, still notices a stop within a second
        threads = ThreadExecutor(in_flight or spec.workers)
        try:
            yield threads
        finally:
            threads.join(timeout=10.0)
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
            yield DaskExecutor(client, in_flight)
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
        yield DaskExecutor(client, in_flight)
