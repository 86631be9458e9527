"""The `emt-alloy` simulator function, checked against ASE's EMT calculator directly.

Every physical claim here is recomputed in the test from ASE primitives (`bulk`,
`EMT`) rather than trusted from the adapter.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.data import atomic_masses, atomic_numbers
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.simulator import SimulatorAdapter
from adapters.simulator.emt import (
    EMT_ELEMENTS,
    EmtOptions,
    atom_counts,
    element_reference,
    solid_solution,
)
from loop.errors import SpecError
from loop.ports import EvaluationRequest
from loop.spec import CampaignSpec, loads, validate


def emt_spec(
    components: list[str], options: dict[str, Any] | None = None, basis: str = "atomic"
) -> CampaignSpec:
    return validate(
        {
            "schema_version": 1,
            "name": "emt-" + "-".join(components).lower(),
            "space": {"composition": {"components": components, "basis": basis}},
            "objectives": [
                {"name": "mixing_energy", "direction": "minimize", "unit": "eV/atom"},
                {"name": "volume_per_atom", "direction": "minimize"},
            ],
            "strategy": {"acquisition": "qLogNEHVI"},
            "budget": {"experiments": 4},
            "adapter": {
                "type": "simulator",
                "function": "emt-alloy",
                "options": options or {},
            },
        }
    )


def evaluate(
    spec: CampaignSpec,
    composition: dict[str, float],
    adapter: SimulatorAdapter | None = None,
) -> dict[str, float]:
    adapter = adapter or SimulatorAdapter(spec.adapter_config(), spec)
    full = {c: composition.get(c, 0.0) for c in spec.space.composition.components}
    result = adapter.evaluate(
        EvaluationRequest(
            campaign=spec.name,
            trial_id=1,
            attempt=0,
            composition=full,
            objectives=[o.name for o in spec.objectives],
            seed=spec.seed,
        )
    )
    assert result.failure is None, result.failure
    return result.values


def ase_energy_per_atom(atoms) -> float:
    atoms = atoms.copy()
    atoms.calc = EMT()
    return float(atoms.get_potential_energy()) / len(atoms)


def pure_energy(symbol: str) -> float:
    """EMT energy per atom of the pure fcc element at the reference lattice."""
    a = element_reference(symbol)[0]
    return ase_energy_per_atom(bulk(symbol, "fcc", a=a, cubic=True))


# --- physics


@pytest.mark.parametrize(
    ("components", "pure"),
    [
        pytest.param(["Cu", "Ni"], "Cu", id="Cu-in-CuNi"),
        pytest.param(["Cu", "Ni"], "Ni", id="Ni-in-CuNi"),
        pytest.param(["Au", "Cu", "Pt"], "Au", id="Au-in-AuCuPt"),
        pytest.param(["Al", "Ag"], "Al", id="Al-in-AlAg"),
    ],
)
def test_pure_element_has_zero_mixing_energy(components: list[str], pure: str) -> None:
    values = evaluate(emt_spec(components), {pure: 1.0})
    assert abs(values["mixing_energy"]) < 1e-6


@pytest.mark.parametrize("symbol", EMT_ELEMENTS)
def test_element_reference_is_the_emt_minimum(symbol: str) -> None:
    # The references the mixing energy subtracts must be the relaxed pure elements:
    # the energy at the reference lattice equals the reference energy, and moving
    # the lattice parameter either way by 0.3 % raises it.
    a, energy = element_reference(symbol)
    assert pure_energy(symbol) == pytest.approx(energy, abs=1e-12)
    for factor in (0.997, 1.003):
        strained = bulk(symbol, "fcc", a=a * factor, cubic=True)
        assert ase_energy_per_atom(strained) > energy


def test_unrelaxed_mixing_energy_equals_direct_ase_calculation() -> None:
    spec = emt_spec(["Cu", "Ni", "Pd"], {"relax_volume": False, "supercell": 3})
    fractions = {"Cu": 0.37, "Ni": 0.41, "Pd": 0.22}
    values = evaluate(spec, fractions)

    atoms = solid_solution(fractions, 3)
    n = len(atoms)
    symbols = atoms.get_chemical_symbols()
    counts = {el: symbols.count(el) for el in fractions}
    # Vegard's law on the realised counts and the elements' own EMT lattice parameters.
    a_vegard = sum(counts[el] / n * element_reference(el)[0] for el in counts)
    assert np.allclose(atoms.cell.lengths(), [3 * a_vegard] * 3, rtol=0, atol=1e-9)
    assert np.allclose(atoms.cell.angles(), [90, 90, 90])

    expected = ase_energy_per_atom(atoms) - sum(
        counts[el] / n * pure_energy(el) for el in counts
    )
    assert values["mixing_energy"] == pytest.approx(expected, abs=1e-9)
    assert values["volume_per_atom"] == pytest.approx(atoms.get_volume() / n, abs=1e-9)


def test_relaxed_mixing_energy_is_emt_energy_at_the_reported_volume() -> None:
    spec = emt_spec(["Cu", "Au"])
    fractions = {"Cu": 0.6, "Au": 0.4}
    relaxed = evaluate(spec, fractions)
    unrelaxed = evaluate(emt_spec(["Cu", "Au"], {"relax_volume": False}), fractions)

    atoms = solid_solution(fractions, 3)
    n = len(atoms)
    counts = {el: atoms.get_chemical_symbols().count(el) for el in fractions}
    reference = sum(counts[el] / n * pure_energy(el) for el in counts)
    scale = (relaxed["volume_per_atom"] * n / atoms.get_volume()) ** (1 / 3)

    def mixing_at(s: float) -> float:
        trial = atoms.copy()
        trial.set_cell(atoms.cell * s, scale_atoms=True)
        return ase_energy_per_atom(trial) - reference

    assert relaxed["mixing_energy"] == pytest.approx(mixing_at(scale), abs=1e-9)
    # It is a minimum over the volume: straining the cell by 0.5 % either way costs
    # energy, and relaxing never gives more than the Vegard cell.
    assert mixing_at(scale * 0.995) > relaxed["mixing_energy"]
    assert mixing_at(scale * 1.005) > relaxed["mixing_energy"]
    assert relaxed["mixing_energy"] <= unrelaxed["mixing_energy"]


def test_same_composition_gives_identical_values() -> None:
    spec = emt_spec(["Cu", "Ni", "Au"])
    fractions = {"Cu": 0.45, "Ni": 0.35, "Au": 0.2}
    adapter = SimulatorAdapter(spec.adapter_config(), spec)
    first = evaluate(spec, fractions, adapter)
    again = evaluate(spec, fractions, adapter)
    fresh = evaluate(emt_spec(["Cu", "Ni", "Au"]), fractions)
    assert first == again == fresh
    assert solid_solution(fractions, 3).get_chemical_symbols() == (
        solid_solution(dict(fractions), 3).get_chemical_symbols()
    )


def test_configurations_are_distinct_arrangements_averaged() -> None:
    fractions = {"Cu": 0.5, "Pt": 0.5}
    a = solid_solution(fractions, 2, configuration=0).get_chemical_symbols()
    b = solid_solution(fractions, 2, configuration=1).get_chemical_symbols()
    assert sorted(a) == sorted(b) and a != b
    one = evaluate(
        emt_spec(["Cu", "Pt"], {"supercell": 2, "relax_volume": False}), fractions
    )
    two = evaluate(
        emt_spec(
            ["Cu", "Pt"], {"supercell": 2, "relax_volume": False, "configurations": 2}
        ),
        fractions,
    )
    second = solid_solution(fractions, 2, configuration=1)
    e_second = ase_energy_per_atom(second) - 0.5 * (
        pure_energy("Cu") + pure_energy("Pt")
    )
    assert two["mixing_energy"] == pytest.approx(
        (one["mixing_energy"] + e_second) / 2, abs=1e-9
    )


fraction_vectors = st.lists(
    st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=len(EMT_ELEMENTS)
).filter(lambda xs: sum(xs) > 1e-3)


@settings(max_examples=200, deadline=None)
@given(raw=fraction_vectors, supercell=st.integers(2, 6))
def test_atom_counts_sum_to_cell_and_round_each_fraction(
    raw: list[float], supercell: int
) -> None:
    total = sum(raw)
    fractions = {el: x / total for el, x in zip(EMT_ELEMENTS, raw, strict=False)}
    n = 4 * supercell**3
    counts = atom_counts(fractions, n)
    assert sum(counts.values()) == n
    for el, f in fractions.items():
        assert counts[el] >= 0
        assert abs(counts[el] - f * n) < 1.0


@settings(max_examples=30, deadline=None)
@given(raw=fraction_vectors, supercell=st.integers(2, 4))
def test_solid_solution_realises_the_atom_counts(
    raw: list[float], supercell: int
) -> None:
    total = sum(raw)
    fractions = {el: x / total for el, x in zip(EMT_ELEMENTS, raw, strict=False)}
    atoms = solid_solution(fractions, supercell)
    n = 4 * supercell**3
    assert len(atoms) == n
    symbols = atoms.get_chemical_symbols()
    counts = atom_counts(fractions, n)
    assert {el: symbols.count(el) for el in fractions} == counts
    assert all(pbc for pbc in atoms.pbc)


@pytest.mark.parametrize(
    ("pair", "sign"),
    [
        # Cu-Pt orders (CuPt L1_1, Cu3Pt L1_2): negative under EMT, verified
        # interactively at -0.068 eV/atom (volume relaxed) and -0.072 eV/atom with
        # cell and positions fully relaxed by BFGS.
        pytest.param(("Cu", "Pt"), -1, id="CuPt-negative"),
        # Cu-Ag has a miscibility gap: strongly positive (+0.067 eV/atom).
        pytest.param(("Cu", "Ag"), +1, id="CuAg-positive"),
        # Cu-Au is *not* negative under ASE's EMT for a random solid solution,
        # although the real alloy orders: +0.031 eV/atom with the adapter's
        # isotropic relaxation, and still +0.020 eV/atom when verified
        # interactively with positions and cell fully relaxed (BFGS + cell filter).
        # The 12 % size mismatch dominates EMT's weak Cu-Au chemical attraction.
        # This pins EMT's answer, not experiment.
        pytest.param(("Cu", "Au"), +1, id="CuAu-positive-in-EMT"),
    ],
)
def test_mixing_energy_sign_at_equiatomic(pair: tuple[str, str], sign: int) -> None:
    values = evaluate(emt_spec(list(pair)), {pair[0]: 0.5, pair[1]: 0.5})
    assert sign * values["mixing_energy"] > 0.01


@pytest.mark.parametrize(
    "pair",
    [
        pytest.param(("Cu", "Ni"), id="CuNi"),
        pytest.param(("Cu", "Au"), id="CuAu"),
        pytest.param(("Ag", "Pt"), id="AgPt"),
        pytest.param(("Al", "Ni"), id="AlNi"),
    ],
)
def test_volume_per_atom_lies_between_the_pure_elements(pair: tuple[str, str]) -> None:
    a, b = pair
    spec = emt_spec(list(pair))
    adapter = SimulatorAdapter(spec.adapter_config(), spec)
    volumes = [
        evaluate(spec, {a: 1 - x, b: x}, adapter)["volume_per_atom"]
        for x in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    v_a, v_b = volumes[0], volumes[-1]
    # The pure volumes are EMT's own: a^3/4 of the reference lattice.
    assert v_a == pytest.approx(element_reference(a)[0] ** 3 / 4, rel=1e-3)
    assert v_b == pytest.approx(element_reference(b)[0] ** 3 / 4, rel=1e-3)
    inner = volumes[1:-1]
    assert all(min(v_a, v_b) < v < max(v_a, v_b) for v in inner)
    # Vegard-like: monotone in the fraction of b.
    steps = np.diff(volumes)
    assert np.all(np.sign(steps) == np.sign(v_b - v_a))


# --- validation

EMT_YAML = """
schema_version: 1
name: emt-check
space:
  composition:
    components: [{components}]
