"""Benchmark the exports: rows/s and peak memory per export, on SQLite and PostgreSQL.

    .venv/bin/python scripts/bench_export.py [--events 1000000] [--pg-url URL] [--validate]

Each backend gets a fresh database (a SQLite file in a temporary directory; a scratch
PostgreSQL database created and dropped on the server named by --pg-url, default
VENUE_TEST_PG_URL or postgresql+psycopg://postgres@127.0.0.1:5432/postgres), filled with a
synthetic trading day of --events order_events rows plus their trades and orders
(venue.reporting.synthetic: bulk inserts, COPY on PostgreSQL). Every export then runs over
the whole day into a temporary file, each in a fresh child process so that its peak memory
is its own: "peak MiB" is the child's peak resident size during the export (Linux VmHWM,
reset just before it starts), "base MiB" its resident size just before (interpreter,
imports, one connection); the difference is what the export itself held at most.

rows/s is rows written / wall time of the export call (query, conversion, validation of
every row, writing); events/s is the day's order_events rows / the same time, a figure that
compares exports writing few rows (surveillance) with those writing one per event.
--validate also times re-reading each file with validate_export.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_projector import machine  # noqa: E402

from venue.reporting import DEFAULT_FORMATS, EXPORTS, day_range, validate_export  # noqa: E402
from venue.reporting.synthetic import load  # noqa: E402
from venue.store.db import make_engine, migrate, normalize_url  # noqa: E402
from venue.testing.resources import scratch_database  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DAY = "2024-05-01"


def _memory_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in MiB (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the peak, in KiB


def _reset_peak() -> None:
    """Make VmHWM restart from the current resident size (Linux >= 4.0), so the peak
    measured next is the export's, not the interpreter's start-up."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _child(url: str, name: str, path: str, batch: int, check: bool, out: Any) -> None:
    """Run one export in this (fresh) process and report its figures."""
    engine = make_engine(url)
    start, end = day_range(DAY)
    with engine.connect() as conn:  # connect first: the driver's memory is baseline too
        conn.exec_driver_sql("SELECT 1")
    _reset_peak()
    before = _memory_mb("VmRSS")
    summary = EXPORTS[name](engine, path, start, end, fmt=DEFAULT_FORMATS[name], batch=batch)
    peak = _memory_mb("VmHWM")
    engine.dispose()
    figures = {
        "rows": summary.rows,
        "seconds": summary.seconds,
        "rss_before": before,
        "rss_peak": peak,
        "bytes": os.path.getsize(path),
    }
    if check:
        started = time.perf_counter()
        result = validate_export(path, name)
        figures["validate_seconds"] = time.perf_counter() - started
        figures["valid"] = result.ok
    out.send(figures)


def run_export(url: str, name: str, directory: str, batch: int, check: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    reader, writer = ctx.Pipe(duplex=False)
    path = os.path.join(directory, f"{name}.{DEFAULT_FORMATS[name]}")
    process = ctx.Process(target=_child, args=(url, name, path, batch, check, writer))
    process.start()
    writer.close()
    try:
        figures: dict[str, Any] = reader.recv()
    except EOFError:
        raise RuntimeError(f"{name}: the export failed (exit {process.exitcode})") from None
    finally:
        process.join()
    os.unlink(path)
    return figures


def scratch_pg(admin_url: str) -> AbstractContextManager[str]:
    return scratch_database(admin_url, prefix="venue_bench_export")


def bench(backend: str, url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    migrate(engine)
    started = time.perf_counter()
    stats = load(engine, args.events, day_range(DAY)[0] + 9 * 3600 * 1_000_000, args.seed)
    elapsed = time.perf_counter() - started
    rows = stats.events + stats.trades + stats.orders
    if backend == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(
        f"{backend}: loaded {stats.events:,} order_events, {stats.trades:,} trades "
        f"({stats.busted} busted), {stats.orders:,} orders in {elapsed:.1f}s "
        f"({rows / elapsed:,.0f} rows/s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as directory:
        for name in EXPORTS:
            f = run_export(url, name, directory, args.batch, args.validate)
            line = (
                f"{backend:<11} {name:<14} {f['rows']:>10,} {f['seconds']:>8.1f} "
                f"{f['rows'] / f['seconds']:>9,.0f} {stats.events / f['seconds']:>9,.0f} "
                f"{f['rss_peak']:>9.0f} {f['rss_before']:>9.0f} {f['bytes'] / 2**20:>8.0f}"
            )
            if args.validate:
                state = "ok" if f["valid"] else "INVALID"
                line += f" {f['rows'] / f['validate_seconds']:>11,.0f} {state}"
            print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="order_events rows")
    parser.add_argument("--pg-url", default=os.environ.get("VENUE_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument("--batch", type=int, default=5_000, help="rows per fetch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validate", action="store_true", help="also time validate_export")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    pg_version = None
    backends = args.backends.split(",")
    if "postgresql" in backends:
        try:
            probe = create_engine(normalize_url(args.pg_url))
            with probe.connect() as conn:
                pg_version = conn.exec_driver_sql("SHOW server_version").scalar()
            probe.dispose()
        except Exception as exc:  # report it and go on with SQLite only
            print(f"PostgreSQL at {args.pg_url} not reached ({type(exc).__name__}); SQLite only")
            backends.remove("postgresql")
    print(machine(pg_version))
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = (
        f"{'backend':<11} {'export':<14} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'events/s':>9} "
        f"{'peak MiB':>9} {'base MiB':>9} {'file MiB':>8}"
    )
    if args.validate:
        header += f" {'validate/s':>11}"
    print(header, flush=True)
    for backend in backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                bench("sqlite", f"sqlite:///{tmp}/bench.db", args)
        elif backend == "postgresql":
            with scratch_pg(args.pg_url) as url:
                bench("postgresql", url, args)


if __name__ == "__main__":
    main()
