"""Elemental references: each pure element on the campaign's lattice, relaxed once.

A mixing (formation) energy is an alloy's energy per atom minus the
fraction-weighted energies of its pure elements on the same lattice, computed
with the same calculator; the relaxed lattice parameters of those elements feed
Vegard's law. Each reference is an ordinary job (the conventional cubic cell,
its volume relaxed: `relax: volume` for the local runner, a full relaxation
for VASP) in `WORK_DIR/references/<calculator>-<lattice>/<element>/`, named
`loop-ref-<calculator>-<lattice>-<element>`. It runs once: every later trial
and campaign with that work directory reads the finished job again.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.dft import lifecycle
from adapters.dft.inputs import write_job
from adapters.dft.parse import parse
from adapters.dft.structures import BASIS

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from adapters.dft.config import DFTConfig
    from adapters.dft.jobs import Backend


#: Job states before the scheduler has the job.
UNSUBMITTED = ("prepared", "submitting")


_SUBMIT_LOCK = threading.Lock()


@contextmanager
def _submitting(poll_seconds: float, stop: threading.Event | None) -> Iterator[None]:
    """Hold this process's reference-submission lock, giving up when *stop* is set."""
    while not _SUBMIT_LOCK.acquire(timeout=poll_seconds):
        if stop is not None and stop.is_set():
            raise lifecycle.Stopped
    try:
        yield
    finally:
        _SUBMIT_LOCK.release()


class ReferenceError(Exception):
    """An elemental reference job did not give a usable result."""


@dataclass(frozen=True)
class Reference:
    element: str
    energy_per_atom: float
    lattice_parameter: float
    job: str


def guess_lattice_parameter(element: str, lattice: str) -> float:
    """A starting lattice parameter (Å): the element's own atomic volume, or radius."""
    per_cell = len(BASIS[lattice])
    try:
        from ase.build import bulk

        atoms = bulk(element)
        volume = atoms.get_volume() / len(atoms)
    except Exception:  # noqa: BLE001 - ASE has no reference state for it
        from pymatgen.core import Element

        radius = Element(element).metallic_radius or Element(element).atomic_radius
        packing = 0.74 if lattice == "fcc" else 0.68
        volume = 4 / 3 * math.pi * float(radius or 1.4) ** 3 / packing
    return float((per_cell * volume) ** (1 / 3))


def pure_structure(element: str, lattice: str, a: float) -> Structure:
    from pymatgen.core import Lattice, Structure

    sites = BASIS[lattice]
    return Structure(Lattice.cubic(a), [element] * len(sites), sites)


class References:
    """The references of one calculator and lattice under a work directory."""

    def __init__(self, config: DFTConfig, work: Path, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        key = f"{config.calculator}-{config.lattice}"
        self.directory = work / "references" / key
        self.prefix = f"loop-ref-{key}"

    def ensure(
        self,
        elements: list[str],
        slots: Path | None = None,
        limit: int = 1,
        stop: threading.Event | None = None,
    ) -> dict[str, Reference]:
        """The references of *elements*, submitting and waiting for missing ones.

        With *slots* (a campaign's slot directory, *limit* slots), a reference
        job this call submits holds a slot until it ends, so references count
        towards `max_concurrent_jobs` like trial jobs; one that is submitted or
        done already (by another trial, or an earlier campaign) holds none.
        """
        held: dict[str, Any] = {}
        out: dict[str, Reference] = {}
        try:
            # one thread of this process submits at a time, so that two trials
            # starting together do not both take a slot for the same reference
            with _submitting(self.config.poll_seconds, stop):
                for element in elements:
                    job = self._prepared(element)
                    if slots is not None and job.read()["state"] in UNSUBMITTED:
                        while (got := lifecycle.try_slot(slots, limit)) is None:
                            if held:  # all slots taken: let our oldest reference end
                                first = next(iter(held))
                                out[first] = self._collect(first, stop)
                                lifecycle.release(held.pop(first))
                            else:
                                lifecycle.pause(self.config.poll_seconds, stop)
                        held[element] = got[1]
                    lifecycle.ensure_submitted(job, self.backend)
            for element in elements:
                if element not in out:
                    out[element] = self._collect(element, stop)
                if element in held:
                    lifecycle.release(held.pop(element))
        finally:
            for handle in held.values():
                lifecycle.release(handle)
        return {el: out[el] for el in elements}

    def _collect(self, element: str, stop: threading.Event | None) -> Reference:
        """Wait for *element*'s reference job and read its result."""
        job = lifecycle.Job(self.directory / element)
        status = lifecycle.wait(
            job,
            self.backend,
            poll_seconds=self.config.poll_seconds,
            vanish_after=self.config.vanish_after,
            stop=stop,
        )
        if status.state != "completed":
            raise ReferenceError(
                f"the {element} reference job in {job.directory} ended "
                f"{status.state}: {status.reason}; remove that directory to "
                "compute it again"
            )
        try:
            outcome = parse(job.directory)
        except Exception as exc:
            raise ReferenceError(
                f"the {element} reference in {job.directory} is unusable: {exc}"
            ) from exc
        per_cell = len(BASIS[self.config.lattice])
        a = (outcome.volume_per_atom * per_cell) ** (1 / 3)
        return Reference(element, outcome.energy_per_atom, a, job.read()["name"])

    def _prepared(self, element: str) -> lifecycle.Job:
        """The reference job directory of *element*, written if missing."""
        directory = self.directory / element
        name = f"{self.prefix}-{element}"
        start = self.config.lattice_parameters.get(element) or guess_lattice_parameter(
            element, self.config.lattice
        )
        write_job(
            directory,
            pure_structure(element, self.config.lattice, start),
            self.config,
            name=name,
            campaign="(shared)",
            label=f"{element} reference",
            relax="volume",
            record={"kind": "reference", "element": element},
        )
        return lifecycle.Job(directory)
