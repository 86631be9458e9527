"""The `adapter:` block of `type: dft`, and its cross-checks against a campaign."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.simulator.emt import EMT_ELEMENTS
from loop.durations import Duration
from loop.errors import Problem

if TYPE_CHECKING:
    from loop.spec import CampaignSpec

#: Objective name -> unit. `formation_energy` is `mixing_energy` under another name:
#: both are taken against the pure elements on the campaign's lattice.
OBJECTIVES: dict[str, str] = {
    "energy_per_atom": "eV/atom",
    "mixing_energy": "eV/atom",
    "formation_energy": "eV/atom",
    "volume_per_atom": "Å^3/atom",
    "energy_above_hull": "eV/atom",
}
#: Calculators the local job runner (`python -m adapters.dft.run_local`) has.
LOCAL_CALCULATORS = ("emt", "chgnet")
#: What a job costs, by default, per backend.
DEFAULT_COST_UNIT = {"local": "cpu_seconds", "slurm": "node_hours"}


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Supercell(_Block):
    """How big a supercell may be, and how exactly it must hold the composition."""

    max_atoms: int = Field(32, ge=1, le=512)
    min_atoms: int = Field(
        16, ge=1, le=512, description="smaller cells are too ordered to be random"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Supercell:
        if self.min_atoms > self.max_atoms:
            raise ValueError(
                f"min_atoms {self.min_atoms} is more than max_atoms {self.max_atoms}"
            )
        return self

    tolerance: float = Field(
        0.02,
        gt=0,
        le=0.5,
        description="largest |realised - requested| atomic fraction allowed",
    )


class Relax(_Block):
    """Relaxation of each trial's structure (local calculators; VASP: via the INCAR)."""

    mode: Literal["none", "positions", "full"] = "none"
    steps: int = Field(20, ge=1, le=1000)
    fmax: float = Field(0.05, gt=0, description="eV/Å")


