"""QuickFIX without the hop (fix_hop=False): what the hop in venue/fix/gatekeeper.py is for,
as strict xfails. In a module of their own: QuickFIX keeps one registry of sessions per
process, so this venue must not run beside test_malformed's shared one (the venue's stop
then looked up the other venue's internal session, fell back to a plain Acceptor.stop and
hit QuickFIX 1.16's use-after-free: a segfault, seen once in CI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fix_fixtures import ClientFactory, find_free_port
from fixclient import FixTimeout
from test_malformed import pipelined, resend_request, rest, wedge

from venue.app import Venue
from venue.config import VenueSettings


@pytest.fixture(scope="module")
def dup2_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """A venue without the hop: QuickFIX reads the client's socket itself."""
    home: Path = tmp_path_factory.mktemp("dup2")
    venue = Venue(VenueSettings(port=find_free_port(), data_dir=home / "data", fix_hop=False))
    venue.start()
    yield venue
    venue.stop()


@pytest.mark.live  # dup2_venue is not among conftest's LIVE_FIXTURES
@pytest.mark.xfail(raises=FixTimeout, strict=True, reason="QuickFIX waits for the bytes")
def test_body_length_past_the_message_wedges_without_the_hop(dup2_venue: Venue) -> None:
    factory = ClientFactory(dup2_venue.settings.port)
    client = factory("CLIENT1")
    try:
        rest(client)
        seq = wedge(client)
        resend_request(client, seq, timeout=3)
    finally:
        client.close()
        factory.close_all()


@pytest.mark.live  # dup2_venue is not among conftest's LIVE_FIXTURES
@pytest.mark.xfail(raises=FixTimeout, strict=True, reason="read only when more bytes come")
def test_order_pipelined_behind_the_logon_waits_without_the_hop(dup2_venue: Venue) -> None:
    pipelined(dup2_venue)
