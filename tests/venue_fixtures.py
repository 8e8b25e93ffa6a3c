"""Fixtures that run the whole venue in-process on a free loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from venue.app import Venue
from venue.config import VenueSettings


@pytest.fixture
def venue_factory(tmp_path: Path, free_port: int) -> Iterator[Callable[..., Venue]]:
    """Start venues (stopped at teardown). Keyword arguments go to VenueSettings."""
    started: list[Venue] = []

    def start(**overrides: object) -> Venue:
        values: dict[str, object] = {"port": free_port, "data_dir": tmp_path / "data"}
        values.update(overrides)
        venue = Venue(VenueSettings(**values))  # type: ignore[arg-type]
        venue.start()
        started.append(venue)
        return venue

    yield start
    for venue in reversed(started):
        venue.stop()


@pytest.fixture
def venue(venue_factory: Callable[..., Venue], db_url: str) -> Venue:
    """The venue on SQLite and on PostgreSQL (db_url is parametrized over both)."""
    return venue_factory(database_url=db_url)
