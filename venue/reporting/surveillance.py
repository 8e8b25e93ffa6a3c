"""The surveillance report: wash trades, order-to-trade ratios, spoofing/layering candidates.

Definitions (also in spec/exports.md, "Surveillance definitions"):

- wash trade: a trade executed in the period whose buy and sell firms are the same, or
  whose buy and sell Account(1) are the same non-empty value (the same owner behind two
  firms). Busted trades are listed too, with their status.
- order-to-trade ratio (RTS 9, per firm and symbol): orders = new orders accepted + new
  orders rejected + modifications + cancellations the member asked for (cancel request or
  mass cancel; one per order canceled) + refused cancel/replace requests about a known
  order. Cancels the venue made on its own (IOC/FOK/market remainders, self-trade
  prevention, cancel on disconnect, kill switch, operator) are not member messages and are
  not counted, as RTS 9 art. 1(a) excludes cancels after loss of connectivity and kill
  functionality. trades = fills of the firm's orders in active trades executed in the
  period. otr = orders / trades - 1, by count and by volume.
- spoofing/layering candidate: an order of firm F in symbol S canceled at the member's
  request (cancel request or mass cancel) in the period, within `window_ms` (default
  1000 ms) after a fill of another order of F in S on the opposite side. One row per
  such cancel, naming the latest such fill and how many there were in the window.
"""

from __future__ import annotations

from collections import deque
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine, Select, and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection

from venue.reporting.exports import (
    DEFAULT_BATCH,
    EVENTS,
    TRADES,
    ExportSummary,
    _period,
    _text,
    iso_us,
    money,
    run_export,
    stream,
)
from venue.reporting.formats import CANCEL_REASONS, MEMBER_CANCEL_REASONS, SURVEILLANCE
from venue.reporting.writer import Output, Progress, RowWriter
from venue.store.models import order_events, orders, trades

DEFAULT_WINDOW_MS = 1000
_SIDE = {"1": "buy", "2": "sell"}
_OPPOSITE = {"1": "2", "2": "1"}
_RATIO_QUANTUM = Decimal("0.0001")
_MEMBER_CANCELS = tuple(sorted(MEMBER_CANCEL_REASONS))


def otr(orders_: int, trades_: int) -> str | None:
    """orders / trades - 1, rounded half up to 4 decimals; None without trades."""
    if not trades_:
        return None
    ratio = Decimal(orders_) / Decimal(trades_) - 1
    return money(ratio.quantize(_RATIO_QUANTUM, rounding=ROUND_HALF_UP))


# -- wash trades -------------------------------------------------------------------------------


def wash_trades_query(
    start_us: int, end_us: int, firm: str | None = None, symbol: str | None = None
) -> Select[Any]:
    t = TRADES
    buy = orders.alias("buy_order")
    sell = orders.alias("sell_order")
    stmt = (
        select(
            t.trade_id,
            t.executed_us,
            t.symbol,
            t.price,
            t.qty,
            t.status,
            t.aggressor_side,
            t.buy_order_id,
            buy.c.cl_ord_id,
            t.buy_firm,
            t.buy_session,
            t.buy_account,
            t.sell_order_id,
            sell.c.cl_ord_id,
            t.sell_firm,
            t.sell_session,
            t.sell_account,
        )
        .select_from(
            trades.outerjoin(buy, buy.c.order_id == t.buy_order_id).outerjoin(
                sell, sell.c.order_id == t.sell_order_id
            )
        )
        .where(
            _period(t.executed_us, start_us, end_us),
            or_(
                t.buy_firm == t.sell_firm,
                and_(t.buy_account.is_not(None), t.buy_account == t.sell_account),
            ),
        )
        .order_by(t.executed_us, t.trade_id)
    )
    if firm is not None:
        stmt = stmt.where(or_(t.buy_firm == firm, t.sell_firm == firm))
    if symbol is not None:
        stmt = stmt.where(t.symbol == symbol)
    return stmt


def wash_trade(r: Any) -> dict[str, Any]:
    (
        trade_id,
        executed_us,
        symbol,
        price,
        qty,
        status,
        aggressor,
        buy_order,
        buy_cl,
        buy_firm,
        buy_session,
        buy_account,
        sell_order,
        sell_cl,
        sell_firm,
        sell_session,
        sell_account,
    ) = r
    same_firm = buy_firm == sell_firm
    same_account = bool(buy_account) and buy_account == sell_account
    basis = (
        "same_firm_and_account"
        if same_firm and same_account
        else ("same_firm" if same_firm else "same_account")
    )
    return {
        "record": "wash_trade",
        "basis": basis,
        "trade_id": trade_id,
        "executed_ts": iso_us(executed_us),
        "symbol": symbol,
        "price": money(price),
        "qty": qty,
        "trade_status": status,
        "aggressor_side": _SIDE.get(aggressor),
        "buy_order_id": buy_order,
        "buy_cl_ord_id": _text(buy_cl),
        "buy_firm": buy_firm,
        "buy_session": buy_session,
        "buy_account": _text(buy_account),
        "sell_order_id": sell_order,
        "sell_cl_ord_id": _text(sell_cl),
        "sell_firm": sell_firm,
        "sell_session": sell_session,
        "sell_account": _text(sell_account),
    }


