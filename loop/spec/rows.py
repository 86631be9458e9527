"""One row of a table (a CSV line, a JSON record) as a configuration of a campaign.

The dataset adapter (pool replays) and `loop import` (past measurements) read
rows with these rules, so a column mapping means the same in both: each
component, parameter and objective is read from the column of the same name or
the one `columns` maps it to; compositions may be rescaled to the campaign's
total (`normalize`); a categorical cell matches a declared category by text or
by number. In an element campaign `columns: {composition: COLUMN}` reads the
whole composition from a column of formulas (`Fe70Cr20Ni10`, `AlCoCrFeNi`) on
the campaign's basis and total (`loop.spec.formulas`), in place of one column
per component.
"""

from __future__ import annotations

import math
from typing import Any

from loop.spec.campaign import CampaignSpec
from loop.spec.tables import FORMULA_KEY


def column_names(spec: CampaignSpec, columns: dict[str, str]) -> dict[str, str]:
    """Campaign name -> column, for every component (or `composition`, when
    a formula column is mapped), parameter and objective."""
    components = (
        [FORMULA_KEY] if FORMULA_KEY in columns else list(spec.space.components)
    )
    names = [
        *components,
        *(p.name for p in spec.space.parameters),
        *(o.name for o in spec.objectives),
    ]
    return {name: columns.get(name, name) for name in names}


def read_configuration(
    record: dict[str, Any],
    spec: CampaignSpec,
    col: dict[str, str],
    normalize: bool,
) -> tuple[dict[str, float], dict[str, Any]] | tuple[str, str]:
    """(composition, parameters) of *record* in the campaign's units, or
    (column, why) for the first cell that cannot be read."""
    comp = spec.space.composition
    amounts: dict[str, float] = {}
    if FORMULA_KEY in col and comp is not None:
        from loop.errors import BadInputError
        from loop.spec.formulas import parse_formula

        column = col[FORMULA_KEY]
        text = record.get(column)
        if not isinstance(text, str) or not text.strip():
            return column, f"'{text}' is not a formula"
        try:
            amounts = parse_formula(comp, text.strip(), key=f"'{text}'")
        except BadInputError as exc:
            return column, exc.message
    for c in [] if amounts else spec.space.components:
        number = _number(record.get(col[c]))
        if number is None or number < 0:
            return col[c], f"'{record.get(col[c])}' is not a non-negative number"
        amounts[c] = number
    if comp is not None:
        total = sum(amounts.values())
        if total <= 0:
            return ", ".join(col[c] for c in comp.components), "the amounts are all 0"
        if normalize:
            amounts = {c: v / total * comp.total for c, v in amounts.items()}
    parameters: dict[str, Any] = {}
    for p in spec.space.parameters:
        raw = record.get(col[p.name])
        if p.type == "categorical":
            if raw is None or (isinstance(raw, float) and math.isnan(raw)):
                return col[p.name], "missing"
            parameters[p.name] = category(raw, p.values)
            continue
        number = _number(raw)
        if number is None:
            return col[p.name], f"'{raw}' is not a number"
        if p.type == "integer":
            if number != round(number):
                return col[p.name], f"{raw} is not an integer"
            parameters[p.name] = int(round(number))
        else:
            parameters[p.name] = number
    return amounts, parameters


def read_values(
    record: dict[str, Any], spec: CampaignSpec, col: dict[str, str]
) -> dict[str, float] | tuple[str, str]:
    """Every objective's value in *record*, or (column, why) for the first that
    is missing, not a number or not finite."""
    values = {}
    for o in spec.objectives:
        number = _number(record.get(col[o.name]))
        if number is None:
            return col[o.name], f"'{record.get(col[o.name])}' is not a finite number"
        values[o.name] = number
    return values


def category(raw: Any, values: tuple[str, ...]) -> str:
    """The declared category a cell stands for: the same text, or the same number.

    A numeric column reads as numbers (and as floats when it has empty cells),
    so a cell 2 or 2.0 matches a category declared as 2, "2" or 2.0.
    """
    text = str(raw)
    if text in values:
        return text
    number = _number(raw)
    if number is not None:
        for value in values:
            if _number(value) == number:
                return value
    return text


def _number(value: Any) -> float | None:
    """A finite number, or None (booleans, text, NaN, infinities, missing)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
