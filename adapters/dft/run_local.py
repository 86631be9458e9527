"""The job a local calculator runs: `python -m adapters.dft.run_local JOBDIR`.

It stands in for VASP. It reads `POSCAR` and `calc.json`, computes the energy
with ASE's EMT or with CHGNet (optionally relaxing: ion positions, positions and
cell, or, for an elemental reference, the volume of the cubic cell), and writes
what the parser reads: `CONTCAR` (the final structure) and `result.json`.

`status.json` tells the local backend where the job is: `running` (with its
pid) as soon as it starts, then `completed`, `failed` or `timeout` (the job's
`time_limit`, enforced with an alarm, as a scheduler would). Each start also
appends a line to `runs.log`, so a test can count how often a job ran.
Only ASE and numpy are imported for EMT, so a job starts in well under a second.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any


class JobTimeout(Exception):
    """The job ran past its time limit."""


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write *data* to *path* atomically (a reader sees the old or the new file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def calculator(name: str) -> Any:
    """An ASE calculator: `emt` or `chgnet` (CHGNet's pretrained weights, on CPU)."""
    if name == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if name == "chgnet":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from chgnet.model.dynamics import CHGNetCalculator

            return CHGNetCalculator(use_device="cpu")
    raise ValueError(f"unknown local calculator '{name}'")


def relax_volume(atoms: Any) -> tuple[float, bool]:
    """Scale the cell isotropically to the energy minimum; (scale, converged)."""
    from scipy.optimize import minimize_scalar

    cell = atoms.get_cell().copy()
    positions = atoms.get_scaled_positions()

    def energy(scale: float) -> float:
        atoms.set_cell(cell * scale, scale_atoms=False)
        atoms.set_scaled_positions(positions)
        return float(atoms.get_potential_energy())

    result = minimize_scalar(
        energy, bounds=(0.85, 1.15), method="bounded", options={"xatol": 1e-5}
    )
    energy(float(result.x))
    edge = min(abs(result.x - 0.85), abs(result.x - 1.15)) < 1e-3
    return float(result.x), bool(result.success) and not edge


def compute(directory: Path, calc: dict[str, Any]) -> dict[str, Any]:
    """Energy (and relaxation) of the job's POSCAR; writes CONTCAR."""
    from ase.io import read, write

    atoms: Any = read(directory / "POSCAR", format="vasp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms.calc = calculator(calc["calculator"])
        mode, steps, converged = calc["relax"], 0, True
        if mode == "volume":
            _, converged = relax_volume(atoms)
        elif mode in ("positions", "full"):
            from ase.optimize import FIRE

            target: Any = atoms
            if mode == "full":
                from ase.filters import FrechetCellFilter

                target = FrechetCellFilter(atoms)
            optimizer = FIRE(target, logfile=str(directory / "relax.log"))
            converged = bool(optimizer.run(fmax=calc["fmax"], steps=calc["steps"]))
            steps = int(optimizer.nsteps)
        energy = float(atoms.get_potential_energy())
        forces = atoms.get_forces()
    write(directory / "CONTCAR", atoms, format="vasp", direct=True)
    n = len(atoms)
    return {
        "energy": energy,
        "energy_per_atom": energy / n,
        "n_atoms": n,
        "volume": float(atoms.get_volume()),
        "volume_per_atom": float(atoms.get_volume()) / n,
        "max_force": float((forces**2).sum(axis=1).max() ** 0.5) if n else 0.0,
        "relax": mode,
        "steps": steps,
        "converged": converged,
        "calculator": calc["calculator"],
    }


def main(argv: list[str]) -> int:
    directory = Path(argv[0]).resolve() if argv else Path.cwd()
    calc = json.loads((directory / "calc.json").read_text())
    started = time.time()
    status: dict[str, Any] = {
        "state": "running",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": started,
    }
    write_json(directory / "status.json", status)
    with (directory / "runs.log").open("a") as log:
        log.write(f"{started:.3f} pid {os.getpid()} on {status['host']}\n")

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise JobTimeout(f"time limit of {calc['time_limit']:.0f} s reached")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(calc.get("time_limit", 3600))))
    try:
        result = compute(directory, calc)
        signal.alarm(0)
    except JobTimeout as exc:
        status.update(state="timeout", error=str(exc))
    except Exception as exc:  # the job failed; say why, as a scheduler's log would
        signal.alarm(0)
        status.update(
            state="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=8),
        )
    else:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["elapsed"] = time.time() - started
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
        write_json(directory / "result.json", result)
        status["state"] = "completed"
    status["finished_at"] = time.time()
    write_json(directory / "status.json", status)
    return 0 if status["state"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
