"""Commands about one campaign and its file: validate, schema, run, resume,
inspect, export."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from loop.cli.common import (
    DataRootOption,
    DbOption,
    err,
    friendly,
    out,
)
from loop.display import (
    composition_text,
    configuration_text,
    hypervolume_text,
    number,
    parameters_text,
    value_text,
)
from loop.storage.connection import redact_url


@friendly
def validate(
    file: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    data_root: DataRootOption = None,
) -> None:
    """Check a campaign file and list every problem (exit 0 or 2)."""
    from loop.spec import load_path

    spec = load_path(file)
    out.print(f"[green]ok[/] {file}: campaign '{spec.name}' is valid", highlight=False)
    _warn(spec, file)


@friendly
def schema(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here.")
    ] = None,
    api: Annotated[bool, typer.Option("--api", help="The HTTP API's OpenAPI.")] = False,
) -> None:
    """Print (or write) the JSON Schema of campaign files, for editors."""
    if api:  # the robot HTTP API's, as served (docs/reference/openapi.json)
        from loop.api.app import openapi_document as document
    else:
        from loop.spec.schema import campaign_schema as document
    text = json.dumps(document(), indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@friendly
def run(
    file: Annotated[Path, typer.Argument(help="Campaign YAML file.")],
    db: DbOption = "sqlite:///loop.db",
    seed: Annotated[int | None, typer.Option(help="Override the file's seed.")] = None,
    data_root: DataRootOption = None,
) -> None:
    """Create (or continue) the campaign of FILE and drive it to its budget."""
    from loop.faults import check_env
    from loop.service.prior import start
    from loop.spec import load_path, validate
    from loop.storage import Store

    check_env()
    spec = load_path(file)
    if seed is not None:
        spec = validate({**spec.model_dump(mode="json"), "seed": seed}, str(file))
    _warn(spec, file)
    store = Store(db)
    # created or changed, and its prior data imported, under the driver lease:
    # the first proposal sees the prior data
    with start(store, spec) as started:
        name = started.record.name
        out.print(
            f"campaign [bold]{name}[/] {started.what} in {redact_url(db)}",
            highlight=False,
        )
        _print_imported(started.imported, name)
        _drive(store, name, db, started.lease)


def _print_imported(imported: list[Any], name: str) -> None:
    """One report per `prior_data` file, as `loop import` prints it."""
    from loop.cli.measurements import imported_lines

    for key, done in imported:
        for line in imported_lines(done, name):
            out.print(escape(f"{key}: {line}"), highlight=False)


@friendly
def resume(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    db: DbOption = "sqlite:///loop.db",
    data_root: DataRootOption = None,
) -> None:
    """Continue a campaign after a stop or crash; nothing is lost or repeated."""
    from loop.faults import check_env
    from loop.storage import Store

    check_env()
    store = Store(db, create=False)
    store.get_campaign(name)
    _drive(store, name, db)


@contextmanager
def _stop_on_signals(received: list[int]) -> Iterator[None]:
    """While driving, Ctrl-C or SIGTERM stop the driver at the next step.

    The first signal only sets the stop flag: the driver finishes the step it
    is in (a write; at most a second while evaluations run) and leaves by
    KeyboardInterrupt, which releases the driver lease on its way, so `loop
    resume` can start at once. Stopping between steps keeps the interrupt out
    of database drivers. A proposal (model fit and acquisition search, which
    can take minutes on a large space) writes nothing, so a signal during one
    interrupts it at once: the proposal is dropped and `loop resume` makes it
    again. A second Ctrl-C stops at once (still safe: every write is one
    transaction). The signals go into *received*.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    from loop.service.runner import proposing, stop_requested

    stop_requested.clear()

    def stop(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            stop_requested.set()
            if proposing.is_set() and not _in_import_machinery(_frame):
                # inside a model fit nothing is being written: stop now
                err.print("\nstopping: the proposal in progress is dropped")
                raise KeyboardInterrupt
            err.print(
                "\nstopping after the current step"
                + (" (Ctrl-C again to stop at once)" if signum == signal.SIGINT else "")
            )
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _in_import_machinery(frame: Any) -> bool:
    """Whether a signal arrived inside importlib (a first-time import during a
    fit). An exception raised there can land in a weakref callback of its module
    locks, where Python prints a traceback and ignores it; the handler then
    stops after the current step instead."""
    return frame is not None and frame.f_code.co_filename.startswith(
        "<frozen importlib"
    )


def _drive(store: Any, name: str, db: str, lease: Any = None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from loop.service.progress import Progress as Step
    from loop.service.runner import run_campaign

    columns = (
        TextColumn("[bold]{task.fields[name]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[result]}  {task.fields[message]}"),
    )
    received: list[int] = []
    try:
        with (
            _stop_on_signals(received),
            Progress(*columns, console=out, transient=False) as bar,
        ):
            task = bar.add_task(
                "run", total=None, name=name, result="best -", message="starting"
            )

            def show(step: Step) -> None:
                best = "-" if step.best is None else f"{step.best:.6g}"
                # several objectives have no single best: the Pareto set's size
                result = (
                    f"Pareto set of {step.pareto}"
                    + (
                        f", hypervolume {number(step.hypervolume.value)}"
                        if step.hypervolume is not None
                        else ""
                    )
                    if step.pareto is not None
                    else f"best {best}"
                )
                if step.warning:
                    err.print(f"warning: {step.warning}", highlight=False, markup=False)
                if not out.is_terminal:
                    # under nohup, systemd or a pipe the bar is not drawn: log lines
                    out.print(
                        f"{name}: {step.used}/{step.budget} used, {result}, "
                        f"{step.message}",
                        highlight=False,
                        markup=False,
                    )
                bar.update(
                    task,
                    completed=step.used,
                    total=step.budget,
                    result=result,
                    message=step.message,
                )

            summary = run_campaign(store, name, show, lease=lease)
    except KeyboardInterrupt:
        what = (
            "stopped (SIGTERM)" if received[:1] == [signal.SIGTERM] else "interrupted"
        )
        err.print(
            f"\n{what}: every finished step is stored. Continue with:\n"
            f"  {_self_command()} resume {name} --db {redact_url(db)}"
        )
        raise typer.Exit(130) from None
    _print_summary(summary, db)


def _print_summary(summary: Any, db: str) -> None:
    state = (
        "budget reached"
        if summary.finished
        else "every feasible configuration has been tried"
        if summary.exhausted
        else "waiting on trials in flight"
    )
    out.print(
        f"\n[bold]{summary.name}[/]: {state}; {summary.used} of {summary.budget} experiments "
        f"used ({summary.completed} measured, {summary.failed} failed)",
        highlight=False,
    )
    if summary.best is not None:
        best = summary.best
        comp = composition_text(best.composition)
        out.print(
            escape(f"best composition: {comp}" if comp else "best configuration:"),
            highlight=False,
        )
        if best.parameters:
            text = parameters_text(best.parameters, summary.units, sep=", ")
            out.print(escape(f"  parameters: {text}"), highlight=False)
        out.print(
            f"  {_values_text(best, summary.units)} (trial {best.id})", highlight=False
        )
    elif summary.pareto:
        out.print(
            f"Pareto set: {len(summary.pareto)} trials no objective can improve on "
            "without another getting worse",
            highlight=False,
        )
        for t in summary.pareto:
            config = configuration_text(
                t.composition, t.parameters, summary.units, compact=True
            )
            out.print(
                escape(f"  trial {t.id}: {_values_text(t, summary.units)}  ({config})"),
                highlight=False,
            )
        if summary.recommended is not None:
            out.print(
                f"recommended trade-off: trial {summary.recommended.id} (nearest the "
                "best of every objective at once, each scaled over the Pareto set)",
                highlight=False,
            )
        if summary.hypervolume is not None:
            hv = summary.hypervolume
            out.print(
                escape(
                    f"{hypervolume_text(hv.value, hv.reference, summary.units)} "
                    "(the reference: each goal's threshold where set, else 10 % of "
                    "the range beyond the worst value)"
                ),
                highlight=False,
            )
    out.print(
        f"inspect it with:  {_self_command()} inspect {summary.name} "
        f"--db {redact_url(db)}",
        highlight=False,
    )


def _warn(spec: Any, file: Path) -> None:
    """Print what validation found odd but not wrong (`loop.spec.advice`)."""
    from loop.spec.advice import spec_warnings

    for problem in spec_warnings(spec):
        err.print(
            escape(f"warning: {problem.render(str(file))}"),
            highlight=False,
        )


def _values_text(trial: Any, units: dict[str, str | None]) -> str:
    """`conductivity = 11.2 mS/cm, viscosity = 3.1 cP`."""
    return ", ".join(
        f"{k} = {value_text(v, units.get(k), digits=6)}"
        for k, v in trial.values.items()
    )


def _self_command() -> str:
    """How the user can call loop again: `loop` if on PATH, else the path they used."""
    import shutil

    invoked = Path(sys.argv[0])
    on_path = shutil.which("loop")
    if invoked.name == "loop" and (
        on_path is None or Path(on_path).resolve() != invoked.resolve()
    ):
        try:
            return str(invoked.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(invoked)
    return "loop"
