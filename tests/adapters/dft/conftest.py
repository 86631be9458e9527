"""Fixtures of the DFT adapter tests (helpers in dft_helpers.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dft_helpers import FAKESLURM, dft_spec


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory per test module with the Cu, Ni, Pd EMT references done.

    Computed once here, so that tests whose job command is not a calculation
    (`sleep 60`, `exit 3`) only affect their trial jobs, in any test order.
    """
    from adapters.dft.jobs import backend
    from adapters.dft.references import References

    path = tmp_path_factory.mktemp("dft-work")
    config = dft_spec(path).adapter_config()
    References(config, path, backend("local")).ensure(["Cu", "Ni", "Pd"])
    return path


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake sbatch/squeue/sacct/scancel first on PATH; returns their state dir."""
    state = tmp_path / "slurm"
    state.mkdir()
    monkeypatch.setenv("FAKESLURM_DIR", str(state))
    monkeypatch.setenv("PATH", f"{FAKESLURM}{os.pathsep}{os.environ['PATH']}")
    return state
