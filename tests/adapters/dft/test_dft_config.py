"""Validation of the `type: dft` adapter block against the campaign."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dft_helpers import require_chgnet

from loop.errors import SpecError
from loop.spec import load_path, validate

ROOT = Path(__file__).resolve().parents[3]


def campaign(components: list[str], adapter: dict[str, Any], **top: Any) -> dict:
    return {
        "schema_version": 1,
        "name": "dft-config",
        "space": {"composition": {"components": components}},
        "objectives": [{"name": "mixing_energy", "direction": "minimize"}],
        "budget": {"experiments": 4},
        "adapter": {"type": "dft", **adapter},
        **top,
    }


def problems(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        validate(data)
    return [(p.path, p.message) for p in caught.value.problems]


@pytest.mark.parametrize("name", ["dft-emt-cu-ni-pd.yaml", "dft-chgnet-cantor.yaml"])
def test_the_example_campaigns_validate(name: str) -> None:
    if "chgnet" in name:
        require_chgnet()
    spec = load_path(ROOT / "campaigns" / name)
    config = spec.adapter_config()
    # two jobs in flight from the driver itself, no cluster needed
    assert config.max_concurrent_jobs == 2 and spec.executor.type == "local"


def test_defaults_and_durations() -> None:
    spec = validate(campaign(["Cu", "Ni"], {"time_limit": "2h", "vanish_after": "90s"}))
    config = spec.adapter_config()
    assert (config.time_limit, config.vanish_after) == (7200.0, 90.0)
    assert (config.backend, config.calculator, config.lattice) == (
        "local",
        "emt",
        "fcc",
    )
    assert config.unit == "cpu_seconds" and config.chosen_input_set == "MPStaticSet"


@pytest.mark.parametrize(
    ("components", "adapter", "top", "path", "words"),
    [
        pytest.param(
            ["Fe", "Cu"],
            {},
            {},
            "space.composition.components",
            "EMT potential has no parameters for Fe",
            id="emt-elements",
        ),
        pytest.param(
            ["Cu", "Ni"],
            {"calculator": "vasp"},
            {},
            "adapter.calculator",
            "VASP runs through a scheduler",
            id="vasp-local",
        ),
        pytest.param(
            ["Cu", "Ni"],
            {"lattice_parameters": {"Au": 4.08}},
            {},
            "adapter.lattice_parameters",
            "Au not among the components",
            id="lattice-parameters",
        ),
        pytest.param(
            ["Cu", "Ni"],
            {"slurm": {"template": "/nonexistent.sh"}},
            {},
            "adapter.slurm.template",
            "not found",
            id="template",
        ),
        pytest.param(
            ["Cu", "Ni"],
            {},
            {"objectives": [{"name": "band_gap", "direction": "maximize"}]},
            "objectives.0.name",
            "does not produce 'band_gap'",
            id="objective",
        ),
        pytest.param(
            ["Cu", "Ni"],
            {},
            {
                "objectives": [
                    {
                        "name": "mixing_energy",
                        "direction": "minimize",
                        "unit": "meV/atom",
                    }
                ]
            },
            "objectives.0.unit",
            "produced in eV/atom",
            id="unit",
        ),
    ],
)
def test_problems_name_the_key_and_the_fix(
    components: list[str], adapter: dict, top: dict, path: str, words: str
) -> None:
    found = problems(campaign(components, adapter, **top))
    assert any(p == path and words in m for p, m in found), found


def test_a_volume_basis_and_parameters_are_refused() -> None:
    data = campaign(["Cu", "Ni"], {})
    data["space"]["composition"]["basis"] = "volume"
    data["space"]["parameters"] = [
        {"name": "T", "type": "continuous", "bounds": [1, 2]}
    ]
    paths = [p for p, _ in problems(data)]
    assert "space.composition.basis" in paths and "space.parameters" in paths


def test_unknown_keys_and_bad_supercells_are_refused() -> None:
    found = problems(
        campaign(
            ["Cu", "Ni"],
            {"supercell": {"min_atoms": 64, "max_atoms": 32}, "queue": "x"},
        )
    )
    assert any("min_atoms 64 is more than max_atoms 32" in m for _, m in found), found
    assert any("unknown key 'queue'" in m for _, m in found), found
