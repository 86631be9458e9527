"""Importing a campaign's `prior_data` files (issue 14).

`loop run` and `loop.Campaign.from_yaml` call `import_prior_data` under the
driver lease after creating or continuing a campaign and before its first
proposal, so the initial design and the model see the past measurements. Each
file is imported as `loop import` would (`loop.service.importer.import_file`,
once per file content), except that a file's unusable rows do not stop it:
they are listed in the result, and only a file without a usable row is an
error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from loop.campaign_state import load_spec
from loop.errors import BadInputError, SpecError
from loop.records import CampaignRecord
from loop.service.campaigns import ensure_campaign
from loop.service.importer import Imported, import_file
from loop.spec import CampaignSpec
from loop.spec.tables import find_data_file, not_found
from loop.storage import Store
from loop.storage.driver import Lease, driving


@dataclass(frozen=True)
class Started:
    """A campaign created or continued from its file, held by this driver."""

    record: CampaignRecord
    #: What happened: "created", "continued", "updated budget, ..."
    what: str
    #: What each `prior_data` file added: (YAML key, result).
    imported: list[tuple[str, Imported]]
    lease: Lease


@contextmanager
def start(store: Store, spec: CampaignSpec) -> Iterator[Started]:
    """Create or continue the campaign of *spec*, then import its `prior_data`,
    all under the driver lease, which the caller keeps until the block ends.

    A new campaign is created first (nobody else can drive it yet); an
    existing one is changed only under the lease, so a start refused because
    another driver holds it changes nothing.
    """
    created = None
    if store.find_campaign(spec.name) is None:
        created = ensure_campaign(store, spec)
    with driving(store, spec.name) as lease:
        record, what = created or ensure_campaign(store, spec)
        imported = import_prior_data(store, record.name, lease)
        yield Started(record, what, imported, lease)


def import_prior_data(
    store: Store, name: str, lease: Lease | None = None
) -> list[tuple[str, Imported]]:
    """Import every `prior_data` file of campaign *name*; (YAML key, what was
    done) per file. *lease*: the driver lease the caller holds, checked before
    each file."""
    spec = load_spec(store.get_campaign(name))
    done = []
    for i, entry in enumerate(spec.prior_data):
        key = f"prior_data.{i}"
        path, tried = find_data_file(entry.path)
        if path is None:
            raise SpecError([not_found(f"{key}.path", entry.path, tried)])
        if lease is not None:
            lease.check()
        try:
            result = import_file(
                store,
                name,
                path,
                dict(entry.columns),
                entry.normalize,
                where=dict(entry.where),
                keep_outside=entry.keep_outside,
                partial=True,
            )
        except BadInputError as exc:
            raise BadInputError(f"{key}: {exc.message}", exc.hint) from None
        done.append((key, result))
    return done
