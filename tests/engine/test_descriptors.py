"""Composition descriptors: the right numbers reach the GP, and specs are checked."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from loop.engine import CampaignEngine
from loop.errors import SpecError
from loop.model.features import FeatureSpec
from loop.space.encoding import Encoder
from loop.spec import validate
from tests.conftest import CAMPAIGNS
from tests.support import simulated_trials


def _alloy(features: list[str]) -> dict:
    data = yaml.safe_load((CAMPAIGNS / "alloy-emt.yaml").read_text())
    data["strategy"]["surrogate"]["features"] = features
    data["strategy"]["optimizer"] = {"restarts": 2, "raw_samples": 64}
    return data


def test_element_descriptors_are_weighted_means_and_spreads_of_pymatgen_values() -> (
    None
):
    import torch
    from pymatgen.core.periodic_table import Element

    spec = validate(_alloy(["fractions", "element_descriptors"]))
    enc = Encoder(spec)
    table = enc.features()
    assert table is not None
    assert table.properties == [
        "atomic_radius",
        "electronegativity",
        "vec",
        "atomic_mass",
    ]
    f = FeatureSpec(enc.fraction_idx, table.table, table.keep_fractions, enc.dim)
    x = enc.encode({"Cu": 0.5, "Ni": 0.25, "Pd": 0.25, "Pt": 0.0, "Au": 0.0}, {})
    out = f.transform().transform(torch.as_tensor(x[None])).numpy()[0]
    assert out.shape == (f.out_dim,) == (5 + 8,)
    assert np.allclose(out[:5], x)  # the fractions are kept
    radius = {el: float(Element(el).atomic_radius) for el in ("Cu", "Ni", "Pd")}
    mean_r = 0.5 * radius["Cu"] + 0.25 * radius["Ni"] + 0.25 * radius["Pd"]
    spread_r = np.sqrt(
        0.5 * (radius["Cu"] - mean_r) ** 2
        + 0.25 * (radius["Ni"] - mean_r) ** 2
        + 0.25 * (radius["Pd"] - mean_r) ** 2
    )
    assert out[5] == pytest.approx(mean_r, abs=1e-9)
    assert out[9] == pytest.approx(spread_r, abs=1e-5)
    vec = 0.5 * 11 + 0.25 * 10 + 0.25 * 10  # Cu 11, Ni 10, Pd 10 valence electrons
    assert out[7] == pytest.approx(vec, abs=1e-9)


def test_descriptors_only_drops_the_fractions_from_the_gp_inputs() -> None:
    spec = validate(_alloy(["element_descriptors"]))
    engine = CampaignEngine(spec)
    engine.tell(simulated_trials(spec, engine.ask(8, 0), 1))
    (p,) = engine.ask(1, 1)
    assert p.provenance["inputs"] == [
        f"{kind}({prop})"
        for kind in ("mean", "spread")
        for prop in ("atomic_radius", "electronegativity", "vec", "atomic_mass")
    ]
    assert len(p.provenance["lengthscales"][0]) == 8
    assert abs(sum(p.composition.values()) - 1.0) <= 1e-9


def test_named_species_use_the_yaml_descriptor_table() -> None:
    data = yaml.safe_load((CAMPAIGNS / "electrolyte.yaml").read_text())
    data["strategy"]["surrogate"] = {"features": ["fractions", "element_descriptors"]}
    with pytest.raises(SpecError, match="needs a descriptor table"):
        validate(data)
    data["space"]["composition"]["descriptors"] = {
        "EC": {"permittivity": 89.8, "viscosity": 1.9},
        "EMC": {"permittivity": 2.9, "viscosity": 0.65},
        "DMC": {"permittivity": 3.1},
    }
    with pytest.raises(SpecError) as info:
        validate(data)
    assert info.value.problems[0].path == "space.composition.descriptors.DMC"
    data["space"]["composition"]["descriptors"]["DMC"]["viscosity"] = 0.59
    enc = Encoder(validate(data))
    table = enc.features()
    assert table is not None and table.properties == ["permittivity", "viscosity"]
    assert table.table[0].tolist() == [89.8, 1.9]


def test_a_descriptor_table_for_elements_is_refused() -> None:
    data = _alloy(["fractions"])
    data["space"]["composition"]["descriptors"] = {
        el: {"x": 1.0} for el in data["space"]["composition"]["components"]
    }
    with pytest.raises(SpecError, match="for named species"):
        validate(data)


def test_categorical_parameters_get_the_mixed_kernel_with_one_group_each(
    campaign_data: dict,
) -> None:
    """The route's one-hot columns are one parameter's group in the mixed kernel,
    and the fitted lengthscales cover every input."""
    from loop.model.kernels import MixedKernel
    from loop.model.surrogate import fit_gp
    from loop.strategies.botorch import gp_settings

    spec = validate(campaign_data)
    engine = CampaignEngine(spec)
    settings = gp_settings(engine.spec, engine.encoder)
    names = [settings.input_names[i] for i in settings.categorical_dims]
    assert names == ["route=cast", "route=powder", "route=sputter"]
    assert settings.categorical_groups == (tuple(settings.categorical_dims),)
    history = simulated_trials(spec, engine.ask(6, 0), 1)
    engine.tell(history)
    h = engine.history()
    fitted = fit_gp(h.x_done, h.y_done, settings, seed=0)
    kernel = fitted.model.covar_module
    assert isinstance(kernel, MixedKernel)
    assert kernel.categorical_dims == list(settings.categorical_dims)
    assert kernel.groups == [[0, 1, 2]]
    assert len(fitted.info["lengthscales"][0]) == len(settings.input_names)


def test_levels_of_fidelity_keep_botorchs_mixed_kernel_and_warm_starts() -> None:
    """A campaign with fidelities fits BoTorch's mixed kernel over the levels,
    warm-started from the last fit, as its benchmark (docs/benchmarks.md
    section 11) was measured."""
    from loop.model.kernels import MixedKernel
    from loop.model.surrogate import fit_gp, hyperparameters
    from loop.strategies.botorch import gp_settings

    data = yaml.safe_load((CAMPAIGNS / "multi-fidelity-bumps.yaml").read_text())
    spec = validate(data)
    engine = CampaignEngine(spec)
    settings = gp_settings(engine.spec, engine.encoder)
    assert settings.categorical_groups == ()
    engine.tell(simulated_trials(spec, engine.ask(6, 0), 1))
    h = engine.history()
    fitted = fit_gp(h.x_done, h.y_done, settings, seed=0)
    assert isinstance(fitted.model.covar_module, MixedKernel)
    assert fitted.model.covar_module.groups is None
    again = fit_gp(
        h.x_done, h.y_done, settings, seed=0, warm=hyperparameters(fitted.model)
    )
    assert again.info["warm_start"] is True
