"""The API, the driver and an inspect loop on one database at once (RELIABILITY.md §3
case 22, on both backends).

Sixteen simulated robots (`adapters/robot/simulate.py`, one `RobotClient` each,
a fifth of the measurements posted twice with the same Idempotency-Key) work a
robot campaign through the real API over HTTP, while the driver (`loop
resume`, its own process as in a lab: sixteen robot threads beside it would
starve its proposals of the GIL) keeps 16 trials claimable and an inspect loop
opens the database read-only every 50 ms, as `loop inspect` does. Every HTTP status the
robots receive is counted below the client's retries, so a 503 that a retry
hid still fails the test. Afterwards: every measurement stored once, each
accepted post in the inbox once, no 5xx, no "database is locked" anywhere, the
invariants hold, and the driver finished the campaign.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from adapters.robot import simulate
from adapters.robot.client import RobotClient
from loop.api.limits import RateLimiter
from loop.records import CampaignStatus, TrialStatus
from loop.service.campaigns import status_document
from loop.storage import Store
from loop.storage.inbox import submissions
from tests.invariants import STORED, check_invariants
from tests.lab import live_server, robot_campaign

pytestmark = pytest.mark.timeout(240)

ROBOTS = 16
BUDGET = 48
DUPLICATE_RATE = 0.2
#: Seconds between two inspect polls.
INSPECT_EVERY = 0.05
LOCKED = "database is locked"


class Responses:
    """Every response the robots got, counted by status; 5xx bodies kept.

    `unanswered_posts` counts measurement posts the client will send again
    with the same key: those that got no response in time (a slow shared
    machine) and those answered 409 (the first copy still in progress). Each
    may come back as one more replay than the robots posted duplicates.
    """

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.unanswered_posts = 0
        self._lock = threading.Lock()

    def lost(self, request: httpx.Request) -> None:
        if _is_measurement_post(request):
            with self._lock:
                self.unanswered_posts += 1

    def record(self, request: httpx.Request, response: httpx.Response) -> None:
        body = ""
        if response.status_code >= 500:
            body = response.read().decode(errors="replace")[:500]
        with self._lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 409 and _is_measurement_post(request):
                self.unanswered_posts += 1
            if body:
                self.server_errors.append(
                    f"{request.method} {request.url.path} -> "
                    f"{response.status_code}: {body}"
                )


class CountingTransport(httpx.HTTPTransport):
    """httpx's own transport, reporting each response before the client's retries."""

    def __init__(self, responses: Responses) -> None:
        super().__init__()
        self.responses = responses

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
        except httpx.TransportError:
            self.responses.lost(request)
            raise
        self.responses.record(request, response)
        return response


def _is_measurement_post(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/measurements")


def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _inspect_loop(
    url: str, name: str, stop: threading.Event, polls: list[tuple[float, int]]
) -> None:
    """What `loop inspect` does, every INSPECT_EVERY s: open read-only, read, close."""
    while not stop.is_set():
        started = time.monotonic()
        store = Store(url, create=False, read_only=True)
        try:
            doc = status_document(store, name)
        finally:
            store.engine.dispose()
        polls.append((time.monotonic() - started, len(doc["trials"])))
        stop.wait(INSPECT_EVERY)


def test_robots_driver_and_inspect_at_once_lose_nothing_and_never_fail(
    any_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rc = robot_campaign(
        any_db_url,
        budget={"experiments": BUDGET},
        strategy={"engine": "random", "batch_size": ROBOTS},
        adapter={"type": "robot", "claim_ttl": "10m", "max_attempts": 3},
    )
    responses = Responses()

    def counting_client(*args: Any, **kwargs: Any) -> RobotClient:
        return RobotClient(*args, transport=CountingTransport(responses), **kwargs)

    monkeypatch.setattr(simulate, "RobotClient", counting_client)
    lines: list[str] = []
    polls: list[tuple[float, int]] = []
    stop = threading.Event()
    started = time.monotonic()
    driver = subprocess.Popen(
        [sys.executable, "-m", "loop.cli", "resume", rc.name, "--db", any_db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        # contention, not rate limits, is under test here
        unlimited = RateLimiter(rate=1e9, burst=10**9)
        with live_server(rc.store, limiter=unlimited) as url:
            inspector, inspected = _in_thread(
                _inspect_loop, any_db_url, rc.name, stop, polls
            )
            robots, played = _in_thread(
                simulate.run,
                url,
                rc.name,
                rc.token,
                "electrolyte",
                workers=ROBOTS,
                duplicate_rate=DUPLICATE_RATE,
                seed=22,
                log=lines.append,
                spec=rc.spec,
            )
            robots.join(timeout=150)
            try:
                printed, _ = driver.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                driver.kill()
                printed, _ = driver.communicate()
            stop.set()
            inspector.join(timeout=30)
    finally:
        stop.set()
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    took = time.monotonic() - started
    # nothing failed, and no 5xx reached a robot, not even one a retry hid
    for what, out in (("robots", played), ("inspect", inspected)):
        assert "error" not in out, f"{what}: {out.get('error')!r}"
    assert not robots.is_alive(), (f"not finished after {took:.0f} s", lines[-10:])
    assert driver.returncode == 0, printed[-2000:]
    assert not inspector.is_alive()
    assert responses.server_errors == [], responses.statuses
    surfaced = [*lines, *responses.server_errors, printed]
    assert not [line for line in surfaced if LOCKED in line]

    campaign = rc.store.get_campaign(rc.name)
    assert campaign.status == CampaignStatus.COMPLETED, printed[-2000:]
    sim = played["value"]
    assert (sim.claims, sim.measurements, sim.failures) == (BUDGET, BUDGET, 0), sim
    assert sim.duplicates_posted > 0
    assert sim.replays_identical == sim.duplicates_posted, sim

    # every trial measured once; measurements = COMPLETED = accepted posts
    trials = rc.store.trials(rc.name)
    assert len(trials) == BUDGET
    assert all(t.status == TrialStatus.COMPLETED for t in trials)
    assert all(t.measurement is not None for t in trials)
    inbox = [s for s in submissions(rc.store, rc.name) if s["route"] == "measurements"]
    accepted = [s["trial_id"] for s in inbox if s["outcome"] in STORED]
    assert sorted(accepted) == sorted(t.id for t in trials)  # each trial once
    outcomes = Counter(s["outcome"] for s in inbox)
    assert set(outcomes) == {"accepted", "replayed"}, outcomes
    assert outcomes["accepted"] == BUDGET
    # every duplicate replayed; a retry of a post whose answer was lost may add one
    replays_allowed = sim.duplicates_posted + responses.unanswered_posts
    assert sim.duplicates_posted <= outcomes["replayed"] <= replays_allowed, (
        outcomes,
        sim,
        responses.unanswered_posts,
    )
    assert check_invariants(any_db_url, rc.name) == []

    # the inspect loop ran throughout and was never held up by the writers
    assert len(polls) >= 10, polls
    assert max(seconds for seconds, _ in polls) < 5, polls
    assert polls[-1][1] == BUDGET
    print(
        f"\n{any_db_url.split(':')[0]}: {took:.1f} s, {sum(responses.statuses.values())} "
        f"responses {dict(responses.statuses)}, {len(polls)} inspect polls "
        f"(slowest {max(s for s, _ in polls):.2f} s), {sim}"
    )
