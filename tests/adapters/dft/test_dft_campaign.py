"""The example DFT campaigns run to budget through `loop run`, with valid job directories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ase.calculators.emt import EMT
from ase.io import read
from dft_helpers import job_dirs, max_in_flight, require_chgnet
from pymatgen.io.vasp import Incar, Kpoints, Poscar

from loop.records import Trial, TrialStatus
from loop.storage import Store
from tests.invariants import check_invariants

ROOT = Path(__file__).resolve().parents[3]
CAMPAIGNS = ROOT / "campaigns"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def loop_run(path: Path, db: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LOOP_FAULT"}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "loop.cli", "run", str(path), "--db", db],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )


def run_example(name: str, tmp_path: Path) -> tuple[str, list[Trial]]:
    """`loop run campaigns/NAME.yaml` from *tmp_path*; its database URL and trials."""
    path = tmp_path / f"{name}.yaml"
    shutil.copy(CAMPAIGNS / path.name, path)
    db = f"sqlite:///{tmp_path / 'loop.db'}"
    done = loop_run(path, db, tmp_path)
    assert done.returncode == 0, done.stderr
    store = Store(db, create=False)
    trials = store.trials(name)
    store.engine.dispose()
    return db, trials


def run_to_cost_budget(data: dict, tmp_path: Path) -> tuple[str, Store, list[Trial]]:
    """`loop run` of campaign *data* from *tmp_path*, which must stop at its cost
    budget: the database URL, an open store and the campaign's trials."""
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    db = f"sqlite:///{tmp_path / 'loop.db'}"
    done = loop_run(path, db, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cost budget spent" in done.stdout + done.stderr
    store = Store(db, create=False)
    return db, store, store.trials(data["name"])


def proposed_while_another_ran(db: str, trials: list[Trial]) -> bool:
    """Whether some trial was proposed while another was claimed and not yet measured
    (its job being prepared, queued or running), from the trials' audit events."""
    store = Store(db, create=False)
    spans = []
    for trial in trials:
        at = {
            e["to_status"]: e["at"].replace(tzinfo=None) for e in store.events(trial.id)
        }
        spans.append((at["claimed"], at["completed"]))
    store.engine.dispose()
    proposed = [t.created_at.replace(tzinfo=None) for t in trials if t.created_at]
    return any(start < at < end for at in proposed for start, end in spans)


def test_the_emt_campaign_runs_to_budget_with_valid_inputs(tmp_path: Path) -> None:
    db, trials = run_example("dft-emt-cu-ni-pd", tmp_path)
    assert len(trials) == 8
    assert all(t.status == TrialStatus.COMPLETED for t in trials)
    assert check_invariants(db, "dft-emt-cu-ni-pd") == []
    work = tmp_path / "dft-jobs"  # `work_dir: dft-jobs`, relative to where loop ran
    dirs = job_dirs(work)
    assert len(dirs) == 8 + 3  # a job per trial and one per element
    for directory in dirs:
        structure = Poscar.from_file(directory / "POSCAR").structure
        assert Incar.from_file(directory / "INCAR")["ISMEAR"] == 1
        assert Kpoints.from_file(directory / "KPOINTS").kpts
        assert len((directory / "POTCAR.spec").read_text().split()) == len(
            structure.composition
        )
        assert len((directory / "runs.log").read_text().splitlines()) == 1
    # two jobs in flight at a time (max_concurrent_jobs: 2, followed by the driver)
    trial_dirs = [d for d in dirs if "trial-" in str(d)]
    assert max_in_flight(trial_dirs) == 2
    # refilled as each job ends: model proposals made one at a time, with the
    # other job still running given to the acquisition as a pending point
    modelled = [t for t in trials if t.phase != "initial"]
    assert modelled and all(t.provenance.get("pending") == 1 for t in modelled)
    assert all(
        sum(1 for t in modelled if t.iteration == i) == 1
        for i in {t.iteration for t in modelled}
    )
    assert proposed_while_another_ran(db, trials)
    for trial in trials:
        meta = trial.measurement.metadata
        job = Path(meta["job"]["directory"])
        assert job.parent.name == f"trial-{trial.id:05d}"
        atoms = read(job / "POSCAR", format="vasp")
        atoms.calc = EMT()
        direct = atoms.get_potential_energy() / len(atoms)
        assert meta["energy_per_atom"] == pytest.approx(direct, abs=1e-9)
        assert 16 <= meta["structure"]["n_atoms"] <= 32
        assert meta["structure"]["composition_error"] <= 0.04
        assert meta["cost_unit"] == "cpu_seconds" and meta["cost"] > 0
        assert meta["wall_seconds"] > 0
        assert trial.measurement.units == {"mixing_energy": "eV/atom"}


def test_the_chgnet_cantor_campaign_runs_to_budget_and_agrees_with_chgnet(
    tmp_path: Path,
) -> None:
    require_chgnet()
    import warnings

    from chgnet.model import CHGNet
    from pymatgen.io.vasp import Poscar

    db, trials = run_example("dft-chgnet-cantor", tmp_path)
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 6
    assert check_invariants(db, "dft-chgnet-cantor") == []
    dirs = job_dirs(tmp_path / "dft-jobs")
    assert len(dirs) == 6 + 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CHGNet.load(verbose=False)
        for trial in trials:
            meta = trial.measurement.metadata
            job = Path(meta["job"]["directory"])
            final = Poscar.from_file(job / "CONTCAR").structure
            assert set(final.composition.get_el_amt_dict()) <= {
                "Fe",
                "Co",
                "Cr",
                "Mn",
                "Ni",
            }
            predicted = float(model.predict_structure(final)["e"])  # eV/atom
            assert meta["energy_per_atom"] == pytest.approx(predicted, abs=2e-3)
            assert meta["calculator"] == "chgnet" and meta["details"]["steps"] <= 5
    for directory in dirs:
        Poscar.from_file(directory / "POSCAR")
        Incar.from_file(directory / "INCAR")
        Kpoints.from_file(directory / "KPOINTS")


def test_a_dft_campaign_stops_when_its_cost_budget_is_spent(tmp_path: Path) -> None:
    """Local EMT jobs record their CPU seconds; with `budget.cost` smaller than
    one job, the first batch (proposed before any cost was known) runs to its
    end, nothing more is proposed, and the campaign is completed."""
    import yaml

    from loop.campaign_state import CostSpent
    from loop.records import CampaignStatus

    data = yaml.safe_load((CAMPAIGNS / "dft-emt-cu-ni-pd.yaml").read_text())
    data["budget"] = {"experiments": 8, "cost": 1e-6}
    data["adapter"]["supercell"] = {"min_atoms": 4, "max_atoms": 16, "tolerance": 0.07}
    _, store, trials = run_to_cost_budget(data, tmp_path)
    assert store.get_campaign(data["name"]).status == CampaignStatus.COMPLETED
    # one batch of two, both measured; the experiment budget of 8 was not reached
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 2
    assert CostSpent.of(trials, store.attempt_costs(data["name"])).spent > 1e-6
    store.engine.dispose()


def test_a_campaign_screens_with_the_emt_simulator_before_dft_jobs(
    tmp_path: Path,
) -> None:
    """Issue 17: the EMT simulator (inline, cost 1) as a screen before local DFT
    jobs (cost 20) in one campaign: the driver keeps the jobs' slots filled,
    each job directory belongs to a target trial, each evaluation recorded its
    fidelity and cost (the job's own CPU seconds kept as `adapter_cost`), and
    the campaign stops at the cost budget."""
    import yaml

    data = yaml.safe_load((CAMPAIGNS / "dft-emt-cu-ni-pd.yaml").read_text())
    dft = data.pop("adapter")
    dft["supercell"] = {"min_atoms": 4, "max_atoms": 16, "tolerance": 0.07}
    data["name"] = "screened-dft"
    data["fidelities"] = [
        {
            "name": "screen",
            "cost": 1,
            "adapter": {
                "type": "simulator",
                "function": "emt-alloy",
                "options": {"supercell": 2},
            },
        },
        {"name": "dft", "cost": 20, "adapter": dft},
    ]
    data["strategy"].pop("engine")
    data["budget"] = {"experiments": 40, "cost": 70}
    db, store, trials = run_to_cost_budget(data, tmp_path)
    store.engine.dispose()
    assert all(t.status == TrialStatus.COMPLETED for t in trials)
    at = {
        level: [t for t in trials if t.parameters["fidelity"] == level]
        for level in ("screen", "dft")
    }
    assert at["screen"] and at["dft"]
    for t in trials:
        assert t.measurement is not None
        meta = t.measurement.metadata
        assert meta["fidelity"] == t.parameters["fidelity"]
        assert meta["cost"] == (1.0 if meta["fidelity"] == "screen" else 20.0)
    # DFT jobs ran for the dft trials only, and recorded their own cost
    trial_dirs = [d for d in job_dirs(tmp_path / "dft-jobs") if "trial-" in str(d)]
    assert sorted(d.parent.name for d in trial_dirs) == sorted(
        f"trial-{t.id:05d}" for t in at["dft"]
    )
    assert all(t.measurement.metadata["adapter_cost"] > 0 for t in at["dft"])
    spent = sum(t.measurement.metadata["cost"] for t in trials)
    assert spent >= 70
    assert check_invariants(db, "screened-dft") == []
