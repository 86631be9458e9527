"""Solid-solution structures for a proposed composition, built with pymatgen.

A composition (atomic fractions) becomes a supercell of an fcc or bcc lattice:
the smallest diagonal repeat of the conventional cubic cell, with `min_atoms`
to `max_atoms` atoms (the most cubic shape first), whose whole atom counts
(largest remainder) represent every fraction within `tolerance`. The sites are filled at random, or, with `ordering:
sqs`, by the best of `sqs_trials` random arrangements, judged by how close the
first two neighbour shells come to an ideal random alloy (Warren-Cowley
parameters near 0): a cheap special-quasi-random-like structure. The lattice
parameter is Vegard's law on the elements' own lattice parameters (from the
calculator's relaxed references, see `references.py`). Everything is seeded by
the composition, the lattice, the ordering and the campaign seed, so the same
proposal always gives the same structure.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from adapters.simulator.emt import atom_counts

if TYPE_CHECKING:
    from pymatgen.core import Structure

Lattice = Literal["fcc", "bcc"]
Ordering = Literal["random", "sqs"]

#: Fractional coordinates of the conventional cubic cell.
BASIS: dict[str, list[tuple[float, float, float]]] = {
    "fcc": [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
    "bcc": [(0, 0, 0), (0.5, 0.5, 0.5)],
}
#: Nearest-neighbour distances of the first two shells, in units of a.
SHELLS: dict[str, tuple[float, float]] = {
    "fcc": (math.sqrt(0.5), 1.0),
    "bcc": (math.sqrt(0.75), 1.0),
}


class CompositionError(ValueError):
    """The composition cannot be represented within the tolerance."""


@dataclass(frozen=True)
class SolidSolution:
    """A built structure and what it stands for."""

    structure: Structure
    lattice: Lattice
    repeats: tuple[int, int, int]
    counts: dict[str, int]
    #: The composition the structure has (counts / atoms), element -> fraction.
    realised: dict[str, float]
    #: Largest |realised - requested| over the elements.
    error: float
    lattice_parameter: float
    seed: int
    #: Warren-Cowley misfit of the chosen arrangement (0 for an ideal random alloy).
    sro: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return sum(self.counts.values())


def supercell_shapes(
    lattice: Lattice, max_atoms: int, min_atoms: int = 1
) -> list[tuple[int, int, int]]:
    """Diagonal repeats (n1 >= n2 >= n3) of the conventional cell, smallest first.

    For one number of atoms, the most cubic shape (smallest n1 - n3) comes first.
    """
    per_cell = len(BASIS[lattice])
    shapes = [
        (a, b, c)
        for a in range(1, 9)
        for b in range(1, a + 1)
        for c in range(1, b + 1)
        if min_atoms <= per_cell * a * b * c <= max_atoms
    ]
    return sorted(shapes, key=lambda s: (s[0] * s[1] * s[2], s[0] - s[2], s))


def choose_supercell(
    fractions: dict[str, float],
    lattice: Lattice,
    max_atoms: int,
    tolerance: float,
    min_atoms: int = 1,
) -> tuple[tuple[int, int, int], dict[str, int], float]:
    """The smallest supercell whose atom counts match *fractions* within *tolerance*.

    Returns (repeats, counts, error); raises CompositionError, naming the best
    that `max_atoms` allows, when no supercell is close enough.
    """
    per_cell = len(BASIS[lattice])
    best: tuple[float, tuple[int, int, int], dict[str, int]] | None = None
    for shape in supercell_shapes(lattice, max_atoms, min_atoms):
        n = per_cell * shape[0] * shape[1] * shape[2]
        counts = atom_counts(fractions, n)
        error = max(abs(counts[el] / n - f) for el, f in fractions.items())
        if error <= tolerance + 1e-12:
            return shape, counts, error
        if best is None or error < best[0] - 1e-12:
            best = (error, shape, counts)
    got = f"{best[0]:.4f} with {per_cell * math.prod(best[1])} atoms" if best else "-"
    raise CompositionError(
        f"no {lattice} supercell of {min_atoms} to {max_atoms} atoms represents "
        f"{_fmt(fractions)} within {tolerance} (best: {got}); raise "
        "adapter.supercell.max_atoms or adapter.supercell.tolerance"
    )


def vegard(counts: dict[str, int], lattice_parameters: dict[str, float]) -> float:
    """Vegard's law: the atom-fraction-weighted mean of the elemental parameters."""
    total = sum(counts.values())
    return sum(n / total * lattice_parameters[el] for el, n in counts.items() if n)


