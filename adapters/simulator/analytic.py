"""Fast analytic simulator functions: a smooth test landscape and an electrolyte model."""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from adapters.simulator.functions import register
from loop.errors import Problem

if TYPE_CHECKING:
    from loop.spec import CampaignSpec


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _options(
    model: type[_Options], options: dict[str, Any]
) -> _Options | list[Problem]:
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        return [
            Problem(
                "adapter.options." + ".".join(str(p) for p in err["loc"]),
                err["msg"],
                f"valid options: {', '.join(model.model_fields) or '(none)'}",
            )
            for err in exc.errors()
        ]


def _stable_rng(*parts: str) -> np.random.Generator:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class BumpsOptions(_Options):
    width: float = 0.18
    #: A cheaper, biased version of the landscape (a low fidelity): the main
    #: bump moved by `shift` (in fractions) and a linear trend of slope `tilt`,
    #: both along one fixed direction of the simplex.
    shift: float = 0.0
    tilt: float = 0.0


class SimplexBumps:
    """Two Gaussian bumps on the simplex, scaled by smooth parameter terms.

    The bump centres are fixed by the component names, so the landscape is the
    same in every run; the global maximum is 1.0 at the first centre with every
    numeric parameter at 30 % of its range and categoricals at their first value.
    """

    outputs = {"y": ""}
    parameters_read: frozenset[str] | None = None  # every one shapes the landscape

    def __init__(self, spec: CampaignSpec, options: BumpsOptions) -> None:
        comp = spec.space.composition
        self.components = spec.space.components
        self.centres: list[np.ndarray] = []
        if comp is not None:
            rng = _stable_rng("simplex-bumps", *comp.components)
            lo = np.array(comp.lower) / comp.total
            hi = np.array(comp.upper) / comp.total
            self.centres = [_point_in_box(rng, lo, hi) for _ in range(2)]
            bias = _stable_rng("simplex-bumps-bias", *comp.components).normal(
                size=len(comp.components)
            )
            bias -= bias.mean()
            self.direction = bias / max(float(np.linalg.norm(bias)), 1e-12)
            self.centres[0] = self.centres[0] + options.shift * self.direction
        self.width = options.width
        self.tilt = options.tilt
        self.parameters = spec.space.parameters

    def __call__(
        self, fractions: dict[str, float], parameters: dict[str, Any]
    ) -> dict[str, float]:
        value = 1.0
        if self.centres:
            x = np.array([fractions[c] for c in self.components])
            main = math.exp(
                -float(np.sum((x - self.centres[0]) ** 2)) / (2 * self.width**2)
            )
            side = 0.6 * math.exp(
                -float(np.sum((x - self.centres[1]) ** 2))
                / (2 * (0.6 * self.width) ** 2)
            )
            value = max(main, side)
            value += self.tilt * float(np.dot(x - 1.0 / len(x), self.direction))
        for p in self.parameters:
            v = parameters[p.name]
            if p.type == "categorical":
                value *= 1.0 - 0.3 * p.values.index(v) / len(p.values)
            else:
                lo, hi = p.bounds
                u = (float(v) - lo) / (hi - lo)
                value *= math.exp(-((u - 0.3) ** 2) / 0.5)
        return {"y": value}


