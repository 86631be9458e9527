"""One lock around every temporary change of Python's warning filters.

`warnings.catch_warnings` swaps the process-wide filter list on entry and puts
the saved one back on exit; Python documents it as not thread-safe. loop changes
filters in the driver's thread (quiet model fits, the Ax strategy) while a job
adapter's threads change them too (the DFT adapter records pymatgen's warnings
about its inputs). Without a lock, one thread leaving its block restores filters
under another still inside it: that thread's warnings are then recorded in the
wrong list, printed, or (under `-W error`) raised as exceptions. Every block
that changes filters takes this lock first; it is re-entrant, so nested blocks
in one thread are fine, and it is held only while the block runs.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_FILTERS = threading.RLock()


@contextmanager
def guarded_filters() -> Iterator[None]:
    """`warnings.catch_warnings()` under the process-wide filter lock."""
    with _FILTERS, warnings.catch_warnings():
        yield


@contextmanager
def recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning of the block, recorded instead of shown, under the lock."""
    with _FILTERS, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
