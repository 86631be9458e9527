"""`loop tell` and `loop import`: measurements loop did not ask an adapter for.

Thin commands over `loop.service.tell` and `loop.service.importer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from loop.cli.common import DbOption, friendly, out
from loop.errors import BadInputError

#: Refused rows listed in a report (the count says how many more).
SHOWN = 20


@friendly
def tell(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    value: Annotated[
        list[str] | None,
        typer.Option(
            "--value",
            metavar="NAME=NUMBER",
            help="A measured value; one per objective (repeat the option).",
        ),
    ] = None,
    failed: Annotated[
        str | None,
        typer.Option(
            "--failed",
            metavar="REASON",
            help="With --trial: the experiment failed, for this reason (no values).",
        ),
    ] = None,
    trial: Annotated[
        int | None,
        typer.Option("--trial", metavar="ID", help="The proposed trial this measures."),
    ] = None,
    composition: Annotated[
        str | None,
        typer.Option(
            help="Measured off plan: a formula (Fe70Cr20Ni10) or amounts "
            "(EC=0.4,DMC=0.6).",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", metavar="NAME=VALUE", help="A process parameter (off plan)."
        ),
    ] = None,
    keep_outside: Annotated[
        bool,
        typer.Option(
            "--keep-outside",
            help="Off plan, outside the campaign's bounds or constraints: keep it "
            "for the model, never as the best.",
        ),
    ] = False,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Enter a measurement by hand: for a proposed trial, or a point never proposed."""
    from loop.service.tell import fail
    from loop.service.tell import tell as tell_measurement
    from loop.storage import Store

    if failed is not None:
        if value or trial is None or composition is not None or param:
            raise BadInputError(
                "--failed goes with --trial alone",
                "report a failed proposed trial as `loop tell NAME --trial ID --failed "
                '"reason"`, without --value, --composition or --param',
            )
        done = fail(Store(db, create=False), name, trial, failed)
        out.print(
            escape(f"trial {done.id} of {name}: failed ({done.failure_reason})"),
            highlight=False,
        )
        return
    if not value:
        raise BadInputError(
            "no --value given",
            "give every objective's value (--value NAME=NUMBER, repeated), or "
            '--failed "reason" with --trial for an experiment that failed',
        )
    values = {k: _number(k, v, "--value") for k, v in _pairs(value, "--value").items()}
    amounts: dict[str, float] | str | None = composition
    if composition is not None and "=" in composition:
        amounts = {
            k: _number(k, v, "--composition")
            for k, v in _pairs(composition.split(","), "--composition").items()
        }
    store = Store(db, create=False)
    told = tell_measurement(
        store,
        name,
        values,
        trial_id=trial,
        composition=amounts,
        parameters=_pairs(param or [], "--param") if trial is None else None,
        keep_outside=keep_outside,
    )
    shown = " ".join(f"{k}={v:.6g}" for k, v in told.values.items())
    out.print(
        f"trial {told.id} of {escape(name)} ({told.phase.value}): {escape(shown)}",
        highlight=False,
    )


def _pairs(items: list[str], option: str) -> dict[str, str]:
    """`NAME=VALUE` items as a dict; a clear error naming *option* otherwise."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(
                f"{option} '{item}' is not NAME=VALUE", f"write e.g. {option} name=1.5"
            )
        pairs[key.strip()] = raw.strip()
    return pairs


def _number(key: str, raw: str, option: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise BadInputError(
            f"{option} {key}='{raw}' is not a number", f"write e.g. {option} {key}=1.5"
        ) from None


@friendly
def import_(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    file: Annotated[Path, typer.Argument(help="CSV (header row) or JSON records.")],
    columns: Annotated[
        str | None,
        typer.Option(
            metavar="NAME=COLUMN,...",
            help="Columns named differently from the campaign (as the dataset "
            "adapter's `columns`); composition=COLUMN for a column of formulas.",
        ),
    ] = None,
    normalize: Annotated[
        bool,
        typer.Option(help="Rescale each row's amounts to the campaign's total."),
    ] = False,
    keep_outside: Annotated[
        bool,
        typer.Option(
            help="Store rows outside the campaign's space (bounds, grids, "
            "constraints) for the model, never as the best, instead of refusing them."
        ),
    ] = False,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Import past measurements: each row a trial that spends no budget."""
    from loop.service.importer import import_file
    from loop.storage import Store

    mapping = _pairs(columns.split(","), "--columns") if columns else {}
    done = import_file(
        Store(db, create=False),
        name,
        file,
        mapping,
        normalize,
        keep_outside=keep_outside,
    )
    for line in imported_lines(done, name):
        out.print(escape(line), highlight=False)


def imported_lines(done: Any, name: str) -> list[str]:
    """What an import did (`loop.service.importer.Imported`), in lines: stored,
    kept outside the space, repeated, refused (each refused row on a line)."""
    if done.already:
        return [
            f"{done.file} (sha256 {done.sha256[:12]}) was imported into {name} "
            "before; nothing added"
        ]
    said = [
        f"imported {done.stored} measurements from {done.file} into {name} "
        "(phase imported; no budget spent)"
    ]
    if done.outside:
        said.append(
            f"  {done.outside} of them outside the campaign's space: kept for the "
            "model, never the best (shown as 'outside')"
        )
    if done.repeated:
        said.append(
            f"  {done.repeated} rows left out: already imported from an earlier "
            f"version of {done.file}"
        )
    if done.refused:
        said.append(f"  {len(done.refused)} rows not imported:")
        said += [f"    {why}" for why in done.refused[:SHOWN]]
        if len(done.refused) > SHOWN:
            said.append(f"    ... and {len(done.refused) - SHOWN} more")
    return said
