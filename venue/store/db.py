"""Engines and migrations for the SQL store (SQLite file or PostgreSQL through psycopg).

engine = make_engine("sqlite:///var/venue.db")   # or postgresql+psycopg://...
migrate(engine)                                  # alembic upgrade head
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL

MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL; plain postgresql:// means psycopg 3 here (not psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for the store. SQLite: parent directories created, WAL, synchronous=NORMAL,
    and real transactions (BEGIN at the start of each SQLAlchemy transaction)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, **kwargs)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin; see
    # "Serializable isolation / Savepoints / Transactional DDL" in SQLAlchemy's SQLite docs.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def alembic_config(url: str | URL | None = None) -> Any:
    """An Alembic Config for the store's migrations; no alembic.ini needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        rendered = normalize_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Bring the database's schema up to `revision` (alembic upgrade), creating it if empty."""
    from alembic import command

    if isinstance(url_or_engine, Engine):
        engine, owned = url_or_engine, False
    else:
        engine, owned = make_engine(url_or_engine), True
    try:
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        if owned:
            engine.dispose()


def current_revision(url_or_engine: str | URL | Engine) -> str | None:
    """The alembic revision the database is at (None if never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        if engine is not url_or_engine:
            engine.dispose()
