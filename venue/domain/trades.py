"""A trade of the trading day as the kernel keeps it for busts (Retention.trades of them).

    symbol, price, qty, buy_order_id, sell_order_id, buy_exec_id, sell_exec_id, busted

buy_exec_id / sell_exec_id are the ExecIDs of the two fills (0 until the fill is seen), what
a bust's reports name in ExecRefID(19). A plain tuple of str/int/bool on purpose, with a
precise type: the collector stops tracking such a tuple (a NamedTuple or a slotted
dataclass stays tracked, so 100,000 kept trades would cost every full collection), and a
snapshot copies the kernel's dict without copying records. Read it by unpacking (named
locals) or through the functions here, never by a bare index.
"""

from __future__ import annotations

from venue.domain.ids import ExecId, OrderId, Seq

TradeRecord = tuple[str, int, int, OrderId, OrderId, ExecId, ExecId, bool]

NO_EXEC = ExecId(0)  # a fill not seen yet


def new_trade(
    symbol: str, price: int, qty: int, buy_order_id: OrderId, sell_order_id: OrderId
) -> TradeRecord:
    return (symbol, price, qty, buy_order_id, sell_order_id, NO_EXEC, NO_EXEC, False)


def with_fill(trade: TradeRecord, buy: bool, fill_seq: Seq) -> TradeRecord:
    """The trade with the ExecID of its buy (buy True) or sell fill: the fill's Seq."""
    exec_id = ExecId(fill_seq)
    symbol, price, qty, buy_id, sell_id, buy_exec, sell_exec, busted = trade
    if buy:
        return (symbol, price, qty, buy_id, sell_id, exec_id, sell_exec, busted)
    return (symbol, price, qty, buy_id, sell_id, buy_exec, exec_id, busted)


def busted(trade: TradeRecord) -> TradeRecord:
    """The trade marked busted."""
    symbol, price, qty, buy_id, sell_id, buy_exec, sell_exec, _ = trade
    return (symbol, price, qty, buy_id, sell_id, buy_exec, sell_exec, True)


def is_busted(trade: TradeRecord) -> bool:
    return trade[7]