def _point_in_box(
    rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """A point of the simplex inside [lo, hi], found by rejection then repair."""
    for _ in range(2000):
        x = rng.dirichlet(np.ones(len(lo)))
        if np.all(x >= lo) and np.all(x <= hi):
            return x
    x = np.clip(rng.dirichlet(np.ones(len(lo))), lo, hi)
    for _ in range(100):
        gap = 1.0 - x.sum()
        room = (hi - x) if gap > 0 else (x - lo)
        if abs(gap) < 1e-12 or room.sum() <= 0:
            break
        x = x + gap * room / room.sum()
    return x


@register("simplex-bumps")
def _bumps(spec: CampaignSpec, options: dict[str, Any]) -> Any:
    parsed = _options(BumpsOptions, options)
    return parsed if isinstance(parsed, list) else SimplexBumps(spec, parsed)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- electrolyte

#: Approximate room-temperature properties of common battery solvents: relative
#: permittivity, viscosity (mPa s) and bulk price (USD/kg). Literature values
#: rounded; good enough for a landscape with realistic trade-offs.
SOLVENTS: dict[str, tuple[float, float, float]] = {
    "EC": (89.8, 1.90, 2.0),
    "PC": (64.9, 2.53, 2.5),
    "DMC": (3.1, 0.59, 1.5),
    "EMC": (2.9, 0.65, 3.0),
    "DEC": (2.8, 0.75, 3.0),
    "FEC": (78.4, 4.10, 15.0),
    "DME": (7.2, 0.46, 5.0),
    "DOL": (7.1, 0.59, 5.0),
    "GBL": (39.0, 1.73, 3.0),
    "ACN": (35.9, 0.34, 2.0),
}


#: Lithium salts the electrolyte model knows: a conductivity factor relative to
#: LiPF6 (dissociation and ion mobility, rounded from literature trends) and a
#: bulk price in USD/kg.
SALTS: dict[str, tuple[float, float]] = {
    "LiPF6": (1.00, 25.0),
    "LiFSI": (1.10, 60.0),
    "LiTFSI": (0.92, 45.0),
    "LiBF4": (0.55, 30.0),
    "LiClO4": (0.85, 20.0),
}


class ElectrolyteOptions(_Options):
    concentration: str | None = None
    temperature: str | None = None
    #: a categorical parameter whose values are salts of `SALTS`
    salt: str | None = None
    salt_price: float = 25.0


class Electrolyte:
    """Conductivity, viscosity and cost of a salt in a solvent blend.

    Mixture permittivity is linear in the fractions and viscosity follows the
    Grunberg-Nissan rule (log-linear); the salt raises viscosity exponentially
    and temperature lowers it (Arrhenius, 1500 K). Conductivity follows the
    Casteel-Amis form in molality, with a peak height set by dissociation
    (permittivity) over viscosity and a peak position that moves to higher
    molality in more polar blends. The result is a smooth landscape with a real
    trade-off: polar solvents dissociate the salt but are viscous.
    """

    outputs = {"conductivity": "mS/cm", "viscosity": "mPa s", "cost": "USD/kg"}

    def __init__(self, spec: CampaignSpec, options: ElectrolyteOptions) -> None:
        comp = spec.space.composition
        if comp is None:  # `_electrolyte` refuses such a spec before this runs
            raise ValueError("the electrolyte simulator needs space.composition")
        self.components = comp.components
        self.concentration = options.concentration
        self.temperature = options.temperature
        self.salt = options.salt
        self.salt_price = options.salt_price
        self.parameters_read: frozenset[str] | None = frozenset(
            n for n in (self.concentration, self.temperature, self.salt) if n
        )

    def __call__(
        self, fractions: dict[str, float], parameters: dict[str, Any]
    ) -> dict[str, float]:
        eps = sum(fractions[c] * SOLVENTS[c][0] for c in self.components)
        ln_eta = sum(fractions[c] * math.log(SOLVENTS[c][1]) for c in self.components)
        price = sum(fractions[c] * SOLVENTS[c][2] for c in self.components)
        m = float(parameters[self.concentration]) if self.concentration else 1.0
        t = float(parameters[self.temperature]) if self.temperature else 298.15
        factor, salt_price = (
            SALTS[str(parameters[self.salt])] if self.salt else (1.0, self.salt_price)
        )
        eta = math.exp(ln_eta + 0.45 * m + 1500.0 * (1.0 / t - 1.0 / 298.15))
        dissociation = eps / (eps + 15.0)
        kappa_max = (
            16.0 * factor * dissociation / math.exp(ln_eta) ** 0.7 * (t / 298.15) ** 1.5
        )
        mu = 0.8 + 0.5 * math.tanh((eps - 20.0) / 30.0)
        a, b = 0.9, -0.08
        kappa = (
            kappa_max * (m / mu) ** a * math.exp(b * (m - mu) ** 2 - a / mu * (m - mu))
            if m > 0
            else 0.0
        )
        return {
            "conductivity": kappa,
            "viscosity": eta,
            "cost": price + salt_price * m * 0.15,
        }


@register("electrolyte")
def _electrolyte(spec: CampaignSpec, options: dict[str, Any]) -> Any:
    parsed = _options(ElectrolyteOptions, options)
    if isinstance(parsed, list):
        return parsed
    assert isinstance(parsed, ElectrolyteOptions)
    comp = spec.space.composition
    if comp is None:
        return [
            Problem(
                "space.composition",
                "simulator function electrolyte needs a composition of solvents",
                "add `space.composition` with the solvents to blend",
            )
        ]
    problems = [
        Problem(
            "space.composition.components",
            f"the electrolyte simulator has no data for solvent '{c}'",
            f"known solvents: {', '.join(SOLVENTS)}",
        )
        for c in comp.components
        if c not in SOLVENTS
    ]
    numeric = {p.name: p for p in spec.space.parameters if p.type == "continuous"}
    categorical = {p.name: p for p in spec.space.parameters if p.type == "categorical"}
    chosen = dict(parsed)
    if chosen["salt"] is None:  # a choice among known salts is the salt
        chosen["salt"] = next(
            (n for n, p in categorical.items() if set(p.values) <= set(SALTS)), None
        )
    salt = categorical.get(chosen["salt"] or "")
    if chosen["salt"] is not None and salt is None:
        problems.append(
            Problem(
                "adapter.options.salt",
                f"'{chosen['salt']}' is not a categorical parameter of the campaign",
                f"categorical parameters: {', '.join(categorical) or '(none)'}",
            )
        )
    elif salt is not None and not set(salt.values) <= set(SALTS):
        unknown = sorted(set(salt.values) - set(SALTS))
        problems.append(
            Problem(
                "adapter.options.salt",
                f"the electrolyte model has no data for salt {', '.join(unknown)}",
                f"known salts: {', '.join(SALTS)}",
            )
        )
    if chosen["concentration"] is None:
        chosen["concentration"] = next(
            (
                n
                for n, p in numeric.items()
                if (p.unit or "").replace(" ", "") == "mol/kg"
            ),
            None,
        )
    for key in ("concentration", "temperature"):
        name = chosen[key]
        if name is not None and name not in numeric:
            problems.append(
                Problem(
                    f"adapter.options.{key}",
                    f"'{name}' is not a continuous parameter of the campaign",
                    f"continuous parameters: {', '.join(numeric) or '(none)'}",
                )
            )
    temperature = numeric.get(chosen["temperature"] or "")
    if temperature is not None and (
        temperature.unit != "K" or temperature.bounds[0] <= 0
    ):
        problems.append(
            Problem(
                "adapter.options.temperature",
                f"the electrolyte model needs '{temperature.name}' in kelvin, above 0 K",
                "declare it with `unit: K` and positive bounds, e.g. [253.15, 333.15]",
            )
        )
    if problems:
        return problems
    return Electrolyte(spec, ElectrolyteOptions.model_validate(chosen))
