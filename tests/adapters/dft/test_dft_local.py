"""The local backend end to end: EMT jobs agree with ASE, failures, cancel, adoption.

Every evaluation here really runs: the adapter writes a job directory, starts
`bash job.sh` detached and follows it through `status.json`. Energies are
checked against ASE's EMT calculator applied directly to the job's own POSCAR
(or CONTCAR), and the references against pure elements relaxed here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read
from dft_helpers import adapter_for, dft_spec, request
from scipy.optimize import minimize_scalar

from adapters.dft import lifecycle, run_local
from adapters.dft.jobs import LocalBackend

pytestmark = pytest.mark.timeout(180)


def emt_energy(atoms) -> float:
    atoms.calc = EMT()
    return float(atoms.get_potential_energy()) / len(atoms)


def relaxed_reference(element: str) -> float:
    """Energy per atom of the pure fcc element at its EMT lattice parameter."""
    start = bulk(element, "fcc", cubic=True)
    cell = start.get_cell().copy()

    def energy(scale: float) -> float:
        atoms = start.copy()
        atoms.set_cell(cell * scale, scale_atoms=True)
        return emt_energy(atoms)

    return float(
        minimize_scalar(
            energy, bounds=(0.85, 1.15), method="bounded", options={"xatol": 1e-6}
        ).fun
    )


def runs(directory: Path) -> int:
    """How often the job in *directory* started (one line per start)."""
    log = directory / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.mark.parametrize("relax", ["none", "positions"])
def test_energies_agree_with_a_direct_emt_calculation(work: Path, relax: str) -> None:
    spec = dft_spec(
        work,
        name=f"agree-{relax}",
        relax={"mode": relax, "steps": 30},
        supercell={"min_atoms": 16, "max_atoms": 32, "tolerance": 0.04},
    )
    result = adapter_for(spec).evaluate(request(spec, Cu=0.5, Ni=0.3, Pd=0.2))
    assert result.failure is None, result.failure
    job = Path(result.metadata["job"]["directory"])
    final = read(job / ("CONTCAR" if relax != "none" else "POSCAR"), format="vasp")
    energy = emt_energy(final)
    assert result.values["energy_per_atom"] == pytest.approx(energy, abs=1e-9)
    counts = {el: final.get_chemical_symbols().count(el) for el in ("Cu", "Ni", "Pd")}
    n = len(final)
    mixing = energy - sum(k / n * relaxed_reference(el) for el, k in counts.items())
    assert result.values["mixing_energy"] == pytest.approx(mixing, abs=1e-6)
    assert result.values["volume_per_atom"] == pytest.approx(final.get_volume() / n)
    if relax == "none":  # relaxing the ions lowers the energy
        assert energy == pytest.approx(emt_energy(read(job / "POSCAR", format="vasp")))
    else:
        assert energy < emt_energy(read(job / "POSCAR", format="vasp"))
        assert result.metadata["details"]["steps"] > 0
    realised = result.metadata["structure"]["realised"]
    assert {el: k / n for el, k in counts.items()} == pytest.approx(realised)
    assert result.units == {
        "mixing_energy": "eV/atom",
        "energy_per_atom": "eV/atom",
        "volume_per_atom": "Å^3/atom",
    }
    # cost and time are recorded with the measurement
    meta = result.metadata
    assert meta["cost_unit"] == "cpu_seconds" and meta["cost"] > 0
    assert (
        0 < meta["wall_seconds"] < 60
        and meta["turnaround_seconds"] >= meta["wall_seconds"]
    )
    assert (
        runs(job) == 1
        and json.loads((job / "job.json").read_text())["collections"] == 1
    )


def test_references_run_once_per_work_directory(work: Path) -> None:
    spec = dft_spec(work, name="refs-once")
    adapter = adapter_for(spec)
    for trial in (1, 2):
        assert (
            adapter.evaluate(
                request(spec, trial, Cu=0.25 * trial, Ni=1 - 0.25 * trial)
            ).failure
            is None
        )
    references = sorted((work / "references" / "emt-fcc").iterdir())
    assert [p.name for p in references] == ["Cu", "Ni", "Pd"]
    assert all(runs(p) == 1 for p in references)
    # the relaxed lattice parameter of Cu is EMT's (about 3.59 Å), not the guess
    structure = json.loads(
        (work / "refs-once" / "trial-00001" / "attempt-1" / "job.json").read_text()
    )["structure"]
    assert structure["lattice_parameter"] == pytest.approx(
        0.25 * 3.59 + 0.75 * 3.50, abs=0.02
    )


def test_a_job_that_never_runs_vanishes_and_is_retried_as_a_new_job(work: Path) -> None:
    spec = dft_spec(work, name="vanish", slurm={"command": "exit 3"})
    adapter = adapter_for(spec)
    first = adapter.evaluate(request(spec))
    assert first.failure and "vanished" in first.failure and first.retryable
    second = adapter.evaluate(request(spec, attempt=2))
    assert second.failure and second.retryable  # the same script: lost again
    attempts = sorted(p.name for p in (work / "vanish" / "trial-00001").iterdir())
    assert attempts == ["attempt-1", "attempt-2"]  # a retry is a new job


def test_a_job_script_that_fails_before_the_runner_says_why(work: Path) -> None:
    spec = dft_spec(
        work,
        name="noisy",
        slurm={"command": "echo 'vasp_std: not found' >&2; exit 127"},
    )
    result = adapter_for(spec).evaluate(request(spec))
    assert result.failure and not result.retryable
    assert "failed: the job script ended: vasp_std: not found" in result.failure


def test_an_unrepresentable_composition_fails_for_good(work: Path) -> None:
    spec = dft_spec(
        work,
        name="tolerance",
        supercell={"min_atoms": 4, "max_atoms": 8, "tolerance": 0.01},
    )
    result = adapter_for(spec).evaluate(request(spec, Cu=0.33, Ni=0.33, Pd=0.34))
    assert result.failure and "max_atoms" in result.failure and not result.retryable


def test_cancel_stops_a_running_job(work: Path) -> None:
    spec = dft_spec(work, name="cancel", slurm={"command": "sleep 60"})
    adapter = adapter_for(spec)
    from threading import Thread

    results = []
    thread = Thread(target=lambda: results.append(adapter.evaluate(request(spec))))
    thread.start()
    directory = work / "cancel" / "trial-00001" / "attempt-1"
    deadline = time.monotonic() + 60
    while (
        not (directory / "job.json").exists()
        or lifecycle.Job(directory).read()["state"] != "pending"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert adapter.cancel("cancel", 1) == ["loop-cancel-t1-a1"]
    thread.join(timeout=30)
    assert results and "cancelled" in results[0].failure and not results[0].retryable
    pid = int(lifecycle.Job(directory).read()["job_id"])
    deadline = time.monotonic() + 10
    while _running(pid):  # SIGTERM to the job's process group ends it
        assert time.monotonic() < deadline, f"job process {pid} still running"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ------------------------------------------------------------- adoption
class Crash(Exception):
    """Stands for the driver dying at that instant (its state is left as is)."""


def test_a_submission_cut_short_is_found_again_and_collected(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state a crash at `after_dft_submit` leaves: started, id never recorded."""
    spec = dft_spec(work, name="adopt")
    adapter = adapter_for(spec)

    def crash(point: str) -> None:
        if point == "after_dft_submit":
            raise Crash(point)

    monkeypatch.setattr(lifecycle, "fault", crash)
    assert (
        adapter.evaluate(request(spec)).failure
        == "dft adapter raised Crash: after_dft_submit"
    )
    directory = work / "adopt" / "trial-00001" / "attempt-1"
    assert lifecycle.Job(directory).read()["state"] == "submitting"
    monkeypatch.undo()
    result = adapter.evaluate(request(spec, attempt=2))  # re-offered after the crash
    assert result.failure is None, result.failure
    record = lifecycle.Job(directory).read()
    assert record["found_by_name"] and result.metadata["adopted"]
    assert runs(directory) == 1 and record["collections"] == 1
    assert not (directory.parent / "attempt-2").exists()  # nothing resubmitted


