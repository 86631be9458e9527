"""The analytic simulator functions: `electrolyte` and `simplex-bumps`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.simulator import SimulatorAdapter
from adapters.simulator.analytic import SOLVENTS
from loop.errors import SpecError
from loop.ports import EvaluationRequest, EvaluationResult
from loop.spec import CampaignSpec, validate

MOLALITY = "LiPF6_molality"


def electrolyte_spec(
    components: tuple[str, ...] = ("EC", "DMC"),
    temperature: tuple[float, float, str] | None = None,
    options: dict[str, Any] | None = None,
) -> CampaignSpec:
    parameters: list[dict[str, Any]] = [
        {"name": MOLALITY, "type": "continuous", "bounds": [0.2, 2.5], "unit": "mol/kg"}
    ]
    adapter_options = dict(options or {})
    if temperature is not None:
        lo, hi, unit = temperature
        parameters.append(
            {"name": "T", "type": "continuous", "bounds": [lo, hi], "unit": unit}
        )
        adapter_options["temperature"] = "T"
    return validate(
        {
            "schema_version": 1,
            "name": "electrolyte-test",
            "space": {
                "composition": {
                    "kind": "species",
                    "basis": "mass",
                    "components": list(components),
                },
                "parameters": parameters,
            },
            "objectives": [
                {"name": "conductivity", "direction": "maximize", "unit": "mS/cm"},
                {"name": "viscosity", "direction": "minimize", "unit": "mPa s"},
                {"name": "cost", "direction": "minimize", "unit": "USD/kg"},
            ],
            "budget": {"experiments": 8},
            "adapter": {
                "type": "simulator",
                "function": "electrolyte",
                "options": adapter_options,
            },
        }
    )


_ADAPTERS: dict[str, SimulatorAdapter] = {}


def adapter_for(spec: CampaignSpec) -> SimulatorAdapter:
    """One adapter per distinct spec (specs are frozen but not hashable)."""
    key = spec.model_dump_json()
    if key not in _ADAPTERS:
        _ADAPTERS[key] = SimulatorAdapter(spec.adapter_config(), spec)
    return _ADAPTERS[key]


def run(
    spec: CampaignSpec, composition: dict[str, float], parameters: dict[str, Any]
) -> EvaluationResult:
    return adapter_for(spec).evaluate(
        EvaluationRequest(
            campaign=spec.name,
            trial_id=7,
            attempt=0,
            composition=composition,
            parameters=parameters,
            objectives=[o.name for o in spec.objectives],
            seed=spec.seed,
        )
    )


def values(
    spec: CampaignSpec, composition: dict[str, float], **parameters: Any
) -> dict:
    result = run(spec, composition, parameters)
    assert result.failure is None, result.failure
    return result.values


EC_DMC = electrolyte_spec()
MOLALITIES = np.linspace(0.2, 2.5, 231)


# --- electrolyte


@pytest.mark.parametrize(
    "ec",
    [
        pytest.param(0.1, id="EC10"),
        pytest.param(0.3, id="EC30"),
        pytest.param(0.6, id="EC60"),
    ],
)
def test_conductivity_rises_then_falls_with_molality(ec: float) -> None:
    blend = {"EC": ec, "DMC": 1 - ec}
    kappa = np.array(
        [values(EC_DMC, blend, **{MOLALITY: m})["conductivity"] for m in MOLALITIES]
    )
    peak = int(np.argmax(kappa))
    assert 0 < peak < len(MOLALITIES) - 1, (
        f"maximum at the edge: {MOLALITIES[peak]} mol/kg"
    )
    assert 0.2 < MOLALITIES[peak] < 2.5
    assert np.all(np.diff(kappa[: peak + 1]) > 0)
    assert np.all(np.diff(kappa[peak:]) < 0)
    # A realistic carbonate electrolyte: the peak is some mS/cm, not 1e-3 or 1e3.
    assert 1.0 < kappa[peak] < 30.0


def test_more_polar_blend_peaks_at_higher_molality() -> None:
    def peak(ec: float) -> float:
        blend = {"EC": ec, "DMC": 1 - ec}
        kappa = [
            values(EC_DMC, blend, **{MOLALITY: m})["conductivity"] for m in MOLALITIES
        ]
        return float(MOLALITIES[int(np.argmax(kappa))])

    assert peak(0.1) < peak(0.3) < peak(0.6)


def test_viscosity_and_cost_increase_with_molality() -> None:
    blend = {"EC": 0.3, "DMC": 0.7}
    rows = [values(EC_DMC, blend, **{MOLALITY: m}) for m in MOLALITIES]
    assert np.all(np.diff([r["viscosity"] for r in rows]) > 0)
    assert np.all(np.diff([r["cost"] for r in rows]) > 0)


def test_temperature_raises_conductivity_and_lowers_viscosity() -> None:
    spec = electrolyte_spec(temperature=(253.15, 333.15, "K"))
    blend = {"EC": 0.3, "DMC": 0.7}
    rows = [
        values(spec, blend, **{MOLALITY: 1.0, "T": t}) for t in (263.15, 298.15, 323.15)
    ]
    kappa = [r["conductivity"] for r in rows]
    eta = [r["viscosity"] for r in rows]
    assert kappa[0] < kappa[1] < kappa[2]
    assert eta[0] > eta[1] > eta[2]
    # Without a temperature parameter the model sits at 25 °C.
    assert rows[1] == pytest.approx(values(EC_DMC, blend, **{MOLALITY: 1.0}), rel=1e-12)


def test_viscous_solvent_raises_viscosity() -> None:
    # FEC (4.1 mPa s) against DMC (0.59 mPa s): Grunberg-Nissan is monotone.
    spec = electrolyte_spec(("FEC", "DMC"))
    eta = [
        values(spec, {"FEC": x, "DMC": 1 - x}, **{MOLALITY: 1.0})["viscosity"]
        for x in (0.0, 0.3, 0.7, 1.0)
    ]
    assert np.all(np.diff(eta) > 0)


def test_salt_price_option_sets_the_salt_share_of_cost() -> None:
    blend = {"EC": 0.3, "DMC": 0.7}
    cheap = electrolyte_spec(options={"salt_price": 10.0})
    dear = electrolyte_spec(options={"salt_price": 50.0})

    def extra(m: float) -> float:
        return (
            values(dear, blend, **{MOLALITY: m})["cost"]
            - values(cheap, blend, **{MOLALITY: m})["cost"]
        )

    # A dearer salt costs more, and the extra is proportional to how much salt there is.
    assert extra(1.0) > 0
    assert extra(2.0) == pytest.approx(2 * extra(1.0), rel=1e-12)


ALL_SOLVENTS = electrolyte_spec(tuple(SOLVENTS), temperature=(253.15, 333.15, "K"))


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(
        st.floats(0.0, 1.0, allow_nan=False),
        min_size=len(SOLVENTS),
        max_size=len(SOLVENTS),
    ).filter(lambda xs: sum(xs) > 1e-3),
    molality=st.floats(0.2, 2.5),
    temperature=st.floats(253.15, 333.15),
)
def test_electrolyte_outputs_are_finite_and_positive(
    raw: list[float], molality: float, temperature: float
) -> None:
    total = sum(raw)
    blend = {s: x / total for s, x in zip(SOLVENTS, raw, strict=True)}
    out = values(ALL_SOLVENTS, blend, **{MOLALITY: molality, "T": temperature})
    assert set(out) == {"conductivity", "viscosity", "cost"}
    for name, value in out.items():
        assert math.isfinite(value) and value > 0, (name, value)


def test_unknown_solvent_is_rejected_listing_known_solvents() -> None:
    with pytest.raises(SpecError) as caught:
        electrolyte_spec(("EC", "water", "DMC"))
    [problem] = caught.value.problems
    assert problem.path == "space.composition.components"
    assert "'water'" in problem.message
    for solvent in SOLVENTS:
        assert solvent in problem.hint


def test_temperature_option_must_name_a_continuous_parameter() -> None:
    with pytest.raises(SpecError) as caught:
        electrolyte_spec(options={"temperature": "T_anneal"})
    [problem] = caught.value.problems
    assert problem.path == "adapter.options.temperature"
    assert MOLALITY in problem.hint


def test_temperature_below_absolute_zero_is_a_failed_trial_or_rejected() -> None:
    # A user who declares the temperature in °C (bounds [-20, 60]) and points
    # `temperature:` at it. The model takes kelvin, so T = -10 gives
    # (t / 298.15) ** 1.5 of a negative float, a *complex* conductivity. Either the
    # campaign is refused at validation (a non-positive kelvin bound) or each trial
    # becomes a failure; evaluate() must never raise.
    try:
        spec = electrolyte_spec(temperature=(-20.0, 60.0, "degC"))
    except SpecError as exc:
        assert any(
            "temperature" in p.path or p.path.startswith("space.parameters")
            for p in exc.problems
        )
        return
    result = run(spec, {"EC": 0.3, "DMC": 0.7}, {MOLALITY: 1.0, "T": -10.0})
    assert result.failure is not None
    assert "conductivity" in result.failure or "complex" in result.failure


# --- simplex-bumps


def bumps_spec(
    name: str = "bumps-test", components: tuple[str, ...] = ("A", "B", "C", "D")
):
    return validate(
        {
            "schema_version": 1,
            "name": name,
            "space": {
                "composition": {
                    "components": list(components),
                    "kind": "species",
                    "total": 100,
                    "bounds": {"default": [0, 70]},
                },
                "parameters": [
                    {"name": "temperature", "type": "continuous", "bounds": [300, 900]},
                    # [1, 11] so that 30 % of the range (4) is a whole number.
                    {"name": "layers", "type": "integer", "bounds": [1, 11]},
                    {
                        "name": "route",
                        "type": "categorical",
                        "values": ["cast", "powder", "x"],
                    },
                ],
            },
            "objectives": [{"name": "y", "direction": "maximize"}],
            "budget": {"experiments": 8},
            "adapter": {"type": "simulator", "function": "simplex-bumps"},
        }
    )


BUMPS = bumps_spec()
AT_30_PERCENT = {"temperature": 480.0, "layers": 4, "route": "cast"}


def test_bumps_maximum_is_one_at_the_first_centre_with_parameters_at_30_percent() -> (
    None
):
    adapter = adapter_for(BUMPS)
    centre = np.asarray(adapter.function.centres[0])
    comp = BUMPS.space.composition
    # The optimum is reachable: inside the bounds and on the simplex.
    assert centre.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(centre >= np.array(comp.lower) / comp.total - 1e-12)
    assert np.all(centre <= np.array(comp.upper) / comp.total + 1e-12)
    composition = {c: 100 * x for c, x in zip(comp.components, centre, strict=True)}
    best = values(BUMPS, composition, **AT_30_PERCENT)["y"]
    assert best == pytest.approx(1.0, abs=1e-12)
    # Moving any one input away lowers it.
    assert (
        values(BUMPS, composition, **{**AT_30_PERCENT, "temperature": 500.0})["y"]
        < best
    )
    assert values(BUMPS, composition, **{**AT_30_PERCENT, "layers": 5})["y"] < best
    assert (
        values(BUMPS, composition, **{**AT_30_PERCENT, "route": "powder"})["y"] < best
    )
    shifted = dict(composition, A=composition["A"] + 2, B=composition["B"] - 2)
    if min(shifted.values()) < 0:
        shifted = dict(composition, A=composition["A"] - 2, B=composition["B"] + 2)
    assert values(BUMPS, shifted, **AT_30_PERCENT)["y"] < best


def test_bumps_landscape_is_fixed_by_component_names() -> None:
    again = SimulatorAdapter(
        bumps_spec("other-name").adapter_config(), bumps_spec("other-name")
    )
    for mine, theirs in zip(
        adapter_for(BUMPS).function.centres, again.function.centres, strict=True
    ):
        assert np.array_equal(mine, theirs)
    renamed = SimulatorAdapter(
        bumps_spec(components=("P", "Q", "R", "S")).adapter_config(),
        bumps_spec(components=("P", "Q", "R", "S")),
    )
    assert not np.allclose(
        adapter_for(BUMPS).function.centres[0], renamed.function.centres[0]
    )


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=4, max_size=4).filter(
        lambda xs: sum(xs) > 1e-3
    ),
    temperature=st.floats(300, 900),
    layers=st.integers(1, 11),
    route=st.sampled_from(["cast", "powder", "x"]),
)
def test_bumps_values_lie_in_zero_one(
    raw: list[float], temperature: float, layers: int, route: str
) -> None:
    total = sum(raw)
    composition = {c: 100 * x / total for c, x in zip("ABCD", raw, strict=True)}
    y = values(BUMPS, composition, temperature=temperature, layers=layers, route=route)[
        "y"
    ]
    assert 0.0 < y <= 1.0
