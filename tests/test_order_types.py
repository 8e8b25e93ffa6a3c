"""Order types and instructions in the kernel: FOK under self-trade prevention, stops,
stop-limits, post-only, GTD, MinQty. Commands in, events out, no I/O."""

from __future__ import annotations

import dataclasses
import json

import pytest
from core_helpers import cancel, kernel, names, new, px, reference, replace

from venue.domain.codes import CancelReason, RejectCode
from venue.domain.commands import ExpireDayOrders, ExpireOrders, MassCancel, OperatorAction
from venue.domain.events import OrderFilled
from venue.domain.reference import StpMode
from venue.domain.values import OrdStatus, OrdType, Side, TimeInForce
from venue.kernel import Kernel

# -- FOK under self-trade prevention ------------------------------------------------------


def _fok_behind_own_firm_book(k):
    """Asks: 50 FIRM2 @100.00, 50 FIRM1 @100.50, 50 FIRM2 @100.50 (C1 and C3 are FIRM1)."""
    k.handle(new("a1", "S", 50, "100.00", session="C2"), 1)
    k.handle(new("a2", "S", 50, "100.50", session="C3"), 2)
    k.handle(new("a3", "S", 50, "100.50", session="C2"), 3)


@pytest.mark.parametrize("mode", [StpMode.CANCEL_AGGRESSOR, StpMode.CANCEL_BOTH])
def test_fok_stopped_by_self_trade_prevention_trades_nothing(mode):
    k = kernel()
    _fok_behind_own_firm_book(k)
    order = dataclasses.replace(new("f", "B", 100, "100.50", tif=TimeInForce.FOK), stp=mode)
    events = k.handle(order, 4)
    assert names(events) == ["OrderAccepted", "OrderCanceled"]
    assert events[-1].reason is CancelReason.FOK_NOT_FILLED
    assert events[-1].order.cum_qty == 0
    # the book is untouched: the own-firm order is not canceled by a FOK that did not trade
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("100.00"), 50), (px("100.50"), 100)]
    k.check_invariants()


def test_fok_fills_in_full_when_cancel_resting_clears_the_way():
    k = kernel()
    _fok_behind_own_firm_book(k)
    order = dataclasses.replace(
        new("f", "B", 100, "100.50", tif=TimeInForce.FOK), stp=StpMode.CANCEL_RESTING
    )
    events = k.handle(order, 4)
    fills = [e for e in events if isinstance(e, OrderFilled) and e.aggressor]
    assert [(f.last_px, f.last_qty) for f in fills] == [(px("100.00"), 50), (px("100.50"), 50)]
    assert fills[-1].order.status is OrdStatus.FILLED
    assert k.engines["AAPL"].book.depth(Side.SELL) == []
    k.check_invariants()


def test_fok_with_decrement_counts_only_what_trades():
    k = kernel()
    _fok_behind_own_firm_book(k)
    for cl, qty in (("f", 100), ("g", 150)):
        order = dataclasses.replace(
            new(cl, "B", qty, "100.50", tif=TimeInForce.FOK), stp=StpMode.DECREMENT
        )
        events = k.handle(order, 4)
        assert names(events) == ["OrderAccepted", "OrderCanceled"]
        assert events[-1].reason is CancelReason.FOK_NOT_FILLED
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("100.00"), 50), (px("100.50"), 100)]
    k.check_invariants()


# -- stop and stop-limit ------------------------------------------------------------------


def stop(cl, side, qty, stop_px, price=None, session="C1", tif=TimeInForce.DAY):
    ord_type = OrdType.STOP if price is None else OrdType.STOP_LIMIT
    cmd = new(cl, side, qty, price, session, ord_type=ord_type, tif=tif)
    return dataclasses.replace(cmd, stop_px=px(stop_px))


def stop_replace(cl, orig, side, qty, stop_px, price=None, session="C1"):
    ord_type = OrdType.STOP if price is None else OrdType.STOP_LIMIT
    cmd = replace(cl, orig, side, qty, price, session, ord_type=ord_type)
    return dataclasses.replace(cmd, stop_px=None if stop_px is None else px(stop_px))


def trade_at(k, price, ts, qty=10):
    """C2 rests a sell and C4 lifts it: one trade at `price` (firms FIRM2 and FIRM3)."""
    k.handle(new(f"s{ts}", "S", qty, price, session="C2"), ts)
    return k.handle(new(f"b{ts}", "B", qty, price, session="C4"), ts)


def test_stop_is_acknowledged_and_parked_out_of_the_book():
    k = kernel()
    trade_at(k, "100.00", 1)
    events = k.handle(stop("st", "B", 50, "101.00"), 2)
    assert names(events) == ["OrderAccepted"]
    snap = events[0].order
    assert (snap.status, snap.stop_px, snap.ord_type) == (OrdStatus.NEW, px("101.00"), OrdType.STOP)
    engine = k.engines["AAPL"]
    assert engine.book.depth(Side.BUY) == [] and list(engine.parked) == [snap.order_id]
    k.check_invariants()


def test_quotes_do_not_trigger_a_stop():
    k = kernel()
    trade_at(k, "100.00", 1)
    k.handle(stop("st", "B", 50, "101.00"), 2)
    events = k.handle(new("q", "B", 10, "102.00", session="C2"), 3)  # a bid above the stop
    assert names(events) == ["OrderAccepted"]
    assert len(k.engines["AAPL"].parked) == 1