def structure_seed(
    fractions: dict[str, float], lattice: Lattice, ordering: Ordering, seed: int
) -> int:
    """A seed fixed by the composition (to 1e-9), lattice, ordering and campaign seed."""
    key = ",".join(f"{el}:{round(f, 9)}" for el, f in sorted(fractions.items()) if f)
    text = f"{key}|{lattice}|{ordering}|{seed}"
    # 63 bits: stored in JSON metadata, which some databases keep as a signed int
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def solid_solution(
    fractions: dict[str, float],
    lattice_parameters: dict[str, float],
    *,
    lattice: Lattice = "fcc",
    max_atoms: int = 32,
    min_atoms: int = 1,
    tolerance: float = 0.02,
    ordering: Ordering = "random",
    sqs_trials: int = 200,
    seed: int = 0,
) -> SolidSolution:
    """The solid solution for atomic *fractions* (summing to 1); see the module doc."""
    from pymatgen.core import Lattice as PmgLattice
    from pymatgen.core import Structure

    wanted = {el: float(f) for el, f in fractions.items() if f > 0}
    total = sum(wanted.values())
    wanted = {el: f / total for el, f in wanted.items()}
    repeats, counts, error = choose_supercell(
        wanted, lattice, max_atoms, tolerance, min_atoms
    )
    present = {el: n for el, n in counts.items() if n > 0}
    a = vegard(present, lattice_parameters)
    coords = _coords(lattice, repeats)
    n = len(coords)
    rng_seed = structure_seed(wanted, lattice, ordering, seed)
    rng = np.random.default_rng(rng_seed)
    symbols = np.array([el for el, k in sorted(present.items()) for _ in range(k)])
    shells = _shell_pairs(lattice, repeats, coords)
    if ordering == "random":
        arrangement = rng.permutation(symbols)
        sro = _sro_misfit(arrangement, shells, present)
    else:
        arrangement, sro = symbols, math.inf
        for _ in range(sqs_trials):
            candidate = rng.permutation(symbols)
            misfit = _sro_misfit(candidate, shells, present)
            if misfit < sro - 1e-12:
                arrangement, sro = candidate, misfit
    cell = PmgLattice.orthorhombic(a * repeats[0], a * repeats[1], a * repeats[2])
    structure = Structure(cell, list(arrangement), coords)
    structure = structure.get_sorted_structure()
    return SolidSolution(
        structure=structure,
        lattice=lattice,
        repeats=repeats,
        counts=counts,
        realised={el: counts[el] / n for el in counts},
        error=error,
        lattice_parameter=a,
        seed=rng_seed,
        sro=float(sro),
    )


def _coords(lattice: Lattice, repeats: tuple[int, int, int]) -> np.ndarray:
    """Fractional coordinates of every site of the supercell, in a fixed order."""
    r = np.array(repeats, dtype=float)
    points = [
        (np.array(offset) + np.array(site)) / r
        for offset in itertools.product(*(range(k) for k in repeats))
        for site in BASIS[lattice]
    ]
    return np.array(points)


def _shell_pairs(
    lattice: Lattice, repeats: tuple[int, int, int], coords: np.ndarray
) -> list[np.ndarray]:
    """For each of the first two shells, the (i, j) site pairs it joins (periodic).

    In a cell too small for a shell to be distinct (a repeat of 1), an image of
    a site may be its own neighbour; such pairs are kept, as the periodic
    structure has them too.
    """
    r = np.array(repeats, dtype=float)
    delta = coords[:, None, :] - coords[None, :, :]
    images = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)
    out = []
    for d in SHELLS[lattice]:
        pairs = []
        for image in images:
            cart = (delta + image) * r  # in units of a
            dist = np.linalg.norm(cart, axis=-1)
            i, j = np.nonzero(np.abs(dist - d) < 1e-6)
            pairs.append(np.stack([i, j], axis=1))
        out.append(np.concatenate(pairs))
    return out


def _sro_misfit(
    arrangement: np.ndarray, shells: list[np.ndarray], counts: dict[str, int]
) -> float:
    """Sum over shells and element pairs of the squared Warren-Cowley parameters."""
    elements = sorted(counts)
    if len(elements) < 2:
        return 0.0
    index = {el: k for k, el in enumerate(elements)}
    kinds = np.array([index[el] for el in arrangement])
    n = len(arrangement)
    x = np.array([counts[el] / n for el in elements])
    misfit = 0.0
    for pairs in shells:
        if len(pairs) == 0:
            continue
        m = np.zeros((len(elements), len(elements)))
        np.add.at(m, (kinds[pairs[:, 0]], kinds[pairs[:, 1]]), 1.0)
        rows = m.sum(axis=1, keepdims=True)
        p = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
        alpha = 1.0 - p / x[None, :]
        misfit += float(np.sum(alpha**2))
    return misfit


def _fmt(fractions: dict[str, float]) -> str:
    return " ".join(f"{el}{f:.3g}" for el, f in sorted(fractions.items()))
