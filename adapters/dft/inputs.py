"""One job directory per trial attempt (or elemental reference), written at once.

A directory holds the structure (`POSCAR`, `structure.cif`), VASP inputs from a
pymatgen input set (`INCAR`, `KPOINTS`, and `POTCAR.spec` naming the
potentials: POTCAR files are licensed, so the user's cluster supplies them),
`calc.json` (what the local runner computes), `job.sh` from the template, and
`job.json`, the job's state (see `lifecycle.py`). Everything is written into a
temporary directory that is renamed into place, so a crash leaves either the
whole directory or none of it.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.dft.templates import JOB_SCRIPT, LOCAL_COMMAND, VASP_COMMAND
from loop.warnings_guard import recorded_warnings

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from adapters.dft.config import DFTConfig

#: Smearing for metals (Methfessel-Paxton), under the user's `incar` settings.
METAL_INCAR = {"ISMEAR": 1, "SIGMA": 0.2}
#: The ISIF of each relaxation mode (VASP: 2 moves ions, 3 ions and cell).
ISIF = {"positions": 2, "full": 3}


def slurm_time(limit: float) -> str:
    """A time limit in seconds as SLURM's D-HH:MM:SS, rounded up to whole minutes."""
    minutes = max(1, math.ceil(limit / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    clock = f"{hours:02d}:{mins:02d}:00"
    return f"{days}-{clock}" if days else clock


def incar_settings(config: DFTConfig, relax: str) -> dict[str, Any]:
    """The INCAR settings given to the input set for a job relaxing in mode *relax*."""
    settings: dict[str, Any] = dict(METAL_INCAR)
    if relax in ISIF:
        settings.update({"ISIF": ISIF[relax], "NSW": config.relax.steps, "IBRION": 2})
        if relax == "positions":
            settings["EDIFFG"] = -config.relax.fmax
    settings.update(config.incar)
    return settings


def write_job(
    directory: Path,
    structure: Structure,
    config: DFTConfig,
    *,
    name: str,
    campaign: str,
    label: str,
    relax: str,
    record: dict[str, Any],
) -> bool:
    """Write the job directory *directory*; False if it exists already (kept as is).

    *relax* is the relaxation mode of this job (`none`, `positions`, `full`, or
    `volume` for an elemental reference, which VASP does as a full relaxation).
    *record* starts the job's state file.
    """
    if directory.exists():
        return False
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        _write_structure(staging, structure)
        warned = _write_vasp_inputs(staging, structure, config, relax)
        calc = {
            "calculator": config.calculator,
            "relax": relax,
            "steps": config.relax.steps,
            "fmax": config.relax.fmax,
            "time_limit": config.time_limit,
        }
        (staging / "calc.json").write_text(json.dumps(calc, indent=2) + "\n")
        script = job_script(
            config, name=name, campaign=campaign, label=label, job_dir=directory
        )
        (staging / "job.sh").write_text(script)
        (staging / "job.sh").chmod(0o755)
        state = {
            **record,
            "name": name,
            "state": "prepared",
            "backend": config.backend,
            "calculator": config.calculator,
            "input_set": input_set_name(config, relax),
            "input_warnings": warned,
            "prepared_at": time.time(),
            "history": [["prepared", time.time()]],
            "collections": 0,
        }
        (staging / "job.json").write_text(json.dumps(state, indent=2) + "\n")
        try:
            os.rename(staging, directory)
        except OSError:
            if directory.exists():  # another process wrote it first: keep theirs
                return False
            raise
        return True
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def input_set_name(config: DFTConfig, relax: str) -> str:
    """The pymatgen input set of a job: a relaxation set whenever it relaxes."""
    return "MPRelaxSet" if relax != "none" else config.chosen_input_set


def job_script(
    config: DFTConfig, *, name: str, campaign: str, label: str, job_dir: Path
) -> str:
    """The job script from the template (default: `templates.JOB_SCRIPT`)."""
    slurm = config.slurm
    if slurm.template:
        template = Path(slurm.template).expanduser().read_text()
    else:
        template = JOB_SCRIPT
    python = shlex.quote(sys.executable)
    default = VASP_COMMAND if config.calculator == "vasp" else LOCAL_COMMAND
    command = string.Template(slurm.command or default).safe_substitute(python=python)
    extra = [f"#SBATCH {option}" for option in slurm.extra]
    for key in ("partition", "account", "qos"):
        value = getattr(slurm, key)
        if value:
            extra.append(f"#SBATCH --{key}={value}")
    values = {
        "job_name": name,
        "job_dir": shlex.quote(str(job_dir)),
        "campaign": campaign,
        "label": label,
        "nodes": slurm.nodes,
        "ntasks": slurm.ntasks,
        "cpus_per_task": slurm.cpus_per_task,
        "time": slurm_time(config.time_limit),
        "sbatch_extra": "\n".join(extra),
        "setup": "\n".join(slurm.setup),
        "command": command,
        "python": python,
        "threads": config.threads,
    }
    return string.Template(template).safe_substitute(values)


def _write_structure(directory: Path, structure: Structure) -> None:
    from pymatgen.io.cif import CifWriter
    from pymatgen.io.vasp import Poscar

    Poscar(structure).write_file(directory / "POSCAR")
    CifWriter(structure).write_file(directory / "structure.cif")


def _write_vasp_inputs(
    directory: Path, structure: Structure, config: DFTConfig, relax: str
) -> list[str]:
    """INCAR, KPOINTS and POTCAR.spec from the input set; returns its warnings."""
    mode = "full" if relax == "volume" else relax
    kind = _input_set(input_set_name(config, mode))
    with recorded_warnings() as caught:
        inputs = kind(structure, user_incar_settings=incar_settings(config, mode))
        scratch = directory / ".vasp"
        inputs.write_input(scratch, potcar_spec=True)
    for file in ("INCAR", "KPOINTS", "POTCAR.spec"):
        (scratch / file).replace(directory / file)
    shutil.rmtree(scratch)
    return sorted({str(w.message).splitlines()[0] for w in caught})


def _input_set(name: str) -> Any:
    from pymatgen.io.vasp import sets

    return getattr(sets, name)
