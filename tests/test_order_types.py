"""Order types and instructions in the kernel: FOK under self-trade prevention, stops,
stop-limits, post-only, GTD, MinQty. Commands in, events out, no I/O."""

from __future__ import annotations

import dataclasses

import pytest
from core_helpers import kernel, names, new, px

from venue.domain.codes import CancelReason
from venue.domain.events import OrderFilled
from venue.domain.reference import StpMode
from venue.domain.values import OrdStatus, Side, TimeInForce

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
