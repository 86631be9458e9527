"""What a finished job computed, from VASP's files or the local runner's.

Both kinds of job directory give one `Outcome`: energy per atom, the final
structure, convergence and the job's own timing. Real VASP output is read with
pymatgen (`vasprun.xml` with `Vasprun`, and `OUTCAR`, when present, with
`Outcar` for its run statistics); the local runner's `result.json` and
`CONTCAR` (a VASP-format structure, read with pymatgen too) stand in for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loop.warnings_guard import recorded_warnings

if TYPE_CHECKING:
    from pymatgen.core import Structure


class ParseError(Exception):
    """A finished job's output is missing or unusable."""


@dataclass(frozen=True)
class Outcome:
    energy_per_atom: float
    structure: Structure
    #: Electronic (VASP) and ionic convergence, or the local relaxation's.
    converged: bool
    source: str
    calculator: str
    elapsed: float | None = None
    cpu_seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return len(self.structure)

    @property
    def volume_per_atom(self) -> float:
        return float(self.structure.volume) / len(self.structure)


def parse(directory: Path) -> Outcome:
    """The outcome of the job in *directory* (VASP's files win over the local runner's)."""
    if (directory / "vasprun.xml").exists():
        return parse_vasp(directory)
    if (directory / "result.json").exists():
        return parse_local(directory)
    raise ParseError(f"{directory} holds neither vasprun.xml nor result.json")


def parse_vasp(directory: Path) -> Outcome:
    from pymatgen.io.vasp import Outcar, Vasprun

    with recorded_warnings():
        try:
            run = Vasprun(
                str(directory / "vasprun.xml"),
                parse_dos=False,
                parse_eigen=False,
                parse_projected_eigen=False,
                parse_potcar_file=False,
            )
        except Exception as exc:  # a truncated file from a killed run, say
            raise ParseError(f"vasprun.xml unreadable: {exc}") from exc
        elapsed = cpu = None
        if (directory / "OUTCAR").exists():
            try:
                stats = Outcar(str(directory / "OUTCAR")).run_stats
                elapsed = stats.get("Elapsed time (sec)")
                cpu = stats.get("Total CPU time used (sec)")
            except Exception:  # noqa: BLE001 - statistics are optional
                pass
    structure = run.final_structure
    if not run.converged_electronic:
        raise ParseError(
            "VASP's last electronic step did not converge (NELM reached); its "
            "energy is not usable"
        )
    return Outcome(
        energy_per_atom=float(run.final_energy) / len(structure),
        structure=structure,
        converged=bool(run.converged_ionic),
        source="vasp",
        calculator="vasp",
        elapsed=elapsed,
        cpu_seconds=cpu,
        details={
            "ionic_steps": len(run.ionic_steps),
            "converged_ionic": bool(run.converged_ionic),
            "vasp_version": run.vasp_version,
        },
    )


def parse_local(directory: Path) -> Outcome:
    from pymatgen.io.vasp import Poscar

    try:
        result = json.loads((directory / "result.json").read_text())
        structure = Poscar.from_file(directory / "CONTCAR").structure
    except (OSError, ValueError) as exc:
        raise ParseError(f"local result unreadable: {exc}") from exc
    return Outcome(
        energy_per_atom=float(result["energy_per_atom"]),
        structure=structure,
        converged=bool(result["converged"]),
        source="local",
        calculator=str(result["calculator"]),
        elapsed=result.get("elapsed"),
        cpu_seconds=result.get("cpu_seconds"),
        details={k: result[k] for k in ("relax", "steps", "max_force") if k in result},
    )
