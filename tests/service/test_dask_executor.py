"""`DaskExecutor.next_result` on an in-process Dask cluster: results in the order
they finish, a bounded wait, and a driver that still stops promptly (the stop
flag within a second, a second Ctrl-C at once) while evaluations run."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from loop.errors import LoopError
from loop.ports import EvaluationRequest, EvaluationResult
from loop.service import runner
from loop.service.executors import DaskExecutor

pytestmark = pytest.mark.timeout(120)

#: Set at the end of each test, so that evaluations still running end too.
released = threading.Event()


class Sleepy:
    """An adapter whose evaluation takes `parameters["seconds"]` (or until released)."""

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        seconds = float(request.parameters.get("seconds", 0))
        if seconds < 0:
            raise RuntimeError("the worker's disk is full")
        released.wait(seconds)
        return EvaluationResult(values={"y": float(request.trial_id)})


def _request(trial_id: int, seconds: float) -> EvaluationRequest:
    return EvaluationRequest(
        campaign="c",
        trial_id=trial_id,
        attempt=1,
        composition={},
        parameters={"seconds": seconds},
        objectives=["y"],
        seed=trial_id,
    )


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=3,
            processes=False,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def executor(client: Any) -> Iterator[DaskExecutor]:
    released.clear()
    yield DaskExecutor(client)
    released.set()


def test_nothing_running_is_no_result_at_once(executor: DaskExecutor) -> None:
    started = time.monotonic()
    assert executor.next_result(timeout=5) is None
    assert time.monotonic() - started < 0.5


def test_results_come_back_as_they_finish_within_the_timeout(
    executor: DaskExecutor,
) -> None:
    adapter = Sleepy()
    executor.submit(adapter, _request(1, 60))
    executor.submit(adapter, _request(2, 0.3))
    started = time.monotonic()
    assert executor.next_result(timeout=0.1) is None
    assert time.monotonic() - started < 1.0, "the wait is bounded by its timeout"
    finished = executor.next_result(timeout=30)
    assert finished is not None
    request, result = finished
    assert request.trial_id == 2 and result.values == {"y": 2.0}
    assert time.monotonic() - started < 5.0, "returned when it finished, not later"


def test_a_failed_task_is_a_loop_error(executor: DaskExecutor) -> None:
    executor.submit(Sleepy(), _request(3, -1))
    with pytest.raises(LoopError, match="the Dask cluster failed while evaluating"):
        executor.next_result(timeout=30)


class _Lease:
    def check(self) -> None:
        pass


def test_the_driver_stops_within_a_second_while_evaluations_run(
    executor: DaskExecutor,
) -> None:
    executor.submit(Sleepy(), _request(4, 60))
    runner.stop_requested.clear()
    timer = threading.Timer(0.2, runner.stop_requested.set)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner._next_finished(executor, _Lease())  # type: ignore[arg-type]
    finally:
        timer.cancel()
        runner.stop_requested.clear()
    assert time.monotonic() - started < 2.0


def test_a_second_ctrl_c_interrupts_the_wait_at_once(executor: DaskExecutor) -> None:
    executor.submit(Sleepy(), _request(5, 60))

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            executor.next_result(timeout=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 2.0
