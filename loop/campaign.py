"""`loop.Campaign`: the Python API for notebooks and scripts.

The same campaign, engine and store as the CLI: a notebook that asks and tells
and `loop inspect` in a terminal see one campaign. Nothing runs in the
background and no server is needed: `ask` proposes and stores a batch (holding
the driver lease only while it writes, so it never races a `loop run`),
`tell` stores a measurement (for a proposed trial, or for a configuration the
lab chose itself), and every call is one or more transactions of the store, so
a kernel that dies loses nothing that a call returned.

    import loop

    campaign = loop.Campaign.from_yaml("campaigns/electrolyte-manual.yaml",
                                       db="sqlite:///electrolyte.db")
    for trial in campaign.ask(2):
        value = my_measurement(trial.composition, trial.parameters)
        campaign.tell(trial.id, {"conductivity": value})
    campaign.trials()   # a pandas DataFrame, one row per trial
    campaign.best()     # the best trial so far (one objective)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from loop.campaign_state import CampaignState, load_spec
from loop.records import Trial
from loop.spec import CampaignSpec
from loop.spec.formulas import formula
from loop.storage import Store

if TYPE_CHECKING:
    import pandas as pd

    from loop.service.importer import Imported


class Campaign:
    """One stored campaign, driven from Python."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        store.get_campaign(name)  # a clear error now if there is none

    @classmethod
    def from_yaml(cls, path: str | Path, db: str = "sqlite:///loop.db") -> Campaign:
        """Create the campaign of the YAML file *path* in *db*, or continue it (as
        `loop run` does: only budget, description, executor, the objectives'
        bounds and `prior_data` may change), and import its `prior_data` files
        (under the driver lease, once per file content)."""
        from loop.service.campaigns import ensure_campaign
        from loop.service.prior import start
        from loop.spec import load_path

        store = Store(db)
        spec = load_path(path)
        if not spec.prior_data:  # nothing to import: no lease needed
            record, _ = ensure_campaign(store, spec)
            return cls(store, record.name)
        with start(store, spec) as started:
            return cls(store, started.record.name)

    @classmethod
    def open(cls, name: str, db: str = "sqlite:///loop.db") -> Campaign:
        """A campaign already stored in *db*."""
        return cls(Store(db, create=False), name)

    @property
    def spec(self) -> CampaignSpec:
        return load_spec(self.store.get_campaign(self.name))

    def ask(self, n: int | None = None) -> list[Trial]:
        """Propose and store up to *n* trials (default: the strategy's
        batch size), pending until told; fewer when the budget runs out."""
        from loop.service.asking import propose_batch

        return propose_batch(self.store, self.name, n)

    def tell(
        self,
        trial: int | dict[str, float] | str,
        values: dict[str, float],
        parameters: dict[str, Any] | None = None,
        *,
        keep_outside: bool = False,
    ) -> Trial:
        """Store *values* (every objective) for a proposed trial (its id), or for
        a configuration never proposed: a composition by component, or a formula
        such as `"Fe70Cr20Ni10"`, with its *parameters*. *keep_outside* keeps an
        off-plan configuration outside the space for the model, never as the
        best (as `loop tell --keep-outside`)."""
        from loop.service.tell import tell

        if isinstance(trial, int):
            return tell(self.store, self.name, values, trial_id=trial)
        return tell(
            self.store,
            self.name,
            values,
            composition=trial,
            parameters=parameters or {},
            source="python",
            keep_outside=keep_outside,
        )

    def fail(self, trial: int, reason: str) -> Trial:
        """Record that the experiment of proposed trial *trial* failed for good,
        with *reason*: it spends its budget slot, and the model learns to avoid
        its region (as `loop tell NAME --trial ID --failed REASON`)."""
        from loop.service.tell import fail

        return fail(self.store, self.name, trial, reason, source="python")

    def add_data(
        self,
        frame: pd.DataFrame,
        columns: dict[str, str] | None = None,
        *,
        source: str = "dataframe",
        normalize: bool = False,
        keep_outside: bool = False,
    ) -> Imported:
        """Import past measurements from a DataFrame, as `loop import` does from
        a file: one trial of phase `imported` per row, all rows or none (a
        refused row raises `BadInputError` listing every refused row), no budget
        spent. *columns* maps campaign names to column names; *source* names the
        table in each trial's provenance. The same table given twice adds
        nothing (idempotent by content)."""
        from loop.service.importer import frame_digest, import_frame

        return import_frame(
            self.store,
            self.name,
            frame.reset_index(drop=True),
            frame_digest(frame),
            source,
            columns,
            normalize,
            keep_outside=keep_outside,
        )

    def trials(self) -> pd.DataFrame:
        """One row per trial: id, iteration, status, phase, each component, the
        formula (element campaigns), each parameter and each measured value."""
        import pandas as pd

        spec = self.spec
        comp = spec.space.composition
        rows = []
        for t in self.store.trials(self.name):
            row: dict[str, Any] = {
                "id": t.id,
                "iteration": t.iteration,
                "status": t.status.value,
                "phase": t.phase.value,
                **t.composition,
            }
            if comp is not None and comp.kind == "element":
                row["formula"] = formula(comp, t.composition)
            row.update(t.parameters)
            row.update({o.name: t.values.get(o.name) for o in spec.objectives})
            rows.append(row)
        return pd.DataFrame(rows).set_index("id") if rows else pd.DataFrame()

    def best(self) -> Trial | None:
        """The best acceptable trial for the first objective (None before one)."""
        return CampaignState(self.spec, self.store.trials(self.name)).best

    def pareto(self) -> list[Trial]:
        """The acceptable trials no other beats on every objective."""
        return CampaignState(self.spec, self.store.trials(self.name)).pareto
