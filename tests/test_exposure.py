"""venue/risk/exposure.py on its own: reserve before matching (the first problem found, in
the kernel's order), release after (open and executed notional follow the events). Pure:
events in, state out; the kernel-level limits are in test_risk.py."""

from __future__ import annotations

from venue.domain.codes import CancelReason, RejectCode
from venue.domain.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderSnapshot,
    OrderTradeCanceled,
)
from venue.domain.ids import ExecId, OrderId, Seq, TradeId
from venue.domain.order import Order
from venue.domain.reference import Firm, Instrument, SessionInfo
from venue.domain.values import PRICE_SCALE, OrdStatus, OrdType, Side, TimeInForce
from venue.risk.exposure import Exposure

PX = PRICE_SCALE // 100  # one cent
AAPL = Instrument("AAPL", PX, 1, reference_price=10_000 * PX, collar_bps=1000, max_order_qty=500)
S1 = SessionInfo("S1", "F1", max_orders_per_second=2)
F1 = Firm("F1", credit_limit=100 * 10_000 * PX)  # 100 at 100.00


def order(oid: int, qty: int, price: int | None = 10_000 * PX) -> Order:
    kind = OrdType.LIMIT if price is not None else OrdType.MARKET
    return Order(OrderId(oid), "S1", "F1", "", f"c{oid}", "AAPL", Side.BUY, kind,
                 TimeInForce.DAY, price, qty, 1)  # fmt: skip


def snap(o: Order) -> OrderSnapshot:
    return o.snapshot()


def reserve(e: Exposure, qty: int, price: int | None = 10_000 * PX, ts: int = 1, **kw):
    return e.reserve(S1, F1, AAPL, kw.pop("halted", False), qty, price, 10_000 * PX, ts, **kw)


def test_reserve_finds_the_first_problem_in_the_kernels_order():
    e = Exposure()
    e.block("firm", "F1")
    # halted, blocked, over the maximum and outside the collar: the block is said first
    problem = reserve(e, 900, 20_000 * PX, halted=True)
    assert problem is not None and problem[0] is RejectCode.BLOCKED
    assert "kill switch engaged for firm F1" in problem[1]
    assert e.unblock("firm", "F1") and not e.unblock("firm", "F1")
    assert reserve(e, 900, 20_000 * PX, ts=2, halted=True)[0] is RejectCode.HALTED
    assert reserve(e, 10, 20_000 * PX, ts=3_000_000)[0] is RejectCode.PRICE_OUTSIDE_COLLAR
    assert reserve(e, 900, ts=3_000_001)[0] is RejectCode.EXCEEDS_MAX_QTY


def test_the_throttle_counts_each_message_it_lets_through_with_the_time_passed_in():
    e = Exposure()
    assert reserve(e, 10, ts=1_000) is None
    assert reserve(e, 900, ts=2_000)[0] is RejectCode.EXCEEDS_MAX_QTY  # counted all the same
    assert reserve(e, 10, ts=3_000)[0] is RejectCode.THROTTLED
    assert reserve(e, 10, ts=1_001_000) is None  # the first left the one-second window


def test_credit_counts_open_and_executed_notional_and_a_replace_not_twice():
    e = Exposure()
    o = order(1, 60)
    assert reserve(e, 60) is None
    e.release([OrderAccepted(Seq(1), 1, snap(o))])
    assert e.firm_open == {"F1": 60 * 10_000 * PX}
    problem = reserve(e, 50, ts=2_000_000)
    assert problem is not None and problem[0] is RejectCode.EXCEEDS_CREDIT_LIMIT
    assert reserve(e, 100, ts=4_000_000, replacing=o.order_id) is None  # 60 -> 100: fits
    o.fill(20, 10_000 * PX)
    e.release([OrderFilled(Seq(2), 2, snap(o), TradeId(1), 10_000 * PX, 20, True)])
    assert e.firm_executed == {"F1": 20 * 10_000 * PX}
    assert e.firm_open == {"F1": 40 * 10_000 * PX} and e.used("F1") == 60 * 10_000 * PX
    assert reserve(e, 41, ts=6_000_000)[0] is RejectCode.EXCEEDS_CREDIT_LIMIT
    assert reserve(e, 40, ts=8_000_000) is None


def test_release_follows_cancels_expiries_rejects_replaces_and_busts():
    e = Exposure()
    a, b, c, m = order(1, 10), order(2, 20), order(3, 30), order(4, 5, None)
    e.release([OrderAccepted(Seq(i), 1, snap(o)) for i, o in enumerate((a, b, c, m), 1)])
    assert e.firm_open == {"F1": 60 * 10_000 * PX}  # the market order counts for nothing
    a.transition(OrdStatus.CANCELED)
    b.transition(OrdStatus.EXPIRED)
    c.qty = 15
    e.release([
        OrderCanceled(Seq(5), 2, snap(a), CancelReason.REQUESTED, ""),
        OrderExpired(Seq(6), 2, snap(b)),
        OrderReplaced(Seq(7), 2, snap(c)),
    ])  # fmt: skip
    assert e.firm_open == {"F1": 15 * 10_000 * PX}
    c.fill(15, 10_000 * PX)
    e.release([OrderFilled(Seq(8), 3, snap(c), TradeId(1), 10_000 * PX, 15, False)])
    assert e.firm_open == {"F1": 0} and e.firm_executed == {"F1": 15 * 10_000 * PX}
    c.unfill(15, 10_000 * PX)
    e.release([OrderTradeCanceled(Seq(9), 4, snap(c), TradeId(1), ExecId(8), 10_000 * PX, 15, "")])
    assert e.firm_executed == {"F1": 0}
    rejected = order(5, 10)
    rejected.status = OrdStatus.REJECTED
    e.release([OrderRejected(Seq(10), 5, snap(rejected), RejectCode.HALTED, "")])
    assert e.firm_open == {"F1": 0}
    e.check([m])
    e.new_day()
    assert e.firm_executed == {}


def test_a_snapshot_keeps_blocks_executed_notional_and_throttle_windows():
    e = Exposure()
    e.block("session", "S1")
    e.firm_executed["F1"] = 7
    reserve(e, 10, ts=5)
    live = [order(1, 10), order(2, 5, None)]
    again = Exposure.restore(**{**e.export(), "live": live})  # type: ignore[arg-type]
    assert again.export() == e.export() == {
        "blocked": [["session", "S1"]], "firm_executed": {"F1": 7}, "recent": {"S1": [5]},
    }  # fmt: skip
    assert again.firm_open == {"F1": 10 * 10_000 * PX}
    again.check(live)
