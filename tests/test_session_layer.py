"""Scripted session-level cases (tests/session_cases/*/*.case) played over TCP against the
venue as shipped: logon, sequence numbers, resend, rejects, heartbeats, logout.

Every case starts from a fresh session: sequence numbers 1 on both sides, nothing stored.
Cases that only talk the session layer share one venue per module, and the session is reset
(QuickFIX's Session.reset: store emptied, both numbers back to 1) before each case, once
the last one has disconnected; a case that sends an order (35=D/F/G) gets a venue of its
own, since the book and its ClOrdIDs would carry over. The directory says who plays it:
common/ on FIX 4.2, FIX 4.4 and FIXT.1.1 (FIX 5.0 SP2), fix4x/ on 4.2 and 4.4 (where FIXT
deliberately differs: its own case is in fixt11/), fix42/, fix44/ and fixt11/ on that
version only; a new directory needs a line in SESSIONS. On FIXT every Logon sent and
expected carries DefaultApplVerID(1137)=9 (Session.logon_extra), so the scripts do not
spell it. The format is in tests/session_script.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import quickfix as fix
from fix_fixtures import find_free_port
from session_script import Player, Session, load_cases

from venue.app import Venue
from venue.config import VenueSettings

CASES = Path(__file__).parent / "session_cases"
# Sessions of the shipped demo config; precision is the venue's SendingTime precision there.
FIX42 = Session("FIX.4.2", "CLIENT3", precision=3)
FIX44 = Session("FIX.4.4", "CLIENT1", precision=6)
FIXT11 = Session("FIXT.1.1", "CLIENT5", precision=6, logon_extra=((1137, "9"),))
SESSIONS: dict[str, list[Session]] = {
    "common": [FIX42, FIX44, FIXT11],
    "fix4x": [FIX42, FIX44],
    "fix42": [FIX42],
    "fix44": [FIX44],
    "fixt11": [FIXT11],
}

# A line that sends an order message: the case changes the book, so it needs its own venue.
_ORDERS = re.compile(r"^[IR](.*\|)?35=[DFG]\|", re.MULTILINE)


def _params(orders: bool) -> list[object]:
    return [
        pytest.param(session, path, id=f"{session.begin_string}-{path.stem}")
        for group, path in load_cases(CASES)
        if (_ORDERS.search(path.read_text()) is not None) == orders
        for session in SESSIONS[group]
    ]


def play(venue: Venue, session: Session, path: Path) -> None:
    player = Player(*venue.gateway.address, session=session)
    try:
        player.play(path.read_text())
    finally:
        player.close()


def fresh_session(venue: Venue, session: Session) -> None:
    """Wait until the last case's connection is gone, then empty the session's store (both
    sequence numbers back to 1), as a fresh venue would have it."""
    found = fix.Session.lookupSession(
        fix.SessionID(session.begin_string, session.venue, session.client)
    )
    assert found is not None, session
    deadline = time.monotonic() + 10
    while venue.gateway.session_state(session.client)["logged_on"]:
        assert time.monotonic() < deadline, f"{session.client} still logged on"
        time.sleep(0.01)
    found.reset()
    state = venue.gateway.session_state(session.client)
    assert (state["next_in"], state["next_out"]) == (1, 1), state


@pytest.fixture(scope="class")
def shared_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    home = tmp_path_factory.mktemp("session-layer")
    venue = Venue(VenueSettings(port=find_free_port(), data_dir=home / "data"))
    venue.start()
    yield venue
    venue.stop()


class TestOnASharedVenue:
    """QuickFIX keeps one process-wide registry of sessions by id, so no other venue may
    run while this one does: shared_venue is class-scoped, stopped before the cases below."""

    @pytest.mark.parametrize(("session", "path"), _params(orders=False))
    def test_session_case(self, session: Session, path: Path, shared_venue: Venue) -> None:
        fresh_session(shared_venue, session)
        play(shared_venue, session, path)


@pytest.mark.parametrize(("session", "path"), _params(orders=True))
def test_session_case_with_orders(
    session: Session, path: Path, venue_factory: Callable[..., Venue]
) -> None:
    play(venue_factory(), session, path)


def test_every_case_directory_has_sessions() -> None:
    groups = {group for group, _ in load_cases(CASES)}
    assert groups and groups <= SESSIONS.keys()
