"""What every `loop` command shares: consoles, common options, error handling."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from loop.errors import LoopError
from loop.ports import DATA_ROOT_ENV

# soft_wrap: never break `file:line: path: message` lines, so they stay greppable
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="LOOP_DB",
        help="Database URL (sqlite:///FILE or postgresql+psycopg://...).",
    ),
]


def _set_data_root(value: Path | None) -> Path | None:
    if value is not None:
        os.environ[DATA_ROOT_ENV] = str(value.expanduser().resolve())
    return value


DataRootOption = Annotated[
    Path | None,
    typer.Option(
        "--data-root",
        help=f"Folder that relative data paths of dataset campaigns start from "
        f"(also ${DATA_ROOT_ENV}).",
        callback=_set_data_root,
        show_default=False,
    ),
]
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn loop's errors into a message, a hint and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LoopError as exc:
            err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
            if exc.hint:
                err.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("LOOP_DEBUG"):
                raise
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}",
                highlight=False,
            )
            err.print(
                "[yellow]hint:[/] this is a bug in loop; rerun with LOOP_DEBUG=1 for the "
                "traceback and report it",
                highlight=False,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_table(table: Any) -> None:
    """*table* on stdout: fitted to a terminal; at its natural width (up to 200
    columns) in a log file or a pipe, where nothing should be squeezed to 80."""
    if out.is_terminal:
        out.print(table)
        return
    from rich.measure import Measurement

    # a Console caps `print(width=)` at its own width, so a wider one is needed
    wide = Console(file=out.file, width=200, soft_wrap=True)
    wide.print(table, width=Measurement.get(wide, wide.options, table).maximum)