@pytest.mark.parametrize(
    ("side", "stop_px", "words"),
    [
        ("B", "100.00", "buy stop price 100 is at or below the last price 100"),
        ("B", "99.00", "buy stop price 99 is at or below"),
        ("S", "100.00", "sell stop price 100 is at or above the last price 100"),
        ("S", "101.00", "sell stop price 101 is at or above"),
    ],
)
def test_stop_already_through_the_last_price_is_rejected(side, stop_px, words):
    k = kernel()
    trade_at(k, "100.00", 1)
    events = k.handle(stop("st", side, 50, stop_px), 2)
    assert names(events) == ["OrderRejected"]
    assert events[0].code is RejectCode.INVALID_PRICE and words in events[0].text
    assert not k.engines["AAPL"].parked


def test_reference_price_is_the_last_price_before_the_first_trade():
    ref = reference()
    ref.instruments["AAPL"] = dataclasses.replace(
        ref.instruments["AAPL"], reference_price=px("100.00")
    )
    k = Kernel(ref)
    assert names(k.handle(stop("st1", "B", 5, "100.00"), 1)) == ["OrderRejected"]
    assert names(k.handle(stop("st2", "B", 5, "100.01"), 2)) == ["OrderAccepted"]


@pytest.mark.parametrize(
    ("side", "stop_px", "price", "ok"),
    [
        ("B", "101.00", "100.99", False),
        ("B", "101.00", "101.00", True),
        ("B", "101.00", "102.00", True),
        ("S", "99.00", "99.01", False),
        ("S", "99.00", "99.00", True),
        ("S", "99.00", "98.00", True),
    ],
)
def test_stop_limit_price_must_not_be_on_the_wrong_side_of_its_stop(side, stop_px, price, ok):
    k = kernel()
    trade_at(k, "100.00", 1)
    events = k.handle(stop("st", side, 5, stop_px, price), 2)
    assert names(events) == (["OrderAccepted"] if ok else ["OrderRejected"])
    if not ok:
        assert "its stop price" in events[0].text


@pytest.mark.parametrize(
    ("cmd", "code", "words"),
    [
        (
            dataclasses.replace(new("x", "B", 5, None, ord_type=OrdType.STOP), stop_px=None),
            RejectCode.MISSING_FIELD,
            "StopPx(99) is required",
        ),
        (
            dataclasses.replace(new("x", "B", 5, "100.00"), stop_px=px("101.00")),
            RejectCode.UNSUPPORTED_CHARACTERISTIC,
            "StopPx(99) is only for stop",
        ),
        (
            dataclasses.replace(
                new("x", "B", 5, "102.00", ord_type=OrdType.STOP), stop_px=px("101.00")
            ),
            RejectCode.UNSUPPORTED_CHARACTERISTIC,
            "Price(44) must not be set on a stop order",
        ),
        (
            dataclasses.replace(
                new("x", "B", 5, None, ord_type=OrdType.STOP_LIMIT), stop_px=px("101.00")
            ),
            RejectCode.MISSING_FIELD,
            "Price(44) is required on a stop limit order",
        ),
        (
            stop("x", "B", 5, "101.00", tif=TimeInForce.IOC),
            RejectCode.UNSUPPORTED_CHARACTERISTIC,
            "TimeInForce(59)=3 is not supported on a stop order",
        ),
        (
            stop("x", "B", 5, "101.00", tif=TimeInForce.FOK),
            RejectCode.UNSUPPORTED_CHARACTERISTIC,
            "TimeInForce(59)=4 is not supported on a stop order",
        ),
        (stop("x", "B", 5, "101.005"), RejectCode.PRICE_OFF_TICK, "stop price 101.005"),
        (stop("x", "B", 5, "0"), RejectCode.INVALID_PRICE, "stop price 0 must be positive"),
    ],
)
def test_bad_stop_terms_are_rejected(cmd, code, words):
    k = kernel()
    events = k.handle(cmd, 1)
    assert names(events) == ["OrderRejected"]
    assert events[0].code is code and words in events[0].text


def test_trade_at_the_stop_triggers_it_reported_before_any_fill():
    k = kernel()
    trade_at(k, "100.00", 1)
    accepted = k.handle(stop("st", "B", 30, "101.00"), 2)[0].order
    k.handle(new("ask", "S", 100, "101.50", session="C2"), 3)
    events = trade_at(k, "101.00", 4)
    kinds = names(events)
    i = kinds.index("OrderTriggered")
    triggered = events[i]
    assert triggered.order.order_id == accepted.order_id and triggered.order.triggered
    assert triggered.order.status is OrdStatus.NEW and triggered.order.priority_ts == 4
    assert "stop triggered" in triggered.text and "101" in triggered.text
    fills = [e for e in events[i:] if isinstance(e, OrderFilled) and e.aggressor]
    # the stop (a market order now) lifts the remaining asks: 101.50
    assert [(f.order.order_id, f.last_px, f.last_qty) for f in fills] == [
        (accepted.order_id, px("101.50"), 30)
    ]
    assert not k.engines["AAPL"].parked
    k.check_invariants()


