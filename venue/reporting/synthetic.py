"""A synthetic trading day written straight into the store's tables, for load tests.

    stats = load(engine, events=1_000_000, start_us=day_start)

Rows look like the projector's (same columns, codes and conventions) and are consistent
with each other: every trade has its TradeExecuted event and both OrderFilled events,
every order its orders row with its final state, busted trades their TradeBusted and
OrderTradeCanceled events. The mix, per "episode": resting orders replaced and canceled
(some by mass cancel), matches (some partly filled then canceled, a few busted, a few with
the same account or the same firm on both sides), IOC remainders, expiries, rejects,
refused cancels and status answers. Gaps between events average about 20 ms, so a million
events span roughly a trading day. Seeded: the same arguments give the same rows.

Inserts are bulk: executemany on SQLite, COPY on PostgreSQL.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from venue.store.models import order_events, orders, trades

SYMBOLS = {"AAPL": 19_000, "MSFT": 42_000, "IBM": 18_000, "TSLA": 25_000, "SPY": 50_000}
FIRMS = ("FIRM1", "FIRM2", "FIRM3", "FIRM4")
_EVENT_COLUMNS = [c.name for c in order_events.columns]
_ORDER_COLUMNS = [c.name for c in orders.columns]
_TRADE_COLUMNS = [c.name for c in trades.columns]
_CENT = Decimal("0.01")

Row = dict[str, Any]


@dataclass
class Stats:
    events: int = 0
    trades: int = 0
    orders: int = 0
    busted: int = 0


@dataclass(slots=True)
class _Order:
    order_id: int
    session: str
    firm: str
    account: str | None
    cl: str
    symbol: str
    side: str
    tif: str
    price: Decimal
    qty: int
    priority: int
    created: int
    orig: str | None = None
    cum: int = 0
    notional: Decimal = Decimal(0)
    status: str = "0"


class _Day:
    def __init__(self, start_us: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ts = start_us
        self.seq = 0
        self.order_id = 0
        self.trade_id = 0
        self.events: list[Row] = []
        self.trades: list[Row] = []
        self.orders: list[Row] = []
        self.stats = Stats()

    # -- building blocks ---------------------------------------------------------------------

    def tick(self) -> None:
        self.ts += self.rng.randint(1, 40_000)

    def event(self, event_type: str, o: _Order | None = None, **fields: Any) -> Row:
        self.seq += 1
        row: Row = dict.fromkeys(_EVENT_COLUMNS)
        row["seq"] = self.seq
        row["ts_us"] = self.ts
        row["event_type"] = event_type
        if o is not None:
            row.update(
                session=o.session,
                firm=o.firm,
                account=o.account,
                order_id=o.order_id,
                cl_ord_id=o.cl,
                orig_cl_ord_id=o.orig,
                symbol=o.symbol,
                side=o.side,
                ord_type="2",
                tif=o.tif,
                price=o.price,
                qty=o.qty,
                status=o.status,
                cum_qty=o.cum,
                leaves_qty=o.qty - o.cum if o.status in "01" else 0,
                priority_ts_us=o.priority,
            )
        row.update(fields)
        self.events.append(row)
        return row

    def new_order(
        self,
        firm: str,
        symbol: str,
        side: str,
        qty: int,
        price: Decimal,
        tif: str = "0",
        account: str | None = None,
    ) -> _Order:
        self.order_id += 1
        return _Order(
            order_id=self.order_id,
            session=f"{firm}-S{self.rng.randint(1, 2)}",
            firm=firm,
            account=account if account is not None else self.rng.choice((None, f"{firm}-A")),
            cl=f"c{self.order_id}",
            symbol=symbol,
            side=side,
            tif=tif,
            price=price,
            qty=qty,
            priority=self.ts,
            created=self.ts,
        )

    def done(self, o: _Order) -> None:
        avg = (o.notional / o.cum).quantize(Decimal("0.00000001")) if o.cum else Decimal(0)
        self.orders.append(
            {
                "order_id": o.order_id,
                "session": o.session,
                "firm": o.firm,
                "account": o.account,
                "cl_ord_id": o.cl,
                "orig_cl_ord_id": o.orig,
                "symbol": o.symbol,
                "side": o.side,
                "ord_type": "2",
                "tif": o.tif,
                "price": o.price,
                "qty": o.qty,
                "cum_qty": o.cum,
                "leaves_qty": o.qty - o.cum if o.status in "01" else 0,
                "avg_px": avg,
                "status": o.status,
                "priority_ts_us": o.priority,
                "created_us": o.created,
                "updated_us": self.ts,
                "last_seq": self.seq,
            }
        )

    def price(self, symbol: str) -> Decimal:
        return Decimal(SYMBOLS[symbol] + self.rng.randint(-200, 200)) * _CENT

    def cancel(self, o: _Order, reason: int = 1) -> None:
        self.tick()
        o.orig, o.cl = o.cl, f"x{o.order_id}"
        o.status = "4"
        text = {1: "canceled at request", 6: "mass cancel", 2: "IOC remainder canceled"}[reason]
        self.event("OrderCanceled", o, cancel_reason=reason, text=text)

    # -- episodes ----------------------------------------------------------------------------

    def rest_and_cancel(self, firm: str, symbol: str, side: str) -> None:
        o = self.new_order(firm, symbol, side, self.rng.randint(1, 20) * 100, self.price(symbol))
        self.event("OrderAccepted", o)
        if self.rng.random() < 0.5:
            self.tick()
            o.orig, o.cl = o.cl, f"r{o.order_id}"
            if self.rng.random() < 0.5:
                o.price += _CENT
                o.priority = self.ts
            else:
                o.qty = max(100, o.qty - 100)
            self.event("OrderReplaced", o)
        self.cancel(o, 6 if self.rng.random() < 0.1 else 1)
        self.done(o)

    def match(self, firm: str, symbol: str, side: str) -> None:
        rng = self.rng
        other = rng.choice([f for f in FIRMS if f != firm])
        account = None
        roll = rng.random()
        if roll < 0.002:
            other = firm  # same firm on both sides
        elif roll < 0.01:
            account = "SHARED"  # same owner behind two firms
        resting = self.new_order(
            other, symbol, side, rng.randint(1, 20) * 100, self.price(symbol), account=account
        )
        self.event("OrderAccepted", resting)
        self.tick()
        opposite = "2" if side == "1" else "1"
        aggressor = self.new_order(
            firm,
            symbol,
            opposite,
            rng.randint(1, resting.qty // 100) * 100,
            resting.price,
            account=account,
        )
        self.event("OrderAccepted", aggressor)
        qty, price = aggressor.qty, resting.price
        self.trade_id += 1
        trade_id = self.trade_id
        buy, sell = (aggressor, resting) if opposite == "1" else (resting, aggressor)
        executed = self.event(
            "TradeExecuted",
            symbol=symbol,
            side=opposite,
            price=price,
            qty=qty,
            last_px=price,
            last_qty=qty,
            trade_id=trade_id,
        )
        fills = {}
        for o in (aggressor, resting):
            o.cum += qty
            o.notional += price * qty
            o.status = "2" if o.cum == o.qty else "1"
            fills[o.order_id] = self.event(
                "OrderFilled", o, last_px=price, last_qty=qty, trade_id=trade_id
            )["seq"]
        trade: Row = {
            "trade_id": trade_id,
            "seq": executed["seq"],
            "symbol": symbol,
            "price": price,
            "qty": qty,
            "notional": price * qty,
            "aggressor_side": opposite,
            "buy_order_id": buy.order_id,
            "sell_order_id": sell.order_id,
            "buy_firm": buy.firm,
            "sell_firm": sell.firm,
            "buy_session": buy.session,
            "sell_session": sell.session,
            "buy_account": buy.account,
            "sell_account": sell.account,
            "executed_us": self.ts,
            "status": "active",
            "busted_seq": None,
        }
        self.trades.append(trade)
        self.stats.trades += 1
        if rng.random() < 0.005:
            self.tick()
            text = f"trade {trade_id} busted by ops"
            busted = self.event(
                "TradeBusted",
                symbol=symbol,
                text=text,
                detail=json.dumps(
                    {"operator": "ops", "price": int(price * 100_000_000), "qty": qty},
                    sort_keys=True,
                ),
            )
            trade["status"] = "busted"
            trade["busted_seq"] = busted["seq"]
            self.stats.busted += 1
            for o in (buy, sell):
                o.cum -= qty
                o.qty -= qty
                o.notional -= price * qty
                o.status = "2" if o.qty == o.cum else ("1" if o.cum else "0")
                self.event(
                    "OrderTradeCanceled",
                    o,
                    last_px=price,
                    last_qty=qty,
                    trade_id=trade_id,
                    text=text,
                    detail=json.dumps({"exec_ref": fills[o.order_id]}),
                )
            self.event(
                "OperatorActionApplied",
                text=text,
                detail=json.dumps(
                    {
                        "action": "bust",
                        "field": "",
                        "key": str(trade_id),
                        "ok": True,
                        "operator": "ops",
                        "scope": "trade",
                        "value": None,
                    },
                    sort_keys=True,
                ),
            )
        if resting.status in "01" and rng.random() < 0.5:
            self.cancel(resting)
        self.done(resting)
        self.done(aggressor)

    def ioc(self, firm: str, symbol: str, side: str) -> None:
        o = self.new_order(firm, symbol, side, 100, self.price(symbol), tif="3")
        self.event("OrderAccepted", o)
        o.status = "4"
        self.event("OrderCanceled", o, cancel_reason=2, text="IOC remainder canceled")
        self.done(o)

    def expire(self, firm: str, symbol: str, side: str) -> None:
        o = self.new_order(firm, symbol, side, 100, self.price(symbol))
        self.event("OrderAccepted", o)
        self.tick()
        o.status = "C"
        self.event("OrderExpired", o)
        self.done(o)

    def reject(self, firm: str, symbol: str, side: str) -> None:
        o = self.new_order(firm, symbol, side, 100, self.price(symbol) * 2)
        o.status = "8"
        self.event("OrderRejected", o, reject_code=2002, text="price outside collar")
        self.done(o)

    def cancel_reject(self, firm: str, symbol: str, side: str) -> None:
        self.event(
            "CancelRejected",
            session=f"{firm}-S1",
            firm=firm,
            cl_ord_id=f"z{self.seq}",
            orig_cl_ord_id="unknown",
            reject_code=3001,
            text="unknown order unknown",
            detail='{"response_to": "1"}',
        )

    def status(self, firm: str, symbol: str, side: str) -> None:
        self.event(
            "OrderStatusReported",
            session=f"{firm}-S1",
            firm=firm,
            cl_ord_id="ghost",
            symbol=symbol,
            side=side,
        )

    EPISODES = (
        ("rest_and_cancel", 30),
        ("match", 35),
        ("ioc", 7),
        ("expire", 5),
        ("reject", 5),
        ("cancel_reject", 3),
        ("status", 5),
    )

    def episode(self) -> None:
        rng = self.rng
        self.tick()
        name = rng.choices([e for e, _ in self.EPISODES], [w for _, w in self.EPISODES])[0]
        getattr(self, name)(rng.choice(FIRMS), rng.choice(list(SYMBOLS)), rng.choice("12"))

    def take(self) -> tuple[list[Row], list[Row], list[Row]]:
        out = self.events, self.trades, self.orders
        self.stats.events += len(self.events)
        self.stats.orders += len(self.orders)
        self.events, self.trades, self.orders = [], [], []
        return out


def generate(
    events: int, start_us: int, seed: int = 1, chunk: int = 20_000
) -> Iterator[tuple[list[Row], list[Row], list[Row]]]:
    """Chunks of (order_events rows, trades rows, orders rows), about `chunk` events each,
    until at least `events` events; each chunk holds whole episodes."""
    day = _Day(start_us, seed)
    while day.stats.events + len(day.events) < events:
        day.episode()
        if len(day.events) >= chunk:
            yield day.take()
    if day.events:
        yield day.take()


def bulk_insert(engine: Engine, table: Any, rows: list[Row]) -> None:
    """Insert rows fast: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            conn.execute(insert(table), rows)
        return
    names = [c.name for c in table.columns]
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row.get(n) for n in names])  # absent: NULL


def load(engine: Engine, events: int, start_us: int, seed: int = 1) -> Stats:
    """Generate and insert a synthetic day; returns what was written."""
    day_stats = Stats()
    for event_rows, trade_rows, order_rows in generate(events, start_us, seed):
        bulk_insert(engine, order_events, event_rows)
        bulk_insert(engine, trades, trade_rows)
        bulk_insert(engine, orders, order_rows)
        day_stats.events += len(event_rows)
        day_stats.trades += len(trade_rows)
        day_stats.orders += len(order_rows)
        day_stats.busted += sum(1 for t in trade_rows if t["status"] == "busted")
    return day_stats
