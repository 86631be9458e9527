"""Energy above the convex hull, from computed entries read offline (issue 17, item 4).

`adapter.references.entries` names a file of computed entries, as exported from
Materials Project, OQMD or AFLOW: JSON written by monty (a list of pymatgen
`ComputedEntry` / `ComputedStructureEntry`, or `{"entries": [...]}`), or a CSV
with columns `formula` and `energy_per_atom` (eV/atom) and, optionally,
`calculator`. It is read from disk, never fetched.

A trial's `energy_above_hull` is pymatgen's `PhaseDiagram.get_e_above_hull` of
its entry (the relaxed structure's composition and energy) against the file's
entries in the trial's chemical system plus the campaign's own computed
entries of it: the elemental references the adapter relaxed with the same
calculator. Earlier trials are not added to the hull, so a trial's value does
not depend on the order in which trials finished; the report's Pareto view is
where trials compete with each other.

Energies must be comparable. pymatgen prescribes corrections
(`MaterialsProject2020Compatibility`) for GGA/GGA+U entries; entries that carry
the parameters for it (Materials Project downloads do) are processed with it,
and an entry it rejects is left out. CHGNet is trained on Materials Project's
corrected GGA/GGA+U energies and VASP jobs use Materials Project input sets, so
both compare with such entries. EMT is a toy potential comparable with nothing
but itself: with `calculator: emt` every entry must say `calculator: emt`
(a CSV column, or `parameters.calculator` of an entry). Entries computed with
another functional (r2SCAN) or another calculator are refused with the reason.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymatgen.entries.computed_entries import ComputedEntry

#: Run types of entries CHGNet and Materials Project input sets compare with.
GGA_RUN_TYPES = ("GGA", "GGA+U", "PBE", "PBE+U")


class EntriesError(Exception):
    """A reference entries file cannot be read or used with this calculator."""


@dataclass(frozen=True)
class ReferenceEntries:
    """The entries of one file, made comparable, and what computed them."""

    source: str
    entries: tuple[ComputedEntry, ...]
    #: Entries the compatibility scheme rejected (left out).
    rejected: int = 0

    def in_system(self, elements: set[str]) -> list[ComputedEntry]:
        """Entries whose elements all lie in *elements*."""
        return [
            e
            for e in self.entries
            if {str(el) for el in e.composition.elements} <= elements
        ]


_CACHE: dict[tuple[str, float, str], ReferenceEntries] = {}


def load_entries(path: Path, calculator: str) -> ReferenceEntries:
    """The entries of *path* for a *calculator* campaign (cached by file time).

    Raises `EntriesError` with the reason when the file cannot be read, holds no
    entry, or its entries cannot be compared with *calculator*'s energies.
    """
    try:
        key = (str(path.resolve()), path.stat().st_mtime, calculator)
    except OSError as exc:
        raise EntriesError(f"cannot read {path}: {exc.strerror or exc}") from None
    if key not in _CACHE:
        entries = _read(path)
        if not entries:
            raise EntriesError(f"{path.name} holds no entry")
        _check_comparable(entries, calculator, path.name)
        kept, rejected = _compatible(entries, calculator)
        _CACHE[key] = ReferenceEntries(path.name, tuple(kept), rejected)
    return _CACHE[key]


def trial_entry(
    formula_amounts: dict[str, float], energy_per_atom: float
) -> ComputedEntry:
    """An entry for a computed structure: its composition and total energy."""
    from pymatgen.core import Composition
    from pymatgen.entries.computed_entries import ComputedEntry

    composition = Composition(formula_amounts)
    return ComputedEntry(
        composition, energy_per_atom * composition.num_atoms, entry_id="trial"
    )


def energy_above_hull(
    references: ReferenceEntries, own: list[ComputedEntry], entry: ComputedEntry
) -> float:
    """eV/atom of *entry* above the hull of *references* (in its chemical system)
    and the campaign's *own* entries."""
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    elements = {str(el) for el in entry.composition.elements}
    pool = [*references.in_system(elements), *own, entry]
    try:
        diagram = PhaseDiagram(pool)
    except ValueError as exc:  # e.g. no terminal entry for an element
        raise EntriesError(
            f"no convex hull for {entry.composition.reduced_formula}: {exc}"
        ) from None
    value = diagram.get_e_above_hull(entry)
    if value is None:
        raise EntriesError(f"no hull energy for {entry.composition.reduced_formula}")
    return float(value)


