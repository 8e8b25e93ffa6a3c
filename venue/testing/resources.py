"""The one free-port helper and the one PostgreSQL scratch-database helper, shared by the
tests (tests/fix_fixtures.py, tests/db_fixtures.py) and the scripts (scripts/), which do not
import each other."""

from __future__ import annotations

import os
import random
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

from venue.domain.commands import CancelOrder, Command, NewOrder
from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


# Below Linux's ephemeral range (32768-60999), where bind(0) (QuickFIX's spare port) and
# outgoing connections take their ports: a port handed out here is not the OS's next pick.
PORT_RANGE = (20000, 32768)
_draw = random.SystemRandom()  # unaffected by tests that seed the random module


def free_port() -> int:
    """A TCP port nobody listens on right now on 127.0.0.1, drawn from PORT_RANGE. Under
    pytest-xdist each worker draws only ports whose remainder by the number of workers is
    its own number, so two workers never pick the same port between the check and the bind."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    low, high = PORT_RANGE
    start = low + (int(worker.removeprefix("gw")) - low) % workers
    for _ in range(1000):
        port = _draw.randrange(start, high, workers)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high - 1} for worker {worker}")


def pg_admin_url(url: str | None = None) -> URL:
    """The maintenance database's URL: `url`, else VENUE_TEST_PG_URL, else the local server;
    a bare postgresql:// URL gets the psycopg 3 driver."""
    parsed = make_url(url or os.environ.get("VENUE_TEST_PG_URL", DEFAULT_PG_URL))
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@contextmanager
def scratch_database(
    admin: Engine | str | None = None, prefix: str = "venue_test"
) -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it afterwards (FORCE: an
    engine left connected must not leak it). `admin`: an AUTOCOMMIT engine on the server,
    or a URL (default: pg_admin_url())."""
    own = not isinstance(admin, Engine)
    engine = (
        create_engine(pg_admin_url(admin), isolation_level="AUTOCOMMIT")  # type: ignore[arg-type]
        if own
        else admin
    )
    assert isinstance(engine, Engine)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield engine.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if own:
            engine.dispose()


def missed_copies_backlog(pairs: int) -> list[Command]:
    """Orders entered and canceled by CLIENT3 and CLIENT6 on MSFT: 2 drop copies a pair
    (used to build a backlog a drop-copy session misses while it is away)."""
    commands: list[Command] = []
    for i in range(pairs):
        session = ("CLIENT3", "CLIENT6")[i % 2]
        commands.append(
            NewOrder(
                session,
                f"bk{i}",
                "MSFT",
                Side.BUY,
                OrdType.LIMIT,
                TimeInForce.DAY,
                1,
                400 * PRICE_SCALE,
            )  # fmt: skip
        )
        commands.append(CancelOrder(session, f"bkc{i}", f"bk{i}", "MSFT", Side.BUY))
    return commands


def resting_book(orders: int) -> list[Command]:
    """GTC limit orders that rest without crossing: buys below and sells above MSFT's
    reference (420.00) over 2,000 price levels each, from CLIENT3 and CLIENT6 in turn (a
    venue with a large book, for snapshot tests and benchmarks)."""
    commands: list[Command] = []
    for i in range(orders):
        session = ("CLIENT3", "CLIENT6")[i % 2]
        level = (i // 2) % 2000
        side, cents = (Side.BUY, 41999 - level) if i % 4 < 2 else (Side.SELL, 42001 + level)
        commands.append(
            NewOrder(
                session,
                f"rb{i}",
                "MSFT",
                side,
                OrdType.LIMIT,
                TimeInForce.GTC,
                1,
                cents * PRICE_SCALE // 100,
            )  # fmt: skip
        )
    return commands
