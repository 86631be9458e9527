"""Solid solutions for proposed compositions: deterministic, close to the request, Vegard."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.dft.structures import (
    BASIS,
    CompositionError,
    choose_supercell,
    solid_solution,
    supercell_shapes,
    vegard,
)

PARAMETERS = {"Cu": 3.61, "Ni": 3.52, "Pd": 3.89, "Fe": 2.87, "Cr": 2.88, "Co": 3.54}


def _same(a, b) -> bool:
    return (
        [str(s) for s in a.species] == [str(s) for s in b.species]
        and np.allclose(a.frac_coords, b.frac_coords)
        and np.allclose(a.lattice.matrix, b.lattice.matrix)
    )


@pytest.mark.parametrize("ordering", ["random", "sqs"])
def test_a_composition_and_seed_always_give_the_same_structure(ordering: str) -> None:
    fractions = {"Cu": 0.5, "Ni": 0.3, "Pd": 0.2}
    one = solid_solution(fractions, PARAMETERS, ordering=ordering, seed=3)
    two = solid_solution(
        dict(reversed(fractions.items())), PARAMETERS, ordering=ordering, seed=3
    )
    assert _same(one.structure, two.structure) and one.seed == two.seed
    other = solid_solution(fractions, PARAMETERS, ordering=ordering, seed=4)
    assert other.seed != one.seed
    assert not _same(one.structure, other.structure)  # another arrangement


@pytest.mark.parametrize(
    ("fractions", "lattice", "tolerance", "max_atoms"),
    [
        pytest.param({"Cu": 0.5, "Ni": 0.5}, "fcc", 0.02, 32, id="binary-fcc"),
        pytest.param(
            {"Cu": 0.35, "Ni": 0.4, "Pd": 0.25}, "fcc", 0.02, 64, id="ternary"
        ),
        pytest.param({"Fe": 0.2, "Cr": 0.3, "Co": 0.5}, "bcc", 0.03, 54, id="bcc"),
        pytest.param({"Cu": 0.07, "Ni": 0.93}, "fcc", 0.005, 108, id="dilute"),
    ],
)
def test_the_realised_composition_is_within_tolerance_and_reported(
    fractions: dict, lattice: str, tolerance: float, max_atoms: int
) -> None:
    built = solid_solution(
        fractions, PARAMETERS, lattice=lattice, tolerance=tolerance, max_atoms=max_atoms
    )
    amounts = built.structure.composition.get_el_amt_dict()
    n = len(built.structure)
    assert n == built.n_atoms <= max_atoms
    assert n % len(BASIS[lattice]) == 0
    for el, f in fractions.items():
        assert built.realised[el] == pytest.approx(amounts[el] / n)
        assert abs(built.realised[el] - f) <= tolerance + 1e-12
    assert built.error == pytest.approx(
        max(abs(built.realised[el] - f) for el, f in fractions.items())
    )
    # the smallest supercell allowed: no smaller one is within the tolerance
    for shape in supercell_shapes(lattice, max_atoms):
        size = len(BASIS[lattice]) * int(np.prod(shape))
        if size >= n:
            break
        with pytest.raises(CompositionError):
            choose_supercell(fractions, lattice, size, tolerance)


def test_the_lattice_parameter_follows_vegards_law() -> None:
    fractions = {"Cu": 0.5, "Pd": 0.25, "Ni": 0.25}
    built = solid_solution(fractions, PARAMETERS, min_atoms=16)
    expected = 0.5 * 3.61 + 0.25 * 3.89 + 0.25 * 3.52
    assert built.lattice_parameter == pytest.approx(expected)
    assert vegard(built.counts, PARAMETERS) == pytest.approx(expected)
    abc = built.structure.lattice.abc
    assert abc == pytest.approx(tuple(expected * r for r in built.repeats))
    # fcc: the nearest neighbours sit at a / sqrt(2)
    distances = built.structure.distance_matrix
    nearest = distances[distances > 0.1].min()
    assert nearest == pytest.approx(expected / np.sqrt(2))


def test_min_atoms_sets_the_smallest_cell() -> None:
    built = solid_solution({"Cu": 0.5, "Ni": 0.5}, PARAMETERS, min_atoms=16)
    assert built.n_atoms == 16 and sorted(built.repeats) == [1, 2, 2]
    assert solid_solution({"Cu": 0.5, "Ni": 0.5}, PARAMETERS).n_atoms == 4


def test_an_unrepresentable_composition_is_refused_with_the_fix() -> None:
    with pytest.raises(CompositionError, match="max_atoms") as caught:
        solid_solution(
            {"Cu": 0.013, "Ni": 0.987}, PARAMETERS, max_atoms=16, tolerance=0.001
        )
    assert "best:" in str(caught.value)


def test_sqs_ordering_is_closer_to_random_than_a_random_arrangement() -> None:
    fractions = {"Cu": 0.5, "Ni": 0.25, "Pd": 0.25}
    sqs = solid_solution(
        fractions, PARAMETERS, ordering="sqs", min_atoms=32, sqs_trials=300
    )
    randoms = [
        solid_solution(fractions, PARAMETERS, min_atoms=32, seed=s).sro
        for s in range(20)
    ]
    assert sqs.sro <= min(randoms) + 1e-9
    assert sqs.counts == solid_solution(fractions, PARAMETERS, min_atoms=32).counts
