"""How far a configuration lies from the data the model has seen.

A GP's prediction far from every measurement is its prior, not knowledge, so a
proposal there is exploration whatever its predicted value says. Distances are
Euclidean in comp-rep (fractions of the total, parameters, one-hot categories),
each column divided by its range, as `loop inspect --explain` lists neighbours.
The applicability-domain distance of a point is its distance to the nearest
measured configuration divided by the typical spacing of the measurements (the
median of each measured point's distance to its nearest other one): about 1
inside the data, `FAR` or more in a region the measurements have not reached.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loop.space.encoding import Encoder

#: Nearest-measurement distance, in typical spacings, beyond which a point is
#: called outside the data the model has seen.
FAR = 3.0


def scaled_distances(encoder: Encoder, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Distance from *x* to each of *rows*, every column divided by its range."""
    scale = np.where(encoder.upper > encoder.lower, encoder.upper - encoder.lower, 1.0)
    return np.sqrt((((np.atleast_2d(rows) - x) / scale) ** 2).sum(axis=1))


@dataclass(frozen=True)
class Domain:
    """Nearest measured distance, typical spacing, and their ratio."""

    nearest: float
    spacing: float

    @property
    def ratio(self) -> float:
        return self.nearest / self.spacing

    @property
    def outside(self) -> bool:
        return self.ratio > FAR

    def document(self) -> dict[str, float | bool]:
        """The provenance entry `domain` of a proposal."""
        return {
            "nearest": round(self.nearest, 6),
            "spacing": round(self.spacing, 6),
            "ratio": round(self.ratio, 3),
            "outside": self.outside,
        }


def typical_spacing(encoder: Encoder, measured: np.ndarray) -> float | None:
    """Median nearest-neighbour distance among distinct measured rows (None with
    fewer than two distinct rows)."""
    distinct = np.unique(np.asarray(measured, dtype=float), axis=0)
    if len(distinct) < 2:
        return None
    nearest = [
        float(np.delete(scaled_distances(encoder, distinct, row), i).min())
        for i, row in enumerate(distinct)
    ]
    return float(np.median(nearest))


def domain_of(
    encoder: Encoder, measured: np.ndarray, x: np.ndarray, spacing: float | None
) -> Domain | None:
    """Where *x* lies relative to the *measured* rows (None without a spacing)."""
    if spacing is None or spacing <= 0 or len(measured) == 0:
        return None
    return Domain(float(scaled_distances(encoder, measured, x).min()), spacing)
