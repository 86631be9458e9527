"""The campaign spec: pydantic models of the YAML, its loader and its JSON Schema."""

from loop.spec.campaign import CampaignSpec, Space
from loop.spec.composition import CompositionSpec
from loop.spec.constraints import LinearConstraint
from loop.spec.io import dumps, load_path, loads, validate
from loop.spec.objectives import Objective
from loop.spec.parameters import (
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    Parameter,
)
from loop.spec.strategy import Budget, InitialDesign, Strategy, Surrogate

__all__ = [
    "Budget",
    "CampaignSpec",
    "CategoricalParameter",
    "CompositionSpec",
    "ContinuousParameter",
    "InitialDesign",
    "IntegerParameter",
    "LinearConstraint",
    "Objective",
    "Parameter",
    "Space",
    "Strategy",
    "Surrogate",
    "dumps",
    "load_path",
    "loads",
    "validate",
]
