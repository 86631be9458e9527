"""The DFT adapter: a proposed alloy becomes a structure, a job, and a measurement.

`evaluate(request)` does what a careful computational scientist does for one
trial: compute (once) the pure elements' references, build the solid solution
(`structures.py`), write the job directory (`inputs.py`), submit the job
unless the scheduler has it already (`lifecycle.py`, `jobs.py`), wait for it,
parse it (`parse.py`) and turn energies into the campaign's objectives.

Jobs outlive the engine. The adapter is re-run safe: after a crash `loop
resume` re-offers an unfinished trial as its next attempt, and `evaluate`
then finds the job of the earlier attempt in the trial's directory and
collects it instead of submitting another (see `_job`).

Parallel jobs: the adapter declares `max_in_flight` (its `max_concurrent_jobs`),
so the driver keeps that many evaluations running (on threads of the driver,
which only wait on jobs, or on Dask workers) and proposes a new trial, with the
running ones as pending points, as soon as one ends. One lock file per slot
also caps the campaign's jobs, references included, whoever runs them.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from adapters.dft import lifecycle
from adapters.dft.config import OBJECTIVES, DFTConfig, check
from adapters.dft.hull import EntriesError
from adapters.dft.inputs import write_job
from adapters.dft.jobs import ACTIVE, BackendError, backend
from adapters.dft.parse import Outcome, ParseError, parse
from adapters.dft.references import Reference, ReferenceError, References
from adapters.dft.structures import CompositionError, SolidSolution, solid_solution
from adapters.simulator.emt import atomic_fractions
from loop.errors import Problem
from loop.ports import AdapterClass, EvaluationRequest, EvaluationResult, JobAdapter

if TYPE_CHECKING:
    from loop.spec import CampaignSpec

__all__ = ["DFTAdapter", "DFTConfig"]

#: Job outcomes worth another attempt: the scheduler lost the job.
RETRYABLE = ("vanished",)


class MismatchError(Exception):
    """A trial directory was made for another configuration."""


def job_name(campaign: str, trial_id: int, attempt: int) -> str:
    """The scheduler name of a trial attempt's job, found again after a crash."""
    return f"loop-{safe(campaign)}-t{trial_id}-a{attempt}"


def safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


