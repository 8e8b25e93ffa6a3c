"""Benchmark the SQL projector: events/s and rows/s into SQLite (file) and PostgreSQL.

    .venv/bin/python scripts/bench_projector.py [--orders 20000] [--pg-url URL]

Events come from driving the real kernel with a seeded mix of resting limit orders,
crossing orders (trades), cancels and replaces. Each run starts from an empty, migrated
database; PostgreSQL runs use a scratch database created and dropped on the server named by
--pg-url (default: VENUE_TEST_PG_URL or postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
Rows are the rows in the four projected tables at the end (orders counted once each).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

import sqlalchemy
from sqlalchemy import Engine, create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from venue.domain.commands import CancelOrder, NewOrder, ReplaceOrder  # noqa: E402
from venue.domain.events import Event, OrderAccepted  # noqa: E402
from venue.domain.reference import Instrument, Reference, SessionInfo  # noqa: E402
from venue.domain.values import OrdType, Side, TimeInForce  # noqa: E402
from venue.kernel import Kernel  # noqa: E402
from venue.store.db import make_engine, migrate, normalize_url  # noqa: E402
from venue.store.models import Execution, Order, OrderEvent, Trade  # noqa: E402
from venue.store.projector import SqlProjector  # noqa: E402
from venue.testing.resources import scratch_database  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CENT = 1_000_000  # 0.01 in price units
SYMBOLS = ("AAPL", "MSFT", "BTC-USD")
SESSIONS = {f"C{i}": SessionInfo(f"C{i}", f"FIRM{i % 4}") for i in range(8)}


def make_events(orders: int, seed: int = 7) -> list[Event]:
    """Events from `orders` new orders, with cancels and replaces of resting ones."""
    rng = random.Random(seed)
    reference = Reference({s: Instrument(s, CENT) for s in SYMBOLS}, SESSIONS)
    kernel = Kernel(reference)
    events: list[Event] = []
    resting: list[tuple[str, str, str, Side]] = []  # session, cl_ord_id, symbol, side
    ts = 1_700_000_000_000_000
    for n in range(orders):
        ts += rng.randint(1, 50)
        session = rng.choice(list(SESSIONS))
        symbol = rng.choice(SYMBOLS)
        side = rng.choice((Side.BUY, Side.SELL))
        # Mostly passive prices; one in five crosses the mid and trades.
        offset = rng.randint(1, 20) if rng.random() > 0.2 else -rng.randint(0, 5)
        price = (10_000 - offset if side is Side.BUY else 10_000 + offset) * CENT
        cl = f"o{n}"
        out = kernel.handle(
            NewOrder(
                session,
                cl,
                symbol,
                side,
                OrdType.LIMIT,
                TimeInForce.DAY,
                rng.randint(1, 10) * 100,
                price,
                "ACC1",
            ),
            ts,
        )
        events += out
        if any(isinstance(e, OrderAccepted) for e in out):
            resting.append((session, cl, symbol, side))
        if resting and rng.random() < 0.3:
            session, orig, symbol, side = resting.pop(rng.randrange(len(resting)))
            if rng.random() < 0.7:
                command = CancelOrder(session, f"x{n}", orig, symbol, side)
            else:
                command = ReplaceOrder(
                    session,
                    f"r{n}",
                    orig,
                    symbol,
                    side,
                    OrdType.LIMIT,
                    TimeInForce.DAY,
                    rng.randint(1, 10) * 100,
                    (9_990 + rng.randint(0, 20)) * CENT,
                )
                resting.append((session, f"r{n}", symbol, side))
            events += kernel.handle(command, ts)
    return events


def count_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return sum(
            conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Order, Execution, Trade, OrderEvent)
        )


def run(engine: Engine, events: list[Event], batch: int) -> tuple[float, int]:
    migrate(engine)
    projector = SqlProjector(engine)
    start = time.perf_counter()
    for i in range(0, len(events), batch):
        projector.apply(events[i : i + batch])
    elapsed = time.perf_counter() - start
    assert projector.last_seq() == events[-1].seq
    return elapsed, count_rows(engine)


def scratch_pg(admin_url: str) -> AbstractContextManager[str]:
    return scratch_database(admin_url, prefix="venue_bench")


def machine(pg_version: str | None) -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, SQLAlchemy "
        f"{sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {pg_version or 'not reached'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="new orders to drive")
    parser.add_argument("--pg-url", default=os.environ.get("VENUE_TEST_PG_URL", DEFAULT_PG))
    parser.add_argument(
        "--batches",
        default="100,1000",
        help="batch sizes in events; the events of 1,000 orders is always added",
    )
    args = parser.parse_args()

    start = time.perf_counter()
    events = make_events(args.orders)
    kinds: dict[str, int] = {}
    for e in events:
        kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
    print(
        f"{len(events)} events from {args.orders} orders in "
        f"{time.perf_counter() - start:.1f}s: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    )

    pg_version = None
    try:
        probe = create_engine(normalize_url(args.pg_url))
        with probe.connect() as conn:
            pg_version = conn.exec_driver_sql("SHOW server_version").scalar()
        probe.dispose()
    except Exception as exc:  # report it and go on with SQLite only
        print(f"PostgreSQL at {args.pg_url} not reached ({type(exc).__name__}); SQLite only")
    print(machine(pg_version))

    per_1000_orders = round(len(events) * 1000 / args.orders)
    batches = [int(b) for b in args.batches.split(",")] + [per_1000_orders]
    print(f"(batch {per_1000_orders} = the events of 1,000 orders)")
    print(f"{'backend':<12}{'batch':>7}{'seconds':>9}{'events/s':>11}{'rows/s':>11}")
    for batch in batches:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            elapsed, rows = run(engine, events, batch)
            engine.dispose()
        report("sqlite", batch, elapsed, len(events), rows)
        if pg_version is not None:
            with scratch_pg(args.pg_url) as url:
                engine = make_engine(url)
                elapsed, rows = run(engine, events, batch)
                engine.dispose()
            report("postgresql", batch, elapsed, len(events), rows)


def report(backend: str, batch: int, elapsed: float, events: int, rows: int) -> None:
    print(
        f"{backend:<12}{batch:>7}{elapsed:>9.2f}{events / elapsed:>11,.0f}{rows / elapsed:>11,.0f}"
    )


if __name__ == "__main__":
    main()
