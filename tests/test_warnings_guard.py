"""Warning filters changed in two threads at once stay each thread's own.

The DFT adapter records pymatgen's warnings on job threads while the driver's
thread hides expected numerical warnings; with `-W error` (as this suite runs)
a thread whose filters another thread restored would raise its warning.
"""

from __future__ import annotations

import sys
import threading
import warnings

from loop.warnings_guard import guarded_filters, recorded_warnings


def test_a_thread_records_all_its_warnings_while_another_changes_filters() -> None:
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            with guarded_filters():
                warnings.simplefilter("ignore")

    other = threading.Thread(target=churn)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # let the threads interleave inside the blocks
    other.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(200):
                with recorded_warnings() as caught:
                    for i in range(20):
                        warnings.warn(f"input note {i}", UserWarning, stacklevel=1)
                assert len(caught) == 20
    finally:
        stop.set()
        other.join()
        sys.setswitchinterval(switch)
