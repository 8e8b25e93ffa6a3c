"""Scripted session-level cases (tests/session_cases/*/*.case) played over TCP against the
venue as shipped: logon, sequence numbers, resend, rejects, heartbeats, logout.

Each case gets a fresh venue (fresh sequence numbers). The directory says who plays it:
common/ on FIX 4.2 and FIX 4.4, fix42/ and fix44/ on that version only; a new directory
(fixt11/, say) needs a line in SESSIONS. The format is in tests/session_script.py.
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
SESSIONS: dict[str, list[Session]] = {"common": [FIX42, FIX44], "fix42": [FIX42], "fix44": [FIX44]}

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