# -- order-to-trade ratio ----------------------------------------------------------------------

_OTR_EVENTS = ("OrderAccepted", "OrderRejected", "OrderReplaced", "OrderCanceled", "CancelRejected")


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def otr_orders_query(
    start_us: int, end_us: int, firm: str | None = None, symbol: str | None = None
) -> Select[Any]:
    """Per (firm, symbol): new, rejected, modifications, cancellations, refused requests,
    order volume."""
    e = EVENTS
    member_cancel = and_(e.event_type == "OrderCanceled", e.cancel_reason.in_(_MEMBER_CANCELS))
    volume = case(
        (e.event_type.in_(("OrderAccepted", "OrderRejected", "OrderReplaced")), e.qty),
        (member_cancel, e.qty - e.cum_qty),
        else_=literal(0),
    )
    stmt = (
        select(
            e.firm,
            e.symbol,
            _count(e.event_type == "OrderAccepted"),
            _count(e.event_type == "OrderRejected"),
            _count(e.event_type == "OrderReplaced"),
            _count(member_cancel),
            _count(e.event_type == "CancelRejected"),
            func.sum(volume),
        )
        .where(
            _period(e.ts_us, start_us, end_us),
            e.event_type.in_(_OTR_EVENTS),
            e.firm.is_not(None),
            e.firm != "",
            e.symbol.is_not(None),
            e.symbol != "",
        )
        .group_by(e.firm, e.symbol)
    )
    if firm is not None:
        stmt = stmt.where(e.firm == firm)
    if symbol is not None:
        stmt = stmt.where(e.symbol == symbol)
    return stmt


def otr_fills_queries(
    start_us: int, end_us: int, firm: str | None = None, symbol: str | None = None
) -> list[Select[Any]]:
    """Per (firm, symbol): fills and filled quantity in active trades, buy side then sell."""
    t = TRADES
    out = []
    for side_firm in (t.buy_firm, t.sell_firm):
        stmt = (
            select(side_firm, t.symbol, func.count(), func.sum(t.qty))
            .where(_period(t.executed_us, start_us, end_us), t.status == "active")
            .group_by(side_firm, t.symbol)
        )
        if firm is not None:
            stmt = stmt.where(side_firm == firm)
        if symbol is not None:
            stmt = stmt.where(t.symbol == symbol)
        out.append(stmt)
    return out


def otr_rows(
    conn: Connection, start_us: int, end_us: int, firm: str | None, symbol: str | None
) -> list[dict[str, Any]]:
    """One otr row per (firm, symbol) with orders or fills, sorted. Sized by firms x
    symbols, not by events: the counting is done by the database."""
    counts: dict[tuple[str, str], list[int]] = {}
    for f, s, *values in conn.execute(otr_orders_query(start_us, end_us, firm, symbol)):
        counts[(f, s)] = [int(v or 0) for v in values] + [0, 0]
    for stmt in otr_fills_queries(start_us, end_us, firm, symbol):
        for f, s, fills, qty in conn.execute(stmt):
            row = counts.setdefault((f, s), [0] * 8)
            row[6] += int(fills)
            row[7] += int(qty or 0)
    out = []
    for (f, s), values in sorted(counts.items()):
        new, rejected, modified, canceled, refused, volume, fills, filled = values
        n_orders = new + rejected + modified + canceled + refused
        out.append(
            {
                "record": "otr",
                "firm": f,
                "symbol": s,
                "new_orders": new,
                "rejected_orders": rejected,
                "modifications": modified,
                "cancellations": canceled,
                "rejected_requests": refused,
                "orders": n_orders,
                "order_volume": volume,
                "trades": fills,
                "traded_volume": filled,
                "otr_count": otr(n_orders, fills),
                "otr_volume": otr(volume, filled),
            }
        )
    return out


# -- spoofing / layering candidates ------------------------------------------------------------


