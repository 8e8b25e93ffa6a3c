"""Market data in process (spec/market-data.md): the live venue's kernel-thread work
(venue.testing.harness, injected clock) with the market-data service started on it,
writing what it would hand to QuickFIX into a list.

Opening price, high, low and volume start again when the trading day ends (the scheduler's
ExpireDayOrders); a restart within the day gets them back from the journal. And the feed
never runs ahead of order entry: no X shows a trade before both parties' reports of it
were handed over.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from venue.domain.commands import BustTrade
from venue.domain.values import PRICE_SCALE
from venue.marketdata.book import HIGH, LOW, OPEN, VOLUME
from venue.testing.harness import Clock, Harness

PX = PRICE_SCALE
MORNING = int(datetime(2026, 12, 2, 10, tzinfo=UTC).timestamp() * 1_000_000)


class Sink:
    """Stands where FixGateway stands for the market-data thread."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.sent: list[tuple[str, str]] = []
        self.log: list[tuple[str, str]] | None = None  # also what the venue reports, in order
        self.lock = threading.Lock()

    def send_grouped(self, session: str, text: str) -> None:
        with self.lock:
            self.sent.append((session, text.replace("\x01", "|")))
            if self.log is not None:
                self.log.append((session, text))

    def record_reports(self) -> None:
        """Put the reports the venue hands to its sessions in the same log."""
        self.log = []
        gateway = self.harness.gateway
        send = gateway.send

        def logged(session: str, text: str) -> None:
            with self.lock:
                send(session, text)
                self.log.append((session, text))  # type: ignore[union-attr]

        gateway.send = logged  # type: ignore[method-assign]

    def begin_string(self, session: str) -> str:
        return self.harness.begin_string(session)

    def logged_on(self, session: str) -> bool:
        return True

    def take(self) -> list[str]:
        out = [text for _, text in self.sent]
        self.sent.clear()
        return out


def start(h: Harness) -> Sink:
    sink = Sink(h)
    h.venue.marketdata.start(sink, h.kernel)
    return sink


def trade(h: Harness, n: int, qty: int, price: str, tif: str = "0") -> None:
    h.send("CLIENT1", "D", {11: f"b{n}", 55: "AAPL", 54: "1", 38: str(qty), 40: "2",
                            44: price, 59: tif, 60: "20261202-10:00:00"})  # fmt: skip
    h.send("CLIENT2", "D", {11: f"s{n}", 55: "AAPL", 54: "2", 38: str(qty), 40: "2",
                            44: price, 59: tif, 60: "20261202-10:00:00"})  # fmt: skip


def subscribe(h: Harness, session: str, req_id: str, kind: str = "1") -> None:
    types = "012478" if h.begin_string(session) == "FIX.4.2" else "012478B"
    fields = [(262, req_id), (263, kind), (264, "0"), (267, str(len(types)))]
    fields += [(269, t) for t in types] + [(146, "1"), (55, "AAPL")]
    h.venue.marketdata.request(session, h.text(session, "V", [(t, str(v)) for t, v in fields]))


@pytest.fixture
def harness(tmp_path):
    made: list[Harness] = []

    def make(h: Harness | None = None, **settings) -> Harness:
        if h is None:
            h = Harness(tmp_path / "data", clock=Clock(MORNING), **settings)
        else:
            h.venue.marketdata.stop()
            h = h.restart()
        made.append(h)
        return h

    yield make
    for h in made:
        h.venue.marketdata.stop()
    made[-1].close()


