"""`loop report NAME`: one self-contained HTML page about a campaign."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from loop.cli.common import DbOption, friendly, out


@friendly
def report(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="HTML file to write (default: NAME-report.html).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Write an HTML report: progress, composition space, model quality, trials."""
    from loop.errors import BadInputError
    from loop.report.data import build_report
    from loop.report.html import render_html
    from loop.report.terminal import calibration_lines
    from loop.storage import Store

    path = output or Path(f"{name}-report.html")
    if path.is_dir():
        raise BadInputError(
            f"{path} is a folder", f"give a file name, e.g. -o {path / name}.html"
        )
    store = Store(db, create=False, read_only=True)
    with out.status(f"report for {escape(name)}: reading trials") as status:
        data = build_report(
            store, name, lambda step: status.update(f"{escape(name)}: {escape(step)}")
        )
        status.update(f"{escape(name)}: drawing")
        page = render_html(data)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise BadInputError(
            f"cannot write {path}: {exc.strerror or exc}",
            "choose another file with -o, in a folder that exists and is writable",
        ) from exc
    for note in data.notes:
        out.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for line in calibration_lines(data.held_out, data.cv, data.failure):
        out.print(escape(line), highlight=False)
    size = len(page.encode("utf-8")) / 1e6
    out.print(
        f"wrote {escape(str(path))} ({size:.1f} MB, self-contained: open it in any "
        f"browser, no network needed)",
        highlight=False,
    )