def test_sell_stop_triggers_on_a_trade_at_or_below_it_and_market_remainder_is_canceled():
    k = kernel()
    trade_at(k, "100.00", 1)
    k.handle(stop("st", "S", 30, "99.00", session="C1"), 2)
    k.handle(new("bid", "B", 10, "98.00", session="C2"), 3)
    events = trade_at(k, "98.50", 4)  # prints through the stop
    i = names(events).index("OrderTriggered")
    tail = events[i:]
    assert names(tail) == [
        "OrderTriggered", "TradeExecuted", "OrderFilled", "OrderFilled", "OrderCanceled",
    ]  # fmt: skip
    assert tail[-1].reason is CancelReason.MARKET_REMAINDER and tail[-1].order.cum_qty == 10
    k.check_invariants()


def test_stops_triggered_by_one_trade_enter_in_accept_order_and_cascade():
    k = kernel()
    trade_at(k, "100.00", 1)
    # accept order: st1 (stop 101.50), st2 (stop 101.00), st3 (stop 101.00); all buy
    k.handle(stop("st1", "B", 10, "101.50", "103.00", session="C1"), 2)
    k.handle(stop("st2", "B", 10, "101.00", "103.00", session="C1"), 3)
    k.handle(stop("st3", "B", 10, "101.00", "103.00", session="C1"), 4)
    # st4 triggers only on the trades the others cause (at 102)
    k.handle(stop("st4", "B", 10, "102.00", "103.00", session="C1"), 5)
    k.handle(new("a1", "S", 15, "102.00", session="C2"), 6)
    events = trade_at(k, "101.50", 7)  # triggers st1, st2, st3 together
    triggered = [e.order.cl_ord_id for e in events if type(e).__name__ == "OrderTriggered"]
    assert triggered == ["st1", "st2", "st3", "st4"]
    # st1 and st2 (in that order) took 10 and 5 at 102; st3 and st4 rest at 103 behind them
    fills = [(e.order.cl_ord_id, e.last_qty) for e in events if isinstance(e, OrderFilled)]
    assert fills[-4:] == [("st1", 10), ("a1", 10), ("st2", 5), ("a1", 5)]
    bids = list(k.engines["AAPL"].book.best(Side.BUY).orders.values())
    assert [o.cl_ord_id for o in bids] == ["st2", "st3", "st4"]
    assert all(o.priority_ts == 7 for o in bids)
    k.check_invariants()


def test_cancel_and_replace_work_on_a_parked_stop():
    k = kernel()
    trade_at(k, "100.00", 1)
    k.handle(stop("st", "B", 10, "101.00", "101.50"), 2)
    events = k.handle(stop_replace("st2", "st", "B", 20, "102.00", "102.50"), 3)
    assert names(events) == ["OrderReplaced"]
    snap = events[0].order
    assert (snap.qty, snap.stop_px, snap.price, snap.cl_ord_id) == (
        20, px("102.00"), px("102.50"), "st2",
    )  # fmt: skip
    # the old stop price no longer triggers it
    k.handle(new("a", "S", 100, "103.00", session="C2"), 4)
    assert "OrderTriggered" not in names(trade_at(k, "101.00", 5))
    # a replace to a stop already through the last price is refused
    events = k.handle(stop_replace("st3", "st2", "B", 20, "101.00", "102.00"), 6)
    assert names(events) == ["CancelRejected"] and "at or below the last price" in events[0].text
    events = k.handle(stop_replace("st3", "st2", "B", 20, None, "102.00"), 6)
    assert names(events) == ["CancelRejected"] and "StopPx(99) is required" in events[0].text
    events = k.handle(cancel("c", "st2", "B"), 7)
    assert names(events) == ["OrderCanceled"]
    assert not k.engines["AAPL"].parked
    k.check_invariants()


def test_after_the_trigger_a_stop_limit_is_an_ordinary_order_and_its_stop_price_is_fixed():
    k = kernel()
    trade_at(k, "100.00", 1)
    k.handle(stop("st", "B", 10, "101.00", "101.00"), 2)
    trade_at(k, "101.00", 3)
    order = next(o for o in k.live.values() if o.cl_ord_id == "st")
    assert order.triggered and k.engines["AAPL"].book.depth(Side.BUY) == [(px("101.00"), 10)]
    events = k.handle(stop_replace("st2", "st", "B", 10, "101.50", "101.00"), 4)
    assert names(events) == ["CancelRejected"] and "already triggered" in events[0].text
    events = k.handle(stop_replace("st2", "st", "B", 5, "101.00", "101.00"), 5)
    assert names(events) == ["OrderReplaced"]
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("101.00"), 5)]
    k.check_invariants()


def test_halt_does_not_trigger_stops():
    k = kernel()
    trade_at(k, "100.00", 1)
    k.handle(stop("st", "B", 10, "101.00"), 2)
    k.handle(new("a", "S", 10, "101.00", session="C2"), 3)
    k.handle(OperatorAction("ops", "halt", "instrument", "AAPL"), 4)
    assert names(k.handle(new("b", "B", 10, "101.00", session="C4"), 5)) == ["OrderRejected"]
    assert len(k.engines["AAPL"].parked) == 1
    k.handle(OperatorAction("ops", "resume", "instrument", "AAPL"), 6)
    assert "OrderTriggered" in names(k.handle(new("b2", "B", 5, "101.00", session="C4"), 7))