def test_statistics_end_with_the_trading_day_and_survive_a_restart_within_it(harness):
    h = harness()
    sink = start(h)
    for session in ("CLIENT1", "CLIENT2"):
        h.logon(session)
    trade(h, 1, 10, "190.00")
    trade(h, 2, 5, "191.00")
    trade(h, 3, 7, "189.50")
    md = h.venue.marketdata
    md.sync()
    day = {OPEN: 190 * PX, HIGH: 191 * PX, LOW: 18950 * PX // 100, VOLUME: 22}
    assert md.book.snapshot("AAPL").stats == day
    subscribe(h, "MDFEED1", "r1")
    subscribe(h, "MDFEED2", "r2")
    md.sync()
    w44, w42 = sink.take()
    assert "|269=4|270=190|269=7|270=191|269=8|270=189.5|269=B|271=22|" in w44
    assert "|387=22|" in w42 and "|269=4|270=190|269=7|270=191|269=8|270=189.5|" in w42

    # a restart within the day: the same statistics, from the journal
    h = harness(h)
    sink = start(h)
    md = h.venue.marketdata
    assert md.book.snapshot("AAPL").stats == day
    assert md.book.snapshot("AAPL").last_trade is not None
    for session in ("CLIENT1", "CLIENT2"):
        h.logon(session)
    trade(h, 4, 3, "192.00")
    md.sync()
    assert md.book.snapshot("AAPL").stats == {**day, HIGH: 192 * PX, VOLUME: 25}
    subscribe(h, "MDFEED1", "r3")
    subscribe(h, "MDFEED2", "r4")
    h.send("CLIENT1", "D", {11: "rest", 55: "AAPL", 54: "1", 38: "4", 40: "2", 44: "188.00",
                            59: "0", 60: "20261202-10:00:00"})  # fmt: skip  # a Day bid
    md.sync()
    sink.take()

    # the day ends: the statistics go (a delete per statistic), and so does the Day bid
    h.clock.advance(12 * 3600)
    h.end_of_day()
    md.sync()
    sent = list(sink.sent)
    sink.take()
    x44 = "".join(t for s, t in sent if s == "MDFEED1")  # one X or two: the expiry, then
    x42 = "".join(t for s, t in sent if s == "MDFEED2")  # the day end's deletes
    assert x44.count("|35=X|") in (1, 2) and "|35=W|" not in x44 + x42
    seq = md.book.seq("AAPL")
    for text, kinds in ((x44, "478B"), (x42, "478")):
        assert text.count("|279=2|") == len(kinds) + 1, text  # and the expired bid's level
        for kind in kinds:
            assert f"|279=2|269={kind}|55=AAPL|20083={seq}|" in text, text
    snap = md.book.snapshot("AAPL")
    assert snap.stats == {} and snap.last_trade is None and snap.bids == ()
    subscribe(h, "MDFEED1", "once", kind="0")
    md.sync()
    (w,) = sink.take()
    assert "|269=4|" not in w and "|269=B|" not in w and "|269=2|" not in w

    # the next day's first trade opens it; a restart keeps the new day's statistics only
    trade(h, 5, 2, "188.00")
    md.sync()
    next_day = {OPEN: 188 * PX, HIGH: 188 * PX, LOW: 188 * PX, VOLUME: 2}
    assert md.book.snapshot("AAPL").stats == next_day
    h = harness(h)
    start(h)
    assert h.venue.marketdata.book.snapshot("AAPL").stats == next_day


def test_a_day_end_missed_while_down_resets_the_statistics_at_the_start(harness):
    h = harness()
    start(h)
    for session in ("CLIENT1", "CLIENT2"):
        h.logon(session)
    trade(h, 1, 10, "190.00")
    h.venue.marketdata.sync()
    assert h.venue.marketdata.book.snapshot("AAPL").stats[VOLUME] == 10
    h = harness(h)  # down over the day end: the kernel still has the day's trades
    start(h)
    assert h.venue.marketdata.book.snapshot("AAPL").stats[VOLUME] == 10
    h.clock.advance(24 * 3600)
    h.end_of_day()  # what Venue._expire_missed_day_end sends at the start
    h.venue.marketdata.sync()
    assert h.venue.marketdata.book.snapshot("AAPL").stats == {}


def test_no_x_shows_a_trade_before_both_parties_reports_were_handed_over(harness):
    h = harness()
    sink = start(h)
    sink.record_reports()
    for session in ("CLIENT1", "CLIENT2"):
        h.logon(session)
    subscribe(h, "MDFEED1", "r1")
    md = h.venue.marketdata
    md.sync()
    for n in range(40):  # the feed's thread runs while the kernel's work goes on
        trade(h, n, 1 + n % 3, f"{189 + n % 3}.00")
    md.sync()
    fills: list[int] = []  # log positions of the fills, two per trade
    trades: list[int] = []  # log positions of each trade entry in an X
    for i, (session, text) in enumerate(sink.log or []):
        if session in ("CLIENT1", "CLIENT2") and "\x01150=F\x01" in text:
            fills.append(i)
        elif session == "MDFEED1":
            trades += [i] * text.count("\x01279=0\x01269=2\x01")
    assert len(fills) == 80 and len(trades) == 40
    for n, at in enumerate(trades):
        assert at > fills[2 * n + 1], (n, at, fills[2 * n : 2 * n + 2])


def test_statistics_over_more_trades_than_are_kept_survive_a_restart_and_a_bust(harness):
    h = harness(retention={"trades": 3})  # the kernel keeps the last 3 trades for busts
    start(h)
    for session in ("CLIENT1", "CLIENT2"):
        h.logon(session)
    for n, (qty, price) in enumerate([(1, "191.00"), (2, "195.00"), (3, "189.00"),
                                      (4, "190.00"), (5, "192.00")]):  # fmt: skip
        trade(h, n, qty, price)
    h.venue.marketdata.sync()
    day = {OPEN: 191 * PX, HIGH: 195 * PX, LOW: 189 * PX, VOLUME: 15}
    assert h.venue.marketdata.book.snapshot("AAPL").stats == day
    assert len(h.kernel.trades) == 3
    h = harness(h)
    start(h)
    md = h.venue.marketdata
    assert md.book.snapshot("AAPL").stats == day
    h.execute(BustTrade("ops", 5))  # 192 x 5, still kept: the volume goes down
    h.execute(BustTrade("ops", 2))  # 195 x 2, no longer kept: refused, nothing changes
    md.sync()
    assert md.book.snapshot("AAPL").stats == {**day, VOLUME: 10}
    h = harness(h)
    start(h)
    assert h.venue.marketdata.book.snapshot("AAPL").stats == {**day, VOLUME: 10}
