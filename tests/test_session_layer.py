"""Scripted session-level cases (tests/session_cases/*/*.case) played over TCP against the
venue as shipped: logon, sequence numbers, resend, rejects, heartbeats, logout.

Each case gets a fresh venue (fresh sequence numbers). The directory says who plays it:
common/ on FIX 4.2, FIX 4.4 and FIXT.1.1 (FIX 5.0 SP2), fix4x/ on 4.2 and 4.4 (where FIXT
deliberately differs: its own case is in fixt11/), fix42/, fix44/ and fixt11/ on that
version only; a new directory needs a line in SESSIONS. On FIXT every Logon sent and
expected carries DefaultApplVerID(1137)=9 (Session.logon_extra), so the scripts do not
spell it. The format is in tests/session_script.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from session_script import Player, Session, load_cases

from venue.app import Venue

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

PARAMS = [
    pytest.param(session, path, id=f"{session.begin_string}-{path.stem}")
    for group, path in load_cases(CASES)
    for session in SESSIONS[group]
]


@pytest.mark.parametrize(("session", "path"), PARAMS)
def test_session_case(session: Session, path: Path, venue_factory: Callable[..., Venue]) -> None:
    venue = venue_factory()
    player = Player(*venue.gateway.address, session=session)
    try:
        player.play(path.read_text())
    finally:
        player.close()


def test_every_case_directory_has_sessions() -> None:
    groups = {group for group, _ in load_cases(CASES)}
    assert groups and groups <= SESSIONS.keys()
