"""Fixtures that run the whole venue in-process on a free loopback port.

    venue_factory(**settings) -> Venue    a venue per test (stopped at teardown)
    venue                                 one on SQLite and one on PostgreSQL
    shared_venue(home, **settings)        for a class-scoped fixture: one venue for the class
    fresh_front_door(venue)               before each test on a shared venue
    fresh_gateway(gateway)                the same for a shared FixGateway on its own

QuickFIX keeps one registry of sessions per process: while a class-scoped venue runs, no
other venue may, so the tests that share one are in one class and use only it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from venue.app import Venue
from venue.config import VenueSettings
from venue.fix.application import FixGateway
from venue.fix.auth import LogonGuard
from venue.testing.resources import free_port as find_free_port


def shared_venue(home: Path, **overrides: object) -> Iterator[Venue]:
    """Start a venue in home/data on a free port; stop it after the yield."""
    values: dict[str, object] = {"port": find_free_port(), "data_dir": home / "data"}
    values.update(overrides)
    venue = Venue(VenueSettings(**values))  # type: ignore[arg-type]
    venue.start()
    yield venue
    venue.stop()


def fresh_front_door(venue: Venue, timeout: float = 10.0) -> None:
    """The front door as a fresh venue has it: no session logged on (waits until the last
    test's connections are gone) and no failed logons counted (the backoff)."""
    fresh_gateway(venue.gateway, timeout)


def fresh_gateway(gateway: FixGateway, timeout: float = 10.0) -> None:
    """fresh_front_door for a FixGateway on its own (tests/test_gateway.py)."""
    deadline = time.monotonic() + timeout
    for session in gateway.sessions:
        while gateway.session_state(session)["logged_on"]:
            assert time.monotonic() < deadline, f"{session} still logged on"
            time.sleep(0.01)
    gateway._guard = LogonGuard()


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
