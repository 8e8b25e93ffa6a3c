"""Database fixtures: an empty SQLite file or an empty PostgreSQL database per test.

    db_url      parametrized: [sqlite] a file in tmp_path, [postgres] a fresh database
    sqlite_url  SQLite only
    pg_url      PostgreSQL only

Each PostgreSQL test gets its own database, created on the server named by VENUE_TEST_PG_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and dropped afterwards
(about 0.1 s each). If that server cannot be reached the test fails, never skips: CI must
not go green without the production database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from venue.testing.resources import pg_admin_url as _admin_url
from venue.testing.resources import scratch_database


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the test server's maintenance database."""
    url = _admin_url()
    engine = create_engine(
        url, isolation_level="AUTOCOMMIT", pool_size=1, connect_args={"connect_timeout": 5}
    )
    problem = None
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as exc:
        problem = f"{exc.__class__.__name__}: {str(exc.orig or exc).splitlines()[0]}"
    if problem is not None:
        engine.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {url.render_as_string(hide_password=True)}: "
            f"{problem}\nStart PostgreSQL or point VENUE_TEST_PG_URL at one "
            "(postgres tests fail, they never skip).",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with scratch_database(pg_admin) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file that does not exist yet (in a subdirectory, also not yet made)."""
    return f"sqlite:///{tmp_path / 'db' / 'venue.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend in turn."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")