def _read(path: Path) -> list[ComputedEntry]:
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    from monty.serialization import loadfn
    from pymatgen.entries.computed_entries import ComputedEntry

    try:
        data: Any = loadfn(path)
    except Exception as exc:  # monty raises JSON, YAML and import errors alike
        raise EntriesError(f"cannot read {path.name} as monty JSON: {exc}") from None
    if isinstance(data, dict) and "entries" in data:
        data = data["entries"]
    if not isinstance(data, list):
        raise EntriesError(
            f"{path.name} is not a list of computed entries (found {type(data).__name__})"
        )
    out = []
    for i, item in enumerate(data):
        if isinstance(item, dict) and "energy" in item and "composition" in item:
            try:
                item = ComputedEntry.from_dict(item)
            except Exception as exc:  # pymatgen's from_dict raises several types
                raise EntriesError(
                    f"{path.name}: entry {i} is not an entry: {exc}"
                ) from None
        if not isinstance(item, ComputedEntry):
            raise EntriesError(
                f"{path.name}: entry {i} is a {type(item).__name__}, not a ComputedEntry"
            )
        out.append(item)
    return out


def _read_csv(path: Path) -> list[ComputedEntry]:
    from pymatgen.core import Composition
    from pymatgen.entries.computed_entries import ComputedEntry

    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EntriesError(f"cannot read {path.name} as CSV: {exc}") from None
    if rows and not {"formula", "energy_per_atom"} <= set(rows[0]):
        raise EntriesError(
            f"{path.name} needs columns formula and energy_per_atom "
            f"(it has {', '.join(rows[0])})"
        )
    out = []
    for n, row in enumerate(rows, start=1):
        try:
            composition = Composition(row["formula"].strip())
            energy = float(row["energy_per_atom"])
        except Exception:  # pymatgen raises several types for bad formulas
            raise EntriesError(
                f"{path.name} row {n}: '{row['formula']}', '{row['energy_per_atom']}' "
                "is not a formula and an energy per atom"
            ) from None
        parameters = (
            {"calculator": row["calculator"].strip()} if row.get("calculator") else {}
        )
        out.append(
            ComputedEntry(
                composition,
                energy * composition.num_atoms,
                parameters=parameters,
                entry_id=f"{path.name}:{n}",
            )
        )
    return out


def _check_comparable(entries: list[ComputedEntry], calculator: str, name: str) -> None:
    for entry in entries:
        said = str(entry.parameters.get("calculator", "")).lower()
        run_type = str(entry.parameters.get("run_type", "")).upper()
        label = entry.entry_id or entry.composition.reduced_formula
        if calculator == "emt" and said != "emt":
            raise EntriesError(
                f"{name}: entry {label} was not computed with EMT; EMT energies "
                "compare only with EMT entries (give entries with calculator emt)"
            )
        if calculator != "emt" and said == "emt":
            raise EntriesError(
                f"{name}: entry {label} was computed with EMT, which does not "
                f"compare with {calculator} energies"
            )
        if calculator != "emt" and run_type and run_type not in GGA_RUN_TYPES:
            raise EntriesError(
                f"{name}: entry {label} is a {run_type} calculation; {calculator} "
                "energies compare with GGA/GGA+U (Materials Project) entries only"
            )


def _compatible(
    entries: list[ComputedEntry], calculator: str
) -> tuple[list[ComputedEntry], int]:
    """Entries with pymatgen's Materials Project 2020 corrections where they carry
    the parameters for them (the rest as given); how many were rejected."""
    if calculator == "emt":
        return entries, 0
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    carried = [e for e in entries if "run_type" in e.parameters]
    plain = [e for e in entries if "run_type" not in e.parameters]
    if not carried:
        return plain, 0
    from loop.warnings_guard import recorded_warnings

    # pymatgen warns for every intermetallic that it cannot guess oxidation
    # states of; metals get no correction either way
    with recorded_warnings():
        processed = MaterialsProject2020Compatibility(
            check_potcar=False
        ).process_entries(carried, clean=True, inplace=False)
    return [*processed, *plain], len(carried) - len(processed)
