"""A configuration given by a person: a formula or amounts by name, and
parameters as text or numbers, read into the campaign's terms and checked
against its rules. `loop tell`, `Campaign.tell` and the YAML's
`strategy.initial_design.include` read configurations this way.
"""

from __future__ import annotations

from typing import Any

from loop.errors import BadInputError
from loop.spec.campaign import CampaignSpec
from loop.spec.formulas import parse_formula
from loop.spec.rules import unrepresentable, violations


def configuration(
    spec: CampaignSpec,
    composition: dict[str, float] | str | None,
    parameters: dict[str, Any],
    keep_outside: bool = False,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The configuration in the campaign's terms, checked against every rule
    (with *keep_outside*, only those it needs to mean anything to the model).

    *composition* is a formula (element campaigns) or amounts by name; missing
    components are 0. Parameters given as text are read by their declared type.
    """
    comp = spec.space.composition
    if isinstance(composition, str):
        assert comp is not None
        amounts = parse_formula(comp, composition)
    elif comp is not None:
        given = dict(composition or {})
        unknown = sorted(set(given) - set(comp.components))
        if unknown:
            raise BadInputError(
                f"composition: unknown component {', '.join(unknown)}",
                f"the components are {', '.join(comp.components)}",
            )
        amounts = {c: float(given.get(c, 0.0)) for c in comp.components}
    else:
        amounts = {}
    typed = typed_parameters(spec, parameters)
    rules = unrepresentable if keep_outside else violations
    broken = rules(spec, amounts, typed)
    if broken:
        raise BadInputError(
            f"the configuration is outside campaign '{spec.name}': "
            + "; ".join(broken),
            "check the amounts sum to the total and every value is within its "
            "bounds (docs/how-to/bring-your-data.md)"
            + (
                ""
                if keep_outside
                else "; a measurement made outside the space can be kept for the "
                "model (never as the best) with --keep-outside"
            ),
        )
    return amounts, typed


def typed_parameters(spec: CampaignSpec, given: dict[str, Any]) -> dict[str, Any]:
    declared = {p.name: p for p in spec.space.parameters}
    unknown = sorted(set(given) - set(declared))
    missing = sorted(set(declared) - set(given))
    if unknown or missing:
        said = [f"unknown {', '.join(unknown)}"] if unknown else []
        said += [f"missing {', '.join(missing)}"] if missing else []
        raise BadInputError(
            f"parameters: {'; '.join(said)}",
            f"give every parameter of the campaign: {', '.join(declared) or 'none'}",
        )
    out: dict[str, Any] = {}
    for name, raw in given.items():
        p = declared[name]
        try:
            if p.type == "continuous":
                out[name] = float(raw)
            elif p.type == "integer":
                out[name] = int(raw)
            else:
                out[name] = str(raw)
        except ValueError:
            raise BadInputError(
                f"parameter {name}: '{raw}' is not a{'n integer' if p.type == 'integer' else ' number'}",
                f"give {name}=<{p.type}>",
            ) from None
    return out
