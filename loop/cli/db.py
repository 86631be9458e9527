"""Database commands: `loop db version|upgrade|backup`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from loop.cli.common import DbOption, friendly, out
from loop.errors import BadInputError

db_app = typer.Typer(
    help="Look after the database: schema version, upgrades, backups.",
    no_args_is_help=True,
)


@db_app.command("version")
@friendly
def db_version(db: DbOption = "sqlite:///loop.db") -> None:
    """Show the database's schema version and whether it needs `loop db upgrade`."""
    from loop.storage.migrations import newer, shown, status, upgrade_hint
    from loop.storage.tables import SCHEMA_VERSION

    state = status(db)
    where = shown(db)
    if state.fresh:
        out.print(f"{where}: empty (no loop tables yet)", highlight=False)
        return
    if not state.is_loop:
        raise BadInputError(f"{where} is not a loop database", "check --db / LOOP_DB")
    history = (
        f"migration {state.revision}"
        if state.revision
        else "no migration history: made before loop had migrations"
    )
    if newer(state):
        verdict = f"newer than this loop ({SCHEMA_VERSION}): upgrade loop to use it"
    elif state.schema_version == SCHEMA_VERSION and state.revision:
        verdict = "up to date"
    else:
        verdict = f"this loop needs {SCHEMA_VERSION}: {upgrade_hint(db)}"
    out.print(
        escape(f"{where}: schema {state.schema_version} ({history}); {verdict}"),
        highlight=False,
    )


@db_app.command("upgrade")
@friendly
def db_upgrade(db: DbOption = "sqlite:///loop.db") -> None:
    """Migrate the database to this loop's schema, in one transaction."""
    from loop.storage.migrations import shown, upgrade

    done = upgrade(db)
    where = shown(db)
    if done.before is None:
        message = f"{where}: created schema {done.after}"
    elif done.before == done.after:
        message = f"{where}: already at schema {done.after}; nothing to do"
    else:
        message = f"{where}: upgraded from schema {done.before} to {done.after}"
    if done.adopted:
        message += f" (found without migration history; recognised as {done.adopted})"
    out.print(escape(message), highlight=False)


@db_app.command("backup")
@friendly
def db_backup(
    file: Annotated[Path, typer.Argument(help="New file to write the copy to.")],
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Copy a SQLite database safely, even while loop is using it."""
    from loop.storage.migrations import shown
    from loop.storage.migrations.backup import backup

    done = backup(db, file)
    out.print(
        escape(
            f"backed up {shown(db)} to {done.path} ({done.size / 1024:.0f} KiB, schema "
            f"{done.schema_version}, {_count(done.campaigns, 'campaign')}, "
            f"{_count(done.trials, 'trial')})"
        ),
        highlight=False,
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
