"""A stand-in for VASP in tests: reads POSCAR and INCAR, writes vasprun.xml and OUTCAR.

The energy is ASE's EMT energy of the POSCAR (a single point), so a parsed
result can be checked against a direct calculation. `vasprun_xml` is also used
on its own to make files the parser must read or refuse. Run as a job command:
`python .../fakevasp.py` in the job directory. Only the parts of vasprun.xml
that pymatgen's `Vasprun` reads are written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def _v(values: Any) -> str:
    return "<v>" + " ".join(f"{float(x):.8f}" for x in values) + " </v>"


def _structure(structure: Any, name: str = "") -> str:
    attr = f' name="{name}"' if name else ""
    basis = "\n".join(_v(row) for row in structure.lattice.matrix)
    rec = "\n".join(
        _v(row) for row in structure.lattice.reciprocal_lattice_crystallographic.matrix
    )
    positions = "\n".join(_v(site.frac_coords) for site in structure)
    return f"""<structure{attr}>
<crystal>
<varray name="basis">
{basis}
</varray>
<i name="volume">{structure.volume:.8f} </i>
<varray name="rec_basis">
{rec}
</varray>
</crystal>
<varray name="positions">
{positions}
</varray>
</structure>"""


def vasprun_xml(
    structure: Any, energy: float, *, scf_steps: int = 8, nelm: int = 60
) -> str:
    """A vasprun.xml of one static calculation of *structure* with total *energy* (eV)."""
    symbols = [site.specie.symbol for site in structure]
    kinds = list(dict.fromkeys(symbols))
    atoms = "\n".join(
        f"<rc><c>{s}</c><c>{kinds.index(s) + 1}</c></rc>" for s in symbols
    )
    types = "\n".join(
        f"<rc><c>{symbols.count(s)}</c><c>{s}</c><c>1.0</c><c>11.0</c>"
        f"<c>PAW_PBE {s} 06Sep2000</c></rc>"
        for s in kinds
    )
    energies = (
        f'<energy><i name="e_fr_energy">{energy:.8f}</i>'
        f'<i name="e_wo_entrp">{energy:.8f}</i>'
        f'<i name="e_0_energy">{energy:.8f}</i></energy>'
    )
    scf = "\n".join(f"<scstep>{energies}</scstep>" for _ in range(scf_steps))
    zeros = "\n".join(_v((0, 0, 0)) for _ in symbols)
    return f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<modeling>
<generator>
<i name="program" type="string">vasp </i>
<i name="version" type="string">6.4.2 </i>
<i name="subversion" type="string">fake </i>
<i name="platform" type="string">Linux </i>
<i name="date" type="string">2026 11 21 </i>
<i name="time" type="string">10:00:00 </i>
</generator>
<incar>
<i type="int" name="NSW">0</i>
<i type="int" name="IBRION">-1</i>
<i type="int" name="ISMEAR">1</i>
</incar>
<kpoints>
<generation param="Gamma">
<v type="int" name="divisions">1 1 1 </v>
<v name="usershift">0.0 0.0 0.0 </v>
</generation>
<varray name="kpointlist">
<v>0.0 0.0 0.0 </v>
</varray>
<varray name="weights">
<v>1.0 </v>
</varray>
</kpoints>
<parameters>
<separator name="electronic">
<i type="int" name="NELM">{nelm}</i>
<i type="string" name="ALGO">Normal</i>
</separator>
<separator name="ionic">
<i type="int" name="NSW">0</i>
<i type="int" name="IBRION">-1</i>
</separator>
</parameters>
<atominfo>
<atoms>{len(symbols)} </atoms>
<types>{len(kinds)} </types>
<array name="atoms">
<dimension dim="1">ion</dimension>
<field type="string">element</field>
<field type="int">atomtype</field>
<set>
{atoms}
</set>
</array>
<array name="atomtypes">
<dimension dim="1">type</dimension>
<field type="int">atomspertype</field>
<field type="string">element</field>
<field>mass</field>
<field>valence</field>
<field type="string">pseudopotential</field>
<set>
{types}
</set>
</array>
</atominfo>
{_structure(structure, "initialpos")}
<calculation>
{scf}
{_structure(structure)}
<varray name="forces">
{zeros}
</varray>
<varray name="stress">
{_v((0, 0, 0))}
{_v((0, 0, 0))}
{_v((0, 0, 0))}
</varray>
{energies}
</calculation>
{_structure(structure, "finalpos")}
</modeling>
"""


def main() -> int:
    from ase.calculators.emt import EMT
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp import Poscar

    structure = Poscar.from_file("POSCAR").structure
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = EMT()
    energy = float(atoms.get_potential_energy())
    Path("vasprun.xml").write_text(vasprun_xml(structure, energy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
