"""What every `loop` command shares: consoles, common options, error handling."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.segment import Segment

from loop.errors import LoopError
from loop.ports import DATA_ROOT_ENV

#: Characters a terminal acts on rather than shows: C0 controls but newline and
#: tab, DEL, C1 controls, and the bidirectional overrides and isolates that
#: make text read differently from what it is ("Trojan Source").
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """*text* safe to show on a terminal: each control character (ESC, BEL,
    CR, C1, bidi overrides ...) written out as its escape, e.g. `\\x1b`, so
    stored text (a robot's failure reason, event details, a measurement's
    source, a description) can neither clear the screen, retitle the window,
    hide a hyperlink nor move the cursor, and the operator still sees it."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


class TerminalConsole(Console):
    """A rich Console that never writes a control character it did not make:
    every text segment goes through `printable` (rich's `escape` handles
    markup, not control characters); rich's own styles and cursor moves, which
    are control segments, pass as they are."""

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control or not _CONTROL.search(segment.text):
                yield segment
            else:
                yield Segment(printable(segment.text), segment.style)


# soft_wrap: never break `file:line: path: message` lines, so they stay greppable
out = TerminalConsole(soft_wrap=True)
err = TerminalConsole(stderr=True, soft_wrap=True)

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
    wide = TerminalConsole(file=out.file, width=200, soft_wrap=True)
    wide.print(table, width=Measurement.get(wide, wide.options, table).maximum)
