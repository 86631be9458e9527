"""Small text views for the terminal: best-so-far traces and sparklines."""

from __future__ import annotations

from typing import Any

BARS = "▁▂▃▄▅▆▇█"


def best_so_far(trials: list[dict[str, Any]], objective: dict[str, Any]) -> list[float]:
    """Running best of *objective* over measured trials, in trial order."""
    name, maximize = objective["name"], objective["direction"] == "maximize"
    trace: list[float] = []
    for t in trials:
        value = t["measurements"].get(name)
        if value is None:
            continue
        if not trace:
            trace.append(value)
        else:
            trace.append(max(trace[-1], value) if maximize else min(trace[-1], value))
    return trace


def sparkline(values: list[float], width: int = 40) -> str:
    """A one-line chart of *values* (sampled down to *width* characters)."""
    if not values:
        return ""
    if len(values) > width:
        values = [values[int(i * len(values) / width)] for i in range(width - 1)] + [
            values[-1]
        ]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(
        BARS[min(len(BARS) - 1, int((v - lo) / span * (len(BARS) - 1) + 0.5))]
        for v in values
    )
