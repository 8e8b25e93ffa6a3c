"""Pre-trade risk and controls in the kernel: each limit just inside and just outside."""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import cancel, new, px

from venue.domain.codes import CancelReason, RejectCode
from venue.domain.commands import MassCancel, OperatorAction, SessionDisconnected
from venue.domain.events import (
    MassCancelReported,
    OperatorActionApplied,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderRestated,
    TradeExecuted,
)
from venue.domain.reference import Firm, Instrument, Reference, SessionInfo, StpMode
from venue.domain.values import PRICE_SCALE, OrdStatus, TimeInForce
from venue.kernel import Kernel


def risk_kernel(**instrument: object) -> Kernel:
    spec = dict(
        reference_price=px("100.00"),
        collar_bps=1000,
        max_order_qty=1000,
        max_order_notional=50_000 * PRICE_SCALE,
    )
    spec.update(instrument)
    return Kernel(Reference(
        {"AAPL": Instrument("AAPL", PRICE_SCALE // 100, 1, **spec)},  # type: ignore[arg-type]
        {
            "C1": SessionInfo("C1", "FIRM1", max_orders_per_second=3),
            "C2": SessionInfo("C2", "FIRM2", cancel_gtc_on_disconnect=True),
            "C3": SessionInfo("C3", "FIRM1"),
            "C4": SessionInfo("C4", "FIRM3", cancel_on_disconnect=False),
        },
        {"FIRM2": Firm("FIRM2", credit_limit=10_000 * PRICE_SCALE)},
    ))  # fmt: skip


def one(events: list) -> object:
    assert len(events) == 1, events
    return events[0]


def op(action: str, scope: str, key: str = "", field: str = "", value: str | None = None):
    return OperatorAction("alice", action, scope, key, field, value)


@pytest.mark.parametrize(
    ("price", "accepted"),
    [("90.00", True), ("89.99", False), ("110.00", True), ("110.01", False)],
)
def test_price_collar_around_the_configured_reference(price, accepted):
    k = risk_kernel()
    event = one(k.handle(new("a", "B", 10, price, session="C4"), 1))
    if accepted:
        assert isinstance(event, OrderAccepted)
    else:
        assert isinstance(event, OrderRejected)
        assert event.code is RejectCode.PRICE_OUTSIDE_COLLAR
        assert event.text == f"price {price} outside collar 90-110 (reference 100 +/-10%)"


def test_collar_follows_the_last_trade_price():
    k = risk_kernel()
    k.handle(new("s", "S", 10, "108.00", session="C4"), 1)
    k.handle(new("b", "B", 10, "108.00", session="C2"), 2)
    assert isinstance(one(k.handle(new("x", "S", 1, "118.80", session="C4"), 3)), OrderAccepted)
    rejected = one(k.handle(new("y", "S", 1, "118.81", session="C4"), 4))
    assert rejected.code is RejectCode.PRICE_OUTSIDE_COLLAR and "reference 108" in rejected.text


@pytest.mark.parametrize(("qty", "accepted"), [(1000, True), (1001, False)])
def test_maximum_order_quantity(qty, accepted):
    k = risk_kernel(max_order_notional=None)
    event = one(k.handle(new("a", "B", qty, "100.00", session="C4"), 1))
    assert isinstance(event, OrderAccepted) is accepted
    if not accepted:
        assert event.code is RejectCode.EXCEEDS_MAX_QTY
        assert "OrderQty 1001 exceeds the maximum 1000 for AAPL" in event.text


@pytest.mark.parametrize(("price", "accepted"), [("100.00", True), ("100.01", False)])
def test_maximum_order_notional(price, accepted):
    k = risk_kernel()
    event = one(k.handle(new("a", "B", 500, price, session="C4"), 1))
    assert isinstance(event, OrderAccepted) is accepted
    if not accepted:
        assert event.code is RejectCode.EXCEEDS_MAX_NOTIONAL
        assert "50,005.00 exceeds the maximum 50,000.00" in event.text


def test_credit_limit_counts_open_and_executed_notional():
    k = risk_kernel()
    assert isinstance(one(k.handle(new("a", "B", 60, "100.00", session="C2"), 1)), OrderAccepted)
    k.handle(new("s", "S", 20, "100.00", session="C4"), 2)  # FIRM2 executes 2,000
    assert isinstance(one(k.handle(new("b", "B", 40, "100.00", session="C2"), 3)), OrderAccepted)
    rejected = one(k.handle(new("c", "B", 1, "100.00", session="C2"), 4))
    assert rejected.code is RejectCode.EXCEEDS_CREDIT_LIMIT
    assert "used 10,000.00 + order 100.00 > limit 10,000.00" in rejected.text
    k.handle(cancel("bx", "b", "B", session="C2"), 5)  # frees 4,000 of open notional
    assert isinstance(one(k.handle(new("d", "B", 40, "100.00", session="C2"), 6)), OrderAccepted)
    k.check_invariants()


def test_throttle_rejects_the_message_over_the_limit_in_one_second():
    k = risk_kernel()
    for i in range(3):
        assert isinstance(
            one(k.handle(new(f"o{i}", "B", 1, "99.00"), 1_000_000 + i)), OrderAccepted
        )
    rejected = one(k.handle(new("o3", "B", 1, "99.00"), 1_999_999))
    assert rejected.code is RejectCode.THROTTLED
    assert isinstance(one(k.handle(new("o4", "B", 1, "99.00"), 2_000_000)), OrderAccepted)


def test_halt_rejects_new_orders_and_keeps_resting_ones_until_the_operator_cancels():
    k = risk_kernel()
    k.handle(new("a", "B", 10, "99.00", session="C4"), 1)
    applied = one(k.handle(op("halt", "instrument", "AAPL"), 2))
    assert isinstance(applied, OperatorActionApplied) and applied.ok and applied.operator == "alice"
    rejected = one(k.handle(new("b", "B", 10, "99.00", session="C4"), 3))
    assert (rejected.code, rejected.text) == (RejectCode.HALTED, "AAPL is halted")
    assert len(k.live) == 1
    events = k.handle(op("cancel_all", "instrument", "AAPL"), 4)
    assert isinstance(events[0], OrderCanceled) and events[0].reason is CancelReason.OPERATOR
    k.handle(op("resume", "instrument", "AAPL"), 5)
    assert isinstance(one(k.handle(new("c", "B", 10, "99.00", session="C4"), 6)), OrderAccepted)


def test_restricted_instrument_rejects_orders():
    k = risk_kernel(restricted=True)
    assert one(k.handle(new("a", "B", 10, "99.00"), 1)).code is RejectCode.RESTRICTED


@pytest.mark.parametrize(("scope", "key"), [("session", "C1"), ("firm", "FIRM1"), ("venue", "")])
def test_kill_switch_cancels_everything_in_scope_and_blocks_until_released(scope, key):
    k = risk_kernel()
    k.handle(new("a", "B", 10, "99.00", session="C1"), 1)
    k.handle(new("b", "B", 10, "99.00", session="C3"), 2)
    k.handle(new("c", "B", 10, "99.00", session="C2"), 3)
    events = k.handle(op("kill", scope, key), 4)
    canceled = {e.order.cl_ord_id for e in events if isinstance(e, OrderCanceled)}
    expected = {"session": {"a"}, "firm": {"a", "b"}, "venue": {"a", "b", "c"}}[scope]
    assert canceled == expected
    blocked = one(k.handle(new("d", "B", 10, "99.00", session="C1"), 5))
    assert blocked.code is RejectCode.BLOCKED and "kill switch" in blocked.text
    k.handle(op("release", scope, key), 6)
    assert isinstance(one(k.handle(new("e", "B", 10, "99.00", session="C1"), 7)), OrderAccepted)


def test_limit_change_applies_to_the_next_order_and_bad_changes_are_refused():
    k = risk_kernel()
    assert one(k.handle(op("set_limit", "instrument", "AAPL", "max_order_qty", "5"), 1)).ok
    assert one(k.handle(new("a", "B", 6, "99.00"), 2)).code is RejectCode.EXCEEDS_MAX_QTY
    refused = one(k.handle(op("set_limit", "instrument", "AAPL", "max_order_qty", "lots"), 3))
    assert not refused.ok and "bad value 'lots'" in refused.text
    unknown = one(k.handle(op("set_limit", "instrument", "AAPL", "colour", "red"), 4))
    assert not unknown.ok and "unknown instrument limit 'colour'" in unknown.text
    assert one(k.handle(op("set_limit", "instrument", "AAPL", "max_order_qty", None), 5)).ok
    assert isinstance(one(k.handle(new("b", "B", 600, "80.00", session="C4"), 6)), OrderRejected)
    assert one(k.handle(op("set_limit", "instrument", "AAPL", "collar_pct", "25"), 7)).ok
    assert isinstance(one(k.handle(new("c", "B", 6, "80.00"), 8)), OrderAccepted)


def stp_setup(mode: StpMode | None):
    k = risk_kernel()
    k.handle(new("rest", "S", 10, "100.00", session="C1"), 1)
    k.handle(new("other", "S", 10, "100.00", session="C4"), 2)
    order = new("aggr", "B", 15, "100.00", session="C3")
    return k, k.handle(dataclasses.replace(order, stp=mode), 3)


def test_stp_cancel_resting_is_the_default_and_the_aggressor_trades_on():
    k, events = stp_setup(None)
    canceled = [e for e in events if isinstance(e, OrderCanceled)]
    assert [e.order.cl_ord_id for e in canceled] == ["rest"]
    assert (
        canceled[0].reason is CancelReason.SELF_TRADE and "FIRM1 on both sides" in canceled[0].text
    )
    trades = [e for e in events if isinstance(e, TradeExecuted)]
    assert [(t.buy_firm, t.sell_firm, t.qty) for t in trades] == [("FIRM1", "FIRM3", 10)]
    k.check_invariants()


def test_stp_cancel_aggressor_keeps_the_resting_order():
    k, events = stp_setup(StpMode.CANCEL_AGGRESSOR)
    canceled = [e.order.cl_ord_id for e in events if isinstance(e, OrderCanceled)]
    assert canceled == ["aggr"] and not any(isinstance(e, TradeExecuted) for e in events)
    assert {o.cl_ord_id for o in k.live.values()} == {"rest", "other"}


def test_stp_cancel_both():
    k, events = stp_setup(StpMode.CANCEL_BOTH)
    canceled = [e.order.cl_ord_id for e in events if isinstance(e, OrderCanceled)]
    assert canceled == ["rest", "aggr"]
    assert {o.cl_ord_id for o in k.live.values()} == {"other"}


def test_stp_decrement_reduces_both_and_cancels_the_smaller():
    k, events = stp_setup(StpMode.DECREMENT)
    canceled = [e for e in events if isinstance(e, OrderCanceled)]
    restated = [e for e in events if isinstance(e, OrderRestated)]
    assert [e.order.cl_ord_id for e in canceled] == ["rest"]
    assert [(e.order.cl_ord_id, e.order.qty, e.order.leaves_qty) for e in restated] == [
        ("aggr", 5, 5)
    ]
    trades = [e for e in events if isinstance(e, TradeExecuted)]
    assert [t.qty for t in trades] == [5]
    assert not k.live or all(o.cl_ord_id == "other" for o in k.live.values())
    k.check_invariants()


def test_mass_cancel_by_symbol_cancels_the_firms_orders_only():
    k = risk_kernel()
    k.handle(new("a", "B", 10, "99.00", session="C1"), 1)
    k.handle(new("b", "B", 10, "98.00", session="C3"), 2)
    k.handle(new("c", "B", 10, "97.00", session="C2"), 3)
    events = k.handle(MassCancel("C1", "mc1", "1", "AAPL"), 4)
    assert [e.order.cl_ord_id for e in events[:-1]] == ["a", "b"]
    report = events[-1]
    assert isinstance(report, MassCancelReported)
    assert (report.response, report.affected, report.session) == ("1", 2, "C1")
    assert {o.cl_ord_id for o in k.live.values()} == {"c"}
    bad = one(k.handle(MassCancel("C1", "mc2", "1", "ZZZ"), 5))
    assert bad.response == "0" and "unknown symbol ZZZ" in bad.text


def test_cancel_on_disconnect_cancels_day_orders_and_gtc_where_configured():
    k = risk_kernel()
    k.handle(new("d1", "B", 10, "99.00", session="C1"), 1)
    k.handle(new("g1", "B", 10, "99.00", session="C1", tif=TimeInForce.GTC), 2)
    k.handle(new("d2", "B", 10, "99.00", session="C2"), 3)
    k.handle(new("g2", "B", 10, "99.00", session="C2", tif=TimeInForce.GTC), 4)
    k.handle(new("d4", "B", 10, "99.00", session="C4"), 5)
    c1 = k.handle(SessionDisconnected("C1"), 6)
    c2 = k.handle(SessionDisconnected("C2"), 7)
    c4 = k.handle(SessionDisconnected("C4"), 8)
    assert [e.order.cl_ord_id for e in c1] == ["d1"]
    assert [e.order.cl_ord_id for e in c2] == ["d2", "g2"]
    assert c4 == []
    assert all(
        e.reason is CancelReason.DISCONNECT and e.order.status is OrdStatus.CANCELED
        for e in c1 + c2
    )


def test_bust_takes_the_fill_back_from_both_sides_and_references_the_fills():
    from venue.domain.commands import BustTrade
    from venue.domain.events import OrderFilled, OrderTradeCanceled, TradeBusted

    k = risk_kernel()
    k.handle(new("s", "S", 10, "100.00", session="C4"), 1)
    fill_events = k.handle(new("b", "B", 30, "100.00", session="C2"), 2)
    fills = {e.order.cl_ord_id: e.seq for e in fill_events if isinstance(e, OrderFilled)}
    [trade] = [e for e in fill_events if isinstance(e, TradeExecuted)]
    events = k.handle(BustTrade("alice", trade.trade_id, "fat finger"), 3)
    assert isinstance(events[0], TradeBusted) and events[0].qty == 10
    sides = {e.order.cl_ord_id: e for e in events if isinstance(e, OrderTradeCanceled)}
    assert sides["b"].exec_ref == fills["b"] and sides["s"].exec_ref == fills["s"]
    buy = sides["b"].order
    assert (buy.cum_qty, buy.leaves_qty, buy.qty, buy.status) == (0, 20, 20, OrdStatus.NEW)
    sell = sides["s"].order
    assert (sell.cum_qty, sell.leaves_qty, sell.status) == (0, 0, OrdStatus.FILLED)
    assert events[-1].ok and "fat finger" in events[-1].text
    again = k.handle(BustTrade("alice", trade.trade_id), 4)
    assert not again[-1].ok and "already busted" in again[-1].text
    assert k.firm_executed.get("FIRM2", 0) == 0
    k.check_invariants()
