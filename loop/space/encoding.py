"""The one place where experimental values become model inputs, and back.

*exp-rep* is what the YAML and the lab speak: a composition in the units of its
`total` (fractions or at.%) and parameters in their own units and category names.
*comp-rep* is a float vector the model sees, one column per:

* composition component, as a fraction of the total (the fractions sum to 1),
* continuous parameter, in its own unit (the GP normalises inputs itself),
  snapped to its `resolution` grid on decoding when it has one,
* integer parameter, relaxed to a real number in [lo, hi], rounded on decoding,
* categorical parameter value, one-hot (1 for the chosen value).

Linear constraints of the YAML are rewritten here into comp-rep rows, so the
optimiser and the feasibility checks never see exp-rep units; and the component
property table behind `element_descriptors` is assembled here too (the model
turns it into weighted means and spreads, `loop.model.features`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from loop.records import Trial, TrialStatus
from loop.spec import CampaignSpec
from loop.spec.constraints import constraint_rows
from loop.spec.descriptors import descriptor_table

ColumnKind = Literal["fraction", "continuous", "integer", "onehot"]


@dataclass(frozen=True)
class Column:
    """One comp-rep column: what it encodes and its bounds."""

    name: str
    kind: ColumnKind
    lower: float
    upper: float
    parameter: str = ""
    value: str = ""


@dataclass(frozen=True)
class LinearRows:
    """Linear constraints in comp-rep: ``A_eq x = b_eq`` and ``A_ub x <= b_ub``."""

    a_eq: np.ndarray
    b_eq: np.ndarray
    a_ub: np.ndarray
    b_ub: np.ndarray
    #: Rows of `a_eq` from here on are the YAML's equalities (row 0 may be the sum).
    user_eq_start: int = 0


@dataclass(frozen=True)
class FeatureTable:
    """Component properties (rows in component order) the GP sees as features."""

    properties: list[str]
    table: np.ndarray
    keep_fractions: bool


class Encoder:
    """Turns configurations into comp-rep vectors and back; pure and invertible."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        comp = spec.space.composition
        self.total = comp.total if comp else 1.0
        self.components = list(spec.space.components)
        columns = [
            Column(c, "fraction", lo / self.total, hi / self.total)
            for c, (lo, hi) in (comp.bounds.items() if comp else ())
        ]
        for p in spec.space.parameters:
            if p.type == "continuous":
                columns.append(
                    Column(p.name, "continuous", p.bounds[0], p.bounds[1], p.name)
                )
            elif p.type == "integer":
                columns.append(
                    Column(
                        p.name,
                        "integer",
                        float(p.bounds[0]),
                        float(p.bounds[1]),
                        p.name,
                    )
                )
            else:
                columns.extend(
                    Column(f"{p.name}={v}", "onehot", 0.0, 1.0, p.name, v)
                    for v in p.values
                )
        self.columns = tuple(columns)
        self.fraction_idx = np.array(
            [i for i, c in enumerate(columns) if c.kind == "fraction"], dtype=int
        )
        self.numeric_idx = np.array(
            [i for i, c in enumerate(columns) if c.kind in ("continuous", "integer")],
            dtype=int,
        )
        self.integer_idx = np.array(
            [i for i, c in enumerate(columns) if c.kind == "integer"], dtype=int
        )
        #: continuous parameters with a `resolution`, by their column
        self.stepped = {
            self._index(p.name, columns): p
            for p in spec.space.parameters
            if p.type == "continuous" and p.resolution is not None
        }
        self.categorical: dict[str, list[int]] = {}
        for i, c in enumerate(columns):
            if c.kind == "onehot":
                self.categorical.setdefault(c.parameter, []).append(i)
        self.lower = np.array([c.lower for c in columns])
        self.upper = np.array([c.upper for c in columns])
        self.linear = self._linear_rows()

    def features(self) -> FeatureTable | None:
        """The descriptor table when `surrogate.features` asks for descriptors."""
        features = self.spec.strategy.surrogate.features
        if "element_descriptors" not in features:
            return None
        comp = self.spec.space.composition
        if comp is None:
            return None
        names, table = descriptor_table(comp.kind, comp.components, comp.descriptors)
        return FeatureTable(names, table, keep_fractions="fractions" in features)

    @property
    def dim(self) -> int:
        return len(self.columns)

    @property
    def free_dims(self) -> int:
        """Degrees of freedom: components minus one (if any), plus every parameter."""
        return max(len(self.components) - 1, 0) + len(self.spec.space.parameters)

    def encode(
        self, composition: dict[str, float], parameters: dict[str, Any]
    ) -> np.ndarray:
        x = np.zeros(self.dim)
        for i, col in enumerate(self.columns):
            if col.kind == "fraction":
                x[i] = composition[col.name] / self.total
            elif col.kind in ("continuous", "integer"):
                x[i] = float(parameters[col.parameter])
            else:
                x[i] = 1.0 if str(parameters[col.parameter]) == col.value else 0.0
        return x

    def encode_many(
        self, rows: list[tuple[dict[str, float], dict[str, Any]]]
    ) -> np.ndarray:
        if not rows:
            return np.zeros((0, self.dim))
        return np.stack([self.encode(c, p) for c, p in rows])

    def measured(
        self, trials: list[Trial]
    ) -> tuple[list[Trial], np.ndarray, np.ndarray]:
        """The trials a model learns from, their comp-rep rows and raw values.

        A trial counts when it is COMPLETED with a value for every objective;
        values are as measured (columns in `spec.objectives` order), each
        objective turns its column to the model's scale itself.
        """
        names = [o.name for o in self.spec.objectives]
        done = [
            t
            for t in trials
            if t.status == TrialStatus.COMPLETED and all(n in t.values for n in names)
        ]
        x = self.encode_many([(t.composition, t.parameters) for t in done])
        y = np.array([[t.values[n] for n in names] for t in done]).reshape(
            -1, len(names)
        )
        return done, x, y

    def decode(self, x: np.ndarray) -> tuple[dict[str, float], dict[str, Any]]:
        """Configuration of a comp-rep vector (already repaired to be feasible)."""
        composition = {
            col.name: float(x[i]) * self.total
            for i, col in enumerate(self.columns)
            if col.kind == "fraction"
        }
        comp = self.spec.space.composition
        step = comp.resolution if comp else None
        if step is not None:
            # whole numbers of dosing steps, written as exactly as floats allow
            composition = {
                c: round(round(v / step) * step, 12) for c, v in composition.items()
            }
        parameters: dict[str, Any] = {}
        for p in self.spec.space.parameters:
            if p.type == "continuous":
                parameters[p.name] = p.grid(float(x[self._index(p.name)]))
            elif p.type == "integer":
                parameters[p.name] = int(round(float(x[self._index(p.name)])))
            else:
                idx = self.categorical[p.name]
                parameters[p.name] = p.values[int(np.argmax(x[idx]))]
        return composition, parameters

    def _index(self, name: str, columns: Any = None) -> int:
        columns = self.columns if columns is None else columns
        return next(i for i, c in enumerate(columns) if c.name == name)

    def _linear_rows(self) -> LinearRows:
        """The sum to one (when there is a composition), then the YAML's constraints."""
        names = [c.name for c in self.columns]
        scale = {c.name: self.total for c in self.columns if c.kind == "fraction"}
        a_eq, b_eq, a_ub, b_ub = constraint_rows(self.spec.constraints, names, scale)
        if self.components:  # the fractions sum to 1
            total = np.where([c.kind == "fraction" for c in self.columns], 1.0, 0.0)
            a_eq, b_eq = np.vstack([total, a_eq]), np.concatenate([[1.0], b_eq])
        return LinearRows(
            a_eq, b_eq, a_ub, b_ub, user_eq_start=1 if self.components else 0
        )
