"""Numbers and configurations as a person reads them, in every output of loop.

Stored values keep full precision; what `inspect`, the run summary, the report
and the dashboard print is rounded to a few significant digits, in plain
notation for the magnitudes a lab sets (302.1 K, not 302.0539513155818 or
3.02e+02), with the parameter's unit from the YAML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def number(value: float, digits: int = 4) -> str:
    """*value* to *digits* significant digits: `1200`, `302.1`, `0.05`, `1.5e-06`."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    size = abs(value)
    if not 1e-3 <= size < 1e6:
        return f"{value:.{digits}g}"
    decimals = max(digits - 1 - math.floor(math.log10(size)), 0)
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def value_text(value: Any, unit: str | None = None, digits: int = 4) -> str:
    """One parameter value: numbers rounded, then the unit (`302.1 K`, `LiPF6`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    text = number(float(value), digits)
    return f"{text} {unit}" if unit else text


def parameters_text(
    parameters: Mapping[str, Any],
    units: Mapping[str, str | None] | None = None,
    sep: str = " ",
) -> str:
    """`T=302.1 K salt=LiPF6`: each parameter with its rounded value and unit."""
    units = units or {}
    return sep.join(f"{k}={value_text(v, units.get(k))}" for k, v in parameters.items())


def composition_text(
    composition: Mapping[str, float], compact: bool = False, digits: int = 4
) -> str:
    """The components present with their amounts: `EC 0.4 DMC 0.6`, or
    `EC0.4 DMC0.6` when *compact*."""
    gap = "" if compact else " "
    return " ".join(f"{k}{gap}{number(v, digits)}" for k, v in composition.items() if v)


def configuration_text(
    composition: Mapping[str, float],
    parameters: Mapping[str, Any],
    units: Mapping[str, str | None] | None = None,
    compact: bool = False,
) -> str:
    """A composition and its process parameters in one line."""
    parts = (
        composition_text(composition, compact, digits=3 if compact else 4),
        parameters_text(parameters, units),
    )
    return ("  " if compact else "; ").join(p for p in parts if p)


def parameter_units(spec: Any) -> dict[str, str | None]:
    """Units of the parameters of a spec, given as a `CampaignSpec` or its JSON."""
    if isinstance(spec, Mapping):
        params = spec.get("space", {}).get("parameters", [])
        return {p["name"]: p.get("unit") for p in params}
    return {p.name: getattr(p, "unit", None) for p in spec.space.parameters}


def hypervolume_text(
    value: float, reference: Mapping[str, float], units: Mapping[str, str | None]
) -> str:
    """`hypervolume 12.3 mS/cm·V above conductivity 2.1 mS/cm, window 3.4 V`:
    the value in the product of the goals' units (given when all have one)."""
    names = list(reference)
    unit = (
        "·".join(u for n in names if (u := units.get(n)))
        if all(units.get(n) for n in names)
        else ""
    )
    above = ", ".join(
        f"{n} {value_text(v, units.get(n))}" for n, v in reference.items()
    )
    return f"hypervolume {value_text(value, unit or None)} above {above}"