def test_parked_stops_expire_at_day_end_and_go_with_mass_cancel():
    k = kernel()
    trade_at(k, "100.00", 1)
    k.handle(stop("d", "B", 10, "101.00"), 2)
    k.handle(stop("g", "B", 10, "101.00", tif=TimeInForce.GTC), 3)
    events = k.handle(ExpireDayOrders(10), 11)
    assert [e.order.cl_ord_id for e in events] == ["d"]
    events = k.handle(MassCancel("C1", "m", "7"), 12)
    assert names(events) == ["OrderCanceled", "MassCancelReported"]
    assert not k.live and not k.engines["AAPL"].parked
    k.check_invariants()


def test_snapshot_restore_keeps_parked_stops_in_accept_order():
    k = kernel()
    trade_at(k, "100.00", 1)
    k.handle(stop("st1", "B", 10, "101.00", "101.00"), 2)
    k.handle(stop("st2", "B", 10, "101.00"), 3)
    k.handle(stop("st3", "S", 10, "99.00", session="C2"), 4)
    state = json.loads(json.dumps(k.export_state()))
    restored = Kernel.restore(reference(), state)
    restored.check_invariants()
    assert list(restored.engines["AAPL"].parked) == list(k.engines["AAPL"].parked)
    assert {f: v for f, v in restored.firm_open.items() if v} == {
        f: v for f, v in k.firm_open.items() if v
    }
    k.handle(new("a", "S", 30, "101.00", session="C2"), 5)
    restored.handle(new("a", "S", 30, "101.00", session="C2"), 5)
    assert trade_at(k, "101.00", 6) == trade_at(restored, "101.00", 6)


def test_snapshot_of_an_older_format_without_stop_fields_restores():
    k = kernel()
    k.handle(new("r", "B", 10, "99.00"), 1)
    state = json.loads(json.dumps(k.export_state()))
    for plain in state["resting"]:
        del plain[17:]  # stop_px and every later field did not exist
    del state["stops"]
    restored = Kernel.restore(reference(), state)
    restored.check_invariants()
    order = next(iter(restored.live.values()))
    assert (order.stop_px, order.triggered) == (None, False)


# -- post-only ----------------------------------------------------------------------------


def post_only(cl, side, qty, price, session="C1", tif=TimeInForce.DAY):
    return dataclasses.replace(new(cl, side, qty, price, session, tif=tif), post_only=True)


def slide_kernel():
    ref = reference()
    ref.instruments["AAPL"] = dataclasses.replace(ref.instruments["AAPL"], post_only_slide=True)
    return Kernel(ref)


def test_post_only_that_does_not_cross_rests():
    k = kernel()
    k.handle(new("a", "S", 10, "101.00", session="C2"), 1)
    events = k.handle(post_only("p", "B", 10, "100.99"), 2)
    assert names(events) == ["OrderAccepted"] and events[0].order.post_only
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("100.99"), 10)]


@pytest.mark.parametrize(("side", "price"), [("B", "101.00"), ("B", "102.00"), ("S", "99.00")])
def test_post_only_that_would_take_liquidity_is_rejected_by_default(side, price):
    k = kernel()
    k.handle(new("a", "S", 10, "101.00", session="C2"), 1)
    k.handle(new("b", "B", 10, "99.00", session="C2"), 2)
    events = k.handle(post_only("p", side, 10, price), 3)
    assert names(events) == ["OrderRejected"]
    assert events[0].code is RejectCode.WOULD_TAKE_LIQUIDITY
    assert "post-only order would take liquidity" in events[0].text
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("101.00"), 10)]
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("99.00"), 10)]


def test_post_only_slides_to_one_tick_behind_the_opposite_best_when_the_instrument_says_so():
    k = slide_kernel()
    k.handle(new("a", "S", 10, "101.00", session="C2"), 1)
    k.handle(new("b", "B", 10, "99.00", session="C2"), 2)
    events = k.handle(post_only("p", "B", 10, "102.00"), 3)
    assert names(events) == ["OrderAccepted"] and events[0].order.price == px("100.99")
    # the best bid is now p's 100.99: a sell slides to 101.00
    events = k.handle(post_only("q", "S", 10, "98.00", session="C2"), 4)
    assert names(events) == ["OrderAccepted"] and events[0].order.price == px("101.00")
    k.check_invariants()


@pytest.mark.parametrize(
    ("ord_type", "tif", "words"),
    [
        (OrdType.MARKET, TimeInForce.DAY, "not supported on OrdType(40)=1"),
        (OrdType.LIMIT, TimeInForce.IOC, "TimeInForce(59)=3"),
        (OrdType.LIMIT, TimeInForce.FOK, "TimeInForce(59)=4"),
    ],
)
def test_post_only_combinations_that_cannot_rest_are_unsupported(ord_type, tif, words):
    k = kernel()
    price = None if ord_type is OrdType.MARKET else "100.00"
    cmd = dataclasses.replace(new("p", "B", 10, price, ord_type=ord_type, tif=tif), post_only=True)
    events = k.handle(cmd, 1)
    assert names(events) == ["OrderRejected"]
    assert events[0].code is RejectCode.UNSUPPORTED_CHARACTERISTIC and words in events[0].text


