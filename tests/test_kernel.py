"""Kernel and matching engine behaviour, no I/O: commands in, events out."""

from __future__ import annotations

from core_helpers import cancel, kernel, names, new, px, query, replace

from venue.domain.codes import CancelReason, RejectCode
from venue.domain.events import (
    CancelRejected,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderStatusReported,
    TradeExecuted,
)
from venue.domain.values import OrdStatus, Side, TimeInForce


def test_limit_order_rests_and_is_acknowledged():
    k = kernel()
    events = k.handle(new("a", "B", 100, "100.00"), 1)
    assert names(events) == ["OrderAccepted"]
    order = events[0].order
    assert (order.status, order.cum_qty, order.leaves_qty, order.qty) == (
        OrdStatus.NEW,
        0,
        100,
        100,
    )
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("100.00"), 100)]
    k.check_invariants()


def test_crossing_order_trades_at_resting_price_and_both_sides_are_filled():
    k = kernel()
    k.handle(new("s1", "S", 100, "100.00", session="C2"), 1)
    events = k.handle(new("b1", "B", 60, "101.00"), 2)
    assert names(events) == ["OrderAccepted", "TradeExecuted", "OrderFilled", "OrderFilled"]
    trade, taker, maker = events[1:]
    assert isinstance(trade, TradeExecuted)
    assert (trade.price, trade.qty, trade.aggressor_side) == (px("100.00"), 60, Side.BUY)
    assert (trade.buy_firm, trade.sell_firm) == ("FIRM1", "FIRM2")
    assert taker.aggressor and not maker.aggressor
    assert taker.order.status is OrdStatus.FILLED and taker.order.leaves_qty == 0
    assert maker.order.status is OrdStatus.PARTIALLY_FILLED
    assert (maker.order.cum_qty, maker.order.leaves_qty) == (60, 40)
    assert taker.last_px == maker.last_px == px("100.00")
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("100.00"), 40)]
    k.check_invariants()


def test_price_priority_then_time_priority():
    k = kernel()
    k.handle(new("s1", "S", 10, "101.00", session="C2"), 1)
    k.handle(new("s2", "S", 10, "100.00", session="C2"), 2)
    k.handle(new("s3", "S", 10, "100.00", session="C2"), 3)
    events = k.handle(new("b", "B", 25, "101.00"), 4)
    makers = [e.order.cl_ord_id for e in events if isinstance(e, OrderFilled) and not e.aggressor]
    assert makers == ["s2", "s3", "s1"]
    prices = [e.price for e in events if isinstance(e, TradeExecuted)]
    assert prices == [px("100.00"), px("100.00"), px("101.00")]
    k.check_invariants()


def test_market_order_remainder_is_canceled_and_never_rests():
    k = kernel()
    k.handle(new("s1", "S", 30, "100.00", session="C2"), 1)
    events = k.handle(new("m", "B", 50, None), 2)
    assert names(events)[-1] == "OrderCanceled"
    last = events[-1]
    assert last.reason is CancelReason.MARKET_REMAINDER
    assert (last.order.cum_qty, last.order.leaves_qty, last.order.status) == (
        30,
        0,
        OrdStatus.CANCELED,
    )
    assert k.engines["AAPL"].book.depth(Side.BUY) == []
    k.check_invariants()


def test_market_order_with_empty_book_is_canceled():
    k = kernel()
    events = k.handle(new("m", "S", 50, None), 1)
    assert names(events) == ["OrderAccepted", "OrderCanceled"]


def test_ioc_remainder_is_canceled():
    k = kernel()
    k.handle(new("s1", "S", 30, "100.00", session="C2"), 1)
    events = k.handle(new("i", "B", 50, "100.00", tif=TimeInForce.IOC), 2)
    assert names(events) == [
        "OrderAccepted",
        "TradeExecuted",
        "OrderFilled",
        "OrderFilled",
        "OrderCanceled",
    ]
    assert events[-1].reason is CancelReason.IOC_REMAINDER
    assert not k.engines["AAPL"].book.orders


def test_fok_without_enough_liquidity_does_not_trade_at_all():
    k = kernel()
    k.handle(new("s1", "S", 30, "100.00", session="C2"), 1)
    k.handle(new("s2", "S", 30, "102.00", session="C2"), 2)
    events = k.handle(new("f", "B", 50, "101.00", tif=TimeInForce.FOK), 3)
    assert names(events) == ["OrderAccepted", "OrderCanceled"]
    assert events[-1].reason is CancelReason.FOK_NOT_FILLED
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("100.00"), 30), (px("102.00"), 30)]


