"""How many CPU threads torch and the BLAS libraries use in this process.

torch starts one intra-op thread per core, and numpy's and scipy's OpenBLAS do
the same. On a machine whose cores are shared with other work (a second
campaign, a test suite, a DFT job) those threads oversubscribe the cores: each
GP fit then waits on threads that are not running, and a fit that takes 2.5 s
on one thread took 69 s on a shared 2-core machine. loop therefore chooses the
count on purpose, in this order:

1. an explicit request: `loop --threads N ...` or `configure_threads(N)`;
2. the environment variable `LOOP_THREADS`;
3. `OMP_NUM_THREADS`, else `MKL_NUM_THREADS`, when the user set one (the first
   number of a nested list such as `4,2`);
4. `DEFAULT_THREADS`.

It applies the count with `torch.set_num_threads` and limits the BLAS and
OpenMP pools loaded at that moment with threadpoolctl (scipy's BLAS is loaded
first so that the limit reaches it). torch's inter-op pool is left alone:
BoTorch and GPyTorch do not use it, and torch refuses to resize it once any
parallel work has run.

torch is imported only when the count is applied, never by `request_threads`,
so commands that never fit a model (`loop validate`, `loop schema`) stay fast.
The CLI's root command records the request; the first piece of model work
(`CampaignEngine.ask`, `run_campaign`, the report's model fits) or
`loop.api.create_app` applies it through `ensure_threads()`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loop.errors import BadInputError

#: Threads per process when neither an option nor an environment variable says
#: otherwise. On a 2-core machine shared with other work, one thread per
#: process is never much worse than one per core and often ten times better:
#: the GP fits and acquisition optimisations of a campaign are small enough that
#: a second thread gains little even on an idle machine, while a competing
#: process makes every extra thread wait. `tests/benchmarks/threads.py` measures
#: it (docs/benchmarks.md).
DEFAULT_THREADS = 1

#: The environment variable loop reads first; `--threads` sets the same.
THREADS_ENV = "LOOP_THREADS"
#: Variables of OpenMP and MKL that loop respects when `LOOP_THREADS` is unset.
RESPECTED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and where it came from (`--threads`, `LOOP_THREADS`, ...)."""

    count: int
    source: str


_lock = threading.Lock()
#: Applied in this process (None until the first configure or ensure).
_applied: ThreadChoice | None = None
#: Recorded by the CLI, applied at the first `ensure_threads()`.
_pending: ThreadChoice | None = None


def choose_threads(
    requested: int | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    source: str = "configure_threads()",
) -> ThreadChoice:
    """Decide the count without applying it (no torch import).

    *requested* wins; else `LOOP_THREADS`, `OMP_NUM_THREADS`, `MKL_NUM_THREADS`
    of *environ* (default: this process's environment); else the default.
    A value that is not a whole number of at least 1 is a `BadInputError`
    naming *source* or the variable.
    """
    env = os.environ if environ is None else environ
    if requested is not None:
        if (
            isinstance(requested, bool)
            or not isinstance(requested, int)
            or requested < 1
        ):
            raise BadInputError(
                f"{_call(source, requested)}: the number of threads must be a whole "
                "number of at least 1",
                f"use {_call(source, 1)} (the default) or more, up to the machine's "
                "cores",
            )
        return ThreadChoice(requested, source)
    for name in (THREADS_ENV, *RESPECTED_ENV):
        raw = env.get(name, "").strip()
        if raw:
            return ThreadChoice(_parse_env(name, raw), name)
    return ThreadChoice(DEFAULT_THREADS, "default")


def _call(source: str, value: object) -> str:
    """`--threads 0` for an option, `configure_threads(0)` for a function."""
    if source.startswith("-"):
        return f"{source} {value!r}"
    return f"{source.removesuffix('()')}({value!r})"


def _parse_env(name: str, raw: str) -> int:
    # OpenMP allows a list of counts for nested levels; the first is the outer one
    first = raw.split(",")[0].strip() if name != THREADS_ENV else raw
    if not first.isdigit() or int(first) < 1:
        raise BadInputError(
            f"{name}={raw!r} is not a number of threads",
            f"set {name} to a whole number of at least 1 (e.g. {name}=1), "
            f"or unset it for loop's default of {DEFAULT_THREADS}",
        )
    return int(first)


def configure_threads(
    requested: int | None = None, *, source: str = "configure_threads()"
) -> int:
    """Choose the thread count (see `choose_threads`), apply it, return it.

    Imports torch. Later calls apply again (the last one wins); after this,
    `ensure_threads()` leaves the setting alone. Python users who want another
    count than the default call this before their first `CampaignEngine.ask`.
    """
    global _applied, _pending
    choice = choose_threads(requested, source=source)
    with _lock:
        _apply(choice.count)
        _applied, _pending = choice, None
    return choice.count


def request_threads(requested: int | None = None, *, source: str = "--threads") -> int:
    """Check and record a request, to be applied at the first `ensure_threads()`.

    What the CLI calls before any command: bad values fail at once (exit 2),
    and torch is not imported for commands that never need it. If torch is
    already loaded (loop called in-process), the count is applied now.
    """
    global _applied, _pending
    choice = choose_threads(requested, source=source)
    with _lock:
        if "torch" in sys.modules:
            _apply(choice.count)
            _applied, _pending = choice, None
        else:
            _pending = choice
    return choice.count


def prepare_threads() -> None:
    """Check and record the environment's (or the default) count, unless a count
    was already requested (`--threads`) or applied; never imports torch. What an
    app factory calls: a bad LOOP_THREADS fails at start, and the count applies
    at the first `ensure_threads()` (torch already loaded: now)."""
    global _applied, _pending
    choice = choose_threads(None)
    with _lock:
        if _applied is not None or _pending is not None:
            return
        if "torch" in sys.modules:
            _apply(choice.count)
            _applied = choice
        else:
            _pending = choice


def ensure_threads() -> int:
    """Apply the recorded request, or the environment's or default count, once.

    Idempotent and cheap after the first call: model work calls it at its
    start. Returns the count in effect as loop set it.
    """
    global _applied, _pending
    applied = _applied
    if applied is not None:
        return applied.count
    with _lock:
        if _applied is None:
            choice = _pending or choose_threads()
            _apply(choice.count)
            _applied, _pending = choice, None
        return _applied.count


def _apply(count: int) -> None:
    import scipy.linalg  # noqa: F401  loads scipy's BLAS, so that the limit reaches it
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(count)
    threadpool_limits(limits=count)


def current_threads() -> int:
    """torch's intra-op thread count in effect now (imports torch)."""
    import torch

    return int(torch.get_num_threads())


def thread_info() -> dict[str, Any]:
    """What is in effect, for provenance and benchmarks (imports torch).

    `threads`: torch's intra-op count; `source`: where loop's choice came from
    (None if loop has not applied one); `pools`: each BLAS/OpenMP pool that
    threadpoolctl sees, with its library file and thread count.
    """
    from threadpoolctl import threadpool_info

    threads = current_threads()
    return {
        "threads": threads,
        "source": _applied.source if _applied is not None else None,
        "pools": [
            {
                "api": pool["internal_api"],
                "library": os.path.basename(pool["filepath"]),
                "threads": pool["num_threads"],
            }
            for pool in threadpool_info()
        ],
    }