def test_post_only_replace_that_would_take_liquidity_is_refused_or_slid():
    k = kernel()
    k.handle(new("a", "S", 10, "101.00", session="C2"), 1)
    k.handle(post_only("p", "B", 10, "100.00"), 2)
    events = k.handle(replace("p2", "p", "B", 10, "101.00"), 3)
    assert names(events) == ["CancelRejected"]
    assert events[0].code is RejectCode.WOULD_TAKE_LIQUIDITY
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("100.00"), 10)]
    k = slide_kernel()
    k.handle(new("a", "S", 10, "101.00", session="C2"), 1)
    k.handle(post_only("p", "B", 10, "100.00"), 2)
    events = k.handle(replace("p2", "p", "B", 10, "101.00"), 3)
    assert names(events) == ["OrderReplaced"] and events[0].order.price == px("100.99")
    k.check_invariants()


def test_post_only_never_trades_as_aggressor_even_against_its_own_firm():
    k = kernel()
    k.handle(new("a", "S", 10, "101.00", session="C3"), 1)  # FIRM1, like C1
    events = k.handle(post_only("p", "B", 10, "101.00"), 2)
    assert names(events) == ["OrderRejected"]
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("101.00"), 10)]


# -- GTD ----------------------------------------------------------------------------------

DAY0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000_000


def gtd(cl, side, qty, price, expire_ts=None, expire_date=None, session="C1"):
    cmd = new(cl, side, qty, price, session, tif=TimeInForce.GTD)
    return dataclasses.replace(cmd, expire_ts=expire_ts, expire_date=expire_date)


def test_gtd_rests_and_expires_at_its_expire_time_before_the_next_command():
    k = kernel()
    events = k.handle(gtd("g", "B", 10, "100.00", expire_ts=DAY0 + HOUR), DAY0)
    assert names(events) == ["OrderAccepted"] and events[0].order.expire_ts == DAY0 + HOUR
    assert k.next_expiry() == DAY0 + HOUR
    assert names(k.handle(ExpireOrders(), DAY0 + HOUR - 1)) == []
    # a sell arriving after the expiry time does not trade with it: the expiry comes first
    events = k.handle(new("s", "S", 10, "100.00", session="C2"), DAY0 + HOUR + 5)
    assert names(events) == ["OrderExpired", "OrderAccepted"]
    assert events[0].order.status is OrdStatus.EXPIRED and events[0].order.cl_ord_id == "g"
    assert k.next_expiry() is None
    k.check_invariants()


def test_gtd_expires_late_when_the_venue_was_down_at_its_time():
    k = kernel()
    k.handle(gtd("g1", "B", 10, "100.00", expire_ts=DAY0 + 2 * HOUR), DAY0)
    k.handle(gtd("g2", "B", 10, "99.00", expire_ts=DAY0 + HOUR), DAY0 + 1)
    events = k.handle(ExpireOrders(), DAY0 + 30 * HOUR)  # the scheduler, after a restart
    assert [(type(e).__name__, e.order.cl_ord_id) for e in events] == [
        ("OrderExpired", "g2"), ("OrderExpired", "g1"),
    ]  # fmt: skip
    assert not k.live


def test_gtd_by_expire_date_expires_at_the_end_of_that_trading_day():
    k = kernel()
    k.handle(gtd("g", "B", 10, "100.00", expire_date=20260102), DAY0)
    # the day end of 2026-01-01 (21:00 UTC) does not touch it, that of 2026-01-02 does
    assert names(k.handle(ExpireDayOrders(DAY0 + 21 * HOUR), DAY0 + 21 * HOUR)) == []
    events = k.handle(ExpireDayOrders(DAY0 + 45 * HOUR), DAY0 + 45 * HOUR)
    assert names(events) == ["OrderExpired"] and events[0].order.cl_ord_id == "g"


@pytest.mark.parametrize(
    ("kwargs", "code", "words"),
    [
        ({}, RejectCode.INVALID_EXPIRY, "needs ExpireTime(126) or ExpireDate(432)"),
        (
            {"expire_ts": DAY0 + HOUR, "expire_date": 20260102},
            RejectCode.INVALID_EXPIRY,
            "not both",
        ),
        ({"expire_ts": DAY0}, RejectCode.INVALID_EXPIRY, "ExpireTime(126) is in the past"),
        ({"expire_date": 20251231}, RejectCode.INVALID_EXPIRY, "ExpireDate(432)=20251231 is in"),
    ],
)
def test_bad_gtd_terms_are_rejected(kwargs, code, words):
    k = kernel()
    events = k.handle(gtd("g", "B", 10, "100.00", **kwargs), DAY0)
    assert names(events) == ["OrderRejected"]
    assert events[0].code is code and words in events[0].text


def test_expire_time_without_gtd_is_unsupported():
    k = kernel()
    cmd = dataclasses.replace(new("g", "B", 10, "100.00"), expire_ts=DAY0 + HOUR)
    events = k.handle(cmd, DAY0)
    assert events[0].code is RejectCode.UNSUPPORTED_CHARACTERISTIC
    assert "ExpireTime(126) is not supported without TimeInForce(59)=6" in events[0].text