def test_fok_with_enough_liquidity_fills_in_full_across_levels():
    k = kernel()
    k.handle(new("s1", "S", 30, "100.00", session="C2"), 1)
    k.handle(new("s2", "S", 30, "101.00", session="C2"), 2)
    events = k.handle(new("f", "B", 50, "101.00", tif=TimeInForce.FOK), 3)
    taker = [e for e in events if isinstance(e, OrderFilled) and e.aggressor][-1]
    assert taker.order.status is OrdStatus.FILLED
    assert taker.order.cum_notional == 30 * px("100.00") + 20 * px("101.00")
    k.check_invariants()


def test_cancel_chains_cl_ord_ids_and_removes_the_order():
    k = kernel()
    k.handle(new("a", "B", 100, "100.00"), 1)
    events = k.handle(cancel("a-x", "a", "B"), 2)
    assert names(events) == ["OrderCanceled"]
    snap = events[0].order
    assert (snap.cl_ord_id, snap.orig_cl_ord_id, snap.status) == ("a-x", "a", OrdStatus.CANCELED)
    assert snap.leaves_qty == 0
    assert not k.live
    k.check_invariants()


def test_cancel_of_unknown_order_is_rejected_as_unknown():
    k = kernel()
    [event] = k.handle(cancel("x", "nope", "B"), 1)
    assert isinstance(event, CancelRejected)
    assert (event.code, event.response_to, event.order) == (RejectCode.UNKNOWN_ORDER, "1", None)


def test_cancel_of_filled_order_is_too_late():
    k = kernel()
    k.handle(new("a", "B", 10, "100.00"), 1)
    k.handle(new("s", "S", 10, "100.00", session="C2"), 2)
    [event] = k.handle(cancel("a2", "a", "B"), 3)
    assert event.code is RejectCode.TOO_LATE
    assert event.order is not None and event.order.status is OrdStatus.FILLED


def test_cancel_of_another_firms_order_is_answered_as_unknown():
    k = kernel()
    k.handle(new("a", "B", 10, "100.00", session="C2"), 1)
    [event] = k.handle(cancel("x", "a", "B", session="C1"), 2)
    assert event.code is RejectCode.UNKNOWN_ORDER and event.order is None
    assert len(k.live) == 1


def test_cancel_by_order_id_works_for_the_owning_session_only():
    from venue.domain.commands import CancelOrder

    k = kernel()
    [acc] = k.handle(new("a", "B", 10, "100.00", session="C1"), 1)
    oid = acc.order.order_id
    [other_firm] = k.handle(CancelOrder("C2", "x", "?", "AAPL", Side.BUY, oid), 2)
    assert other_firm.code is RejectCode.UNKNOWN_ORDER
    [same_firm] = k.handle(CancelOrder("C3", "y", "?", "AAPL", Side.BUY, oid), 3)
    assert same_firm.code is RejectCode.UNKNOWN_ORDER and same_firm.order is None
    [ok] = k.handle(CancelOrder("C1", "z", "?", "AAPL", Side.BUY, oid), 4)
    assert isinstance(ok, OrderCanceled) and ok.order.cl_ord_id == "z"
    k.check_invariants()


def test_cancel_with_a_cl_ord_id_in_use_is_rejected_as_duplicate():
    k = kernel()
    k.handle(new("a", "B", 10, "100.00"), 1)
    k.handle(new("b", "B", 10, "99.00"), 2)
    [event] = k.handle(cancel("b", "a", "B"), 3)
    assert event.code is RejectCode.DUPLICATE_CL_ORD_ID
    assert len(k.live) == 2


def test_replace_with_lower_quantity_keeps_time_priority():
    k = kernel()
    k.handle(new("a", "B", 100, "100.00"), 1)
    k.handle(new("b", "B", 100, "100.00", session="C2"), 2)
    [event] = k.handle(replace("a2", "a", "B", 50, "100.00"), 3)
    assert isinstance(event, OrderReplaced)
    assert (event.order.cl_ord_id, event.order.orig_cl_ord_id) == ("a2", "a")
    assert (event.order.qty, event.order.leaves_qty, event.order.priority_ts) == (50, 50, 1)
    fills = k.handle(new("s", "S", 10, "100.00", session="C4"), 4)
    maker = [e for e in fills if isinstance(e, OrderFilled) and not e.aggressor][0]
    assert maker.order.cl_ord_id == "a2"
    k.check_invariants()