class Slurm(_Block):
    """Scheduler settings written into each job script's #SBATCH lines."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    nodes: int = Field(1, ge=1)
    ntasks: int = Field(1, ge=1)
    cpus_per_task: int = Field(1, ge=1)
    extra: list[str] = Field(
        default_factory=list, description="more #SBATCH options, e.g. '--mem=4G'"
    )
    setup: list[str] = Field(
        default_factory=list,
        description="shell lines before the command, e.g. 'module load vasp/6.4'",
    )
    command: str | None = Field(
        None,
        description="what the job runs; default: 'srun vasp_std' for VASP, the local "
        "runner for emt/chgnet",
    )
    template: str | None = Field(
        None, description="a job script template file (string.Template, $keys)"
    )


class HullReferences(_Block):
    """Known phases an `energy_above_hull` is measured against (`adapters.dft.hull`)."""

    entries: str = Field(
        min_length=1,
        description="computed entries: monty JSON of pymatgen ComputedEntry objects "
        "(Materials Project, OQMD, AFLOW exports) or a CSV of formula, "
        "energy_per_atom[, calculator]; relative to the directory loop runs in",
    )

    @property
    def path(self) -> Path:
        return Path(self.entries).expanduser()


class DFTConfig(_Block):
    """The `adapter:` block for `type: dft`."""

    type: Literal["dft"]
    backend: Literal["local", "slurm"] = "local"
    calculator: Literal["emt", "chgnet", "vasp"] = "emt"
    lattice: Literal["fcc", "bcc"] = "fcc"
    ordering: Literal["random", "sqs"] = "random"
    sqs_trials: int = Field(200, ge=1, le=100_000)
    supercell: Supercell = Field(default_factory=Supercell)
    lattice_parameters: dict[str, float] = Field(
        default_factory=dict,
        description="elemental lattice parameters (Å) to use in Vegard's law instead "
        "of the calculator's relaxed references",
    )
    relax: Relax = Field(default_factory=Relax)
    input_set: Literal["MPRelaxSet", "MPStaticSet"] | None = None
    incar: dict[str, Any] = Field(
        default_factory=dict, description="INCAR settings over the input set's"
    )
    work_dir: str = "dft-jobs"
    max_concurrent_jobs: int = Field(1, ge=1, le=4096)
    poll_seconds: float = Field(5.0, gt=0, le=3600)
    time_limit: Duration = Field(
        3600.0, gt=0, description="per job (seconds, or '90m', '2h', 'PT2H')"
    )
    vanish_after: Duration = Field(
        120.0,
        ge=0,
        description="a job the scheduler no longer knows for this long is lost",
    )
    threads: int = Field(1, ge=1, le=256, description="OMP threads of a local job")
    cost_unit: Literal["cpu_seconds", "node_hours"] | None = None
    slurm: Slurm = Field(default_factory=Slurm)
    references: HullReferences | None = None

    @property
    def unit(self) -> str:
        """The cost unit results are charged in."""
        return self.cost_unit or DEFAULT_COST_UNIT[self.backend]

    @property
    def chosen_input_set(self) -> str:
        if self.input_set:
            return self.input_set
        return "MPStaticSet" if self.relax.mode == "none" else "MPRelaxSet"

    def work_path(self) -> Path:
        return Path(self.work_dir).expanduser().resolve()


def check(config: DFTConfig, spec: CampaignSpec) -> list[Problem]:
    """Problems that stop the DFT adapter from serving *spec* (all at once)."""
    problems = _objective_problems(spec)
    comp = spec.space.composition
    if comp is None or comp.kind != "element":
        return problems + [
            Problem(
                "space.composition",
                "the dft adapter needs a composition of chemical elements",
                "list element symbols under space.composition.components",
            )
        ]
    if comp.basis == "volume":
        problems.append(
            Problem(
                "space.composition.basis",
                "the dft adapter cannot turn volume fractions into atoms",
                "use basis: atomic (or mass, converted with atomic masses)",
            )
        )
    if spec.space.parameters:
        problems.append(
            Problem(
                "space.parameters",
                "a DFT calculation depends on the composition only",
                "remove the process parameters, or use another adapter",
            )
        )
    problems += _calculator_problems(config, comp.components)
    unknown = sorted(set(config.lattice_parameters) - set(comp.components))
    if unknown:
        problems.append(
            Problem(
                "adapter.lattice_parameters",
                f"{', '.join(unknown)} not among the components",
                f"components: {', '.join(comp.components)}",
            )
        )
    problems += _hull_problems(config, spec)
    template = config.slurm.template
    if template and not Path(template).expanduser().is_file():
        problems.append(
            Problem(
                "adapter.slurm.template",
                f"job script template {template} not found",
                "give the path of a file (relative to the directory loop runs in)",
            )
        )
    return problems


def _hull_problems(config: DFTConfig, spec: CampaignSpec) -> list[Problem]:
    """`energy_above_hull` needs reference entries comparable with the calculator."""
    wanted = any(o.name == "energy_above_hull" for o in spec.objectives)
    if config.references is None:
        if not wanted:
            return []
        return [
            Problem(
                "adapter.references",
                "energy_above_hull needs known phases to compare with",
                "add `references: {entries: FILE}`: computed entries exported from "
                "Materials Project, OQMD or AFLOW (monty JSON), or a CSV of formula, "
                "energy_per_atom",
            )
        ]
    from adapters.dft.hull import EntriesError, load_entries

    try:
        load_entries(config.references.path, config.calculator)
    except EntriesError as exc:
        return [
            Problem(
                "adapter.references.entries",
                str(exc),
                "give entries computed with a calculator comparable with "
                f"`calculator: {config.calculator}` (adapters/dft/hull.py says which)",
            )
        ]
    return []


def _objective_problems(spec: CampaignSpec) -> list[Problem]:
    problems = []
    for i, objective in enumerate(spec.objectives):
        unit = OBJECTIVES.get(objective.name)
        if unit is None:
            problems.append(
                Problem(
                    f"objectives.{i}.name",
                    f"the dft adapter does not produce '{objective.name}'",
                    f"its outputs: {', '.join(OBJECTIVES)}",
                )
            )
        elif objective.unit and objective.unit != unit:
            problems.append(
                Problem(
                    f"objectives.{i}.unit",
                    f"'{objective.name}' is produced in {unit}, not {objective.unit}",
                    f"set unit: {unit}",
                )
            )
    return problems


def _calculator_problems(
    config: DFTConfig, components: tuple[str, ...]
) -> list[Problem]:
    if config.calculator == "vasp" and config.backend == "local":
        return [
            Problem(
                "adapter.calculator",
                "VASP runs through a scheduler, not the local job runner",
                "set backend: slurm (see docs/how-to/run-a-dft-campaign.md), or "
                f"calculator: {' or '.join(LOCAL_CALCULATORS)}",
            )
        ]
    if config.calculator == "emt":
        unsupported = [c for c in components if c not in EMT_ELEMENTS]
        if unsupported:
            return [
                Problem(
                    "space.composition.components",
                    f"ASE's EMT potential has no parameters for {', '.join(unsupported)}",
                    f"use only {', '.join(EMT_ELEMENTS)} with calculator: emt, or "
                    "calculator: chgnet",
                )
            ]
    if config.calculator == "chgnet" and importlib.util.find_spec("chgnet") is None:
        return [
            Problem(
                "adapter.calculator",
                "calculator chgnet needs the chgnet package, which is not installed",
                "pip install 'loop-campaigns[chgnet]' (or pip install chgnet)",
            )
        ]
    return []