def test_replace_moves_the_expiry_and_the_old_one_no_longer_applies():
    k = kernel()
    k.handle(gtd("g", "B", 10, "100.00", expire_ts=DAY0 + HOUR), DAY0)
    cmd = dataclasses.replace(
        replace("g2", "g", "B", 5, "100.00", tif=TimeInForce.GTD), expire_ts=DAY0 + 3 * HOUR
    )
    events = k.handle(cmd, DAY0 + 1)
    assert names(events) == ["OrderReplaced"] and events[0].order.expire_ts == DAY0 + 3 * HOUR
    assert names(k.handle(ExpireOrders(), DAY0 + 2 * HOUR)) == []
    assert names(k.handle(ExpireOrders(), DAY0 + 3 * HOUR)) == ["OrderExpired"]


def test_gtd_survives_snapshot_restore_and_journal_replay():
    k = kernel()
    commands = [
        (gtd("g1", "B", 10, "100.00", expire_ts=DAY0 + HOUR), DAY0),
        (gtd("g2", "S", 10, "101.00", expire_date=20260101, session="C2"), DAY0 + 1),
        (
            dataclasses.replace(
                stop("st", "B", 5, "102.00"), tif=TimeInForce.GTD, expire_ts=DAY0 + 2 * HOUR
            ),
            DAY0 + 2,
        ),
    ]
    log = [(cmd, ts, k.handle(cmd, ts)) for cmd, ts in commands]
    restored = Kernel.restore(reference(), json.loads(json.dumps(k.export_state())))
    restored.check_invariants()
    assert restored.next_expiry() == k.next_expiry() == DAY0 + HOUR
    replayed = kernel()
    for cmd, ts, events in log:
        assert replayed.handle(cmd, ts) == events
    later = [
        (ExpireOrders(), DAY0 + HOUR, ["g1"]),
        # st (ExpireTime 02:00) first, at the command's own time, then the day end's g2
        (ExpireDayOrders(DAY0 + 21 * HOUR), DAY0 + 21 * HOUR, ["st", "g2"]),
    ]
    for cmd, ts, expired in later:
        a, b, c = k.handle(cmd, ts), restored.handle(cmd, ts), replayed.handle(cmd, ts)
        assert a == b == c
        assert [(type(e).__name__, e.order.cl_ord_id) for e in a] == [
            ("OrderExpired", cl) for cl in expired
        ]
    assert not k.live and not restored.live


# -- MinQty -------------------------------------------------------------------------------


def ioc_min(cl, side, qty, price, min_qty, session="C1", tif=TimeInForce.IOC):
    cmd = new(cl, side, qty, price, session, tif=tif)
    return dataclasses.replace(cmd, min_qty=min_qty)


def test_ioc_with_min_qty_trades_when_enough_can_fill_at_once():
    k = kernel()
    k.handle(new("a1", "S", 30, "100.00", session="C2"), 1)
    k.handle(new("a2", "S", 30, "100.50", session="C4"), 2)
    events = k.handle(ioc_min("m", "B", 100, "100.50", 60), 3)
    assert sum(e.last_qty for e in events if isinstance(e, OrderFilled) and e.aggressor) == 60
    assert events[-1].reason is CancelReason.IOC_REMAINDER and events[-1].order.cum_qty == 60
    assert events[0].order.min_qty == 60


def test_ioc_with_min_qty_above_what_can_fill_is_canceled_with_nothing_traded():
    k = kernel()
    k.handle(new("a1", "S", 30, "100.00", session="C2"), 1)
    k.handle(new("a2", "S", 30, "100.50", session="C3"), 2)  # FIRM1: the buyer's own firm
    k.handle(new("a3", "S", 30, "100.50", session="C4"), 3)
    order = dataclasses.replace(ioc_min("m", "B", 100, "100.50", 40), stp=StpMode.CANCEL_AGGRESSOR)
    events = k.handle(order, 4)
    assert names(events) == ["OrderAccepted", "OrderCanceled"]
    assert events[-1].reason is CancelReason.MIN_QTY_NOT_MET and events[-1].order.cum_qty == 0
    assert "MinQty 40 cannot fill at once (30 would fill)" in events[-1].text
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("100.00"), 30), (px("100.50"), 60)]


@pytest.mark.parametrize(
    ("tif", "min_qty", "code", "words"),
    [
        (TimeInForce.DAY, 10, RejectCode.UNSUPPORTED_CHARACTERISTIC, "TimeInForce(59)=0"),
        (TimeInForce.GTC, 10, RejectCode.UNSUPPORTED_CHARACTERISTIC, "TimeInForce(59)=1"),
        (TimeInForce.FOK, 10, RejectCode.UNSUPPORTED_CHARACTERISTIC, "TimeInForce(59)=4"),
        (TimeInForce.IOC, 101, RejectCode.INVALID_QUANTITY, "MinQty 101 is above OrderQty 100"),
        (TimeInForce.IOC, 0, RejectCode.INVALID_QUANTITY, "MinQty 0 must be a positive"),
    ],
)
def test_bad_min_qty_is_rejected(tif, min_qty, code, words):
    k = kernel()
    events = k.handle(ioc_min("m", "B", 100, "100.00", min_qty, tif=tif), 1)
    assert names(events) == ["OrderRejected"]
    assert events[0].code is code and words in events[0].text


def test_min_qty_must_be_a_whole_number_of_lots():
    k = kernel(lot=10)
    events = k.handle(ioc_min("m", "B", 100, "100.00", 15), 1)
    assert events[0].code is RejectCode.INVALID_QUANTITY and "lot size 10" in events[0].text


