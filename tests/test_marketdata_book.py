"""The market-data projection (venue.marketdata.book) against the kernel, no FIX.

The rule it must keep: the book a subscriber rebuilds from a snapshot plus the entries after
it equals the kernel's book after every command, with no gap in the symbol sequence.
"""

from __future__ import annotations

import dataclasses
import random

from core_helpers import SYMBOLS, cancel, kernel, new, px, replace
from test_kernel_random import random_command

from venue.domain.commands import BustTrade, OperatorAction
from venue.domain.values import OrdType, Side
from venue.kernel import Kernel
from venue.marketdata.book import (
    CHANGE,
    DELETE,
    HIGH,
    LOW,
    NEW,
    OPEN,
    VOLUME,
    Level,
    LevelEntry,
    MarketDataBook,
    Snapshot,
    StatEntry,
    StatusEntry,
    TradeEntry,
)


class Subscriber:
    """What a full-depth consumer of bids, offers and trades does with W and X."""

    def __init__(self, snap: Snapshot) -> None:
        self.seq = snap.seq
        self.sides = {
            Side.BUY: {lv.price: (lv.qty, lv.orders) for lv in snap.bids},
            Side.SELL: {lv.price: (lv.qty, lv.orders) for lv in snap.offers},
        }
        self.trades: list[tuple[int, int]] = []

    def apply(self, entry: object) -> None:
        if isinstance(entry, StatusEntry):
            return
        if isinstance(entry, StatEntry):  # carries the number of the trade that changed it
            assert entry.seq == self.seq, f"{self.seq} then {entry}"
            return
        assert entry.seq == self.seq + 1, f"gap: {self.seq} then {entry}"  # type: ignore[attr-defined]
        self.seq = entry.seq  # type: ignore[attr-defined]
        if isinstance(entry, TradeEntry):
            self.trades.append((entry.price, entry.qty))
        elif isinstance(entry, LevelEntry):
            levels = self.sides[entry.side]
            if entry.action == NEW:
                assert entry.price not in levels, entry
                levels[entry.price] = (entry.qty, entry.orders)
            elif entry.action == CHANGE:
                assert entry.price in levels, entry
                levels[entry.price] = (entry.qty, entry.orders)
            else:
                assert entry.action == DELETE and levels.pop(entry.price, None) is not None, entry

    def book(self, side: Side) -> list[tuple[int, int, int]]:
        rows = [(p, q, n) for p, (q, n) in self.sides[side].items()]
        return sorted(rows, reverse=side is Side.BUY)


def trading_command(rng: random.Random, k: Kernel, n: int):
    """random_command without the kill switch and halts, which would stop trading for good."""
    while True:
        command = random_command(rng, k, n)
        if not (isinstance(command, OperatorAction) and command.action in ("kill", "halt")):
            return command


def kernel_book(k: Kernel, symbol: str, side: Side) -> list[tuple[int, int, int]]:
    return [(lv.price, lv.qty, len(lv.orders)) for lv in k.engines[symbol].book.levels(side)]


def test_rebuilt_book_equals_the_kernels_after_every_command_with_no_sequence_gap():
    rng = random.Random(20261201)
    k = kernel()
    md = MarketDataBook(SYMBOLS)
    subs = {s: Subscriber(md.snapshot(s)) for s in SYMBOLS}
    late: dict[str, Subscriber] = {}
    trades = 0
    for n in range(4000):
        if n == 1500:  # a subscriber that joins mid-stream from a snapshot
            late = {s: Subscriber(md.snapshot(s)) for s in SYMBOLS}
        for event in k.handle(trading_command(rng, k, n), 1_000_000 + n):
            for entry in md.apply(event):
                for consumer in (subs, late):
                    if entry.symbol in consumer:
                        consumer[entry.symbol].apply(entry)
                trades += isinstance(entry, TradeEntry)
        for s in SYMBOLS:
            for side in (Side.BUY, Side.SELL):
                expected = kernel_book(k, s, side)
                assert subs[s].book(side) == expected, (n, s, side)
                assert [(lv.price, lv.qty, lv.orders) for lv in md.levels(s, side)] == expected
                if late:
                    assert late[s].book(side) == expected
            assert subs[s].seq == md.seq(s)
    assert trades > 100