def test_a_submission_that_never_reached_the_scheduler_is_made_once(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = dft_spec(work, name="adopt-none")
    adapter = adapter_for(spec)

    def crash(self, directory: Path, name: str) -> str:
        raise Crash("before the job started")

    monkeypatch.setattr(LocalBackend, "submit", crash)
    assert "Crash" in adapter.evaluate(request(spec)).failure
    directory = work / "adopt-none" / "trial-00001" / "attempt-1"
    assert lifecycle.Job(directory).read()["state"] == "submitting"
    monkeypatch.undo()
    result = adapter.evaluate(request(spec, attempt=2))
    assert result.failure is None and runs(directory) == 1
    record = lifecycle.Job(directory).read()
    assert record["submissions"] == 1 and "found_by_name" not in record


def test_a_finished_job_is_collected_without_running_again(work: Path) -> None:
    spec = dft_spec(work, name="collect")
    adapter = adapter_for(spec)
    first = adapter.evaluate(request(spec))
    # the driver died before storing it: the trial comes back as attempt 2
    again = adapter.evaluate(request(spec, attempt=2))
    assert again.values == first.values and again.metadata["adopted"]
    directory = work / "collect" / "trial-00001" / "attempt-1"
    assert runs(directory) == 1 and lifecycle.Job(directory).read()["collections"] == 2
    assert not (directory.parent / "attempt-2").exists()


def test_a_directory_of_another_configuration_is_refused(work: Path) -> None:
    spec = dft_spec(work, name="mismatch")
    adapter = adapter_for(spec)
    assert adapter.evaluate(request(spec)).failure is None
    other = adapter.evaluate(request(spec, attempt=2, Cu=0.75, Ni=0.25))
    assert other.failure and "another configuration" in other.failure


# ------------------------------------------------------------ the runner
def test_the_runner_records_timeouts_and_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "calc.json").write_text(
        json.dumps(
            {
                "calculator": "emt",
                "relax": "none",
                "steps": 1,
                "fmax": 0.1,
                "time_limit": 1,
            }
        )
    )
    monkeypatch.setattr(run_local, "compute", lambda *_: time.sleep(5))
    assert run_local.main([str(tmp_path)]) == 1
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "timeout" and "time limit" in status["error"]

    def broken(*_):
        raise RuntimeError("SCF exploded")

    monkeypatch.setattr(run_local, "compute", broken)
    assert run_local.main([str(tmp_path)]) == 1
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "failed" and "SCF exploded" in status["error"]
    assert runs(tmp_path) == 2
