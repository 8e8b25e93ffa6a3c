"""The `venue` command."""

from __future__ import annotations

import getpass
import logging
from pathlib import Path

import click

from venue.config import VenueSettings


def _settings(port: int | None, data_dir: Path | None, **extra: object) -> VenueSettings:
    values: dict[str, object] = {k: v for k, v in extra.items() if v is not None}
    if port is not None:
        values["port"] = port
    if data_dir is not None:
        values["data_dir"] = data_dir
    return VenueSettings(**values)  # type: ignore[arg-type]


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    """A FIX exchange venue: order entry, price-time matching, reports, trades in SQL."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.option("--port", type=int, help="FIX port on 127.0.0.1 (default 9878).")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Journal, SQLite, FIX store, logs."
)
def run(port: int | None, data_dir: Path | None) -> None:
    """Start the venue and serve FIX until Ctrl-C or SIGTERM."""
    from venue.app import run as run_venue

    run_venue(_settings(port, data_dir))


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="The venue's data directory.")
def ready(data_dir: Path | None) -> None:
    """Exit 0 if the SQL projection is healthy, else 1 with the reason (a poison event, the
    database unavailable, or no projection started)."""
    from venue.projection import read_status

    status = read_status(_settings(None, data_dir).data_dir.resolve())
    if status is None:
        raise click.ClickException("not ready: the SQL projection has not started")
    if status.get("state") != "ok":
        where = f" at event seq {status['poison_seq']}" if status.get("poison_seq") else ""
        raise click.ClickException(
            f"not ready: SQL projection {status.get('state')}{where}: {status.get('error')} "
            f"({status.get('failures')} failures; SQL at seq {status.get('last_seq', '?')})"
        )
    click.echo(f"ready: SQL projection at event seq {status.get('last_seq')}")


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1, VENUE_CONSOLE_HOST).")
@click.option("--port", type=int, help="HTTP port (default 8780, VENUE_CONSOLE_PORT).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="The running venue's data dir.")
def console(host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Serve the operator console (its own process; logins from [console.operators])."""
    from venue.console.server import serve
    from venue.console.settings import ConsoleSettings

    values = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    serve(_settings(None, data_dir), ConsoleSettings(**values))  # type: ignore[arg-type]


@main.command("hash-password")
@click.password_option()
def hash_password(password: str) -> None:
    """Print the hash to put in a session's `password_hash` in venue.toml."""
    from venue.fix.auth import hash_password as make_hash

    click.echo(make_hash(password))


@main.command()
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="Directory to copy the dictionaries into (created if missing).",
)  # fmt: skip
def dictionaries(out: Path) -> None:
    """Copy the venue's QuickFIX data dictionaries (FIX42.xml, FIX44.xml, ...) for clients."""
    import shutil

    from venue.fix.application import dictionary_dir

    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(dictionary_dir().glob("*.xml")):
        shutil.copyfile(path, out / path.name)
        click.echo(str(out / path.name))


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the SQLite file lives.")
def upgrade(data_dir: Path | None) -> None:
    """Create or migrate the schema to the latest revision (also done at every start)."""
    from venue.store.db import make_engine, migrate

    settings = _settings(None, data_dir)
    engine = make_engine(settings.db_url)
    migrate(engine)
    click.echo(f"schema up to date: {engine.url.render_as_string()}")


def _scope(session: str | None, firm: str | None, symbol: str | None, venue: bool) -> dict:
    chosen = [
        (scope, key)
        for scope, key in (("session", session), ("firm", firm), ("instrument", symbol))
        if key
    ] + ([("venue", "")] if venue else [])
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --session, --firm, --symbol or --venue")
    scope, key = chosen[0]
    return {"scope": scope, "key": key}


@main.group()
@click.option("--data-dir", type=click.Path(path_type=Path), help="The running venue's data dir.")
@click.option("--operator", default=getpass.getuser, show_default="your login name",
              help="Who is acting; recorded with the action.")  # fmt: skip
@click.pass_context
def ctl(ctx: click.Context, data_dir: Path | None, operator: str) -> None:
    """Operator controls for a running venue (local control channel, token in the data dir)."""
    ctx.obj = {"data_dir": _settings(None, data_dir).data_dir.resolve(), "operator": operator}


def _send(ctx: click.Context, command: dict) -> None:
    from venue.control import send

    try:
        reply = send(ctx.obj["data_dir"], ctx.obj["operator"], command)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise click.ClickException(f"no venue running on {ctx.obj['data_dir']}: {exc}") from None
    click.echo(("ok: " if reply["ok"] else "refused: ") + reply["text"])
    if not reply["ok"]:
        raise SystemExit(1)