objectives:
  - {{name: mixing_energy, direction: minimize}}
budget: {{experiments: 4}}
adapter: {{type: simulator, function: emt-alloy, options: {options}}}
"""


def test_element_without_emt_parameters_is_rejected_naming_supported_elements() -> None:
    with pytest.raises(SpecError) as caught:
        loads(EMT_YAML.format(components="Cu, Fe, Ni", options="{}"))
    [problem] = caught.value.problems
    assert problem.path == "space.composition.components"
    assert "Fe" in problem.message and "Cu" not in problem.message
    for element in EMT_ELEMENTS:
        assert element in problem.hint


@pytest.mark.parametrize(
    ("options", "path"),
    [
        pytest.param("{bogus: 1}", "adapter.options.bogus", id="unknown-key"),
        pytest.param(
            "{supercell: 9}", "adapter.options.supercell", id="supercell-too-big"
        ),
        pytest.param(
            "{configurations: 0}", "adapter.options.configurations", id="no-configs"
        ),
    ],
)
def test_bad_emt_options_are_rejected(options: str, path: str) -> None:
    with pytest.raises(SpecError) as caught:
        loads(EMT_YAML.format(components="Cu, Ni", options=options))
    assert [p.path for p in caught.value.problems] == [path]
    assert all(
        name in caught.value.problems[0].hint for name in EmtOptions.model_fields
    )


def test_emt_rejects_process_parameters() -> None:
    text = EMT_YAML.format(components="Cu, Ni", options="{}").replace(
        "    components: [Cu, Ni]",
        "    components: [Cu, Ni]\n  parameters:\n"
        "    - {name: anneal, type: continuous, bounds: [300, 900]}",
    )
    with pytest.raises(SpecError) as caught:
        loads(text)
    assert [p.path for p in caught.value.problems] == ["space.parameters"]


def test_mass_basis_is_converted_to_atomic_fractions_or_rejected() -> None:
    # A campaign declaring `basis: mass` means 50/50 Cu-Au *by weight*, which is
    # 75.6 at.% Cu. emt-alloy must either refuse non-atomic bases or convert; it
    # must not silently build a 50/50 atomic cell.
    mass = {"Cu": 0.5, "Au": 0.5}
    try:
        spec = emt_spec(["Cu", "Au"], {"relax_volume": False}, basis="mass")
    except SpecError as exc:
        assert any("basis" in p.message + p.hint for p in exc.problems)
        return
    moles = {el: w / atomic_masses[atomic_numbers[el]] for el, w in mass.items()}
    atomic = {el: m / sum(moles.values()) for el, m in moles.items()}
    assert math.isclose(atomic["Cu"], 0.756, abs_tol=1e-3)
    expected = evaluate(emt_spec(["Cu", "Au"], {"relax_volume": False}), atomic)
    assert evaluate(spec, mass)["mixing_energy"] == pytest.approx(
        expected["mixing_energy"], abs=1e-9
    )
