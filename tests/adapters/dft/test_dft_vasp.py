"""VASP output is parsed with pymatgen; a VASP campaign path runs on the fake scheduler.

`fakevasp.py` stands in for VASP: it writes a vasprun.xml whose energy is ASE's
EMT energy of the job's POSCAR, so the whole path (input set, job script,
sbatch, vasprun parsing, references) is exercised and checked against EMT.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ase.calculators.emt import EMT
from ase.io import read
from dft_helpers import HERE, adapter_for, dft_spec, request
from fakevasp import vasprun_xml
from pymatgen.io.vasp import Incar

from adapters.dft.parse import ParseError, parse
from adapters.dft.structures import solid_solution

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def structure():
    return solid_solution(
        {"Cu": 0.5, "Ni": 0.5}, {"Cu": 3.6, "Ni": 3.5}, min_atoms=8
    ).structure


def test_a_vasprun_is_read_with_pymatgen(tmp_path: Path, structure) -> None:
    (tmp_path / "vasprun.xml").write_text(vasprun_xml(structure, -24.0))
    outcome = parse(tmp_path)
    assert outcome.energy_per_atom == pytest.approx(-3.0)
    assert outcome.source == "vasp" and outcome.converged
    assert outcome.structure.composition == structure.composition
    assert outcome.volume_per_atom == pytest.approx(structure.volume / len(structure))
    # VASP's own files win over a local runner's result in the same directory
    (tmp_path / "result.json").write_text(json.dumps({"energy_per_atom": 1.0}))
    assert parse(tmp_path).source == "vasp"


def test_an_unconverged_or_truncated_vasprun_is_refused(
    tmp_path: Path, structure
) -> None:
    (tmp_path / "vasprun.xml").write_text(vasprun_xml(structure, -24.0, scf_steps=60))
    with pytest.raises(ParseError, match="NELM"):
        parse(tmp_path)
    text = vasprun_xml(structure, -24.0)
    (tmp_path / "vasprun.xml").write_text(text[: len(text) // 2])  # a killed run
    with pytest.raises(ParseError, match="unreadable"):
        parse(tmp_path)
    (tmp_path / "vasprun.xml").unlink()
    with pytest.raises(ParseError, match="neither"):
        parse(tmp_path)


def test_a_vasp_campaign_runs_through_slurm(work: Path, fake_slurm: Path) -> None:
    spec = dft_spec(
        work,
        name="vasp",
        backend="slurm",
        calculator="vasp",
        incar={"ENCUT": 450},
        slurm={
            "setup": ["export VASP_SETUP=vasp/6.4"],
            "command": f"$python {HERE / 'fakevasp.py'}",
        },
    )
    result = adapter_for(spec).evaluate(request(spec, Cu=0.5, Ni=0.25, Pd=0.25))
    assert result.failure is None, result.failure
    job = Path(result.metadata["job"]["directory"])
    assert (
        result.metadata["source"] == "vasp" and result.metadata["calculator"] == "vasp"
    )
    atoms = read(job / "POSCAR", format="vasp")
    atoms.calc = EMT()
    energy = atoms.get_potential_energy() / len(atoms)
    assert result.values["energy_per_atom"] == pytest.approx(energy, abs=1e-7)
    references = {
        el: parse(work / "references" / "vasp-fcc" / el).energy_per_atom
        for el in ("Cu", "Ni", "Pd")
    }
    counts = {el: atoms.get_chemical_symbols().count(el) for el in references}
    mixing = energy - sum(k / len(atoms) * references[el] for el, k in counts.items())
    assert result.values["mixing_energy"] == pytest.approx(mixing, abs=1e-7)
    assert Incar.from_file(job / "INCAR")["ENCUT"] == 450
    assert "export VASP_SETUP=vasp/6.4" in (job / "job.sh").read_text()
    assert (
        Incar.from_file(work / "references" / "vasp-fcc" / "Cu" / "INCAR")["ISIF"] == 3
    )
