"""Fixtures for FIX tests: a free loopback port and FIX clients closed at teardown.

The fixture that runs the whole venue lives in venue_fixtures.py (venue_factory, venue).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixclient import FixClient

from venue.testing.resources import free_port as find_free_port

__all__ = ["ClientFactory", "find_free_port"]


@pytest.fixture
def free_port() -> int:
    return find_free_port()


class ClientFactory:
    """fix_client_factory(sender="CLIENT2", ...) -> a logged-on FixClient on free_port.

    Keyword arguments go to FixClient.connect. Every client is closed at teardown;
    close_all() does it earlier (before stopping an acceptor, which otherwise waits for
    logged-on sessions to answer its Logout).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.clients: list[FixClient] = []

    def __call__(self, sender: str = "CLIENT1", **kwargs: object) -> FixClient:
        kwargs.setdefault("port", self.port)
        client = FixClient.connect(sender=sender, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    def close_all(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
def fix_client_factory(free_port: int) -> Iterator[ClientFactory]:
    factory = ClientFactory(free_port)
    yield factory
    factory.close_all()
