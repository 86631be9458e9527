"""The driver behind `loop run` and `loop resume`: propose, dispatch, ingest, repeat.

Each step is its own transaction, so a stop at any moment leaves the store
consistent: proposals are stored (PENDING) before dispatch, a trial is marked
CLAIMED before its adapter runs, and its measurement and COMPLETED status are
written together. On start, trials a previous driver left CLAIMED or STARTED
with a re-run-safe adapter (the simulator) are put back to PENDING with the
next attempt number, then dispatched again; nothing is measured twice because a
trial holds at most one measurement.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext, suppress

from loop.campaign_state import budget_used, load_spec
from loop.engine import CampaignEngine
from loop.errors import BadInputError, LoopError, TrialStateError
from loop.faults import fault
from loop.plugins import adapter_class
from loop.ports import (
    Adapter,
    EvaluationRequest,
    JobAdapter,
    PartlyPulledAdapter,
    PoolAdapter,
    PullAdapter,
    PushAdapter,
)
from loop.records import CampaignStatus, Proposal, Trial, TrialStatus
from loop.service.breaker import Breaker
from loop.service.budget import budget_limit
from loop.service.executors import Executor, Finished, open_executor
from loop.service.held import HeldValues
from loop.service.progress import ProgressCallback, RunSummary
from loop.service.progress import progress as _progress
from loop.service.progress import summary as _summary
from loop.service.robot_level import ROBOT_SLOTS, RobotLevel
from loop.service.settle import settle
from loop.sources import read_sources
from loop.spec import CampaignSpec
from loop.spec.fidelity import FIDELITY
from loop.storage import Store
from loop.storage.driver import Lease, driving
from loop.storage.lab import reap_expired
from loop.strategies import check_strategy
from loop.threads import ensure_threads

#: Set by the CLI on Ctrl-C or SIGTERM: the driver stops (KeyboardInterrupt)
#: at the next step boundary, and within a second while evaluations run.
stop_requested = threading.Event()

#: Set while the driver's thread is inside a proposal (a model fit and the
#: acquisition search), where nothing is written: the CLI's stop signal then
#: interrupts it at once instead of waiting minutes for the fit to end.
proposing = threading.Event()


def run_campaign(
    store: Store,
    name: str,
    on_progress: ProgressCallback | None = None,
    *,
    poll_seconds: float = 1.0,
    lease: Lease | None = None,
) -> RunSummary:
    """Drive campaign *name* until its budget is spent.

    The driver lease is taken here unless the caller already holds *lease*
    (`loop run` takes it before it changes a stored campaign's budget).

    Push adapters (`loop.ports.PushAdapter`: simulator, dataset, DFT) are
    called for each trial; with a pull adapter (`PullAdapter`: robots) the
    driver keeps `batch_size` trials claimable and waits, checking every
    *poll_seconds* for measurements and expired leases.
    Torch and BLAS threads are set first (`loop.threads.ensure_threads`).
    """
    ensure_threads()
    record = store.get_campaign(name)
    spec = load_spec(record)
    adapter = open_adapter(spec)
    pool = adapter.pool() if isinstance(adapter, PoolAdapter) else None
    # an optional peer that is missing stops the run here, not after its design
    check_strategy(spec.strategy.engine, spec, pooled=pool is not None)
    # the next fit starts from the last stored one, as in the driver that made it
    engine = CampaignEngine(
        spec, pool, fit=store.latest_fit(name), sources=read_sources(store, spec)
    )
    report = on_progress or (lambda _p: None)
    taken = nullcontext(lease) if lease is not None else driving(store, name)
    with taken as lease:
        fault("after_driver_lease")
        # only the lease holder may re-offer what a previous driver left running
        _recover(store, name, adapter)
        trials = store.trials(name)
        if record.status in (CampaignStatus.NEEDS_REVIEW, CampaignStatus.PAUSED):
            store.update_campaign(name, status=CampaignStatus.ACTIVE)
        breaker = Breaker(spec, trials)
        starting = "resuming" if trials else "starting"
        held = HeldValues(spec)
        if isinstance(adapter, PullAdapter):
            report(_progress(spec, trials, starting, held.news(trials)))
            return _run_pull(
                store, spec, engine, adapter, report, poll_seconds, lease, breaker, held
            )
        report(_progress(spec, trials, starting + _where(spec), held.news(trials)))
        return _run_push(
            store, spec, engine, adapter, report, lease, breaker, held, poll_seconds
        )


def _run_push(
    store: Store,
    spec: CampaignSpec,
    engine: CampaignEngine,
    adapter: PushAdapter,
    report: ProgressCallback,
    lease: Lease,
    breaker: Breaker,
    held: HeldValues,
    poll_seconds: float,
) -> RunSummary:
    """Propose, evaluate with the adapter (on the campaign's executor), repeat."""
    in_flight = adapter.max_in_flight if isinstance(adapter, JobAdapter) else None
    with open_executor(spec.executor, in_flight) as executor:
        try:
            return _push_loop(
                store,
                spec,
                engine,
                adapter,
                report,
                lease,
                executor,
                in_flight,
                breaker,
                held,
                poll_seconds,
            )
        finally:
            # evaluations still waiting (on jobs that outlive us) stop waiting
            if isinstance(adapter, JobAdapter):
                adapter.close()


def _push_loop(
    store: Store,
    spec: CampaignSpec,
    engine: CampaignEngine,
    adapter: PushAdapter,
    report: ProgressCallback,
    lease: Lease,
    executor: Executor,
    in_flight: int | None,
    breaker: Breaker,
    held: HeldValues,
    poll_seconds: float = 1.0,
) -> RunSummary:
    """Keep the executor busy with claimed trials until the budget is spent.

    By default proposals come in whole batches: `batch_size` trials are
    proposed, evaluated (up to the executor's capacity at once), and only then
    is the next batch proposed, so a campaign gives the same trials wherever it
    runs. A `JobAdapter` (DFT: long jobs that finish in any order) is
    refilled instead: as soon as an evaluation finishes and
    nothing waits, new trials are proposed with those still running as pending
    points, so that many stay in flight.

    When one fidelity is measured by robots (`RobotLevel`), its trials are
    left for them, at most `batch_size` trials are in flight in all, and the
    driver polls for the robots' measurements every *poll_seconds*.

    When the failure breaker trips, nothing more is claimed or proposed; the
    evaluations still running are settled, then `CampaignPausedError` is raised.
    """
    name, budget = spec.name, spec.budget.experiments
    robots = RobotLevel.of(store, spec, adapter, poll_seconds)
    # with robots the driver refills too: robots' trials take hours, and the
    # cheap fidelities go on meanwhile
    refill = in_flight is not None or robots is not None
    running: dict[int, EvaluationRequest] = {}
    while True:
        _check(lease)
        trials = robots.reaped() if robots is not None else store.trials(name)
        away = robots.work(trials) if robots is not None else []
        limit = budget_limit(
            store, spec, trials, [t for t in trials if t.id in running] + away
        )
        ours = [t for t in trials if robots is None or not robots.measures(t)]
        waiting_any = any(t.status == TrialStatus.PENDING for t in ours)
        spent = limit.slots == 0 and not waiting_any
        if (budget_used(trials) >= budget or spent) and not (running or away):
            if spent:
                report(_progress(spec, trials, limit.why))
            store.update_campaign(name, status=CampaignStatus.COMPLETED)
            return _summary(spec, trials, finished=True)
        if len(breaker.failures(trials)) >= breaker.limit:
            if not running:
                breaker.check(store, trials)
            request, result = _next_finished(executor, lease)
            running.pop(request.trial_id, None)
            _check(lease)
            with suppress(TrialStateError):  # abandoned while it ran
                settle(store, spec, request, result)
            continue
        waiting = [
            t for t in ours if t.status == TrialStatus.PENDING and t.id not in running
        ]
        starting = waiting[: executor.capacity - len(running)]
        for trial in starting:
            request = _claim(store, spec, trial, lease)
            executor.submit(adapter, request)
            running[trial.id] = request
        free = executor.capacity - len(running)
        if robots is not None:
            # a batch in flight in all, robots' work included; the driver's
            # own trials wait for the executor as in a batch
            free = spec.strategy.batch_size - len(running) - len(away)
        if len(starting) == len(waiting) and free > 0 and (refill or not running):
            committed = sum(1 for t in trials if t.spends_budget)
            slots = budget - committed
            if limit.slots is not None:
                slots = min(slots, limit.slots)
            # (what was just claimed is running: asked after the claims)
            if slots <= 0 and not (running or away):
                # everything left is in flight elsewhere (e.g. needs review)
                return _summary(spec, trials, finished=False)
            n = min(spec.strategy.batch_size, slots, free if refill else slots)
            if n > 0:
                proposals = propose_round(
                    spec, engine, store, name, n, report, len(running) + len(away)
                )
                if proposals:
                    continue
                if not (running or away):
                    # every feasible configuration has been tried (a tiny or gridded space)
                    store.update_campaign(name, status=CampaignStatus.EXHAUSTED)
                    return _summary(spec, trials, finished=False, exhausted=True)
        if robots is not None:
            finished = robots.wait(executor, running, trials, report, held)
            if finished is None:
                continue  # a robot may have reported: look again
            request, result = finished
        else:
            request, result = _next_finished(executor, lease)
        running.pop(request.trial_id, None)
        fault("after_evaluate")
        _check(lease)
        state = f"; {len(running)} in flight" if running else ""
        try:
            settle(store, spec, request, result)
        except TrialStateError:
            # an operator abandoned the trial while it ran (`loop trial abandon`)
            report(
                _progress(
                    spec,
                    store.trials(name),
                    f"trial {request.trial_id} was changed while it ran; its "
                    f"result is dropped{state}",
                )
            )
            continue
        trials = store.trials(name)
        message = f"measured trial {request.trial_id}{state}"
        report(_progress(spec, trials, message, held.news(trials)))


def _next_finished(executor: Executor, lease: Lease) -> Finished:
    """Wait for an evaluation to end, checking the stop flag and lease every second."""
    while (finished := executor.next_result(timeout=1.0)) is None:
        _check(lease)
    return finished


def propose_round(
    spec: CampaignSpec,
    engine: CampaignEngine,
    store: Store,
    name: str,
    n: int,
    report: ProgressCallback,
    running: int,
) -> list[Proposal]:
    """Ask the engine for *n* trials (those in flight as pending points) and store them."""
    trials = store.trials(name)
    iteration = max((t.iteration for t in trials), default=-1) + 1
    engine.tell(trials)
    also = f", {running} in flight" if running else ""
    report(_progress(spec, trials, f"proposing {n} (iteration {iteration}{also})"))
    started = time.perf_counter()
    proposing.set()
    try:
        if stop_requested.is_set():  # a stop that came just before
            raise KeyboardInterrupt
        asked = engine.ask(n, iteration)
    finally:
        proposing.clear()
    proposals = _timed(asked, time.perf_counter() - started)
    fault("after_fit")
    if proposals:
        store.add_trials(
            name, iteration, proposals, spec.budget.experiments, fit=engine.last_fit
        )
        fault("after_commit_proposals")
    return proposals


def _run_pull(
    store: Store,
    spec: CampaignSpec,
    engine: CampaignEngine,
    adapter: PullAdapter,
    report: ProgressCallback,
    poll_seconds: float,
    lease: Lease,
    breaker: Breaker,
    held: HeldValues,
) -> RunSummary:
    """Keep `batch_size` trials in flight for robots until the budget is spent.

    A new proposal is made as soon as a slot frees, with the trials still in
    flight as pending points; expired leases are reaped on every pass. When the
    failure breaker trips the driver stops (`CampaignPausedError`): trials
    already claimable stay so, and robots may still report them.
    """
    name, budget = spec.name, spec.budget.experiments
    last = ""
    while True:
        _check(lease)
        reap_expired(store, name, adapter.max_attempts)
        fault("after_reap")
        trials = store.trials(name)
        in_flight = [t for t in trials if t.status in ROBOT_SLOTS]
        limit = budget_limit(store, spec, trials, in_flight)
        if budget_used(trials) >= budget or (limit.slots == 0 and not in_flight):
            if limit.slots == 0:
                report(_progress(spec, trials, limit.why))
            store.update_campaign(name, status=CampaignStatus.COMPLETED)
            return _summary(spec, trials, finished=True)
        breaker.check(store, trials)
        committed = sum(1 for t in trials if t.spends_budget)
        slots = min(spec.strategy.batch_size - len(in_flight), budget - committed)
        if limit.slots is not None:
            slots = min(slots, limit.slots)
        if slots > 0:
            iteration = max((t.iteration for t in trials), default=-1) + 1
            engine.tell(trials)
            report(
                _progress(spec, trials, f"proposing {slots} (iteration {iteration})")
            )
            started = time.perf_counter()
            proposals = _timed(
                engine.ask(slots, iteration), time.perf_counter() - started
            )
            fault("after_fit")
            if proposals:
                store.add_trials(
                    name, iteration, proposals, budget, fit=engine.last_fit
                )
                fault("after_commit_proposals")
                continue
            if not in_flight:
                store.update_campaign(name, status=CampaignStatus.EXHAUSTED)
                return _summary(spec, trials, finished=False, exhausted=True)
        if not in_flight:
            # what is left of the budget waits on an operator (needs review)
            store.update_campaign(name, status=CampaignStatus.NEEDS_REVIEW)
            return _summary(spec, trials, finished=False)
        message = f"waiting for measurements: {len(in_flight)} in flight"
        news = held.news(trials)
        if message != last or news:
            report(_progress(spec, trials, message, news))
            last = message
        time.sleep(poll_seconds)


def _check(lease: Lease) -> None:
    """Before each step: stop when asked to, and never write without the lease."""
    if stop_requested.is_set():
        raise KeyboardInterrupt
    lease.check()


def _where(spec: CampaignSpec) -> str:
    """Where evaluations will run, when that is not in the driver itself."""
    ex = spec.executor
    if ex.type == "local":
        return ""
    if ex.type == "threads":
        return f" (evaluations on {ex.workers} threads)"
    return (
        f" (evaluations on Dask at {ex.address})"
        if ex.address
        else (f" (evaluations on a local Dask cluster of {ex.workers} workers)")
    )


def _timed(proposals: list[Proposal], seconds: float) -> list[Proposal]:
    """Proposals with the time their batch took to propose, for provenance and benchmarks."""
    return [
        Proposal.model_validate(
            {
                **p.model_dump(),
                "provenance": {**p.provenance, "propose_seconds": round(seconds, 4)},
            }
        )
        for p in proposals
    ]


def _claim(
    store: Store, spec: CampaignSpec, trial: Trial, lease: Lease
) -> EvaluationRequest:
    """Mark *trial* CLAIMED just before it is handed to the executor."""
    _check(lease)
    store.transition(
        trial.id, [TrialStatus.PENDING], TrialStatus.CLAIMED, attempt=trial.attempt
    )
    fault("after_claim")
    return EvaluationRequest(
        campaign=spec.name,
        trial_id=trial.id,
        attempt=trial.attempt,
        composition=trial.composition,
        parameters=trial.parameters,
        objectives=[o.name for o in spec.objectives],
        seed=spec.seed,
    )


def _recover(store: Store, name: str, adapter: Adapter) -> None:
    """Re-offer attempts a previous driver left unfinished, when re-running is
    safe (never those robots hold: their leases run out on their own)."""
    if not adapter.rerun_safe:
        return
    pulled = adapter.pulled if isinstance(adapter, PartlyPulledAdapter) else ()
    for t in store.trials(name):
        if str(t.parameters.get(FIDELITY)) in pulled:
            continue
        if t.status in (TrialStatus.CLAIMED, TrialStatus.STARTED):
            store.transition(
                t.id,
                [t.status],
                TrialStatus.PENDING,
                attempt=t.attempt,
                reason="driver stopped during evaluation; re-run",
                next_attempt=True,
            )


def open_adapter(spec: CampaignSpec) -> PushAdapter | PullAdapter:
    """The campaign's adapter, started; one the driver can call or robots pull from."""
    kind = spec.adapter["type"]
    if (missing := spec.adapter_problem) is not None:  # a plug-in not installed here
        raise BadInputError(
            f"campaign '{spec.name}': adapter.type: {missing.message}",
            f"{missing.hint}; install the package that provides '{kind}' to run "
            "it (`loop inspect`, `loop export` and `loop report` read it without)",
        )
    try:
        adapter = adapter_class(kind)(spec.adapter_config(), spec)
    except LoopError:
        raise
    except Exception as exc:
        raise LoopError(
            f"adapter '{kind}' could not start: {exc}",
            "check the adapter block of the campaign",
        ) from exc
    if isinstance(adapter, PushAdapter | PullAdapter):
        return adapter
    raise LoopError(
        f"adapter '{kind}' neither evaluates trials nor lets robots pull them",
        "an adapter implements `evaluate` (loop.ports.PushAdapter) or `pull` and "
        "`max_attempts` (loop.ports.PullAdapter); see docs/how-to/write-an-adapter.md",
    )
