"""Shared fixtures live in plugin modules beside this file, one per area.

Every test that uses a real socket, a venue process or PostgreSQL is marked `live`
(by the fixtures it uses, below), so the fast in-process part runs alone with
`pytest -m "not live"`.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "db_fixtures",
    "fix_fixtures",
    "harness_fixtures",
    "venue_fixtures",
    "console_fixtures",
]

# Fixtures that bring up a real socket, a venue (in this process or another) or PostgreSQL.
LIVE_FIXTURES = frozenset(
    ["free_port", "fix_client_factory", "venue_factory", "venue", "shared_venue", "crashed",
     "venue_process", "pg_admin", "pg_url", "class_venue", "password_venue", "one_gateway",
     "fix_day"]
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & LIVE_FIXTURES or item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.live)