# -- iceberg ------------------------------------------------------------------------------


def iceberg(cl, side, qty, price, peak, session="C1", tif=TimeInForce.DAY):
    return dataclasses.replace(new(cl, side, qty, price, session, tif=tif), max_floor=peak)


def ice_replace(cl, orig, side, qty, price, peak, session="C1"):
    return dataclasses.replace(replace(cl, orig, side, qty, price, session), max_floor=peak)


def level_queue(k, side, price):
    level = next(lv for lv in k.engines["AAPL"].book.levels(side) if lv.price == px(price))
    return [(o.cl_ord_id, o.visible) for o in level.orders.values()]


def test_iceberg_shows_only_its_peak_and_reports_the_whole_order():
    k = kernel()
    events = k.handle(iceberg("i", "S", 100, "101.00", 10, session="C2"), 1)
    snap = events[0].order
    assert (snap.qty, snap.leaves_qty, snap.max_floor, snap.display_qty) == (100, 100, 10, 10)
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("101.00"), 10)]
    k.check_invariants()


def test_used_up_peak_refills_at_the_back_and_hidden_trades_after_every_shown_quantity():
    k = kernel()
    k.handle(iceberg("i", "S", 25, "101.00", 10, session="C2"), 1)
    k.handle(new("n", "S", 5, "101.00", session="C4"), 2)
    events = k.handle(new("b1", "B", 10, "101.00"), 3)  # takes i's whole peak
    snap = [e for e in events if isinstance(e, OrderFilled) and not e.aggressor][0].order
    assert (snap.cum_qty, snap.leaves_qty, snap.display_qty, snap.priority_ts) == (10, 15, 10, 3)
    assert level_queue(k, Side.SELL, "101.00") == [("n", 5), ("i", 10)]
    # a big buyer: n's 5 first, then i's peak, then i's hidden 5 (a new peak again)
    events = k.handle(new("b2", "B", 100, "101.00", session="C3"), 4)
    fills = [(e.order.cl_ord_id, e.last_qty) for e in events if isinstance(e, OrderFilled)]
    assert [f for f in fills if f[0] != "b2"] == [("n", 5), ("i", 10), ("i", 5)]
    assert k.engines["AAPL"].book.depth(Side.SELL) == []
    k.check_invariants()


def test_two_icebergs_alternate_peaks_after_the_shown_orders():
    k = kernel()
    k.handle(iceberg("i1", "S", 30, "101.00", 10, session="C2"), 1)
    k.handle(iceberg("i2", "S", 30, "101.00", 10, session="C4"), 2)
    events = k.handle(new("b", "B", 45, "101.00"), 3)
    fills = [(e.order.cl_ord_id, e.last_qty) for e in events if isinstance(e, OrderFilled)]
    assert [f for f in fills if f[0] != "b"] == [
        ("i1", 10), ("i2", 10), ("i1", 10), ("i2", 10), ("i1", 5),
    ]  # fmt: skip
    # i1's last peak was only partly used: it keeps its place at the front
    assert level_queue(k, Side.SELL, "101.00") == [("i1", 5), ("i2", 10)]
    k.check_invariants()


def test_fok_and_min_qty_count_hidden_quantity():
    k = kernel()
    k.handle(iceberg("i", "S", 100, "101.00", 10, session="C2"), 1)
    events = k.handle(new("f", "B", 60, "101.00", tif=TimeInForce.FOK), 2)
    taker = [e for e in events if isinstance(e, OrderFilled) and e.aggressor]
    assert taker[-1].order.status is OrdStatus.FILLED and len(taker) == 6  # a trade a peak
    events = k.handle(ioc_min("m", "B", 50, "101.00", 40), 3)
    taker = [e for e in events if isinstance(e, OrderFilled) and e.aggressor]
    assert taker[-1].order.cum_qty == 40
    assert events[-1].reason is CancelReason.IOC_REMAINDER
    assert k.engines["AAPL"].book.depth(Side.SELL) == []
    k.check_invariants()


@pytest.mark.parametrize(
    ("cmd", "code", "words"),
    [
        (iceberg("i", "S", 100, "101.00", 0), RejectCode.INVALID_QUANTITY, "MaxFloor 0 must be"),
        (
            iceberg("i", "S", 100, "101.00", 101),
            RejectCode.INVALID_QUANTITY,
            "MaxFloor 101 is above OrderQty 100",
        ),
        (
            iceberg("i", "S", 100, "101.00", 10, tif=TimeInForce.IOC),
            RejectCode.UNSUPPORTED_CHARACTERISTIC,
            "TimeInForce(59)=3",
        ),
        (
            dataclasses.replace(new("i", "S", 100, None), max_floor=10),
            RejectCode.UNSUPPORTED_CHARACTERISTIC,
            "OrdType(40)=1",
        ),
    ],
)
def test_bad_icebergs_are_rejected(cmd, code, words):
    events = kernel().handle(cmd, 1)
    assert names(events) == ["OrderRejected"]
    assert events[0].code is code and words in events[0].text


def test_iceberg_peak_must_be_whole_lots():
    events = kernel(lot=10).handle(iceberg("i", "S", 100, "101.00", 15), 1)
    assert events[0].code is RejectCode.INVALID_QUANTITY and "lot size 10" in events[0].text


