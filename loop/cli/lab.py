"""Commands for labs with robots: `loop serve`, `loop robots ...`, `loop robot simulate`."""

from __future__ import annotations

import ipaddress
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from loop.cli.common import DbOption, err, friendly, out, print_table
from loop.errors import BadInputError
from loop.storage.connection import redact_url

robots_app = typer.Typer(
    help="Manage robot tokens: add, list, revoke.", no_args_is_help=True
)
robot_app = typer.Typer(help="Play robots against a running API.", no_args_is_help=True)

CampaignOption = Annotated[
    str, typer.Option("--campaign", "-c", help="Campaign name.", show_default=False)
]


@friendly
def serve(
    db: DbOption = "sqlite:///loop.db",
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM).", show_default=False)
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="TLS private key (PEM).", show_default=False)
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow plain HTTP on a non-loopback address."),
    ] = False,
) -> None:
    """Serve the robot HTTP API (and its OpenAPI document) for the campaigns in --db."""
    import uvicorn

    from loop.api import create_app
    from loop.faults import check_env
    from loop.storage import Store

    check_env()
    if not _loopback(host) and ssl_certfile is None and not insecure:
        raise BadInputError(
            f"refusing plain HTTP on {host}: robot tokens would cross the network "
            "unencrypted",
            "give --ssl-certfile/--ssl-keyfile, put a TLS proxy in front and bind "
            "127.0.0.1, or pass --insecure on a trusted lab network",
        )
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise BadInputError(
            "--ssl-certfile and --ssl-keyfile go together", "give both or neither"
        )
    store = Store(db, create=False)
    if not _loopback(host) and ssl_certfile is None:
        logging.getLogger("loop").warning("serving plain HTTP on %s (--insecure)", host)
        err.print(f"[bold red]warning:[/] plain HTTP on {host} (--insecure)")
    scheme = "https" if ssl_certfile else "http"
    out.print(f"serving {redact_url(db)} on {scheme}://{host}:{port}")
    uvicorn.run(
        create_app(store),
        host=host,
        port=port,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        log_level="info",
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@robots_app.command("add")
@friendly
def robots_add(
    name: Annotated[str, typer.Argument(help="Robot name (unique per campaign).")],
    campaign: CampaignOption,
    db: DbOption = "sqlite:///loop.db",
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Only read the campaign's status.")
    ] = False,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            metavar="DURATION",
            help="Refuse the token after this long: 30d, 12h, 90m, 3600 (seconds) "
            "or ISO 8601 (P30D). Default: never.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Mint a token for a robot controller; it is printed once and never stored."""
    from loop.durations import parse_duration
    from loop.service.robots import add_robot
    from loop.storage import Store

    lifetime = None if expires is None else parse_duration(expires, "--expires")
    new = add_robot(
        Store(db, create=False),
        campaign,
        name,
        "read" if read_only else "robot",
        expires=lifetime,
    )
    err.print(
        f"robot [bold]{escape(name)}[/] added to campaign {escape(campaign)} "
        f"with scopes {', '.join(new.key.scopes)}"
        + (
            f", valid until {new.key.expires_at:%Y-%m-%d %H:%M} UTC.\n"
            if new.key.expires_at
            else ".\n"
        )
        + "Store this token now (e.g. in the controller's secret store); loop keeps "
        "only its hash and cannot show it again:",
        highlight=False,
    )
    print(new.token)


@robots_app.command("list")
@friendly
def robots_list(
    campaign: Annotated[
        str | None, typer.Option("--campaign", "-c", help="Only this campaign.")
    ] = None,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """List robot keys (never the tokens)."""
    from loop.storage import Store
    from loop.storage.keys import keys

    table = Table(
        "campaign",
        "robot",
        "prefix",
        "scopes",
        "created",
        "last used",
        "expires",
        "state",
    )
    now = datetime.now(UTC)
    for key in keys(Store(db, create=False), campaign):
        expired = key.expires_at is not None and key.expires_at <= now
        table.add_row(
            key.campaign,
            key.name,
            key.prefix,
            " ".join(key.scopes),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-",
            f"{key.expires_at:%Y-%m-%d %H:%M}" if key.expires_at else "never",
            "revoked" if key.revoked_at else "expired" if expired else "active",
        )
    print_table(table)


@robots_app.command("revoke")
@friendly
def robots_revoke(
    name: Annotated[str, typer.Argument(help="Robot name.")],
    campaign: CampaignOption,
    db: DbOption = "sqlite:///loop.db",
) -> None:
    """Revoke a robot's token at once (its next request gets 401)."""
    from loop.storage import Store
    from loop.storage.keys import revoke_key

    revoke_key(Store(db, create=False), campaign, name)
    out.print(f"robot {escape(name)} of campaign {escape(campaign)} revoked")


@robot_app.command("simulate")
@friendly
def robot_simulate(
    campaign: CampaignOption,
    token: Annotated[
        str,
        typer.Option(
            envvar="LOOP_TOKEN",
            help="Robot token (or $LOOP_TOKEN).",
            show_default=False,
        ),
    ],
    function: Annotated[
        str, typer.Option(help="Simulator function that plays the experiment.")
    ],
    url: Annotated[str, typer.Option(help="API base URL.")] = "http://127.0.0.1:8000",
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Robots in parallel.")
    ] = 1,
    fail_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Chance a run fails (retryable).")
    ] = 0.0,
    latency: Annotated[
        float, typer.Option(min=0.0, help="Seconds each experiment takes.")
    ] = 0.0,
    crash_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Chance a robot vanishes after a claim."),
    ] = 0.0,
    duplicate_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Chance a measurement is posted twice."),
    ] = 0.0,
    noise: Annotated[
        float, typer.Option(min=0.0, help="Measurement noise (sd).")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the robots' dice.")] = 0,
) -> None:
    """Drive a robot campaign through the real API with simulated robots."""
    from loop.plugins import adapter_class
    from loop.ports import RobotSimulatorClass

    robot = adapter_class("robot")
    if not isinstance(robot, RobotSimulatorClass):
        raise BadInputError(
            "the installed robot adapter cannot simulate robots",
            "install loop's own robot adapter (`type: robot`), which provides "
            "`simulate`",
        )
    summary = robot.simulate(
        url=url,
        campaign=campaign,
        token=token,
        function=function,
        workers=workers,
        fail_rate=fail_rate,
        latency=latency,
        crash_rate=crash_rate,
        duplicate_rate=duplicate_rate,
        noise=noise,
        seed=seed,
        log=lambda line: err.print(escape(line), highlight=False),
    )
    out.print(escape(str(summary)), highlight=False)
