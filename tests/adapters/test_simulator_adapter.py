"""The simulator adapter's contract: exact or seeded-noisy values, failures instead
of exceptions, units, spec cross-checks and discovery through the entry point."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from adapters.simulator import SimulatorAdapter, SimulatorConfig
from adapters.simulator.functions import function_names
from loop.errors import LoopError, SpecError, UnknownNameError
from loop.plugins import adapter_class, adapter_names
from loop.ports import EvaluationRequest, EvaluationResult
from loop.spec import CampaignSpec, loads, validate

MOLALITY = "LiPF6_molality"
BLEND = {"EC": 0.3, "EMC": 0.4, "DMC": 0.3}


def electrolyte_data(noise: float = 0.0, objectives: list[dict] | None = None) -> dict:
    return {
        "schema_version": 1,
        "name": "carbonate",
        "space": {
            "composition": {
                "kind": "species",
                "basis": "mass",
                "components": ["EC", "EMC", "DMC"],
                "bounds": {"default": [0.0, 0.8]},
            },
            "parameters": [
                {
                    "name": MOLALITY,
                    "type": "continuous",
                    "bounds": [0.2, 2.5],
                    "unit": "mol/kg",
                }
            ],
        },
        "objectives": objectives
        or [{"name": "conductivity", "direction": "maximize", "unit": "mS/cm"}],
        "budget": {"experiments": 8},
        "adapter": {"type": "simulator", "function": "electrolyte", "noise": noise},
        "seed": 1,
    }


def make(data: dict) -> tuple[CampaignSpec, SimulatorAdapter]:
    spec = validate(data)
    return spec, SimulatorAdapter(spec.adapter_config(), spec)


def request(
    spec: CampaignSpec,
    composition: dict[str, float],
    parameters: dict[str, Any],
    trial_id: int = 1,
    attempt: int = 0,
    seed: int | None = None,
    campaign: str | None = None,
) -> EvaluationRequest:
    return EvaluationRequest(
        campaign=campaign or spec.name,
        trial_id=trial_id,
        attempt=attempt,
        composition=composition,
        parameters=parameters,
        objectives=[o.name for o in spec.objectives],
        seed=spec.seed if seed is None else seed,
    )


class _Stub:
    """Stands in for a simulator function: fixed outputs, or an exception."""

    def __init__(
        self, outputs: dict[str, Any] | None = None, error: Exception | None = None
    ):
        self.outputs = {"conductivity": "mS/cm"}
        self._values = outputs or {}
        self._error = error

    def __call__(self, fractions: dict[str, float], parameters: dict[str, Any]) -> dict:
        if self._error is not None:
            raise self._error
        return self._values


# --- values and noise


def test_noise_free_value_is_the_function_value_at_the_fractions(
    campaign_data: dict,
) -> None:
    # mixed-bumps has total 100: the request carries amounts, the function fractions.
    campaign_data["adapter"]["noise"] = 0.0
    spec, adapter = make(campaign_data)
    composition = {"A": 40.0, "B": 10.0, "C": 20.0, "D": 30.0}
    parameters = {"temperature": 520.0, "layers": 3, "route": "powder"}
    result = adapter.evaluate(request(spec, composition, parameters))
    assert result.failure is None
    expected = adapter.function({"A": 0.4, "B": 0.1, "C": 0.2, "D": 0.3}, parameters)[
        "y"
    ]
    assert result.values == {"y": expected}
    assert result.metadata["function"] == "simplex-bumps"
    assert result.metadata["noise"] == 0.0


def test_noisy_value_is_reproducible_for_the_same_attempt() -> None:
    spec, adapter = make(electrolyte_data(noise=0.05))
    req = request(spec, BLEND, {MOLALITY: 1.2}, trial_id=4, attempt=0)
    first = adapter.evaluate(req).values
    assert adapter.evaluate(req).values == first
    # A restarted process (fresh adapter) reproduces it too.
    assert make(electrolyte_data(noise=0.05))[1].evaluate(req).values == first
    exact = make(electrolyte_data(noise=0.0))[1].evaluate(req).values
    assert first != exact


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"attempt": 1}, id="next-attempt"),
        pytest.param({"trial_id": 5}, id="other-trial"),
        pytest.param({"seed": 2}, id="other-seed"),
        pytest.param({"campaign": "other"}, id="other-campaign"),
    ],
)
def test_noise_differs_between_attempts_trials_seeds_and_campaigns(
    change: dict,
) -> None:
    spec, adapter = make(electrolyte_data(noise=0.05))
    base = adapter.evaluate(request(spec, BLEND, {MOLALITY: 1.2}, trial_id=4)).values
    other = adapter.evaluate(
        request(spec, BLEND, {MOLALITY: 1.2}, **{"trial_id": 4, **change})
    ).values
    assert other["conductivity"] != base["conductivity"]


def test_noise_has_the_configured_standard_deviation() -> None:
    noise = 0.05
    spec, adapter = make(electrolyte_data(noise=noise))
    exact = make(electrolyte_data())[1].evaluate(request(spec, BLEND, {MOLALITY: 1.2}))
    truth = exact.values["conductivity"]
    n = 3000
    draws = np.array(
        [
            adapter.evaluate(request(spec, BLEND, {MOLALITY: 1.2}, trial_id=i)).values[
                "conductivity"
            ]
            - truth
            for i in range(n)
        ]
    )
    # Standard error of the sd is noise / sqrt(2n) ~ 1.3 %, of the mean noise / sqrt(n).
    assert np.std(draws, ddof=1) == pytest.approx(noise, rel=0.06)
    assert abs(np.mean(draws)) < 4 * noise / math.sqrt(n)
    assert len(set(draws.tolist())) == n


# --- failures


def test_function_that_raises_gives_a_failed_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, adapter = make(electrolyte_data())
    monkeypatch.setattr(
        adapter, "function", _Stub(error=ZeroDivisionError("salt ran out"))
    )
    result = adapter.evaluate(request(spec, BLEND, {MOLALITY: 1.0}))
    assert isinstance(result, EvaluationResult)
    assert result.values == {}
    assert "ZeroDivisionError" in result.failure and "salt ran out" in result.failure
    # The same inputs would fail again: not worth a retry.
    assert result.retryable is False


@pytest.mark.parametrize(
    "noise", [pytest.param(0.0, id="exact"), pytest.param(0.1, id="noisy")]
)
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(float("-inf"), id="-inf"),
    ],
)
def test_non_finite_output_gives_a_failed_result(
    monkeypatch: pytest.MonkeyPatch, bad: float, noise: float
) -> None:
    spec, adapter = make(electrolyte_data(noise=noise))
    monkeypatch.setattr(adapter, "function", _Stub({"conductivity": bad}))
    result = adapter.evaluate(request(spec, BLEND, {MOLALITY: 1.0}))
    assert result.values == {}
    assert result.failure is not None and "conductivity" in result.failure


@pytest.mark.parametrize(
    "outputs",
    [
        # What the electrolyte model really returns for a temperature below 0 K
        # (see test_simulator_analytic): (t / 298.15) ** 1.5 of a negative float.
        pytest.param({"conductivity": complex(0.0, 4.2)}, id="complex"),
        pytest.param({"conductivity": None}, id="none"),
        pytest.param({}, id="missing-output"),
    ],
)
def test_unusable_output_gives_a_failed_result_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, outputs: dict
) -> None:
    spec, adapter = make(electrolyte_data())
    monkeypatch.setattr(adapter, "function", _Stub(outputs))
    result = adapter.evaluate(request(spec, BLEND, {MOLALITY: 1.0}))
    assert result.values == {}
    assert result.failure is not None and "conductivity" in result.failure


# --- units and checks


def test_units_are_those_of_the_function_outputs() -> None:
    objectives = [
        {"name": "conductivity", "direction": "maximize"},
        {"name": "viscosity", "direction": "minimize"},
        {"name": "cost", "direction": "minimize", "unit": "USD/kg"},
    ]
    spec, adapter = make(electrolyte_data(objectives=objectives))
    result = adapter.evaluate(request(spec, BLEND, {MOLALITY: 1.0}))
    assert result.failure is None
    assert set(result.values) == {"conductivity", "viscosity", "cost"}
    assert result.units == {
        "conductivity": "mS/cm",
        "viscosity": "mPa s",
        "cost": "USD/kg",
    }


def test_emt_units() -> None:
    spec = loads(
        """