def test_entries_carry_no_order_firm_or_session_identity():
    fields = set()
    for cls in (LevelEntry, TradeEntry, StatEntry, StatusEntry, Snapshot):
        fields |= {f.name for f in dataclasses.fields(cls)}
    assert not fields & {"order_id", "firm", "session", "account", "cl_ord_id"}
    # and the only id a trade entry has is the trade's own
    k, md = kernel(), MarketDataBook(SYMBOLS)
    entries = [e for c in (new("b", "B", 10, "100.00"), new("s", "S", 4, "100.00", "C2"))
               for ev in k.handle(c, 1) for e in md.apply(ev)]  # fmt: skip
    assert [e for e in entries if isinstance(e, TradeEntry)][0].trade_id == 1


def test_levels_sum_visible_orders_and_delete_only_with_the_last_order():
    k, md = kernel(), MarketDataBook(SYMBOLS)

    def run(command):
        return [e for ev in k.handle(command, 1) for e in md.apply(ev)]

    (first,) = run(new("a", "B", 100, "100.00"))
    assert (first.action, first.price, first.qty, first.orders) == (NEW, 10_000_000_000, 100, 1)
    (second,) = run(new("b", "B", 50, "100.00", "C2"))
    assert (second.action, second.qty, second.orders) == (CHANGE, 150, 2)
    (gone,) = run(cancel("a2", "a", "B"))
    assert (gone.action, gone.qty, gone.orders) == (CHANGE, 50, 1)
    (last,) = run(cancel("b2", "b", "B", "C2"))
    assert (last.action, last.qty, last.orders) == (DELETE, 0, 0)
    assert [e.seq for e in (first, second, gone, last)] == [1, 2, 3, 4]


def test_aggressor_never_shows_while_it_matches_and_its_remainder_rests_after():
    k, md = kernel(), MarketDataBook(SYMBOLS)
    for c in (new("s1", "S", 10, "100.00", "C2"), new("s2", "S", 10, "101.00", "C2")):
        for ev in k.handle(c, 1):
            md.apply(ev)
    entries = [e for ev in k.handle(new("b", "B", 30, "101.00"), 2) for e in md.apply(ev)]
    kinds = [(type(e).__name__, getattr(e, "action", getattr(e, "kind", ""))) for e in entries]
    # trade at 100, its stats, the 100 level deleted, trade at 101, stats, 101 deleted,
    # then the bid of 10 at 101 appears: never a crossed book in between.
    assert [e.price for e in entries if isinstance(e, TradeEntry)] == [
        10_000_000_000, 10_100_000_000,
    ]  # fmt: skip
    assert kinds[-1] == ("LevelEntry", NEW) and entries[-1].side is Side.BUY
    assert entries[-1].qty == 10
    snap = md.snapshot("AAPL")
    assert not snap.offers and snap.bids[0].qty == 10
    assert snap.stats == {OPEN: 10_000_000_000, HIGH: 10_100_000_000, LOW: 10_000_000_000,
                          VOLUME: 20}  # fmt: skip


def test_a_price_improving_replace_moves_the_level_and_a_smaller_one_resizes_it():
    k, md = kernel(), MarketDataBook(SYMBOLS)
    for ev in k.handle(new("a", "B", 100, "100.00"), 1):
        md.apply(ev)
    moved = [e for ev in k.handle(replace("a2", "a", "B", 100, "100.50"), 2)
             for e in md.apply(ev)]  # fmt: skip
    assert [(e.action, e.price) for e in moved] == [(DELETE, 10_000_000_000),
                                                    (NEW, 10_050_000_000)]  # fmt: skip
    (smaller,) = [e for ev in k.handle(replace("a3", "a2", "B", 60, "100.50"), 3)
                  for e in md.apply(ev)]  # fmt: skip
    assert (smaller.action, smaller.qty) == (CHANGE, 60)


