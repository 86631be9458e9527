"""Warnings from the numerical stack that are expected and say nothing to users.

Each filter names what it hides and why; everything else still surfaces (and the
test suite turns any other warning into an error).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from loop.warnings_guard import guarded_filters, recorded_warnings


@contextmanager
def quiet_numerics() -> Iterator[None]:
    with guarded_filters():
        # SLSQP line searches stop early with equality constraints; the best
        # restart is used either way.
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"botorch\.")
        warnings.filterwarnings("ignore", message=r".*[Oo]ptimization")
        # jitter added to a near-singular covariance is routine with few points
        warnings.filterwarnings("ignore", message=r".*added jitter")
        # torch notes that sparse-tensor invariant checks are off when
        # linear_operator interpolates a batched multi-output posterior
        warnings.filterwarnings("ignore", message=r"Sparse invariant checks")
        # every measurement equal (or pulled to one fence): the acquisition is
        # flat, and BoTorch starting its search at random is the right answer
        warnings.filterwarnings(
            "ignore", message=r"All acquisition values for raw samples points"
        )
        yield


@contextmanager
def optimisation_warnings_hidden() -> Iterator[None]:
    """Hide BoTorch's `OptimizationWarning`s of one acquisition optimisation.

    BoTorch forces these to show (`simplefilter("always")` inside its own
    `catch_warnings`), so filters cannot hide them; recording every warning and
    re-issuing the others can. A restart whose line search stops early (status
    ABNORMAL, at a kink of the simplex projection) is expected: its point is
    scored with the others and the best is used.
    """
    from botorch.exceptions.warnings import OptimizationWarning

    with recorded_warnings() as caught:
        yield
    for w in caught:
        if not issubclass(w.category, OptimizationWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
