"""Simulated robots: play a robot campaign through the real API (`loop robot simulate`).

Each worker is a thread with its own `RobotClient`, behaving like a controller
of one robot: claim, start, "run" the experiment with a simulator function,
post the values. Dice (seeded per worker) make the robots misbehave the way
real ones do, so the server's guarantees can be watched end to end:

- `crash_rate`: the robot vanishes right after a claim, without a heartbeat or
  a report; the server offers the trial again once the claim's lease runs out.
- `fail_rate`: the run fails and is reported as retryable.
- `duplicate_rate`: the measurement is posted a second time with the same
  Idempotency-Key (a retry after a lost response); the server must replay the
  identical response and store nothing new.
- `noise`: Gaussian noise (this standard deviation) on every value.
- `latency`: seconds each experiment takes; the lease is renewed meanwhile.

The simulator function needs the campaign's spec (its composition and
parameters); it is read from the status document's `spec` key unless given.
"""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from adapters.robot import RobotConfig
from adapters.robot.client import RobotAPIError, RobotClient, Work
from adapters.simulator.functions import SimFunction, build
from loop.errors import LoopError
from loop.spec import CampaignSpec, validate
from loop.spec.fidelity import FIDELITY, level_spec, robot_level

#: Campaign statuses after which no work will be handed out (needs_review: what
#: is left of the budget waits on an operator; paused: the failure breaker).
DONE = frozenset({"completed", "exhausted", "needs_review", "paused"})
#: Seconds between claims when nothing is ready (uniform in this range).
IDLE = (0.05, 0.2)
#: Heartbeat interval when the lease length is unknown (seconds).
DEFAULT_HEARTBEAT = 60.0


@dataclass
class SimulationSummary:
    """What the simulated robots did, summed over workers."""

    claims: int = 0
    measurements: int = 0
    failures: int = 0
    crashes: int = 0
    duplicates_posted: int = 0
    replays_identical: int = 0

    def add(self, other: SimulationSummary) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def __str__(self) -> str:
        return (
            f"{self.claims} claims, {self.measurements} measurements, "
            f"{self.failures} failures, {self.crashes} crashes, "
            f"{self.duplicates_posted} duplicates posted "
            f"({self.replays_identical} replayed identically)"
        )


@dataclass(frozen=True)
class _Setup:
    """What every worker shares: where to go and how to play the experiment."""

    url: str
    campaign: str
    token: str
    function_name: str
    function: SimFunction
    spec: CampaignSpec
    total: float
    heartbeat_every: float
    fail_rate: float
    latency: float
    crash_rate: float
    duplicate_rate: float
    noise: float
    log: Callable[[str], None]
    stop_when_done: bool


def run(
    url: str,
    campaign: str,
    token: str,
    function: str,
    workers: int = 1,
    fail_rate: float = 0.0,
    latency: float = 0.0,
    crash_rate: float = 0.0,
    duplicate_rate: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
    log: Callable[[str], None] = print,
    stop_when_done: bool = True,
    spec: CampaignSpec | None = None,
) -> SimulationSummary:
    """Run *workers* simulated robots against the API at *url* until the campaign is done.

    With `stop_when_done=False` the robots keep polling for work until
    interrupted (Ctrl-C). Worker *i* rolls its dice with seed `seed + i`. The
    first error a worker meets (other than the 409s a real controller expects)
    stops every worker and is raised here.
    """
    if workers < 1:
        raise ValueError("workers must be 1 or more")
    if spec is None:
        spec = _remote_spec(url, campaign, token)
    level = robot_level(spec)
    if level is not None:  # robots measure one fidelity: the campaign as it sees it
        spec = level_spec(spec, level)
    built = build(function, spec, {})
    if isinstance(built, list):
        raise LoopError(built[0].message, built[0].hint)
    comp = spec.space.composition
    config = spec.adapter_config()
    ttl = config.claim_ttl if isinstance(config, RobotConfig) else None
    setup = _Setup(
        url=url,
        campaign=campaign,
        token=token,
        function_name=function,
        function=built,
        spec=spec,
        total=comp.total if comp else 1.0,
        heartbeat_every=ttl / 3 if ttl else DEFAULT_HEARTBEAT,
        fail_rate=fail_rate,
        latency=latency,
        crash_rate=crash_rate,
        duplicate_rate=duplicate_rate,
        noise=noise,
        log=log,
        stop_when_done=stop_when_done,
    )
    stop = threading.Event()
    summaries = [SimulationSummary() for _ in range(workers)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            _worker(setup, index, random.Random(seed + index), summaries[index], stop)
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=work, args=(i,), name=f"robot-{i}", daemon=True)
        for i in range(workers)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    if errors:
        raise errors[0]
    total = SimulationSummary()
    for s in summaries:
        total.add(s)
    return total