def test_bust_recomputes_statistics_and_halt_is_a_status_entry():
    k, md = kernel(), MarketDataBook(SYMBOLS)
    for c in (new("s1", "S", 10, "100.00", "C2"), new("b1", "B", 10, "100.00"),
              new("s2", "S", 5, "99.00", "C2"), new("b2", "B", 5, "99.00")):  # fmt: skip
        for ev in k.handle(c, 1):
            md.apply(ev)
    assert md.snapshot("AAPL").stats[LOW] == 9_900_000_000
    bust = [e for ev in k.handle(BustTrade("ops", 2), 2) for e in md.apply(ev)]
    assert {e.kind: e.value for e in bust if isinstance(e, StatEntry)} == {
        LOW: 10_000_000_000, VOLUME: 10,
    }  # fmt: skip
    (halt,) = [e for ev in k.handle(OperatorAction("ops", "halt", "instrument", "AAPL"), 3)
               for e in md.apply(ev)]  # fmt: skip
    assert isinstance(halt, StatusEntry) and halt.halted and md.halted("AAPL")


def test_restart_sequence_is_above_anything_given_before():
    rng = random.Random(5)
    k, md = kernel(), MarketDataBook(SYMBOLS)
    for n in range(1500):
        for ev in k.handle(random_command(rng, k, n), n):
            md.apply(ev)
    start = MarketDataBook.restart_seq(k.counters.seq)
    assert all(start >= md.seq(s) for s in SYMBOLS)
    seeded = MarketDataBook(SYMBOLS, start)
    for s in SYMBOLS:
        for o in k.engines[s].book.orders.values():
            seeded.seed_order(o.snapshot())
        for side in (Side.BUY, Side.SELL):
            assert seeded.levels(s, side) == md.levels(s, side)


def test_an_iceberg_shows_only_its_peak_and_a_stop_nothing_until_it_triggers():
    k, md = kernel(), MarketDataBook(SYMBOLS)

    def run(command):
        return [e for ev in k.handle(command, 1) for e in md.apply(ev)]

    (peak,) = run(dataclasses.replace(new("ice", "S", 100, "101.00", "C2"), max_floor=10))
    assert (peak.action, peak.qty, peak.orders) == (NEW, 10, 1)  # 90 hidden
    stop = dataclasses.replace(
        new("stop", "S", 7, None), ord_type=OrdType.STOP, stop_px=px("99.00")
    )
    assert run(stop) == []  # parked: nothing shows
    stop_limit = dataclasses.replace(
        new("stl", "S", 3, "98.00"), ord_type=OrdType.STOP_LIMIT, stop_px=px("99.50")
    )
    assert run(stop_limit) == []
    assert md.levels("AAPL", Side.SELL) == (Level(px("101.00"), 10, 1),)
    # a trade takes 10 of the iceberg: its next peak shows, still 10 of the 90 left
    took = run(new("b", "B", 10, "101.00"))
    trade = next(e for e in took if isinstance(e, TradeEntry))
    assert (trade.price, trade.qty) == (px("101.00"), 10)
    assert md.levels("AAPL", Side.SELL) == (Level(px("101.00"), 10, 1),)
    # a trade at 99.50 triggers the stop-limit: it rests at 98.00 only now
    run(new("b2", "B", 1, "99.50", "C3"))
    run(new("s2", "S", 1, "99.50", "C2"))
    shown = (Level(px("98.00"), 3, 1), Level(px("101.00"), 10, 1))  # the stop at 99: not yet
    assert md.levels("AAPL", Side.SELL) == shown
    assert [(lv.price, lv.qty, lv.orders) for lv in md.levels("AAPL", Side.SELL)] == kernel_book(
        k, "AAPL", Side.SELL
    )