class DFTAdapter:
    """Push-mode adapter over a job scheduler (local processes or SLURM)."""

    Config = DFTConfig
    #: Re-running an attempt finds its job again; nothing physical is made.
    rerun_safe: ClassVar[bool] = True

    def __init__(self, config: DFTConfig, spec: CampaignSpec) -> None:
        self.config = config
        comp = spec.space.composition
        self.basis = comp.basis if comp else "atomic"
        self.total = comp.total if comp else 1.0
        # resolved once, in the driver's directory, for every worker
        self.work = config.work_path()
        self._stop = threading.Event()

    @property
    def max_in_flight(self) -> int:
        """How many evaluations the driver should keep running at once."""
        return self.config.max_concurrent_jobs

    def close(self) -> None:
        """The driver is leaving: evaluations stop waiting (their jobs run on)."""
        self._stop.set()

    def __getstate__(self) -> dict[str, Any]:
        # sent to Dask workers: an Event does not pickle, and a worker's own
        # evaluations end with the worker
        state = self.__dict__.copy()
        del state["_stop"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stop = threading.Event()

    @staticmethod
    def check(config: DFTConfig, spec: CampaignSpec) -> list[Problem]:
        return check(config, spec)

    def trial_directory(self, campaign: str, trial_id: int) -> Path:
        return self.work / safe(campaign) / f"trial-{trial_id:05d}"

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        cfg = self.config
        jobs = backend(cfg.backend)
        try:
            fractions = self._fractions(request.composition)
            slots = self.work / safe(request.campaign) / "slots"
            refs = References(cfg, self.work, jobs).ensure(
                sorted(fractions), slots, cfg.max_concurrent_jobs, self._stop
            )
            parameters = {
                el: cfg.lattice_parameters.get(el, refs[el].lattice_parameter)
                for el in fractions
            }
            built = solid_solution(
                fractions,
                parameters,
                lattice=cfg.lattice,
                max_atoms=cfg.supercell.max_atoms,
                min_atoms=cfg.supercell.min_atoms,
                tolerance=cfg.supercell.tolerance,
                ordering=cfg.ordering,
                sqs_trials=cfg.sqs_trials,
                seed=request.seed,
            )
            with lifecycle.slot(
                slots, cfg.max_concurrent_jobs, cfg.poll_seconds, self._stop
            ):
                job = self._job(request, built, fractions, jobs)
                status = lifecycle.wait(
                    job,
                    jobs,
                    poll_seconds=cfg.poll_seconds,
                    vanish_after=cfg.vanish_after,
                    stop=self._stop,
                )
            record = job.read()
            if status.state != "completed":
                return self._failed(
                    job,
                    f"job {record['name']} ({record.get('job_id')}) ended "
                    f"{status.state}: {status.reason or 'no reason given'}",
                    retryable=status.state in RETRYABLE,
                )
            try:
                outcome = parse(job.directory)
            except ParseError as exc:
                return self._failed(job, f"job {record['name']}: {exc}")
            result = self._result(request, job, built, outcome, refs, fractions)
            job.note(reported="result", collections=record.get("collections", 0) + 1)
            return result
        except (CompositionError, ReferenceError, MismatchError, EntriesError) as exc:
            return EvaluationResult(failure=str(exc))
        except BackendError as exc:
            return EvaluationResult(failure=f"scheduler: {exc}", retryable=True)
        except Exception as exc:  # an evaluation error is a failed trial, not a crash
            return EvaluationResult(
                failure=f"dft adapter raised {type(exc).__name__}: {exc}",
                metadata={"traceback": traceback.format_exc(limit=6)},
            )

    def cancel(self, campaign: str, trial_id: int) -> list[str]:
        """Cancel every job of the trial still queued or running; their names."""
        jobs = backend(self.config.backend)
        cancelled = []
        for directory in sorted(
            self.trial_directory(campaign, trial_id).glob("attempt-*")
        ):
            job = lifecycle.Job(directory)
            record = job.read()
            if record["state"] in ACTIVE or record["state"] == "submitted":
                jobs.cancel(directory, str(record["job_id"]))
                job.note(state="cancelled", reason="cancelled by loop")
                cancelled.append(record["name"])
        return cancelled

    # ------------------------------------------------------------ internals
    def _fractions(self, composition: dict[str, float]) -> dict[str, float]:
        given = {el: v / self.total for el, v in composition.items() if v > 0}
        return atomic_fractions(given, self.basis)

    def _fingerprint(self, fractions: dict[str, float], seed: int) -> str:
        cfg = self.config
        key = {
            "composition": {el: round(f, 9) for el, f in sorted(fractions.items())},
            "seed": seed,
            "calculator": cfg.calculator,
            "lattice": cfg.lattice,
            "ordering": cfg.ordering,
            "supercell": cfg.supercell.model_dump(),
            "relax": cfg.relax.model_dump(),
        }
        text = json.dumps(key, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _job(
        self,
        request: EvaluationRequest,
        built: SolidSolution,
        fractions: dict[str, float],
        jobs: Any,
    ) -> lifecycle.Job:
        """The job of this trial to follow: an earlier attempt's, or a new one.

        After a crash the trial comes back as its next attempt. The newest job
        of the trial is adopted unless a failure of it has already been handed
        to the driver (then the driver chose to retry, and a new job runs).
        """
        fingerprint = self._fingerprint(fractions, request.seed)
        trial_dir = self.trial_directory(request.campaign, request.trial_id)
        earlier = sorted(
            (lifecycle.Job(d) for d in trial_dir.glob("attempt-*") if d.is_dir()),
            key=lambda j: j.attempt,
        )
        earlier = [j for j in earlier if j.attempt <= request.attempt]
        if earlier:
            newest = earlier[-1]
            record = newest.read()
            if record.get("fingerprint") != fingerprint:
                raise MismatchError(
                    f"{trial_dir} holds jobs of another configuration (a campaign "
                    "re-created under the same name?); choose another "
                    "adapter.work_dir or move that directory away"
                )
            if record.get("reported") != "failure" or newest.attempt == request.attempt:
                lifecycle.ensure_submitted(newest, jobs)
                return newest
        directory = trial_dir / f"attempt-{request.attempt}"
        write_job(
            directory,
            built.structure,
            self.config,
            name=job_name(request.campaign, request.trial_id, request.attempt),
            campaign=request.campaign,
            label=f"trial {request.trial_id}, attempt {request.attempt}",
            relax=self.config.relax.mode,
            record={
                "kind": "trial",
                "campaign": request.campaign,
                "trial_id": request.trial_id,
                "attempt": request.attempt,
                "fingerprint": fingerprint,
                "composition": fractions,
                "structure": _structure_meta(built),
            },
        )
        job = lifecycle.Job(directory)
        lifecycle.ensure_submitted(job, jobs)
        return job

    def _failed(
        self, job: lifecycle.Job, reason: str, retryable: bool = False
    ) -> EvaluationResult:
        record = job.note(reported="failure")
        return EvaluationResult(
            failure=reason,
            retryable=retryable,
            # a failed job still used the machine: its time and cost are kept
            metadata={
                "job": _job_meta(job, record),
                "wall_seconds": record.get("elapsed"),
                "cost": _cost(self.config.unit, None, record, self.config),
                "cost_unit": self.config.unit,
            },
        )

    def _above_hull(
        self,
        counts: dict[str, float],
        energy_per_atom: float,
        refs: dict[str, Reference],
    ) -> tuple[float, dict[str, Any]]:
        """eV/atom above the hull of the reference entries and the campaign's own
        elemental references (`adapters.dft.hull`), and what it was measured on."""
        from adapters.dft.hull import energy_above_hull, load_entries, trial_entry

        assert self.config.references is not None  # checked with the campaign
        known = load_entries(self.config.references.path, self.config.calculator)
        own = [trial_entry({el: 1.0}, refs[el].energy_per_atom) for el in counts]
        entry = trial_entry(counts, energy_per_atom)
        value = energy_above_hull(known, own, entry)
        elements = {str(el) for el in entry.composition.elements}
        return value, {
            "entries": known.source,
            "in_system": len(known.in_system(elements)),
            "rejected": known.rejected,
        }

    def _result(
        self,
        request: EvaluationRequest,
        job: lifecycle.Job,
        built: SolidSolution,
        outcome: Outcome,
        refs: dict[str, Reference],
        fractions: dict[str, float],
    ) -> EvaluationResult:
        counts = outcome.structure.composition.get_el_amt_dict()
        n = sum(counts.values())
        reference = sum(k / n * refs[el].energy_per_atom for el, k in counts.items())
        mixing = outcome.energy_per_atom - reference
        available = {
            "energy_per_atom": outcome.energy_per_atom,
            "mixing_energy": mixing,
            "formation_energy": mixing,
            "volume_per_atom": outcome.volume_per_atom,
        }
        hull: dict[str, Any] = {}
        if "energy_above_hull" in request.objectives:
            available["energy_above_hull"], hull = self._above_hull(
                counts, outcome.energy_per_atom, refs
            )
        values = {name: float(available[name]) for name in request.objectives}
        record = job.read()
        wall = outcome.elapsed if outcome.elapsed is not None else record.get("elapsed")
        cost = _cost(self.config.unit, outcome, record, self.config)
        submitted = record.get("submitted_at") or record.get("prepared_at")
        metadata = {
            "job": _job_meta(job, record),
            "adopted": job.attempt != request.attempt,
            "calculator": outcome.calculator,
            "source": outcome.source,
            "converged": outcome.converged,
            "structure": _structure_meta(built),
            "requested": fractions,
            "references": {el: refs[el].energy_per_atom for el in sorted(refs)},
            "energy_per_atom": outcome.energy_per_atom,
            "wall_seconds": wall,
            "turnaround_seconds": time.time() - submitted if submitted else None,
            "cost": cost,
            "cost_unit": self.config.unit,
            "details": outcome.details,
        }
        if hull:
            metadata["hull"] = hull
        return EvaluationResult(
            values=values,
            units={name: OBJECTIVES[name] for name in values},
            metadata=metadata,
        )


#: A push adapter over long jobs (loop.ports); mypy checks the class against
#: the protocols.
_implements: AdapterClass[DFTConfig, JobAdapter] = DFTAdapter


def _structure_meta(built: SolidSolution) -> dict[str, Any]:
    return {
        "lattice": built.lattice,
        "repeats": list(built.repeats),
        "n_atoms": built.n_atoms,
        "counts": built.counts,
        "realised": built.realised,
        "composition_error": built.error,
        "lattice_parameter": built.lattice_parameter,
        "seed": built.seed,
        "sro": built.sro,
    }


def _job_meta(job: lifecycle.Job, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": record["name"],
        "id": record.get("job_id"),
        "backend": record.get("backend"),
        "directory": str(job.directory),
        "attempt": job.attempt,
        "state": record.get("state"),
        "submissions": record.get("submissions", 0),
        "found_by_name": record.get("found_by_name", False),
        "history": record.get("history", []),
    }


def _cost(
    unit: str, outcome: Outcome | None, record: dict[str, Any], config: DFTConfig
) -> float | None:
    """The job's cost in *unit*: CPU seconds, or node hours (elapsed x nodes)."""
    elapsed = record.get("elapsed") or (outcome.elapsed if outcome else None)
    if unit == "cpu_seconds":
        cpu = (outcome.cpu_seconds if outcome else None) or record.get("cpu_seconds")
        if cpu is None and elapsed is not None:
            cpu = elapsed * config.slurm.ntasks * config.slurm.cpus_per_task
        return None if cpu is None else float(cpu)
    if elapsed is None:
        return None
    nodes = record.get("nodes") or config.slurm.nodes
    return float(elapsed) * nodes / 3600.0