def _remote_spec(url: str, campaign: str, token: str) -> CampaignSpec:
    """The campaign's spec as the API's status document gives it."""
    with RobotClient(url, token, campaign) as client:
        doc = client.status()
    data = doc.get("spec")
    if not isinstance(data, dict):
        raise LoopError(
            f"the status document of campaign '{campaign}' at {url} has no 'spec'",
            "the simulator needs the campaign's composition and parameters; "
            "upgrade the server, or call adapters.robot.simulate.run(spec=...)",
        )
    return validate(data, f"campaign '{campaign}' from {url}", check_adapter=False)


def _worker(
    setup: _Setup,
    index: int,
    rng: random.Random,
    summary: SimulationSummary,
    stop: threading.Event,
) -> None:
    """One robot: claim and play work until the campaign is done or *stop* is set."""
    name = f"robot {index}"
    # idle pauses have their own dice: how often a robot finds nothing depends
    # on timing, and must not shift the dice that decide crashes and failures
    idle = random.Random(rng.random())
    with RobotClient(setup.url, setup.token, setup.campaign) as client:
        while not stop.is_set():
            try:
                work = client.claim()
            except RobotAPIError as exc:
                if exc.code != "campaign_paused":
                    raise
                # a controller would wait for the operator; a simulation ends
                setup.log(f"{name}: the campaign is paused for an operator; stopping")
                return
            if work is None:
                if setup.stop_when_done and _done(client.status()):
                    setup.log(f"{name}: the campaign is done")
                    return
                stop.wait(idle.uniform(*IDLE))
                continue
            summary.claims += 1
            setup.log(f"{name}: claimed trial {work.trial_id} (attempt {work.attempt})")
            if rng.random() < setup.crash_rate:
                summary.crashes += 1
                setup.log(f"{name}: crashed holding trial {work.trial_id}")
                continue
            try:
                _play(setup, name, client, work, rng, summary, stop)
            except RobotAPIError as exc:
                if exc.status != 409:
                    raise
                # the lease ran out under a slow robot, as happens in a real lab
                setup.log(f"{name}: trial {work.trial_id} moved on ({exc.code})")


def _play(
    setup: _Setup,
    name: str,
    client: RobotClient,
    work: Work,
    rng: random.Random,
    summary: SimulationSummary,
    stop: threading.Event,
) -> None:
    """Make and measure one claimed trial, then report it."""
    client.start(work)
    _busy(setup, client, work, stop)
    if rng.random() < setup.fail_rate:
        client.fail(work, "simulated failure (fail_rate)", retryable=True)
        summary.failures += 1
        setup.log(f"{name}: trial {work.trial_id} failed (retryable)")
        return
    values, problem = _measure(setup, work, rng)
    if problem is not None:
        client.fail(work, problem, retryable=False)
        summary.failures += 1
        setup.log(f"{name}: trial {work.trial_id} failed: {problem}")
        return
    units = {
        o["name"]: setup.function.outputs[o["name"]]
        for o in work.objectives
        if setup.function.outputs.get(o["name"])
    }
    metadata = {"simulator": setup.function_name, "noise": setup.noise, "robot": name}
    key = str(uuid.uuid4())
    response = client.report(work, values, units, metadata, idempotency_key=key)
    summary.measurements += 1
    setup.log(f"{name}: measured trial {work.trial_id}: {values}")
    if rng.random() < setup.duplicate_rate:
        again = client.report(work, values, units, metadata, idempotency_key=key)
        summary.duplicates_posted += 1
        if again == response:
            summary.replays_identical += 1
        else:
            setup.log(f"{name}: the replay of trial {work.trial_id} differs: {again}")


def _busy(
    setup: _Setup, client: RobotClient, work: Work, stop: threading.Event
) -> None:
    """Take `latency` seconds, renewing the lease as a real controller would."""
    left = setup.latency
    while left > 0 and not stop.is_set():
        step = min(left, setup.heartbeat_every)
        stop.wait(step)
        left -= step
        if left > 0:
            client.heartbeat(work)


def _measure(
    setup: _Setup, work: Work, rng: random.Random
) -> tuple[dict[str, float], str | None]:
    """The simulated values of *work*, or why the run gives none."""
    fractions = {c: v / setup.total for c, v in work.composition.items()}
    try:
        parameters = {k: v for k, v in work.parameters.items() if k != FIDELITY}
        outputs = setup.function(fractions, parameters)
    except Exception as exc:  # a failed experiment, not a crashed robot
        return {}, f"simulator raised {type(exc).__name__}: {exc}"
    log_scale = {o.name for o in setup.spec.objectives if o.transform == "log"}
    values = {}
    for objective in work.objectives:
        name = objective["name"]
        if name not in outputs:
            return {}, f"the simulator gives no '{name}'"
        value = float(outputs[name])
        if setup.noise:
            value += rng.gauss(0.0, setup.noise)
        if not math.isfinite(value) or (name in log_scale and value <= 0):
            return {}, f"no usable {name} ({value})"
        values[name] = value
    return values, None


def _done(doc: dict[str, Any]) -> bool:
    """True once the campaign hands out no more work."""
    budget = doc.get("budget") or {}
    spent = budget.get("used", 0) >= budget.get("experiments", math.inf)
    return doc.get("status") in DONE or spent
