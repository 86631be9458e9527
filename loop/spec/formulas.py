"""Chemical formulas in and out: `Fe70Cr20Ni10` <-> {Fe: 0.7, Cr: 0.2, Ni: 0.1}.

Parsed and written with pymatgen's `Composition`, so `AlCoCrFeNi` is
equiatomic and `Li0.5Ni0.3Co0.2`, `Fe70Cr20Ni10` and `(FeCr)2Ni` all work. A
formula counts atoms; amounts follow the campaign's `basis` (atomic and molar:
atom fractions; mass: weight fractions from pymatgen's atomic masses) and are
scaled to its `total`. Species campaigns (EC, DMC, ...) have no formulas: their
compositions are name -> amount maps.
"""

from __future__ import annotations

from functools import lru_cache

from loop.errors import BadInputError
from loop.spec.composition import CompositionSpec

#: Digits a written formula keeps (amounts are rounded to them, trailing zeros off).
DIGITS = 4


def parse_formula(
    comp: CompositionSpec, text: str, key: str = "composition"
) -> dict[str, float]:
    """Amounts of every component for formula *text*, on the campaign's basis.

    Raises `BadInputError` naming *key* when the text is not a formula, names an
    element the campaign does not have, or the campaign has no element basis.
    """
    if comp.kind != "element":
        raise BadInputError(
            f"{key}: '{text}' is a formula, but this campaign's components are species",
            f"give amounts by name instead, e.g. {comp.components[0]}=0.5,...",
        )
    if comp.basis == "volume":
        raise BadInputError(
            f"{key}: a formula cannot give volume fractions",
            "give the volume fractions by name, e.g. Fe=0.5,Ni=0.5",
        )
    from pymatgen.core import Composition

    try:
        parsed = Composition(text.strip())
    except Exception as exc:  # pymatgen raises several types for bad text
        raise BadInputError(
            f"{key}: '{text}' is not a chemical formula ({exc})",
            "write e.g. Fe70Cr20Ni10, Fe0.7Cr0.2Ni0.1 or AlCoCrFeNi",
        ) from None
    elements = [str(el) for el in parsed.elements]
    unknown = sorted(set(elements) - set(comp.components))
    if unknown or not elements:
        raise BadInputError(
            f"{key}: '{text}' has {', '.join(unknown) or 'no elements'}, which this "
            "campaign does not have",
            f"its components are {', '.join(comp.components)}",
        )
    if comp.basis == "mass":
        shares = {el: float(parsed.get_wt_fraction(el)) for el in elements}
    else:
        shares = {el: float(parsed.get_atomic_fraction(el)) for el in elements}
    return {c: shares.get(c, 0.0) * comp.total for c in comp.components}


def formula(comp: CompositionSpec | None, amounts: dict[str, float]) -> str | None:
    """The atom-fraction formula of *amounts* (None for species campaigns), e.g.
    `Cu0.4833Ni0.1167Pt0.4`; components with no amount are left out."""
    if comp is None or comp.kind != "element":
        return None
    return _formula(comp.basis, tuple(amounts.items()))


@lru_cache(maxsize=65536)
def _formula(basis: str, amounts: tuple[tuple[str, float], ...]) -> str | None:
    """`formula` of one configuration, kept: every status request writes the
    formula of every trial, and pymatgen takes tens of microseconds each."""
    present = {c: a for c, a in amounts if a > 0}
    if not present:
        return None
    from pymatgen.core import Composition

    if basis == "mass":
        from pymatgen.core import Element

        moles = {c: a / float(Element(c).atomic_mass) for c, a in present.items()}
    else:
        moles = dict(present)
    atoms = Composition(moles).fractional_composition
    return "".join(
        f"{el}{_number(float(atoms[el]))}"
        for el in (e for e, _ in amounts if e in present)
    )


def _number(value: float) -> str:
    text = f"{round(value, DIGITS):.{DIGITS}f}".rstrip("0").rstrip(".")
    return "" if text == "1" else text
