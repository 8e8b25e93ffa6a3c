"""Journal formats across releases, and what recovery compares.

tests/fixtures/journal-v0 holds a journal written by the release before format 1 (commit
cd7600e, JSON records, by its own code: make_fixture.py there, run with that release): 5
orders (two fills, a reject), a cancel, a cancel reject and a cancel on disconnect.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from venue.app import ReplayDiverged
from venue.domain.codes import RejectCode
from venue.domain.events import OrderFilled, OrderRejected, same_state
from venue.journal import decode_record, read_records
from venue.journal.codec import record_version
from venue.kernel import Kernel
from venue.testing.harness import Clock, Harness

FIXTURE = Path(__file__).parent / "fixtures" / "journal-v0"
T0 = 1_767_225_600_000_000


def from_fixture(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "journal").mkdir(parents=True)
    for segment in FIXTURE.glob("journal-*.log"):
        shutil.copy(segment, data / "journal" / segment.name)
    return data


def versions(data: Path) -> list[int]:
    return [record_version(p) for _, p in read_records(data / "journal")]


def test_a_journal_of_the_previous_release_recovers_and_goes_on_in_format_1(tmp_path):
    data = from_fixture(tmp_path)
    assert versions(data) == [0] * 8
    h = Harness(data, clock=Clock(T0 + 60_000_000))
    kernel = h.kernel
    assert kernel.counters.seq == 13  # the fixture's last event
    live = {o.cl_ord_id: (o.qty, o.cum_qty) for o in kernel.live.values()}
    assert live == {"s2": (200, 50)}  # GTC, half filled; b2 was canceled
    h.logon("CLIENT2")
    h.send("CLIENT2", "D", {11: "n1", 55: "AAPL", 54: "1", 38: "100", 40: "2", 44: "180.00",
                            59: "1", 60: "20260101-00:01:00"})  # fmt: skip
    (ack,) = [m for m in h.received("CLIENT2") if m.get(11) == "n1"]
    assert ack[150] == "0"
    h = h.restart()  # a journal of both formats
    assert versions(data) == [0] * 8 + [1]
    assert h.kernel.counters.seq == 14 and any(o.cl_ord_id == "n1" for o in h.kernel.live.values())
    h.close()


def test_replay_sets_free_texts_aside_and_nothing_else(tmp_path, monkeypatch):
    data = from_fixture(tmp_path)
    real = Kernel.handle

    def reworded(self, command, ts):  # a release that words its rejects differently
        return [
            dataclasses.replace(e, text=e.text + " (reworded)") if type(e) is OrderRejected else e
            for e in real(self, command, ts)
        ]

    monkeypatch.setattr(Kernel, "handle", reworded)
    Harness(data, clock=Clock(T0 + 60_000_000)).close()  # recovers

    def refilled(self, command, ts):  # a release that fills differently
        return [
            dataclasses.replace(e, last_qty=e.last_qty - 1) if type(e) is OrderFilled else e
            for e in real(self, command, ts)
        ]

    monkeypatch.setattr(Kernel, "handle", refilled)
    shutil.rmtree(data / "snapshots", ignore_errors=True)  # replay every record again
    with pytest.raises(ReplayDiverged, match="texts aside"):
        Harness(data, clock=Clock(T0 + 60_000_000))


def test_same_state_compares_everything_but_text():
    data_events = [e for _, p in read_records(FIXTURE) for e in decode_record(p)[2]]
    rejected = next(e for e in data_events if type(e) is OrderRejected)
    filled = next(e for e in data_events if type(e) is OrderFilled)
    assert same_state([rejected], [dataclasses.replace(rejected, text="other words")])
    assert not same_state(
        [rejected], [dataclasses.replace(rejected, code=RejectCode.INVALID_PRICE)]
    )
    assert not same_state([filled], [dataclasses.replace(filled, last_qty=filled.last_qty + 1)])
    assert not same_state([filled], [])