def spoofing_query(
    start_us: int,
    end_us: int,
    window_us: int,
    firm: str | None = None,
    symbol: str | None = None,
) -> Select[Any]:
    """Fills and member cancels in [start - window, end), in event order."""
    e = EVENTS
    entered = orders.alias("canceled_order")
    stmt = (
        select(
            e.seq,
            e.ts_us,
            e.event_type,
            e.firm,
            e.symbol,
            e.side,
            e.order_id,
            e.cl_ord_id,
            e.session,
            e.price,
            e.qty,
            e.cum_qty,
            e.cancel_reason,
            e.trade_id,
            e.last_px,
            e.last_qty,
            TRADES.status,
            entered.c.created_us,
        )
        .select_from(
            order_events.outerjoin(
                trades, and_(TRADES.trade_id == e.trade_id, e.event_type == "OrderFilled")
            ).outerjoin(
                entered,
                and_(entered.c.order_id == e.order_id, e.event_type == "OrderCanceled"),
            )
        )
        .where(
            _period(e.ts_us, start_us - window_us, end_us),
            or_(
                e.event_type == "OrderFilled",
                and_(e.event_type == "OrderCanceled", e.cancel_reason.in_(_MEMBER_CANCELS)),
            ),
        )
        .order_by(e.ts_us, e.seq)
    )
    if firm is not None:
        stmt = stmt.where(e.firm == firm)
    if symbol is not None:
        stmt = stmt.where(e.symbol == symbol)
    return stmt


def spoof_candidates(rows: Any, start_us: int, window_ms: int) -> Any:
    """Candidates from spoofing_query's rows, in cancel order.

    Keeps, per (firm, symbol, side), the fills of the last window only: memory is bounded
    by the fills inside one window, not by the length of the period.
    """
    window_us = window_ms * 1000
    recent: dict[tuple[str, str, str], deque[tuple[Any, ...]]] = {}
    for r in rows:
        (
            seq,
            ts,
            event_type,
            firm,
            symbol,
            side,
            order_id,
            cl_ord_id,
            session,
            price,
            qty,
            cum,
            reason,
            trade_id,
            last_px,
            last_qty,
            trade_status,
            created_us,
        ) = r
        if event_type == "OrderFilled":
            fills = recent.get((firm, symbol, side))
            if fills is None:
                fills = recent[(firm, symbol, side)] = deque()
            while fills and fills[0][1] < ts - window_us:
                fills.popleft()
            fills.append(r)
            continue
        if ts < start_us:
            continue
        fills = recent.get((firm, symbol, _OPPOSITE.get(side, "")))  # type: ignore[arg-type]
        if not fills:
            continue
        while fills and fills[0][1] < ts - window_us:
            fills.popleft()
        if not fills:
            continue
        fill = fills[-1]
        yield {
            "record": "spoof_candidate",
            "firm": firm,
            "symbol": symbol,
            "window_ms": window_ms,
            "order_id": order_id,
            "cl_ord_id": cl_ord_id,
            "session": session,
            "side": _SIDE.get(side),  # type: ignore[arg-type]
            "price": money(price),
            "qty": qty,
            "entered_ts": iso_us(created_us),
            "canceled_qty": qty - cum,
            "cancel_seq": seq,
            "cancel_ts": iso_us(ts),
            "cancel_reason": CANCEL_REASONS.get(reason),
            "fill_seq": fill[0],
            "fill_ts": iso_us(fill[1]),
            "fill_order_id": fill[6],
            "fill_cl_ord_id": fill[7],
            "fill_session": fill[8],
            "trade_id": fill[13],
            "trade_status": fill[16] or "active",
            "fill_px": money(fill[14]),
            "fill_qty": fill[15],
            "delay_us": ts - fill[1],
            "fills_in_window": len(fills),
            "fill_qty_in_window": sum(f[15] for f in fills),
        }


# -- the report --------------------------------------------------------------------------------


def export_surveillance(
    engine: Engine,
    out: Output,
    start_us: int,
    end_us: int,
    *,
    firm: str | None = None,
    symbol: str | None = None,
    fmt: str = "jsonl",
    window_ms: int = DEFAULT_WINDOW_MS,
    progress: Progress | None = None,
    batch: int = DEFAULT_BATCH,
) -> ExportSummary:
    """The surveillance report for [start_us, end_us): wash_trade rows, otr rows, then
    spoof_candidate rows (window_ms: how soon after an opposite-side fill a cancel counts).

    totals: {"wash_trade": n, "otr": n, "spoof_candidate": n, "window_ms": window_ms}.
    """
    if window_ms < 0:
        raise ValueError("window_ms must be >= 0")

    def body(conn: Connection, writer: RowWriter) -> dict[str, Any]:
        write = writer.write
        for r in stream(conn, wash_trades_query(start_us, end_us, firm, symbol), batch):
            write(wash_trade(r))
        for row in otr_rows(conn, start_us, end_us, firm, symbol):
            write(row)
        rows = stream(conn, spoofing_query(start_us, end_us, window_ms * 1000, firm, symbol), batch)
        for row in spoof_candidates(rows, start_us, window_ms):
            write(row)
        totals: dict[str, Any] = {k: writer.counts.get(k, 0) for k in SURVEILLANCE.kinds}
        totals["window_ms"] = window_ms
        return totals

    return run_export(
        SURVEILLANCE, engine, out, fmt, start_us, end_us, firm, symbol, progress, body
    )
