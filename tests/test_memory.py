"""Memory depends on the live book and the retention, not on the number of orders seen.

The kernel keeps finished orders (status requests, too-late answers) and trades (busts) up to
Retention; snapshots hold the live orders, counters and those bounded indexes, and recovery
from a snapshot plus the journal after it stays exact. Figures for the whole process come
from scripts/soak_memory.py.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import orjson
from core_helpers import SYMBOLS, cancel, new, px, reference
from fix_fixtures import ClientFactory
from fixclient import TAGS, FixClient, Message

from venue.app import Venue
from venue.domain.codes import RejectCode
from venue.domain.commands import BustTrade, Command, ExpireDayOrders, QueryOrder
from venue.domain.events import (
    CancelRejected,
    OperatorActionApplied,
    OrderAccepted,
    OrderStatusReported,
    TradeExecuted,
)
from venue.domain.values import Side
from venue.journal.snapshot import encode_state, latest_snapshot
from venue.kernel import Kernel, Retention


def bounded_flow(count: int, seed: int, start: int = 0) -> list[Command]:
    """count orders on a bounded book: C1 buys and C2 sells around 100.00, two in five of
    them crossing, and a cancel of the oldest of the last 100 orders for every order past
    those 100 (too late if it traded), so that at most about 100 rest."""
    rnd = random.Random(seed)
    commands: list[Command] = []
    resting: list[tuple[str, str, str, str]] = []  # cl, side, session, symbol
    for i in range(start, start + count):
        session, side = ("C1", "B") if rnd.random() < 0.5 else ("C2", "S")
        symbol = SYMBOLS[rnd.random() < 0.3]
        if len(resting) > 100:
            cl, s, sess, sym = resting.pop(0)
            commands.append(cancel(f"x{i}", cl, s, session=sess, symbol=sym))
            continue
        away = rnd.choice((-3, -2, 1, 2, 3))  # negative: crosses the other side
        cents = 10_000 + (-away if side == "B" else away)
        cl = f"o{i}"
        commands.append(new(cl, side, 100, f"{cents / 100:.2f}", session=session, symbol=symbol))
        resting.append((cl, side, session, symbol))  # may trade at once: then too late
    return commands


def run(kernel: Kernel, commands: list[Command], ts: int) -> tuple[list[Any], int]:
    events: list[Any] = []
    for command in commands:
        ts += 1_000
        events.extend(kernel.handle(command, ts))
    return events, ts


def snapshot_roundtrip(kernel: Kernel) -> Kernel:
    """Through the bytes a snapshot file holds."""
    return Kernel.restore(kernel.reference, orjson.loads(encode_state(kernel.export_state())))


def test_kernel_memory_stays_flat_once_the_retention_is_full() -> None:
    kernel = Kernel(reference(), Retention(done_orders=2_000, trades=1_000))
    sizes = []
    tracemalloc.start()
    try:
        ts = 0
        for phase in range(3):  # the first fills the retention
            flow = bounded_flow(20_000, seed=phase, start=phase * 100_000)
            ts = run(kernel, flow, ts)[1]
            del flow
            gc.collect()
            sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    grown = sizes[2] - sizes[1]
    assert len(kernel._done) == 2_000 and len(kernel.trades) == 1_000
    assert len(kernel.live) < 400
    # 20,000 more orders; the live book and the retained indexes changed size a little.
    assert grown < 200_000, f"kernel grew {grown} bytes over 20,000 orders"


def test_finished_orders_are_untracked_by_the_collector() -> None:
    kernel = Kernel(reference())
    run(kernel, bounded_flow(500, seed=3), 0)
    gc.collect()
    assert kernel._done and kernel.trades
    assert not any(gc.is_tracked(r) for r in kernel._done.values())
    assert not any(gc.is_tracked(t) for t in kernel.trades.values())


def test_snapshot_after_many_done_orders_holds_the_live_ones_and_the_retention() -> None:
    kernel = Kernel(reference(), Retention(done_orders=300, trades=200))
    _, ts = run(kernel, bounded_flow(5_000, seed=4), 0)
    state = kernel.export_state()
    assert len(state["resting"]) == len(kernel.live) < 200
    assert len(state["done"]) == 300 and len(state["trades"]) == 200
    assert kernel.counters.order_id == 5_000 - sum(
        1 for c in bounded_flow(5_000, seed=4) if type(c).__name__ == "CancelOrder"
    )
    restored = snapshot_roundtrip(kernel)
    restored.check_invariants()
    assert restored.export_state() == kernel.export_state()
    assert restored.retention == kernel.retention
    # The same commands afterwards give the same events and ids on both: replay is exact.
    more = bounded_flow(3_000, seed=5, start=20_000)
    more += [QueryOrder("C1", f"o{i}", "AAPL", Side.BUY) for i in range(4_000, 5_000, 7)]
    more += [BustTrade("ops", t, "test") for t in range(kernel.counters.trade_id - 300, 9_999)]
    original, _ = run(kernel, more, ts)
    replayed, _ = run(restored, more, ts)
    assert replayed == original
    assert restored.export_state() == kernel.export_state()


def test_the_finished_order_index_is_what_the_records_rebuild() -> None:
    kernel = Kernel(reference(), Retention(done_orders=50, trades=50))
    run(kernel, bounded_flow(3_000, seed=6), 0)
    index = dict(kernel._done_by_cl)
    kernel._index_done(list(kernel._done.values()))
    assert kernel._done_by_cl == index
    assert set(index.values()) <= set(kernel._done)
    assert len(kernel._done) == len(kernel._done_fifo) == 50


def test_orders_beyond_the_retention_are_unknown_within_it_too_late() -> None:
    kernel = Kernel(reference(), Retention(done_orders=3, trades=10))
    ts = 0
    for i in range(5):
        ts += 1
        kernel.handle(new(f"s{i}", "S", 100, "100.00", session="C2"), ts)
        kernel.handle(new(f"b{i}", "B", 100, "100.00"), ts)  # fills both
    # Finished in order b0, s0, b1, s1, ... (the aggressor's fill comes first): the last
    # three kept are s3, b4, s4.
    (late,) = kernel.handle(cancel("c4", "b4", "B"), ts + 1)
    assert isinstance(late, CancelRejected) and late.code is RejectCode.TOO_LATE
    (gone,) = kernel.handle(cancel("c0", "b0", "B"), ts + 1)
    assert isinstance(gone, CancelRejected) and gone.code is RejectCode.UNKNOWN_ORDER
    (status,) = kernel.handle(QueryOrder("C2", "s3", "AAPL", Side.SELL), ts + 1)
    assert isinstance(status, OrderStatusReported) and status.order is not None
    assert status.order.cum_qty == 100
    (unknown,) = kernel.handle(QueryOrder("C1", "b3", "AAPL", Side.BUY), ts + 1)
    assert isinstance(unknown, OrderStatusReported) and unknown.order is None
    # Trade 5 (s4 x b4) is bustable; trade 1's orders are forgotten: the bust is refused.
    busted = kernel.handle(BustTrade("ops", 5, ""), ts + 2)
    assert busted[-1].ok and len(busted) == 4
    (refused,) = kernel.handle(BustTrade("ops", 1, ""), ts + 2)
    assert isinstance(refused, OperatorActionApplied) and not refused.ok
    assert refused.text == "trade 1 can no longer be busted: order 1 is no longer kept (retention)"
    (again,) = kernel.handle(BustTrade("ops", 5, ""), ts + 2)
    assert again.text == "trade 5 is already busted"  # type: ignore[attr-defined]


def test_trades_beyond_the_retention_cannot_be_busted() -> None:
    kernel = Kernel(reference(), Retention(done_orders=100, trades=2))
    for i in range(4):
        kernel.handle(new(f"s{i}", "S", 100, "100.00", session="C2"), i)
        events = kernel.handle(new(f"b{i}", "B", 100, "100.00"), i)
        assert any(isinstance(e, TradeExecuted) for e in events)
    assert sorted(kernel.trades) == [3, 4]
    (refused,) = kernel.handle(BustTrade("ops", 1, ""), 10)
    assert not refused.ok  # type: ignore[attr-defined]
    assert refused.text == "no trade 1 today among the last 2 kept (retention)"  # type: ignore[attr-defined]


def test_a_snapshot_of_the_previous_format_is_restored() -> None:
    kernel = Kernel(reference())
    run(kernel, bounded_flow(400, seed=7), 0)
    state = orjson.loads(encode_state(kernel.export_state()))
    # Format 1 (before retention): done orders with their ClOrdID keys, trades with ids.
    old = {k: v for k, v in state.items() if k not in ("format", "retention", "trade_ids")}
    old["done"] = [
        [record, [[s, cl] for (s, cl), oid in kernel._done_by_cl.items() if oid == record[0]]]
        for record in state["done"]
    ]
    old["trades"] = [[tid, *t] for tid, t in zip(state["trade_ids"], state["trades"], strict=True)]
    restored = Kernel.restore(kernel.reference, old)
    assert restored.export_state() == kernel.export_state()


def test_restarted_kernel_never_repeats_an_id() -> None:
    kernel = Kernel(reference(), Retention(done_orders=10, trades=10))
    events, ts = run(kernel, bounded_flow(1_000, seed=8), 0)
    restored = snapshot_roundtrip(kernel)
    after, _ = run(restored, bounded_flow(500, seed=9, start=5_000), ts)
    ids = lambda evs, name: [getattr(e, name) for e in evs if hasattr(e, name)]  # noqa: E731
    for name in ("seq", "trade_id"):
        assert not set(ids(events, name)) & set(ids(after, name)), name
    before_orders = {e.order.order_id for e in events if getattr(e, "order", None)}
    new_orders = {e.order.order_id for e in after if isinstance(e, OrderAccepted)}
    assert new_orders and min(new_orders) > max(before_orders)


# -- the venue: restart within the day ------------------------------------------------------


def report(client: FixClient, msg_type: str = "8", **tags: str) -> Message:
    want = {TAGS[name]: value for name, value in tags.items()}
    return client.wait_for(
        lambda m: m.get(35) == msg_type and all(m.get(t) == v for t, v in want.items()),
        10,
        f"35={msg_type} {tags}",
    )


def handled_last_day_end(venue: Venue) -> None:
    """As if the venue had been up at the last trading-day end: a restart then expires
    nothing (see tests/test_recovery.py)."""
    cutoff = venue.last_day_end(datetime.now(UTC))
    venue.execute(ExpireDayOrders(int(cutoff.timestamp() * 1_000_000)))


def test_restart_keeps_the_retained_done_orders_and_never_repeats_an_id(
    venue_factory: Any, fix_client_factory: ClientFactory
) -> None:
    retention = {"done_orders": 4, "trades": 4}
    venue: Venue = venue_factory(journal={"snapshot_every": 5}, retention=retention)
    handled_last_day_end(venue)
    c1, c2 = fix_client_factory("CLIENT1"), fix_client_factory("CLIENT2")
    for i in range(6):  # 12 finished orders, 6 trades; the last 4 orders are kept
        c2.new_order(f"s{i}", "AAPL", "2", 100, price="190.00", tif="1")
        report(c2, ClOrdID=f"s{i}", ExecType="0")
        c1.new_order(f"b{i}", "AAPL", "1", 100, price="190.00", tif="1")
        report(c1, ClOrdID=f"b{i}", ExecType="F")
    c1.new_order("live", "AAPL", "1", 100, price="189.00", tif="1")
    ack = report(c1, ClOrdID="live", ExecType="0")
    fix_client_factory.close_all()
    venue.stop()  # the clients' disconnects are handled before the state is taken
    before = venue.kernel.export_state()

    snapshot = latest_snapshot(venue.snapshot_dir)
    assert snapshot is not None
    state = orjson.loads(snapshot[1])
    assert [r[4] for r in state["resting"]] == ["live"]  # cl_ord_id
    assert sorted(r[4] for r in state["done"]) == ["b4", "b5", "s4", "s5"]
    assert state["trade_ids"] == [3, 4, 5, 6] and state["retention"] == [4, 4]

    again: Venue = venue_factory(journal={"snapshot_every": 5}, retention=retention)
    assert orjson.loads(orjson.dumps(again.kernel.export_state())) == orjson.loads(
        orjson.dumps(before)
    )
    c1 = fix_client_factory("CLIENT1")
    c1.cancel("c5", "b5", "AAPL", "1")  # kept: too late
    report(c1, "9", ClOrdID="c5", CxlRejReason="0")
    c1.cancel("c0", "b0", "AAPL", "1")  # forgotten: unknown
    report(c1, "9", ClOrdID="c0", CxlRejReason="1")
    c1.new_order("live", "AAPL", "1", 100, price="189.00", tif="1")  # still live: duplicate
    report(c1, ClOrdID="live", ExecType="8", OrdRejReason="6")
    c1.new_order("next", "AAPL", "1", 100, price="189.00", tif="1")
    fresh = report(c1, ClOrdID="next", ExecType="0")
    assert int(fresh.get(37)) > int(ack.get(37))  # OrderID
    assert int(fresh.get(17)) > int(ack.get(17))  # ExecID (the event's seq)


def test_changed_retention_applies_at_restart_with_a_snapshot_first(
    venue_factory: Any, fix_client_factory: ClientFactory
) -> None:
    venue: Venue = venue_factory(retention={"done_orders": 10, "trades": 10})
    handled_last_day_end(venue)
    c1, c2 = fix_client_factory("CLIENT1"), fix_client_factory("CLIENT2")
    for i in range(4):
        c2.new_order(f"s{i}", "AAPL", "2", 100, price="190.00", tif="1")
        report(c2, ClOrdID=f"s{i}", ExecType="0")
        c1.new_order(f"b{i}", "AAPL", "1", 100, price="190.00", tif="1")
        report(c1, ClOrdID=f"b{i}", ExecType="F")
    fix_client_factory.close_all()
    venue.stop()
    again: Venue = venue_factory(retention={"done_orders": 2, "trades": 1})
    assert again.kernel.retention == Retention(2, 1)
    assert len(again.kernel._done) == 2 and list(again.kernel.trades) == [4]
    snapshot = latest_snapshot(again.snapshot_dir)
    assert snapshot is not None and orjson.loads(snapshot[1])["retention"] == [2, 1]
    assert px("190.00") == again.kernel.last_trade_px["AAPL"]
