"""`export ...` commands: a click group, run by scripts/export.py and mountable anywhere.

    export order-records --db URL --date 2024-05-01 --out records.csv
    export cat-events    --db URL --start 2024-05-01T13:00 --end 2024-05-01T14:00 --firm FIRM1
    export trades        --db URL --date 2024-05-01 --symbol AAPL --format jsonl --out -
    export surveillance  --db URL --date 2024-05-01 --window-ms 500 --out surv.jsonl
    export validate      records.csv --export order-records

The database is --db, else $VENUE_DATABASE_URL, else sqlite:///var/venue.db (the venue's
default). Progress goes to standard error: a tqdm bar when tqdm is installed, otherwise a
line every few seconds; --quiet turns it off.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from venue.reporting import (
    DEFAULT_FORMATS,
    DEFAULT_WINDOW_MS,
    EXPORTS,
    FORMATS,
    ExportSummary,
    day_range,
    format_for,
    iso_us,
    parse_time,
    validate_export,
)

DEFAULT_DB = "sqlite:///var/venue.db"
PRINT_EVERY_S = 2.0


def progress_printer(
    name: str, quiet: bool
) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A progress callback for an export, and a function that ends the display."""
    if quiet:
        return None, lambda: None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(desc=name, unit=" rows", unit_scale=True, file=sys.stderr)
        done = [0]

        def update(rows: int) -> None:
            bar.update(rows - done[0])
            done[0] = rows

        return update, bar.close
    started = time.perf_counter()
    last = [started]

    def line(rows: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= PRINT_EVERY_S:
            last[0] = now
            rate = rows / (now - started)
            click.echo(f"{name}: {rows:,} rows ({rate:,.0f} rows/s)", err=True)

    return line, lambda: None


def _period(date: str | None, start: str | None, end: str | None) -> tuple[int, int]:
    if date is not None:
        if start is not None or end is not None:
            raise click.UsageError("give --date, or --start and --end, not both")
        try:
            return day_range(date)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--date") from None
    if start is None or end is None:
        raise click.UsageError("give --date YYYY-MM-DD, or --start and --end (ISO 8601, UTC)")
    try:
        period = parse_time(start), parse_time(end)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--start/--end") from None
    if period[1] <= period[0]:
        raise click.UsageError("--end must be after --start")
    return period


def _report(summary: ExportSummary) -> None:
    where = summary.path or "standard output"
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.counts.items()))
    click.echo(
        f"{summary.export}: {summary.rows:,} rows ({counts or 'none'}) in "
        f"{summary.seconds:.2f}s, {summary.rows_per_second:,.0f} rows/s; "
        f"{iso_us(summary.start_us)} to {iso_us(summary.end_us)} -> {where}",
        err=True,
    )
    if summary.export == "trades":
        t = summary.totals
        click.echo(
            f"trades: {t['trade_count']:,} active, qty {t['qty']:,}, notional "
            f"{t['notional']}, busted {t['busted_count']:,}",
            err=True,
        )


def _export_command(name: str) -> click.Command:
    function = EXPORTS[name]

    @click.pass_context
    def command(
        ctx: click.Context,
        db: str | None,
        date: str | None,
        start: str | None,
        end: str | None,
        firm: str | None,
        symbol: str | None,
        fmt: str | None,
        out: str,
        batch: int,
        quiet: bool,
        check: bool,
        **extra: Any,
    ) -> None:
        from venue.store.db import make_engine

        start_us, end_us = _period(date, start, end)
        fmt = fmt or format_for(None if out == "-" else out, DEFAULT_FORMATS[name])
        url = db or os.environ.get("VENUE_DATABASE_URL") or DEFAULT_DB
        engine = make_engine(url)
        progress, close = progress_printer(name, quiet)
        try:
            summary = function(
                engine,
                out,
                start_us,
                end_us,
                firm=firm,
                symbol=symbol,
                fmt=fmt,
                progress=progress,
                batch=batch,
                **extra,
            )
        finally:
            close()
            engine.dispose()
        if not quiet:
            _report(summary)
        if check and summary.path is not None:
            result = validate_export(summary.path, name, fmt)
            if not result.ok:
                for error in result.errors:
                    click.echo(error, err=True)
                ctx.exit(1)
            if not quiet:
                click.echo(f"validated: {result.rows:,} rows", err=True)

    params: list[click.Parameter] = [
        click.Option(["--db"], help=f"Database URL (default $VENUE_DATABASE_URL or {DEFAULT_DB})."),
        click.Option(["--date"], help="A UTC calendar day, YYYY-MM-DD."),
        click.Option(["--start"], help="Period start, ISO 8601 (UTC unless an offset is given)."),
        click.Option(["--end"], help="Period end (exclusive), ISO 8601."),
        click.Option(["--firm"], help="Only this member firm."),
        click.Option(["--symbol"], help="Only this instrument."),
        click.Option(
            ["--format", "fmt"],
            type=click.Choice(FORMATS),
            help=f"Output format (default from --out's suffix, else {DEFAULT_FORMATS[name]}).",
        ),
        click.Option(
            ["--out", "-o"],
            default="-",
            show_default=True,
            help="Output file ('-': standard output).",
        ),
        click.Option(
            ["--batch"],
            type=int,
            default=5000,
            show_default=True,
            help="Rows fetched per database round trip.",
        ),
        click.Option(["--quiet", "-q"], is_flag=True, help="No progress or summary."),
        click.Option(["--check"], is_flag=True, help="Re-read the file and validate it."),
    ]
    if name == "surveillance":
        params.append(
            click.Option(
                ["--window-ms", "window_ms"],
                type=int,
                default=DEFAULT_WINDOW_MS,
                show_default=True,
                help="Spoofing window: a member cancel this soon "
                "after an opposite-side fill of its firm is a candidate.",
            )
        )
    doc = (function.__doc__ or "").strip().split("\n\n")[0]
    return click.Command(name, callback=command, params=params, help=doc)


@click.group(name="export")
def export() -> None:
    """Regulatory and surveillance exports from the SQL store (spec/exports.md)."""


for _name in EXPORTS:
    export.add_command(_export_command(_name))


@export.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--export",
    "name",
    type=click.Choice(list(EXPORTS)),
    required=True,
    help="Which format the file is.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the suffix.")
@click.pass_context
def validate(ctx: click.Context, path: str, name: str, fmt: str | None) -> None:
    """Check every line of an export file against its documented schema."""
    result = validate_export(path, name, fmt)
    for error in result.errors:
        click.echo(error, err=True)
    if result.error_count > len(result.errors):
        click.echo(f"... {result.error_count - len(result.errors)} more", err=True)
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(result.counts.items()))
    state = "valid" if result.ok else f"INVALID ({result.error_count} problems)"
    click.echo(f"{path}: {result.rows:,} rows ({counts or 'none'}): {state}")
    ctx.exit(0 if result.ok else 1)
