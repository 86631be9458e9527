"""Operator commands on one trial: `loop trial void|amend|retry|abandon NAME ID`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from loop.cli.common import DbOption, friendly, out

trial_app = typer.Typer(
    help="Correct one trial, with an audited reason: void or amend a measurement, "
    "retry or abandon a trial.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Campaign name.")]
IdArg = Annotated[int, typer.Argument(help="Trial id (see `loop inspect NAME`).")]
ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why (kept in the trial's audit events).")
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who acts (default: the OS user).", show_default=False),
]


def _act(
    action: str,
    name: str,
    trial_id: int,
    reason: str,
    by: str | None,
    db: str,
    values: list[str] | None = None,
) -> None:
    from loop.service.trials import act_on_trial
    from loop.storage import Store

    store = Store(db, create=False)
    done: dict[str, Any] = act_on_trial(
        store, name, trial_id, action, reason=reason, by=by, values=values
    )
    change = (
        f"{done['from_status']} -> {done['to_status']} (attempt {done['attempt']})"
        if done["from_status"] != done["to_status"]
        else done["to_status"]
    )
    out.print(
        escape(f"trial {trial_id} of {name}: {action} by {done['by']}; {change}"),
        highlight=False,
    )
    if "new" in done:
        out.print(
            escape(f"  values {done['old']['values']} -> {done['new']['values']}"),
            highlight=False,
        )
    elif action == "void":
        out.print(
            escape(
                f"  measurement {done['old']['values']} no longer counts "
                "(model, best, report); the experiment still spent its budget"
            ),
            highlight=False,
        )


@trial_app.command("void")
@friendly
def void(
    name: NameArg,
    trial_id: IdArg,
    reason: ReasonOption,
    by: ByOption = None,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Void a COMPLETED trial's measurement: kept and shown, counted nowhere."""
    _act("void", name, trial_id, reason, by, db)


@trial_app.command("amend")
@friendly
def amend(
    name: NameArg,
    trial_id: IdArg,
    reason: ReasonOption,
    value: Annotated[
        list[str],
        typer.Option("--value", help="NAME=X, an objective's corrected value."),
    ],
    by: ByOption = None,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Replace measured values of a COMPLETED trial (the old ones stay audited)."""
    _act("amend", name, trial_id, reason, by, db, values=value)


@trial_app.command("retry")
@friendly
def retry(
    name: NameArg,
    trial_id: IdArg,
    reason: ReasonOption,
    by: ByOption = None,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Put a FAILED or NEEDS_REVIEW trial back to PENDING with the next attempt."""
    _act("retry", name, trial_id, reason, by, db)


@trial_app.command("abandon")
@friendly
def abandon(
    name: NameArg,
    trial_id: IdArg,
    reason: ReasonOption,
    by: ByOption = None,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """End an in-flight or NEEDS_REVIEW trial for good (frees its budget slot)."""
    _act("abandon", name, trial_id, reason, by, db)