def test_iceberg_replace_lower_keeps_priority_higher_or_new_price_loses_it():
    k = kernel()
    k.handle(iceberg("i", "S", 100, "101.00", 20, session="C2"), 1)
    k.handle(new("n", "S", 5, "101.00", session="C4"), 2)
    k.handle(ice_replace("i2", "i", "S", 80, "101.00", 10, session="C2"), 3)
    assert level_queue(k, Side.SELL, "101.00") == [("i2", 10), ("n", 5)]
    k.handle(ice_replace("i3", "i2", "S", 80, "101.00", 15, session="C2"), 4)  # peak up
    assert level_queue(k, Side.SELL, "101.00") == [("n", 5), ("i3", 15)]
    k.handle(ice_replace("i4", "i3", "S", 90, "101.00", 15, session="C2"), 5)  # qty up
    assert level_queue(k, Side.SELL, "101.00") == [("n", 5), ("i4", 15)]
    events = k.handle(ice_replace("i5", "i4", "S", 90, "101.00", None, session="C2"), 6)
    assert names(events) == ["CancelRejected"] and "MaxFloor(111) is required" in events[0].text
    events = k.handle(ice_replace("n2", "n", "S", 5, "101.00", 5, session="C4"), 7)
    assert names(events) == ["CancelRejected"] and "cannot be added" in events[0].text
    events = k.handle(ice_replace("i5", "i4", "S", 90, "101.00", 91, session="C2"), 8)
    assert names(events) == ["CancelRejected"] and "above OrderQty" in events[0].text
    k.check_invariants()


def test_snapshot_restore_keeps_iceberg_peaks_hidden_quantity_and_queue():
    k = kernel()
    k.handle(iceberg("i1", "S", 30, "101.00", 10, session="C2"), 1)
    k.handle(iceberg("i2", "S", 30, "101.00", 10, session="C4"), 2)
    k.handle(new("b", "B", 13, "101.00"), 3)
    restored = Kernel.restore(reference(), json.loads(json.dumps(k.export_state())))
    restored.check_invariants()
    assert level_queue(restored, Side.SELL, "101.00") == level_queue(k, Side.SELL, "101.00")
    cmd = new("b2", "B", 40, "101.00")
    assert restored.handle(cmd, 4) == k.handle(cmd, 4)


# -- market-to-limit ----------------------------------------------------------------------


def mtl(cl, side, qty, session="C1", tif=TimeInForce.DAY):
    return new(cl, side, qty, None, session, ord_type=OrdType.MARKET_TO_LIMIT, tif=tif)


def test_market_to_limit_trades_at_the_best_level_only_and_rests_there():
    k = kernel()
    k.handle(new("a1", "S", 10, "101.00", session="C2"), 1)
    k.handle(new("a2", "S", 10, "102.00", session="C2"), 2)
    events = k.handle(mtl("m", "B", 25), 3)
    assert events[0].order.price == px("101.00")  # the ack carries the limit it took
    fills = [(e.last_px, e.last_qty) for e in events if isinstance(e, OrderFilled) and e.aggressor]
    assert fills == [(px("101.00"), 10)]
    assert k.engines["AAPL"].book.depth(Side.BUY) == [(px("101.00"), 15)]
    assert k.engines["AAPL"].book.depth(Side.SELL) == [(px("102.00"), 10)]
    k.check_invariants()


def test_market_to_limit_without_an_opposite_side_is_rejected():
    k = kernel()
    k.handle(new("b", "B", 10, "99.00", session="C2"), 1)  # a bid does not help a buyer
    events = k.handle(mtl("m", "B", 10), 2)
    assert names(events) == ["OrderRejected"]
    assert events[0].code is RejectCode.NO_OPPOSITE_SIDE
    assert events[0].text == "market-to-limit order rejected: no offers in AAPL"


def test_market_to_limit_with_a_price_is_unsupported_and_ioc_cancels_the_rest():
    k = kernel()
    k.handle(new("a1", "S", 10, "101.00", session="C2"), 1)
    cmd = dataclasses.replace(mtl("m", "B", 10), price=px("101.00"))
    assert k.handle(cmd, 2)[0].code is RejectCode.UNSUPPORTED_CHARACTERISTIC
    events = k.handle(mtl("m2", "B", 15, tif=TimeInForce.IOC), 3)
    assert events[-1].reason is CancelReason.IOC_REMAINDER and events[-1].order.cum_qty == 10
    # a replace of a resting one works like a limit's (Price required)
    k.handle(new("a2", "S", 10, "101.00", session="C2"), 4)
    k.handle(mtl("m3", "B", 15), 5)
    events = k.handle(replace("m4", "m3", "B", 12, "100.50", ord_type=OrdType.MARKET_TO_LIMIT), 6)
    assert names(events) == ["OrderReplaced"] and events[0].order.price == px("100.50")
    k.check_invariants()


def test_utc_date_agrees_with_the_calendar():
    from datetime import UTC, datetime, timedelta

    from venue.domain.values import utc_date

    start = datetime(1969, 12, 25, tzinfo=UTC)
    for days in range(0, 60_000, 7):
        when = start + timedelta(days=days, hours=23, minutes=59)
        us = int(when.timestamp() * 1_000_000)
        assert utc_date(us) == int(when.strftime("%Y%m%d"))