def test_replace_with_higher_quantity_loses_time_priority():
    k = kernel()
    k.handle(new("a", "B", 100, "100.00"), 1)
    k.handle(new("b", "B", 100, "100.00", session="C2"), 2)
    [event] = k.handle(replace("a2", "a", "B", 150, "100.00"), 3)
    assert event.order.priority_ts == 3
    fills = k.handle(new("s", "S", 10, "100.00", session="C4"), 4)
    maker = [e for e in fills if isinstance(e, OrderFilled) and not e.aggressor][0]
    assert maker.order.cl_ord_id == "b"
    k.check_invariants()


def test_replace_with_new_price_loses_priority_and_trades_if_it_crosses():
    k = kernel()
    k.handle(new("s", "S", 40, "101.00", session="C2"), 1)
    k.handle(new("a", "B", 100, "100.00"), 2)
    events = k.handle(replace("a2", "a", "B", 100, "101.00"), 3)
    assert names(events) == ["OrderReplaced", "TradeExecuted", "OrderFilled", "OrderFilled"]
    taker = events[2]
    assert taker.aggressor and taker.order.cl_ord_id == "a2"
    assert (taker.order.cum_qty, taker.order.leaves_qty) == (40, 60)
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("101.00"), 60)]
    k.check_invariants()


def test_replace_to_quantity_at_or_below_cum_qty_finishes_the_order():
    k = kernel()
    k.handle(new("a", "B", 100, "100.00"), 1)
    k.handle(new("s", "S", 30, "100.00", session="C2"), 2)
    [event] = k.handle(replace("a2", "a", "B", 20, "100.00"), 3)
    assert event.order.status is OrdStatus.FILLED
    assert (event.order.qty, event.order.cum_qty, event.order.leaves_qty) == (30, 30, 0)
    assert not k.live
    k.check_invariants()


def test_replace_changing_side_or_symbol_is_rejected():
    k = kernel()
    k.handle(new("a", "B", 100, "100.00"), 1)
    [side] = k.handle(replace("a2", "a", "S", 100, "100.00"), 2)
    [sym] = k.handle(replace("a3", "a", "B", 100, "100.00", symbol="MSFT"), 3)
    for event in (side, sym):
        assert isinstance(event, CancelRejected)
        assert (event.code, event.response_to) == (RejectCode.CHANGE_NOT_ALLOWED, "2")
    assert k.live[1].cl_ord_id == "a"


def test_replace_with_price_off_tick_is_rejected_and_changes_nothing():
    k = kernel()
    k.handle(new("a", "B", 100, "100.00"), 1)
    [event] = k.handle(replace("a2", "a", "B", 100, "100.005"), 2)
    assert event.code is RejectCode.PRICE_OFF_TICK
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("100.00"), 100)]


def test_bad_new_orders_get_specific_rejects_and_change_nothing():
    k = kernel(lot=10)
    k.handle(new("live", "B", 10, "100.00"), 1)
    cases = [
        (
            new("u", "B", 10, "100.00", symbol="ZZZZ"),
            RejectCode.UNKNOWN_SYMBOL,
            "unknown symbol ZZZZ",
        ),
        (new("q0", "B", 0, "100.00"), RejectCode.INVALID_QUANTITY, "must be positive"),
        (new("q1", "B", 15, "100.00"), RejectCode.INVALID_QUANTITY, "lot size 10"),
        (new("p0", "B", 10, "0"), RejectCode.INVALID_PRICE, "must be positive"),
        (new("pt", "B", 10, "100.001"), RejectCode.PRICE_OFF_TICK, "tick 0.01"),
        (new("live", "B", 10, "100.00"), RejectCode.DUPLICATE_CL_ORD_ID, "already used"),
    ]
    for command, code, text in cases:
        [event] = k.handle(command, 2)
        assert isinstance(event, OrderRejected), command
        assert event.code is code and text in event.text, (command, event)
        assert event.order.status is OrdStatus.REJECTED and event.order.leaves_qty == 0
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("100.00"), 10)]
    assert len(k.live) == 1
    k.check_invariants()


