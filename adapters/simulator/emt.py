"""Mixing energy of a random fcc solid solution from ASE's EMT potential.

Real physics at millisecond cost: for a composition over Al, Ni, Cu, Pd, Ag, Pt
and Au, a cubic fcc supercell is filled at random with the rounded atom counts
(the arrangement seeded by those counts, so it is deterministic), its lattice
parameter set by Vegard's law on the elements' own EMT lattice parameters and
then, by default, relaxed isotropically. The mixing energy is the energy per
atom minus the fraction-weighted energies of the pure elements.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.simulator.functions import register
from loop.errors import Problem

if TYPE_CHECKING:
    from ase import Atoms

    from loop.spec import CampaignSpec

EMT_ELEMENTS = ("Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")


class EmtOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    supercell: int = Field(3, ge=2, le=6)
    relax_volume: bool = True
    configurations: int = Field(1, ge=1, le=8)


@cache
def element_reference(symbol: str) -> tuple[float, float]:
    """(lattice parameter in Å, energy per atom in eV) of the pure fcc element under EMT."""
    from ase.build import bulk
    from ase.data import atomic_numbers, reference_states

    state = reference_states[atomic_numbers[symbol]]
    start = state["a"] if state else None
    if not isinstance(start, float):  # every element of EMT_ELEMENTS has one
        raise ValueError(f"ASE has no reference lattice parameter for {symbol}")
    atoms = bulk(symbol, "fcc", a=start, cubic=True)
    scale, energy = _relax_scale(atoms)
    return start * scale, energy


def _energy_per_atom(atoms: Atoms) -> float:
    from ase.calculators.emt import EMT

    atoms.calc = EMT()
    return float(atoms.get_potential_energy()) / len(atoms)


def _relax_scale(atoms: Atoms) -> tuple[float, float]:
    """Isotropic scale factor minimising the EMT energy, and that energy per atom."""
    from scipy.optimize import minimize_scalar

    cell = atoms.get_cell().copy()

    def energy(scale: float) -> float:
        trial = atoms.copy()
        trial.set_cell(cell * scale, scale_atoms=True)
        return _energy_per_atom(trial)

    result = minimize_scalar(
        energy, bounds=(0.94, 1.06), method="bounded", options={"xatol": 1e-4}
    )
    return float(result.x), float(result.fun)


def atom_counts(fractions: dict[str, float], n_atoms: int) -> dict[str, int]:
    """Whole atom counts closest to *fractions* (largest remainder), summing to n_atoms."""
    exact = {el: f * n_atoms for el, f in fractions.items()}
    counts = {el: int(np.floor(v)) for el, v in exact.items()}
    short = n_atoms - sum(counts.values())
    by_remainder = sorted(
        exact, key=lambda el: (exact[el] - counts[el], el), reverse=True
    )
    for el in by_remainder[:short]:
        counts[el] += 1
    return counts


def solid_solution(
    fractions: dict[str, float], supercell: int, configuration: int = 0
) -> Atoms:
    """A random fcc solid solution with Vegard lattice parameter; deterministic per counts."""
    from ase.build import bulk

    counts = atom_counts(fractions, 4 * supercell**3)
    present = {el: n for el, n in counts.items() if n > 0}
    total = sum(present.values())
    a = sum(n / total * element_reference(el)[0] for el, n in present.items())
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(supercell)
    symbols = [el for el, n in sorted(present.items()) for _ in range(n)]
    key = (
        ",".join(f"{el}{n}" for el, n in sorted(present.items())) + f"#{configuration}"
    )
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    np.random.default_rng(seed).shuffle(symbols)
    atoms.set_chemical_symbols(symbols)
    return atoms


def mixing_energy(fractions: dict[str, float], options: EmtOptions) -> dict[str, float]:
    """Mixing energy (eV/atom) and volume (Å^3/atom) averaged over configurations."""
    energies, volumes = [], []
    for configuration in range(options.configurations):
        atoms = solid_solution(fractions, options.supercell, configuration)
        if options.relax_volume:
            scale, energy = _relax_scale(atoms)
        else:
            scale, energy = 1.0, _energy_per_atom(atoms)
        counts = atom_counts(fractions, len(atoms))
        reference = sum(
            n / len(atoms) * element_reference(el)[1] for el, n in counts.items() if n
        )
        energies.append(energy - reference)
        volumes.append(atoms.get_volume() * scale**3 / len(atoms))
    return {
        "mixing_energy": float(np.mean(energies)),
        "volume_per_atom": float(np.mean(volumes)),
    }


def atomic_fractions(fractions: dict[str, float], basis: str) -> dict[str, float]:
    """Atomic fractions of a composition given on an atomic, molar or mass basis."""
    if basis in ("atomic", "molar"):
        return dict(fractions)
    from ase.data import atomic_masses, atomic_numbers

    moles = {el: f / atomic_masses[atomic_numbers[el]] for el, f in fractions.items()}
    total = sum(moles.values())
    return {el: n / total for el, n in moles.items()}


class EmtAlloy:
    """The `emt-alloy` simulator function."""

    outputs = {"mixing_energy": "eV/atom", "volume_per_atom": "Å^3/atom"}
    parameters_read: frozenset[str] | None = frozenset()

    def __init__(self, options: EmtOptions, basis: str = "atomic") -> None:
        self.options = options
        self.basis = basis

    def __call__(
        self, fractions: dict[str, float], parameters: dict[str, Any]
    ) -> dict[str, float]:
        return mixing_energy(atomic_fractions(fractions, self.basis), self.options)


@register("emt-alloy")
def _emt(spec: CampaignSpec, options: dict[str, Any]) -> Any:
    try:
        parsed = EmtOptions.model_validate(options)
    except ValidationError as exc:
        return [
            Problem(
                "adapter.options." + ".".join(str(p) for p in err["loc"]),
                err["msg"],
                f"valid options: {', '.join(EmtOptions.model_fields)}",
            )
            for err in exc.errors()
        ]
    comp = spec.space.composition
    if comp is None:
        return [
            Problem(
                "space.composition",
                "emt-alloy needs a composition of elements",
                f"add `space.composition` with elements from {', '.join(EMT_ELEMENTS)}",
            )
        ]
    unsupported = [c for c in comp.components if c not in EMT_ELEMENTS]
    if unsupported:
        return [
            Problem(
                "space.composition.components",
                f"ASE's EMT potential has no parameters for {', '.join(unsupported)}",
                f"use only {', '.join(EMT_ELEMENTS)} with function emt-alloy",
            )
        ]
    if comp.basis == "volume":
        return [
            Problem(
                "space.composition.basis",
                "emt-alloy cannot convert volume fractions to atoms",
                "use basis: atomic (or mass, which is converted with atomic masses)",
            )
        ]
    if spec.space.parameters:
        return [
            Problem(
                "space.parameters",
                "emt-alloy depends on the composition only",
                "remove the parameters or use another simulator function",
            )
        ]
    return EmtAlloy(parsed, comp.basis)
