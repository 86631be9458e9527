"""Proposals without a driver: the Python API's `Campaign.ask`.

The same path as `loop run` takes to propose (`runner.propose_round`: the
engine told every trial, the batch stored budget-checked with the fit that made
it), under the driver lease so it never races a running driver; nothing is
evaluated.
"""

from __future__ import annotations

from loop.campaign_state import load_spec
from loop.engine import CampaignEngine
from loop.ports import PoolAdapter
from loop.records import Trial
from loop.service.budget import budget_limit
from loop.service.runner import open_adapter, propose_round
from loop.sources import read_sources
from loop.storage import Store
from loop.storage.driver import driving
from loop.strategies import check_strategy
from loop.threads import ensure_threads


def propose_batch(store: Store, name: str, n: int | None = None) -> list[Trial]:
    """Propose and store up to *n* trials (default `batch_size`) without
    evaluating them: the Python API's `ask`. It holds the driver lease while it
    writes, so it never races a running `loop run`, and stores through the same
    path as the driver (budget-checked, with the model fit that proposed them).
    Returns the new trials; none when the budget is spent or the space is.
    """
    ensure_threads()
    spec = load_spec(store.get_campaign(name))
    adapter = open_adapter(spec)
    pool = adapter.pool() if isinstance(adapter, PoolAdapter) else None
    check_strategy(spec.strategy.engine, spec, pooled=pool is not None)
    engine = CampaignEngine(
        spec, pool, fit=store.latest_fit(name), sources=read_sources(store, spec)
    )
    with driving(store, name) as lease:
        lease.check()
        trials = store.trials(name)
        slots = spec.budget.experiments - sum(1 for t in trials if t.spends_budget)
        in_flight = [t for t in trials if t.status.in_flight]
        limit = budget_limit(store, spec, trials, in_flight)
        if limit.slots is not None:
            slots = min(slots, limit.slots)
        count = min(spec.strategy.batch_size if n is None else n, slots)
        if count <= 0:
            return []
        before = {t.id for t in trials}
        propose_round(spec, engine, store, name, count, lambda _p: None, 0)
        return [t for t in store.trials(name) if t.id not in before]
