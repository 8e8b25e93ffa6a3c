"""Trades as the kernel keeps them (venue/domain/trades.py) and as an auction's uncross
returns them (venue.matching.engine.Uncrossed): read by name, the same plain records in a
snapshot as before."""

from __future__ import annotations

import gc

import orjson
from core_helpers import kernel, new, px

from venue.domain.events import OrderFilled, TradeExecuted
from venue.domain.ids import ExecId, OrderId, Seq
from venue.domain.order import Order
from venue.domain.trades import busted, is_busted, new_trade, with_fill
from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce
from venue.kernel import Kernel
from venue.matching import Counters, MatchingEngine
from venue.matching.engine import Uncrossed

PX = PRICE_SCALE // 100


def test_a_trade_record_gets_each_fills_exec_id_and_its_bust_by_name():
    trade = new_trade("AAPL", 100 * PX, 5, OrderId(1), OrderId(2))
    assert trade == ("AAPL", 100 * PX, 5, 1, 2, 0, 0, False)
    trade = with_fill(trade, True, Seq(11))
    trade = with_fill(trade, False, Seq(12))
    _, _, _, _, _, buy_exec, sell_exec, _ = trade
    assert (buy_exec, sell_exec) == (ExecId(11), ExecId(12)) and not is_busted(trade)
    assert is_busted(busted(trade)) and busted(trade)[:7] == trade[:7]
    assert type(trade) is tuple  # not a NamedTuple: the collector stops tracking it
    kept = [with_fill(new_trade("X", int("1"), 1, OrderId(1), OrderId(2)), True, Seq(3))]
    gc.collect()
    assert not gc.is_tracked(kept[0])


def test_the_kernel_keeps_each_trade_with_the_exec_ids_of_its_two_fills():
    k = kernel()
    k.handle(new("s", "S", 10, "100.00", session="C2"), 1)
    events = k.handle(new("b", "B", 10, "100.00", session="C1"), 2)
    [trade] = [e for e in events if isinstance(e, TradeExecuted)]
    fills = {e.order.side: e.seq for e in events if isinstance(e, OrderFilled)}
    symbol, price, qty, buy_id, sell_id, buy_exec, sell_exec, was_busted = k.trades[trade.trade_id]
    assert (symbol, price, qty, buy_id, sell_id) == (
        "AAPL", px("100.00"), 10, trade.buy_order_id, trade.sell_order_id,
    )  # fmt: skip
    assert (buy_exec, sell_exec, was_busted) == (fills[Side.BUY], fills[Side.SELL], False)


def test_a_snapshot_holds_the_trades_as_plain_lists_and_restores_them():
    k = kernel()
    k.handle(new("s", "S", 10, "100.00", session="C2"), 1)
    k.handle(new("b", "B", 4, "100.00", session="C1"), 2)
    state = orjson.loads(orjson.dumps(k.export_state()))
    assert state["trades"] == [["AAPL", px("100.00"), 4, 2, 1, 4, 5, False]]
    again = Kernel.restore(k.reference, state)
    assert again.trades == k.trades


def test_an_uncross_says_by_name_which_trades_each_fill_covers():
    engine = MatchingEngine("X", Counters())
    engine.in_call = True
    orders = [
        Order(OrderId(1), "S1", "F1", "", "b1", "X", Side.BUY, OrdType.LIMIT, TimeInForce.DAY,
              101 * PX, 10, 1),
        Order(OrderId(2), "S2", "F2", "", "s1", "X", Side.SELL, OrdType.LIMIT, TimeInForce.DAY,
              100 * PX, 4, 2),
        Order(OrderId(3), "S2", "F2", "", "s2", "X", Side.SELL, OrdType.LIMIT, TimeInForce.DAY,
              100 * PX, 6, 3),
    ]  # fmt: skip
    for order in orders:
        engine.submit(order, order.priority_ts, [])
    out: list = []
    uncrossed = engine.uncross(10, 100 * PX, lambda o: True, out)
    assert isinstance(uncrossed, Uncrossed) and uncrossed.result.volume == 10
    trades = [e.trade_id for e in out if isinstance(e, TradeExecuted)]
    assert uncrossed.trades_of_fill == {1: trades, 2: trades[:1], 3: trades[1:]}
    fills = {e.order.order_id: e.trade_id for e in out if isinstance(e, OrderFilled)}
    assert fills == {oid: ids[0] for oid, ids in uncrossed.trades_of_fill.items()}
