"""`energy_above_hull` from offline entry files (issue 17, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dft_helpers import adapter_for, dft_spec, request
from monty.serialization import dumpfn
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry

from adapters.dft.hull import (
    EntriesError,
    energy_above_hull,
    load_entries,
    trial_entry,
)
from loop.errors import SpecError

EMT = {"calculator": "emt"}


def _entry(formula: str, per_atom: float, **parameters: object) -> ComputedEntry:
    c = Composition(formula)
    return ComputedEntry(c, per_atom * c.num_atoms, parameters=dict(parameters))


def _cu_ni_pd(**parameters: object) -> list[ComputedEntry]:
    """Known Cu-Ni-Pd phases: the elements, two ordered compounds below them, one above."""
    return [
        _entry("Cu", -0.01, **parameters),
        _entry("Ni", -0.02, **parameters),
        _entry("Pd", 0.00, **parameters),
        _entry("CuPd", -0.08, **parameters),
        _entry("NiPd3", -0.05, **parameters),
        _entry("CuNi", 0.03, **parameters),
    ]


@pytest.mark.parametrize(
    ("formula", "per_atom"),
    [("Cu2NiPd", -0.02), ("CuPd", -0.10), ("Ni3Pd", 0.01), ("CuNiPd2", -0.06)],
)
def test_energy_above_hull_equals_pymatgens_own_computation(
    tmp_path: Path, formula: str, per_atom: float
) -> None:
    path = tmp_path / "entries.json"
    dumpfn(_cu_ni_pd(**EMT), path)
    known = load_entries(path, "emt")
    own = [_entry("Cu", -0.005), _entry("Ni", -0.015), _entry("Pd", 0.002)]
    counts = Composition(formula).get_el_amt_dict()
    trial = trial_entry(counts, per_atom)

    value = energy_above_hull(known, own, trial)

    elements = {str(e) for e in trial.composition.elements}
    direct_entries = [
        e for e in _cu_ni_pd() if {str(x) for x in e.composition.elements} <= elements
    ]
    direct = PhaseDiagram([*direct_entries, *own, trial]).get_e_above_hull(trial)
    assert value == pytest.approx(direct, abs=1e-12)
    assert value >= 0


def test_a_csv_of_formulas_and_energies_reads_like_the_json(tmp_path: Path) -> None:
    json_path, csv_path = tmp_path / "entries.json", tmp_path / "entries.csv"
    entries = _cu_ni_pd(**EMT)
    dumpfn(entries, json_path)
    csv_path.write_text(
        "formula,energy_per_atom,calculator\n"
        + "".join(f"{e.composition.formula},{e.energy_per_atom},emt\n" for e in entries)
    )
    trial = trial_entry({"Cu": 2, "Ni": 1, "Pd": 1}, -0.03)
    own = [_entry("Cu", -0.01), _entry("Ni", -0.02), _entry("Pd", 0.0)]
    from_json = energy_above_hull(load_entries(json_path, "emt"), own, trial)
    from_csv = energy_above_hull(load_entries(csv_path, "emt"), own, trial)
    assert from_csv == pytest.approx(from_json, abs=1e-12)
    assert from_json > 0


def test_entries_a_calculator_cannot_compare_with_are_refused(tmp_path: Path) -> None:
    mp_like = tmp_path / "mp.json"
    dumpfn(_cu_ni_pd(run_type="GGA"), mp_like)
    with pytest.raises(EntriesError, match="EMT energies compare only with EMT"):
        load_entries(mp_like, "emt")
    scan = tmp_path / "scan.json"
    dumpfn(_cu_ni_pd(run_type="R2SCAN"), scan)
    with pytest.raises(EntriesError, match="R2SCAN calculation"):
        load_entries(scan, "chgnet")
    emt = tmp_path / "emt.json"
    dumpfn(_cu_ni_pd(**EMT), emt)
    with pytest.raises(EntriesError, match="computed with EMT"):
        load_entries(emt, "vasp")
    bad = tmp_path / "bad.csv"
    bad.write_text("formula,energy\nCu,-1\n")
    with pytest.raises(EntriesError, match="needs columns formula and energy_per_atom"):
        load_entries(bad, "chgnet")


def test_gga_entries_pass_through_materials_project_corrections(tmp_path: Path) -> None:
    """Metals get no correction, so GGA entries keep their energies."""
    path = tmp_path / "mp.json"
    dumpfn(_cu_ni_pd(run_type="GGA", hubbards={}), path)
    known = load_entries(path, "chgnet")
    assert known.rejected == 0
    energies = sorted(e.energy_per_atom for e in known.entries)
    assert energies == pytest.approx(sorted(e.energy_per_atom for e in _cu_ni_pd()))


def _hull_campaign(work: Path, **adapter: object) -> dict:
    return {
        "objectives": [
            {"name": "energy_above_hull", "direction": "minimize", "unit": "eV/atom"}
        ],
        "strategy": {},
    }


def test_a_campaign_asking_for_energy_above_hull_needs_comparable_entries(
    work: Path, tmp_path: Path
) -> None:
    with pytest.raises(SpecError) as missing:
        dft_spec(work, campaign=_hull_campaign(work))
    assert "adapter.references" in {p.path for p in missing.value.problems}
    mp_like = tmp_path / "mp.json"
    dumpfn(_cu_ni_pd(run_type="GGA"), mp_like)
    with pytest.raises(SpecError) as refused:
        dft_spec(
            work, campaign=_hull_campaign(work), references={"entries": str(mp_like)}
        )
    (problem,) = refused.value.problems
    assert problem.path == "adapter.references.entries"
    assert "EMT" in problem.message


@pytest.mark.timeout(300)
def test_the_dft_adapter_measures_energy_above_hull_against_the_file(
    work: Path, tmp_path: Path
) -> None:
    """A local EMT job's value is pymatgen's e_above_hull of its relaxed
    structure against the file's phases and the campaign's own EMT elemental
    references, as recorded in its metadata."""
    path = tmp_path / "emt-phases.csv"
    path.write_text(
        "formula,energy_per_atom,calculator\nCuPd,-0.2,emt\nNiPd3,0.3,emt\n"
    )
    spec = dft_spec(
        work, campaign=_hull_campaign(work), references={"entries": str(path)}
    )
    result = adapter_for(spec).evaluate(request(spec, Cu=0.5, Ni=0.25, Pd=0.25))
    assert result.failure is None, result.failure
    meta = result.metadata
    assert meta["hull"] == {"entries": "emt-phases.csv", "in_system": 2, "rejected": 0}
    structure = meta["structure"]
    counts = structure["counts"]
    trial = trial_entry(counts, meta["energy_per_atom"])
    own = [trial_entry({el: 1}, e) for el, e in meta["references"].items()]
    known = [_entry("CuPd", -0.2), _entry("NiPd3", 0.3)]
    direct = PhaseDiagram([*known, *own, trial]).get_e_above_hull(trial)
    assert result.values["energy_above_hull"] == pytest.approx(direct, abs=1e-9)
