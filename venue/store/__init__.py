"""The SQL store: SQLAlchemy models, the event projector and migrations.

from venue.store import SqlProjector, make_engine, migrate

engine = make_engine(url)        # sqlite:///path/venue.db or postgresql+psycopg://...
migrate(engine)                  # alembic upgrade head
SqlProjector(engine).apply(events)
"""

from venue.store.db import make_engine, migrate
from venue.store.projector import ProjectionGap, SqlProjector

__all__ = ["ProjectionGap", "SqlProjector", "make_engine", "migrate"]