schema_version: 1
name: emt-units
space: {composition: {components: [Cu, Ni]}}
objectives:
  - {name: volume_per_atom, direction: minimize}
  - {name: mixing_energy, direction: minimize}
budget: {experiments: 4}
adapter: {type: simulator, function: emt-alloy, options: {supercell: 2}}
"""
    )
    adapter = SimulatorAdapter(spec.adapter_config(), spec)
    result = adapter.evaluate(request(spec, {"Cu": 0.5, "Ni": 0.5}, {}))
    assert result.units == {"volume_per_atom": "Å^3/atom", "mixing_energy": "eV/atom"}


def test_valid_campaigns_pass_the_adapter_check(campaign_data: dict) -> None:
    for data in (campaign_data, electrolyte_data(noise=0.05)):
        spec = validate(data)
        assert SimulatorAdapter.check(spec.adapter_config(), spec) == []


def test_objective_the_function_does_not_produce_is_reported() -> None:
    data = electrolyte_data(objectives=[{"name": "capacity", "direction": "maximize"}])
    with pytest.raises(SpecError) as caught:
        validate(data)
    [problem] = caught.value.problems
    assert problem.path == "objectives.0.name"
    assert "capacity" in problem.message
    for output in ("conductivity", "viscosity", "cost"):
        assert output in problem.hint


def test_objective_in_the_wrong_unit_is_reported() -> None:
    data = electrolyte_data(
        objectives=[{"name": "conductivity", "direction": "maximize", "unit": "S/m"}]
    )
    with pytest.raises(SpecError) as caught:
        validate(data)
    [problem] = caught.value.problems
    assert problem.path == "objectives.0.unit"
    assert "S/m" in problem.message and "mS/cm" in problem.message
    assert problem.hint == "set unit: mS/cm"


def test_unknown_function_is_reported_with_the_valid_names() -> None:
    data = electrolyte_data()
    data["adapter"]["function"] = "electrolite"
    with pytest.raises(SpecError) as caught:
        validate(data)
    [problem] = caught.value.problems
    assert problem.path == "adapter.function"
    assert "electrolite" in problem.message
    assert set(function_names()) >= {"electrolyte", "emt-alloy", "simplex-bumps"}
    for name in function_names():
        assert name in problem.hint


@pytest.mark.parametrize(
    ("function", "valid"),
    [
        pytest.param(
            "electrolyte",
            ["concentration", "temperature", "salt_price"],
            id="electrolyte",
        ),
        pytest.param("simplex-bumps", ["width"], id="simplex-bumps"),
        pytest.param(
            "emt-alloy", ["supercell", "relax_volume", "configurations"], id="emt-alloy"
        ),
    ],
)
def test_unknown_option_keys_are_rejected(
    campaign_data: dict, function: str, valid: list[str]
) -> None:
    if function == "electrolyte":
        data = electrolyte_data()
    elif function == "simplex-bumps":
        data = campaign_data
    else:
        data = {
            "schema_version": 1,
            "name": "emt",
            "space": {"composition": {"components": ["Cu", "Ni"]}},
            "objectives": [{"name": "mixing_energy", "direction": "minimize"}],
            "budget": {"experiments": 4},
            "adapter": {"type": "simulator", "function": "emt-alloy"},
        }
    good = validate(data)
    data["adapter"]["options"] = {"bogus": 1}
    with pytest.raises(SpecError) as caught:
        validate(data)
    [problem] = caught.value.problems
    assert problem.path == "adapter.options.bogus"
    for option in valid:
        assert option in problem.hint
    # Building the adapter directly with such a config fails loudly too.
    config = SimulatorConfig(type="simulator", function=function, options={"bogus": 1})
    with pytest.raises(LoopError):
        SimulatorAdapter(config, good)


def test_negative_noise_is_rejected() -> None:
    with pytest.raises(SpecError) as caught:
        validate(electrolyte_data(noise=-0.1))
    assert any("noise" in p.path + p.message for p in caught.value.problems)


# --- discovery


def test_simulator_is_found_through_the_entry_point() -> None:
    assert "simulator" in adapter_names()
    assert adapter_class("simulator") is SimulatorAdapter
    assert SimulatorAdapter.rerun_safe is True


def test_unknown_adapter_name_lists_the_installed_ones() -> None:
    with pytest.raises(UnknownNameError) as caught:
        adapter_class("robot-arm")
    assert "robot-arm" in caught.value.message
    assert "simulator" in caught.value.choices
    assert "simulator" in caught.value.hint


def test_failure_region_rules_must_match_the_kind_of_input(campaign_data: dict) -> None:
    from loop.errors import SpecError
    from loop.spec import validate as validate_spec

    campaign_data["adapter"]["failures"] = {"region": {"route": [0, 1]}}
    with pytest.raises(SpecError) as info:
        validate_spec(campaign_data)
    assert info.value.problems[0].path == "adapter.failures.region.route"
    campaign_data["adapter"]["failures"] = {"region": {"route": ["cast"], "A": [0, 30]}}
    assert validate_spec(campaign_data).adapter["failures"]["region"]["route"] == (
        "cast",
    )


# --- parameters the function reads


def test_the_salt_choice_changes_conductivity_and_cost() -> None:
    data = electrolyte_data()
    data["space"]["parameters"].append(
        {"name": "salt_type", "type": "categorical", "values": ["LiPF6", "LiFSI"]}
    )
    data["objectives"].append({"name": "cost", "direction": "minimize"})
    spec, adapter = make(data)
    pf6, fsi = (
        adapter.evaluate(request(spec, BLEND, {MOLALITY: 1.0, "salt_type": s})).values
        for s in ("LiPF6", "LiFSI")
    )
    assert fsi["conductivity"] == pytest.approx(1.10 * pf6["conductivity"])
    assert fsi["cost"] > pf6["cost"]
    assert SimulatorAdapter.unread_parameters(spec.adapter_config(), spec) == []


def test_an_unknown_salt_is_refused_with_the_known_ones() -> None:
    data = electrolyte_data()
    data["space"]["parameters"].append(
        {"name": "salt_type", "type": "categorical", "values": ["LiPF6", "NaPF6"]}
    )
    data["adapter"]["options"] = {"salt": "salt_type"}
    with pytest.raises(SpecError) as caught:
        validate(data)
    (problem,) = caught.value.problems
    assert problem.path == "adapter.options.salt"
    assert "NaPF6" in problem.message and "LiFSI" in problem.hint


def test_validate_warns_about_a_parameter_the_function_never_reads(
    write_yaml,
) -> None:
    from typer.testing import CliRunner

    from loop.cli import app

    data = electrolyte_data()
    data["space"]["parameters"].append(
        {"name": "stirring", "type": "categorical", "values": ["slow", "fast"]}
    )
    result = CliRunner().invoke(app, ["validate", str(write_yaml(data))])
    assert result.exit_code == 0
    flat = " ".join(result.stderr.split())
    assert "warning: space.parameters.1: the simulator adapter never reads " in flat
    assert "'stirring'" in flat
    # every parameter of the bumps landscape matters: no warning
    clean = CliRunner().invoke(
        app, ["validate", str(write_yaml(electrolyte_data(), "clean.yaml"))]
    )
    assert clean.exit_code == 0 and "warning" not in clean.stderr
