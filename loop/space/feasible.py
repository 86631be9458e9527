"""Feasibility in comp-rep: check, repair, snap to the dosing grid.

Every proposal leaves through `Feasibility.finalise`, which guarantees what the
issue tracker and the lab rely on: fractions sum to exactly 1 (so amounts sum to
the total within 1e-9), every value is inside its bounds, linear constraints
hold, at most `max_components` components are non-zero (the others exactly 0),
amounts lie on the `resolution` grid, integers are whole, parameters with a
`resolution` are on their grid and categoricals are one-hot. A point that cannot be made feasible is refused (None), never emitted.
"""

from __future__ import annotations

import numpy as np

from loop.space.encoding import Encoder

#: Tolerance for constraint checks in comp-rep.
TOL = 1e-9
#: Fractions below this (one part per million) are dust left by the optimiser:
#: set to exactly 0 where the lower bound allows it.
DUST = 1e-6


class Feasibility:
    """Checks and repairs comp-rep vectors against the campaign's constraints."""

    def __init__(self, encoder: Encoder) -> None:
        self.enc = encoder
        comp = encoder.spec.space.composition
        self.max_components = comp.max_components if comp else None
        self.step = comp.resolution / comp.total if comp and comp.resolution else None
        self.frac = encoder.fraction_idx
        self.lo = encoder.lower
        self.hi = encoder.upper

    # ------------------------------------------------------------------ checks
    def violations(self, x: np.ndarray, tol: float = TOL) -> list[str]:
        """Human-readable reasons *x* is not a valid configuration (empty if valid)."""
        out = []
        names = [c.name for c in self.enc.columns]
        for i in np.flatnonzero((x < self.lo - tol) | (x > self.hi + tol)):
            out.append(
                f"{names[i]}={x[i]:.6g} outside [{self.lo[i]:g}, {self.hi[i]:g}]"
            )
        total = float(np.sum(x[self.frac]))
        if len(self.frac) and abs(total - 1.0) > tol:
            out.append(f"fractions sum to {total:.12g}, not 1")
        rows = self.enc.linear
        for row, rhs in zip(rows.a_ub, rows.b_ub, strict=True):
            if row @ x > rhs + tol * max(1.0, abs(rhs)):
                out.append(f"linear constraint violated: {row @ x:.6g} > {rhs:.6g}")
        start = rows.user_eq_start
        for row, rhs in zip(rows.a_eq[start:], rows.b_eq[start:], strict=True):
            if abs(row @ x - rhs) > tol * max(1.0, abs(rhs)):
                out.append(f"linear equality violated: {row @ x:.6g} != {rhs:.6g}")
        if self.max_components is not None:
            nonzero = int(np.sum(x[self.frac] > 0))
            if nonzero > self.max_components:
                out.append(
                    f"{nonzero} non-zero components, above {self.max_components}"
                )
        if self.step is not None:
            units = x[self.frac] / self.step
            if np.any(np.abs(units - np.round(units)) > 1e-6):
                out.append("composition is off the resolution grid")
        for i in self.enc.integer_idx:
            if abs(x[i] - round(x[i])) > 0:
                out.append(f"{names[i]}={x[i]} is not a whole number")
        for col, p in self.enc.stepped.items():
            if abs(x[col] - p.grid(float(x[col]))) > 1e-9 * max(1.0, abs(x[col])):
                out.append(f"{names[col]}={x[col]} is off its resolution grid")
        for idx in self.enc.categorical.values():
            if sorted(x[idx].tolist()) != [0.0] * (len(idx) - 1) + [1.0]:
                out.append("categorical columns are not one-hot")
        return out

    def is_feasible(self, x: np.ndarray) -> bool:
        return not self.violations(x)

    # ------------------------------------------------------------------ repair
    def finalise(self, x: np.ndarray) -> np.ndarray | None:
        """A feasible version of *x* close to it, or None when none can be found."""
        x = np.asarray(x, dtype=float).copy()
        for idx in self.enc.categorical.values():
            hot = int(np.argmax(x[idx]))
            x[idx] = 0.0
            x[idx[hot]] = 1.0
        x[self.enc.integer_idx] = np.round(x[self.enc.integer_idx])
        numeric = self.enc.numeric_idx
        x[numeric] = np.clip(x[numeric], self.lo[numeric], self.hi[numeric])
        for i, p in self.enc.stepped.items():
            x[i] = p.grid(float(x[i]))
        f = x[self.frac]
        x[self.frac] = np.where((f < DUST) & (self.lo[self.frac] <= 0), 0.0, f)
        x = self._enforce_cardinality(x)
        support = x[self.frac] > 0
        x = self._fix_sum(x, support)
        if self._linear_violation(x) > TOL:
            projected = self._project(x, support)
            if projected is None:
                return None
            x = self._fix_sum(projected, support)
        if self.step is not None:
            snapped = self._snap(x, support)
            if snapped is None:
                return None
            x = snapped
        return x if self.is_feasible(x) else None

    def _enforce_cardinality(self, x: np.ndarray) -> np.ndarray:
        k = self.max_components
        if k is None or k >= len(self.frac):
            return x
        f = x[self.frac]
        forced = self.lo[self.frac] > 0
        order = np.argsort(-(f + forced * 10.0), kind="stable")
        keep = np.zeros(len(f), dtype=bool)
        keep[order[:k]] = True
        hi = self.hi[self.frac]
        while hi[keep].sum() < 1.0 - TOL:
            # the chosen support cannot reach the total: swap its weakest free member
            # for the outside component with the most room
            inside = np.flatnonzero(keep & ~forced)
            outside = np.flatnonzero(~keep)
            if not len(inside) or not len(outside):
                break
            drop = inside[np.argmin(f[inside])]
            add = outside[np.argmax(hi[outside])]
            if hi[add] <= hi[drop]:
                break
            keep[drop], keep[add] = False, True
        f = np.where(keep, np.maximum(f, self.lo[self.frac]), 0.0)
        x[self.frac] = f
        return x

    def _fix_sum(self, x: np.ndarray, support: np.ndarray) -> np.ndarray:
        """Clip fractions to bounds and spread the remainder so they sum to 1 exactly."""
        if not len(self.frac):
            return x
        lo, hi = self.lo[self.frac], self.hi[self.frac]
        f = np.clip(x[self.frac], lo, hi)
        f[~support] = 0.0
        for _ in range(50):
            gap = 1.0 - f.sum()
            if abs(gap) <= 1e-15:
                break
            room = (
                np.where(support, hi - f, 0.0)
                if gap > 0
                else np.where(support, f - lo, 0.0)
            )
            if room.sum() <= 0:
                if gap > 0 and not support.all():
                    support = support | (
                        hi > 0
                    )  # widen the support only when forced to
                    continue
                break
            f = np.clip(f + gap * room / room.sum(), lo, hi)
            f[~support] = 0.0
        # put the last ulps on the component with the most room, keeping bounds
        gap = 1.0 - f.sum()
        if gap != 0.0:
            i = int(np.argmax(np.where(support, hi - f if gap > 0 else f - lo, -1.0)))
            f[i] = min(max(f[i] + gap, lo[i]), hi[i])
        x = x.copy()
        x[self.frac] = f
        return x

    def _linear_violation(self, x: np.ndarray) -> float:
        rows = self.enc.linear
        worst = 0.0
        if len(rows.b_ub):
            worst = max(worst, float(np.max(rows.a_ub @ x - rows.b_ub)))
        start = rows.user_eq_start
        if len(rows.b_eq) > start:
            user = rows.a_eq[start:] @ x - rows.b_eq[start:]
            worst = max(worst, float(np.max(np.abs(user))))
        return worst

    def _project(self, x: np.ndarray, support: np.ndarray) -> np.ndarray | None:
        """Nearest point (least squares) meeting every linear constraint, same support."""
        from scipy.optimize import minimize

        rows = self.enc.linear
        # integers and parameters on a resolution grid stay where rounding put them
        fixed = set(self.enc.integer_idx) | set(self.enc.stepped)
        free = np.array(
            [int(i) for i in self.enc.numeric_idx if i not in fixed]
            + [int(i) for i, s in zip(self.frac, support, strict=True) if s],
            dtype=int,
        )
        free.sort()
        base = x.copy()

        def full(z: np.ndarray) -> np.ndarray:
            y = base.copy()
            y[free] = z
            return y

        constraints = [
            {"type": "eq", "fun": lambda z, r=r, b=b: r @ full(z) - b}
            for r, b in zip(rows.a_eq, rows.b_eq, strict=True)
        ] + [
            {"type": "ineq", "fun": lambda z, r=r, b=b: b - r @ full(z)}
            for r, b in zip(rows.a_ub, rows.b_ub, strict=True)
        ]
        result = minimize(
            lambda z: float(np.sum((z - x[free]) ** 2)),
            x[free],
            jac=lambda z: 2 * (z - x[free]),
            bounds=list(zip(self.lo[free], self.hi[free], strict=True)),
            constraints=constraints,
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 200},
        )
        y = full(result.x)
        return y if self._linear_violation(y) <= 1e-7 else None

    def _snap(self, x: np.ndarray, support: np.ndarray) -> np.ndarray | None:
        """Move the fractions to the nearest grid point that keeps every constraint."""
        step = self.step
        assert step is not None
        n_units = round(1.0 / step)
        lo_u = np.ceil(self.lo[self.frac] / step - 1e-9).astype(int)
        hi_u = np.floor(self.hi[self.frac] / step + 1e-9).astype(int)
        exact = x[self.frac] / step
        units = np.clip(np.floor(exact + 1e-9).astype(int), lo_u, hi_u)
        units[~support] = 0
        allowed = support.copy()
        for _ in range(4 * len(units) + n_units):
            short = n_units - int(units.sum())
            if short == 0:
                break
            remainder = exact - units
            if short > 0:
                grow = allowed & (units < hi_u)
                if not grow.any():
                    allowed = hi_u > 0
                    continue
                i = int(np.argmax(np.where(grow, remainder, -np.inf)))
                units[i] += 1
            else:
                shrink = units > lo_u
                i = int(np.argmin(np.where(shrink, remainder, np.inf)))
                units[i] -= 1
        if int(units.sum()) != n_units:
            return None
        y = x.copy()
        y[self.frac] = units * step
        for _ in range(8 * len(units)):
            if self._linear_violation(y) <= TOL:
                return y
            moved = self._best_grid_move(y, units, lo_u, hi_u)
            if moved is None:
                return None
            y = moved
        return y if self._linear_violation(y) <= TOL else None

    def _best_grid_move(
        self, y: np.ndarray, units: np.ndarray, lo_u: np.ndarray, hi_u: np.ndarray
    ) -> np.ndarray | None:
        """One grid step from one component to another that most reduces violation."""
        step = self.step
        assert step is not None
        best, best_violation = None, self._linear_violation(y)
        nonzero = int(np.sum(units > 0))
        for i in np.flatnonzero(units > lo_u):
            for j in np.flatnonzero(units < hi_u):
                if i == j:
                    continue
                opens = units[j] == 0
                closes = units[i] == 1
                if (
                    self.max_components is not None
                    and opens
                    and not closes
                    and nonzero >= self.max_components
                ):
                    continue
                trial = units.copy()
                trial[i] -= 1
                trial[j] += 1
                z = y.copy()
                z[self.frac] = trial * step
                v = self._linear_violation(z)
                if v < best_violation - 1e-15:
                    best, best_violation = (z, trial), v
        if best is None:
            return None
        units[:] = best[1]
        return best[0]
