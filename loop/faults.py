"""Named crash points for fault-injection tests (RELIABILITY.md §3).

`fault("after_claim")` makes the process SIGKILL itself at once when the
environment variable `LOOP_FAULT` names that point (alone or in a
comma-separated list); `after_commit_proposals@3` kills on the third time the
point is reached (e.g. after several model rounds). Otherwise it returns at the
cost of one dictionary lookup. SIGKILL cannot be caught, so no `finally`, `atexit` or rollback runs:
the database is left exactly as a power cut or the OOM killer would leave it.

Tests start `loop run`, `loop resume` or `loop serve` as a child process with
`LOOP_FAULT=<point>`, watch it die (return code -9), check the invariants and
resume. The CLI entry points call `check_env()` first, so a misspelt point is
an error at start instead of a test that silently never crashes.
"""

from __future__ import annotations

import os
import signal

#: The environment variable that arms fault points.
ENV = "LOOP_FAULT"

#: Every fault point, with where it sits. Tests parametrize over these.
POINTS: dict[str, str] = {
    "after_driver_lease": "driver lease acquired, before recovering unfinished attempts",
    "after_fit": "engine.ask returned proposals, before they are stored",
    "after_commit_proposals": "proposals stored as PENDING, before any is dispatched",
    "after_claim": "push: trial marked CLAIMED, before the adapter evaluates it",
    "after_evaluate": "push: the adapter returned, before the measurement is stored",
    "after_complete": "push: measurement and COMPLETED committed, before the next step",
    "after_reap": "pull: expired robot leases reaped, before the budget is looked at",
    "ingest_mid_txn": "API: measurement row flushed inside its transaction, before commit",
    "import_mid_txn": "loop import: half of a file's rows flushed, before the commit",
    "after_dft_submit": "dft adapter: the scheduler accepted a job, before its id is recorded",
}


#: How often each point has been reached in this process.
_reached: dict[str, int] = {}


def fault(point: str) -> None:
    """SIGKILL this process when `LOOP_FAULT` names *point* (on its n-th visit
    for `point@n`); otherwise do nothing."""
    armed = os.environ.get(ENV)
    if not armed:
        return
    _reached[point] = _reached.get(point, 0) + 1
    for entry in armed.split(","):
        name, _, nth = entry.strip().partition("@")
        if name == point and (not nth or int(nth) == _reached[point]):
            os.kill(os.getpid(), signal.SIGKILL)


def armed_points() -> list[str]:
    """The point names `LOOP_FAULT` lists, without visit counts (empty when unset)."""
    return [
        p.strip().partition("@")[0]
        for p in os.environ.get(ENV, "").split(",")
        if p.strip()
    ]


def check_env() -> None:
    """Refuse a `LOOP_FAULT` naming a point that does not exist (exit 2)."""
    unknown = [p for p in armed_points() if p not in POINTS]
    entries = [p.strip() for p in os.environ.get(ENV, "").split(",") if p.strip()]
    unknown += [e for e in entries if "@" in e and not e.partition("@")[2].isdigit()]
    if unknown:
        from loop.errors import BadInputError

        raise BadInputError(
            f"{ENV} names unknown fault points: {', '.join(unknown)}",
            f"known points: {', '.join(POINTS)}; unset {ENV} outside fault tests",
        )