def test_limit_order_without_price_is_rejected():
    from venue.domain.commands import NewOrder
    from venue.domain.values import OrdType

    k = kernel()
    [event] = k.handle(NewOrder("C1", "x", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.DAY, 10), 1)
    assert event.code is RejectCode.MISSING_FIELD


def test_cl_ord_id_may_be_reused_once_the_order_is_done():
    k = kernel()
    k.handle(new("a", "B", 10, "100.00"), 1)
    k.handle(cancel("a-c", "a", "B"), 2)
    assert names(k.handle(new("a", "B", 10, "100.00"), 3)) == ["OrderAccepted"]


def test_status_request_reports_current_state_or_unknown():
    k = kernel()
    k.handle(new("a", "B", 100, "100.00"), 1)
    k.handle(new("s", "S", 30, "100.00", session="C2"), 2)
    [known] = k.handle(query("a", "B"), 3)
    [unknown] = k.handle(query("zz", "B"), 4)
    assert isinstance(known, OrderStatusReported)
    assert (known.order.cum_qty, known.order.leaves_qty, known.order.status) == (
        30,
        70,
        OrdStatus.PARTIALLY_FILLED,
    )
    assert unknown.order is None


def test_ids_are_unique_and_sequences_contiguous():
    k = kernel()
    seqs, order_ids, trade_ids = [], set(), set()
    for i in range(50):
        side = "B" if i % 2 else "S"
        for event in k.handle(new(f"o{i}", side, 10, "100.00", session="C1" if i % 3 else "C2"), i):
            seqs.append(event.seq)
            if isinstance(event, TradeExecuted):
                assert event.trade_id not in trade_ids
                trade_ids.add(event.trade_id)
            elif hasattr(event, "order") and type(event).__name__ == "OrderAccepted":
                assert event.order.order_id not in order_ids
                order_ids.add(event.order.order_id)
    assert seqs == list(range(1, len(seqs) + 1))
    assert trade_ids


def test_time_never_goes_backwards_inside_the_kernel():
    k = kernel()
    k.handle(new("a", "B", 10, "100.00"), 100)
    [event] = k.handle(new("b", "B", 10, "100.00"), 50)
    assert event.ts == 100


def test_day_orders_expire_at_cutoff_and_gtc_orders_stay():
    from venue.domain.commands import ExpireDayOrders
    from venue.domain.events import OrderExpired

    k = kernel()
    k.handle(new("day", "B", 10, "100.00"), 1)
    k.handle(new("gtc", "B", 10, "99.00", tif=TimeInForce.GTC), 2)
    k.handle(new("part", "S", 30, "101.00", session="C2"), 3)
    k.handle(new("hit", "B", 10, "101.00", session="C1", tif=TimeInForce.IOC), 4)
    k.handle(new("late", "B", 10, "98.00"), 20)
    events = k.handle(ExpireDayOrders(cutoff=10), 21)
    assert all(isinstance(e, OrderExpired) for e in events)
    expired = {e.order.cl_ord_id: e.order for e in events}
    assert set(expired) == {"day", "part"}
    assert expired["part"].status is OrdStatus.EXPIRED and expired["part"].cum_qty == 10
    assert expired["part"].leaves_qty == 0
    assert {o.cl_ord_id for o in k.live.values()} == {"gtc", "late"}
    k.check_invariants()


def test_exported_state_restores_an_identical_kernel():
    import orjson

    from venue.kernel import Kernel

    k = kernel()
    for i, (side, p) in enumerate(
        [("B", "100.00"), ("B", "100.00"), ("B", "99.50"), ("S", "101.00")]
    ):
        k.handle(new(f"o{i}", side, 10 + i, p, session="C1" if i % 2 else "C2"), i + 1)
    k.handle(new("x", "S", 5, "100.00", session="C3"), 9)
    k.handle(cancel("o3c", "o3", "S"), 10)
    state = orjson.loads(orjson.dumps(k.export_state()))
    restored = Kernel.restore(k.reference, state)
    restored.check_invariants()
    assert restored.export_state() == k.export_state()
    follow_up = [new("y", "S", 100, "99.00", session="C3"), cancel("z", "o3", "S")]
    assert [restored.handle(c, 11) for c in follow_up] == [k.handle(c, 11) for c in follow_up]
