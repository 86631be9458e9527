"""The encoder's count of free dimensions, with and without a composition block."""

from __future__ import annotations

from loop.engine import CampaignEngine
from loop.space.encoding import Encoder
from loop.spec import validate


def test_free_dimensions_count_components_minus_one_and_every_parameter(
    campaign_data: dict,
) -> None:
    spec = validate(campaign_data)  # 4 components, 3 parameters
    assert Encoder(spec).free_dims == 3 + 3


def test_a_campaign_without_composition_has_one_free_dimension_per_parameter(
    campaign_data: dict,
) -> None:
    del campaign_data["space"]["composition"]
    del campaign_data["constraints"]  # they name components
    del campaign_data["strategy"]["initial_design"]  # the default size is asked for
    spec = validate(campaign_data)
    assert spec.space.composition is None
    assert Encoder(spec).free_dims == 3
    # the default initial design is max(4, 2 x free dimensions), capped at the budget
    assert CampaignEngine(spec).initial_size == 6
