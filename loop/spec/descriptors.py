"""Per-component property tables behind the `element_descriptors` feature.

Elements get four properties from pymatgen: metallic/atomic radius (Å), Pauling
electronegativity, valence electron count (VEC, the group number for the s and
d blocks and group - 10 for the p block, as in the high-entropy-alloy
literature) and atomic mass (u). Named species take theirs from
`space.composition.descriptors` in the YAML. The GP sees the fraction-weighted
mean and spread of each property (see `loop.model.features`).
"""

from __future__ import annotations

import math

import numpy as np

from loop.errors import Problem

ELEMENT_PROPERTIES = ("atomic_radius", "electronegativity", "vec", "atomic_mass")


def element_row(symbol: str) -> dict[str, float | None]:
    """The four element properties of *symbol*, None where pymatgen has no value."""
    from pymatgen.core.periodic_table import Element

    el = Element(symbol)
    radius = el.atomic_radius
    x = el.X
    group = el.group
    vec = float(group - 10 if group > 12 else group)
    return {
        "atomic_radius": float(radius) if radius is not None else None,
        "electronegativity": float(x) if x is not None and math.isfinite(x) else None,
        "vec": vec,
        "atomic_mass": float(el.atomic_mass),
    }


def descriptor_problems(
    kind: str, components: tuple[str, ...], table: dict | None, wanted: bool = True
) -> list[Problem]:
    """Why the descriptor table or `element_descriptors` cannot be used as given."""
    if kind == "element" and table is not None:
        return [
            Problem(
                "space.composition.descriptors",
                "a descriptor table is for named species; elements take theirs from pymatgen",
                "remove `descriptors`, or set `kind: species` to use your own table",
            )
        ]
    if not wanted:
        return []
    if kind == "species":
        if table is None:
            return [
                Problem(
                    "space.composition.descriptors",
                    "element_descriptors needs a descriptor table for named species",
                    "add `descriptors: {EC: {permittivity: 89.8, viscosity: 1.9}, ...}` "
                    "with the same properties for every component",
                )
            ]
        return []
    problems = []
    for name in components:
        missing = [k for k, v in element_row(name).items() if v is None]
        if missing:
            problems.append(
                Problem(
                    "space.composition.components",
                    f"pymatgen has no {', '.join(missing)} for {name}",
                    "drop element_descriptors from strategy.surrogate.features for this "
                    "campaign",
                )
            )
    return problems


def descriptor_table(
    kind: str, components: tuple[str, ...], table: dict | None
) -> tuple[list[str], np.ndarray]:
    """(property names, matrix with one row per component) for the feature."""
    if kind == "species":
        assert table is not None
        names = sorted(next(iter(table.values())))
        return names, np.array([[table[c][k] for k in names] for c in components])
    rows = [element_row(c) for c in components]
    return list(ELEMENT_PROPERTIES), np.array(
        [[float(r[k]) for k in ELEMENT_PROPERTIES] for r in rows]  # type: ignore[arg-type]
    )