def _scope_options(f):  # type: ignore[no-untyped-def]
    for option in (
        click.option("--venue", "whole_venue", is_flag=True, help="The whole venue."),
        click.option("--symbol"),
        click.option("--firm"),
        click.option("--session", help="A session's CompID, e.g. CLIENT1."),
    ):
        f = option(f)
    return f


@ctl.command()
@click.argument("symbol")
@click.pass_context
def halt(ctx: click.Context, symbol: str) -> None:
    """Halt an instrument: new orders rejected, resting orders stay."""
    _send(ctx, {"action": "halt", "scope": "instrument", "key": symbol})


@ctl.command()
@click.argument("symbol")
@click.pass_context
def resume(ctx: click.Context, symbol: str) -> None:
    """Resume trading in a halted instrument."""
    _send(ctx, {"action": "resume", "scope": "instrument", "key": symbol})


@ctl.command()
@click.argument("symbol")
@click.argument(
    "phase", type=click.Choice(["closed", "pre-open", "auction", "continuous", "pre-close"])
)
@click.pass_context
def phase(ctx: click.Context, symbol: str, phase: str) -> None:
    """Move an instrument to a trading phase now. `auction` uncrosses the current call and
    moves on (continuous after the opening, closed after the closing auction)."""
    _send(ctx, {"action": "phase", "scope": "instrument", "key": symbol, "value": phase})


@ctl.command()
@_scope_options
@click.pass_context
def kill(ctx: click.Context, session: str, firm: str, symbol: str, whole_venue: bool) -> None:
    """Kill switch: cancel every order in scope and block new ones until released."""
    _send(ctx, {"action": "kill", **_scope(session, firm, symbol, whole_venue)})


@ctl.command()
@_scope_options
@click.pass_context
def release(ctx: click.Context, session: str, firm: str, symbol: str, whole_venue: bool) -> None:
    """Release a kill switch."""
    _send(ctx, {"action": "release", **_scope(session, firm, symbol, whole_venue)})


@ctl.command("cancel-all")
@_scope_options
@click.pass_context
def cancel_all(ctx: click.Context, session: str, firm: str, symbol: str, whole_venue: bool) -> None:
    """Cancel every live order in scope (without blocking new ones)."""
    _send(ctx, {"action": "cancel_all", **_scope(session, firm, symbol, whole_venue)})


@ctl.command("set-limit")
@click.argument("scope", type=click.Choice(["instrument", "firm", "session"]))
@click.argument("key")
@click.argument("field")
@click.argument("value")
@click.pass_context
def set_limit(ctx: click.Context, scope: str, key: str, field: str, value: str) -> None:
    """Change a limit now, e.g. `set-limit instrument AAPL collar_pct 5` (value `none` clears).

    \b
    instrument: reference_price, collar_pct, max_order_qty, max_order_notional, restricted,
                dynamic_band_pct, static_band_pct, interruption_secs, resume_call_secs,
                extension_pct, extension_secs
    firm:       credit_limit, stp_mode (R, A, B, D)
    session:    max_orders_per_second, cancel_on_disconnect, cancel_gtc_on_disconnect
    """
    command: dict[str, str | None] = {
        "action": "set_limit", "scope": scope, "key": key, "field": field,
    }  # fmt: skip
    command["value"] = None if value.lower() == "none" else value
    _send(ctx, command)


@ctl.command()
@click.argument("trade_id", type=int)
@click.option("--reason", default="", help="Recorded with the bust and sent in Text(58).")
@click.pass_context
def bust(ctx: click.Context, trade_id: int, reason: str) -> None:
    """Bust (cancel) one of today's trades: both sides and drop copy get ExecType H."""
    _send(ctx, {"action": "bust", "trade_id": trade_id, "reason": reason})


@ctl.command()
@click.argument("section", required=False)
@click.pass_context
def status(ctx: click.Context, section: str | None) -> None:
    """Print the running venue's status as JSON (read-only), or one SECTION of it, e.g.
    snapshots, sessions, dropcopy_lag, books."""
    import json

    from venue.control import query

    try:
        reply = query(ctx.obj["data_dir"])
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise click.ClickException(f"no venue running on {ctx.obj['data_dir']}: {exc}") from None
    if not reply.get("ok"):
        raise click.ClickException(f"refused: {reply.get('text', reply)}")
    found = reply["status"]
    if section is not None:
        if section not in found:
            raise click.ClickException(f"no section {section!r}; there are: {', '.join(found)}")
        found = found[section]
    click.echo(json.dumps(found, indent=2, sort_keys=True))


def _mount_export() -> None:
    from venue.reporting.cli import export

    main.add_command(export, "export")


_mount_export()

if __name__ == "__main__":
    main()
