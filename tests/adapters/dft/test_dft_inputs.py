"""Job directories: every input file reads back with pymatgen, scripts are valid."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pymatgen.io.cif import CifParser
from pymatgen.io.vasp import Incar, Kpoints, Poscar

from adapters.dft.config import DFTConfig
from adapters.dft.inputs import slurm_time, write_job
from adapters.dft.structures import solid_solution

PARAMETERS = {"Cu": 3.61, "Ni": 3.52, "Pd": 3.89}


def config(**changes) -> DFTConfig:
    return DFTConfig.model_validate({"type": "dft", **changes})


def structure():
    return solid_solution(
        {"Cu": 0.5, "Ni": 0.25, "Pd": 0.25}, PARAMETERS, min_atoms=16
    ).structure


def write(
    tmp_path: Path, cfg: DFTConfig, relax: str = "none", name: str = "job"
) -> Path:
    directory = tmp_path / name
    assert write_job(
        directory,
        structure(),
        cfg,
        name=f"loop-test-{name}",
        campaign="test",
        label="trial 1, attempt 1",
        relax=relax,
        record={"kind": "trial"},
    )
    return directory


def test_every_input_reads_back_with_pymatgen(tmp_path: Path) -> None:
    directory = write(tmp_path, config())
    expected = structure()
    poscar = Poscar.from_file(directory / "POSCAR").structure
    assert poscar.composition == expected.composition
    assert np.allclose(poscar.lattice.matrix, expected.lattice.matrix)
    assert np.allclose(poscar.frac_coords, expected.frac_coords)
    cif = CifParser(directory / "structure.cif").parse_structures(primitive=False)[0]
    assert cif.composition == expected.composition
    incar = Incar.from_file(directory / "INCAR")
    assert incar["ISMEAR"] == 1 and incar["SIGMA"] == 0.2  # metal smearing
    assert "NSW" not in incar or incar["NSW"] == 0  # a static set
    kpoints = Kpoints.from_file(directory / "KPOINTS")
    assert len(kpoints.kpts) == 1 and all(k >= 1 for k in kpoints.kpts[0])
    spec = (directory / "POTCAR.spec").read_text().split()
    symbols = Poscar.from_file(directory / "POSCAR").site_symbols
    assert [s.split("_")[0] for s in spec] == symbols  # one potential per species
    assert not (directory / "POTCAR").exists()  # licensed: the user's cluster has them
    state = json.loads((directory / "job.json").read_text())
    assert state["state"] == "prepared" and state["name"] == "loop-test-job"
    assert state["input_set"] == "MPStaticSet"


def test_a_relaxation_uses_the_relax_set_and_the_users_incar_wins(
    tmp_path: Path,
) -> None:
    cfg = config(
        relax={"mode": "positions", "steps": 7, "fmax": 0.02},
        incar={"ENCUT": 400, "SIGMA": 0.1},
    )
    directory = write(tmp_path, cfg, relax="positions")
    incar = Incar.from_file(directory / "INCAR")
    assert (incar["ISIF"], incar["NSW"], incar["EDIFFG"]) == (2, 7, -0.02)
    assert (incar["ENCUT"], incar["SIGMA"]) == (400, 0.1)
    assert json.loads((directory / "job.json").read_text())["input_set"] == "MPRelaxSet"
    reference = write(tmp_path, cfg, relax="volume", name="ref")
    assert Incar.from_file(reference / "INCAR")["ISIF"] == 3


def test_the_job_script_is_valid_bash_with_the_slurm_settings(tmp_path: Path) -> None:
    cfg = config(
        backend="slurm",
        calculator="vasp",
        time_limit="90m",
        slurm={
            "partition": "short",
            "account": "mat123",
            "nodes": 2,
            "ntasks": 64,
            "extra": ["--mem=8G"],
            "setup": ["module load vasp/6.4"],
        },
    )
    directory = write(tmp_path, cfg)
    script = (directory / "job.sh").read_text()
    for line in (
        "#SBATCH --job-name=loop-test-job",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks=64",
        "#SBATCH --time=01:30:00",
        "#SBATCH --partition=short",
        "#SBATCH --account=mat123",
        "#SBATCH --mem=8G",
        "module load vasp/6.4",
        "srun vasp_std",
        f"cd {directory}",
    ):
        assert line in script.splitlines(), line
    assert subprocess.run(["bash", "-n", str(directory / "job.sh")]).returncode == 0


def test_a_user_template_is_filled_in(tmp_path: Path) -> None:
    template = tmp_path / "my.sh"
    template.write_text(
        "#!/bin/bash\n#PBS -N $job_name\ncd $job_dir\n$command > out.txt\n"
    )
    directory = write(tmp_path, config(slurm={"template": str(template)}))
    lines = (directory / "job.sh").read_text().splitlines()
    assert lines[1] == "#PBS -N loop-test-job"
    assert lines[3].endswith("-m adapters.dft.run_local . > out.txt")


def test_an_existing_directory_is_kept(tmp_path: Path) -> None:
    directory = write(tmp_path, config())
    before = (directory / "job.json").read_text()
    assert not write_job(
        directory,
        structure(),
        config(),
        name="other",
        campaign="x",
        label="",
        relax="none",
        record={},
    )
    assert (directory / "job.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["job"]  # no staging left behind


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30, "00:01:00"),
        (3600, "01:00:00"),
        (5430, "01:31:00"),
        (2 * 86400 + 60, "2-00:01:00"),
    ],
)
def test_slurm_time_limits(seconds: float, text: str) -> None:
    assert slurm_time(seconds) == text
