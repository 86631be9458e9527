"""Helpers of the DFT adapter tests: small campaigns over Cu-Ni-Pd with EMT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.dft import DFTAdapter
from loop.ports import EvaluationRequest
from loop.spec import CampaignSpec, validate
from tests.support import unavailable

HERE = Path(__file__).resolve().parent
FAKESLURM = HERE / "fakeslurm"


def dft_spec(
    work_dir: Path,
    name: str = "dft-test",
    campaign: dict[str, Any] | None = None,
    **adapter: Any,
) -> CampaignSpec:
    """A Cu-Ni-Pd campaign with the dft adapter (local EMT, 4-16 atoms, fast polls).

    *campaign* replaces top-level keys (strategy, budget, ...); the rest of the
    keywords go into the adapter block.
    """
    block = {
        "type": "dft",
        "work_dir": str(work_dir),
        "poll_seconds": 0.05,
        "vanish_after": 1,
        "supercell": {"min_atoms": 4, "max_atoms": 16, "tolerance": 0.07},
        **adapter,
    }
    return validate(
        {
            "schema_version": 1,
            "name": name,
            "space": {"composition": {"components": ["Cu", "Ni", "Pd"]}},
            "objectives": [
                {"name": "mixing_energy", "direction": "minimize", "unit": "eV/atom"},
                {"name": "energy_per_atom", "direction": "minimize"},
                {"name": "volume_per_atom", "direction": "minimize"},
            ],
            "strategy": {"acquisition": "qLogNEHVI"},
            "budget": {"experiments": 4},
            "adapter": block,
            **(campaign or {}),
        }
    )


def request(
    spec: CampaignSpec, trial_id: int = 1, attempt: int = 1, **composition: float
) -> EvaluationRequest:
    return EvaluationRequest(
        campaign=spec.name,
        trial_id=trial_id,
        attempt=attempt,
        composition=composition or {"Cu": 0.5, "Ni": 0.25, "Pd": 0.25},
        objectives=[o.name for o in spec.objectives],
        seed=spec.seed,
    )


def adapter_for(spec: CampaignSpec) -> DFTAdapter:
    return DFTAdapter(spec.adapter_config(), spec)


def require_chgnet() -> None:
    """CHGNet is an extra: its absence skips locally and fails in CI."""
    try:
        import chgnet  # noqa: F401
    except ImportError:
        unavailable(
            "the CHGNet tests", "chgnet is not installed", "pip install -e '.[chgnet]'"
        )


def job_dirs(work: Path) -> list[Path]:
    """Every job directory (references and trials) under *work*."""
    return sorted(p.parent for p in work.rglob("job.json"))


def max_in_flight(directories: list[Path]) -> int:
    """Most jobs between submission and their end at one time, from their histories."""
    events = []
    for directory in directories:
        history = dict(json.loads((directory / "job.json").read_text())["history"])
        end = next(
            history[s] for s in ("completed", "failed", "vanished") if s in history
        )
        events += [(history["submitted"], 1), (end, -1)]
    running = most = 0
    for _, step in sorted(events):  # an end sorts before a start at the same time
        running += step
        most = max(most, running)
    return most
