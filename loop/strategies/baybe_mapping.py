"""How a campaign looks to BayBE: aliases, data frames, parameters, constraints, objective.

`BaybeMapping` is the translation the BayBE strategy (`loop.strategies.baybe`)
uses both ways: comp-rep rows to BayBE's experimental representation (a pandas
DataFrame with one column per alias) and back, the pool's columns as discrete
parameters, the whole space as continuous and discrete parameters with linear
constraints, and the goals as targets. BayBE is imported inside the methods,
so importing this module never imports BayBE.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loop.spec.strategy import Acquisition
from loop.strategies.base import Context, History

#: Coefficients below this are treated as zero.
EPS = 1e-12


class BaybeMapping:
    """Translates between comp-rep rows and BayBE's experimental representation.

    One column per free component (`c<k>`, its fraction), per continuous or
    integer parameter (`p<j>`, its value) and per categorical parameter (`p<j>`,
    its value name). Components with lo == hi are constants outside a replay.
    """

    def __init__(self, ctx: Context) -> None:
        enc, spec = ctx.encoder, ctx.spec
        self.enc, self.spec = enc, spec
        frac = [int(i) for i in enc.fraction_idx]
        #: comp-rep column -> alias, for fractions and numeric parameters
        self.names: dict[int, str] = {i: f"c{k}" for k, i in enumerate(frac)}
        index = {c.name: i for i, c in enumerate(enc.columns)}
        #: categorical alias -> (its values, its one-hot columns)
        self.choices: dict[str, tuple[tuple[str, ...], list[int]]] = {}
        self.integers: set[str] = set()
        for j, p in enumerate(spec.space.parameters):
            if p.type == "categorical":
                self.choices[f"p{j}"] = (tuple(p.values), enc.categorical[p.name])
            else:
                self.names[index[p.name]] = f"p{j}"
                if p.type == "integer":
                    self.integers.add(f"p{j}")
        self.metrics = {o.name: f"m{k}" for k, o in enumerate(spec.goals)}

    @property
    def aliases(self) -> dict[str, str]:
        """Alias -> the component or parameter it stands for."""
        cols = self.enc.columns
        out = {alias: cols[i].name for i, alias in self.names.items()}
        for alias, (_, idx) in self.choices.items():
            out[alias] = cols[idx[0]].parameter
        return out

    def frame(self, rows: np.ndarray) -> Any:
        """A DataFrame of comp-rep *rows* in BayBE's experimental representation."""
        import pandas as pd

        rows = np.asarray(rows, dtype=float).reshape(-1, self.enc.dim)
        data: dict[str, Any] = {}
        for i, alias in self.names.items():
            data[alias] = (
                np.rint(rows[:, i]).astype(int)
                if alias in self.integers
                else rows[:, i]
            )
        for alias, (values, idx) in self.choices.items():
            data[alias] = [values[int(k)] for k in np.argmax(rows[:, idx], axis=1)]
        return pd.DataFrame(data)

    def vector(self, row: Any, fixed: dict[int, float]) -> np.ndarray:
        """The comp-rep vector of one recommended row (constants from *fixed*)."""
        x = np.zeros(self.enc.dim)
        for i, v in fixed.items():
            x[i] = v
        for i, alias in self.names.items():
            if alias in row:
                x[i] = float(row[alias])
        for alias, (values, idx) in self.choices.items():
            x[idx[values.index(str(row[alias]))]] = 1.0
        return x

    def measurements(self, history: History) -> Any:
        """The completed trials with their values on the models' scale."""
        df = self.frame(history.x_done)
        for o in self.spec.goals:
            column = self.spec.objectives.index(o)
            df[self.metrics[o.name]] = o.model_units(history.y_done[:, column])
        return df

    def objective(self) -> Any:
        """One NumericalTarget per goal: a single-target or a Pareto objective."""
        from baybe.objectives import ParetoObjective, SingleTargetObjective
        from baybe.targets import NumericalTarget

        targets = [
            NumericalTarget(self.metrics[o.name], minimize=o.sign < 0)
            for o in self.spec.goals
        ]
        if len(targets) == 1:
            return SingleTargetObjective(targets[0])
        return ParetoObjective(targets)

    def reference_point(self) -> tuple[float, ...] | None:
        """The goals' thresholds where BoTorch maximises (None unless every goal has one)."""
        goals = self.spec.goals
        if len(goals) < 2 or any(o.threshold is None for o in goals):
            return None
        return tuple(float(o.to_model(o.threshold)) for o in goals)

    def recommender(self) -> Any:
        """BayBE's default two-phase recommender, told the YAML's explicit choices.

        The acquisition function is BayBE 0.15's default (qLogEI for one goal,
        qLogNEHVI for several) unless the YAML names one; the surrogate is
        BayBE's default Gaussian process, one per goal. Both are passed
        explicitly so that the provenance says what was used.
        """
        from baybe.acquisition import qLogEI, qLogNEHVI, qLogNEI, qUCB
        from baybe.recommenders import BotorchRecommender, TwoPhaseMetaRecommender
        from baybe.surrogates import GaussianProcessSurrogate

        chosen = self.spec.strategy.acquisition
        acqf: Any
        if len(self.spec.goals) > 1 or chosen is Acquisition.qLogNEHVI:
            acqf = qLogNEHVI(reference_point=self.reference_point())
        elif chosen is Acquisition.qLogNEI:
            acqf = qLogNEI()
        elif chosen is Acquisition.qUCB:  # BayBE's own beta, not annealed
            acqf = qUCB()
        else:
            acqf = qLogEI()
        settings = self.spec.strategy.optimizer
        return TwoPhaseMetaRecommender(
            recommender=BotorchRecommender(
                surrogate_model=GaussianProcessSurrogate(),
                acquisition_function=acqf,
                n_restarts=settings.restarts,
                n_raw_samples=settings.raw_samples,
            )
        )

    def pool_parameters(self, df: Any) -> list[Any]:
        """Discrete parameters of the pool's columns that vary (BayBE needs 2 values)."""
        from baybe.parameters import CategoricalParameter, NumericalDiscreteParameter

        out: list[Any] = []
        for name in df.columns:
            values = sorted(set(df[name]))
            if len(values) < 2:
                continue  # the same in every row: nothing to learn or choose
            if name in self.choices:
                out.append(CategoricalParameter(name, values=values))
            else:
                out.append(NumericalDiscreteParameter(name, values=values))
        return out

    def space(self) -> tuple[list[Any], list[Any], dict[int, float]]:
        """Parameters, linear constraints and constants of the whole (non-pool) space."""
        from baybe.constraints import ContinuousLinearConstraint
        from baybe.parameters import (
            CategoricalParameter,
            NumericalContinuousParameter,
            NumericalDiscreteParameter,
        )

        enc = self.enc
        fixed = {
            int(i): float(enc.lower[i])
            for i in enc.fraction_idx
            if enc.upper[i] <= enc.lower[i]
        }
        parameters: list[Any] = []
        for i, alias in self.names.items():
            if i in fixed:
                continue
            lo, hi = float(enc.lower[i]), float(enc.upper[i])
            if alias in self.integers:
                steps = list(range(int(lo), int(hi) + 1))
                parameters.append(NumericalDiscreteParameter(alias, values=steps))
            else:
                parameters.append(NumericalContinuousParameter(alias, bounds=(lo, hi)))
        for alias, (names, _) in self.choices.items():
            parameters.append(CategoricalParameter(alias, values=names))
        rows = enc.linear
        given = [("=", r, b) for r, b in zip(rows.a_eq, rows.b_eq, strict=True)]
        given += [("<=", r, b) for r, b in zip(rows.a_ub, rows.b_ub, strict=True)]
        constraints = []
        for operator, row, rhs in given:
            rhs = float(rhs) - sum(float(row[i]) * v for i, v in fixed.items())
            terms = {
                self.names[i]: float(row[i])
                for i in self.names
                if i not in fixed and abs(row[i]) > EPS
            }
            if not terms:
                continue  # constants only: the space's validation has checked it
            constraints.append(
                ContinuousLinearConstraint(
                    parameters=list(terms),
                    operator=operator,
                    coefficients=list(terms.values()),
                    rhs=rhs,
                )
            )
        return parameters, constraints, fixed
