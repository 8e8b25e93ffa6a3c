"""Exports built from the SQL store: streamed, validated, the same on SQLite and PostgreSQL.

    summary = export_order_records(engine, "records.csv", start_us, end_us, firm="FIRM1")

Each export reads with one streaming query (`stream_results` + `yield_per`: a server-side
cursor on PostgreSQL, incremental fetches on SQLite), turns each database row into one
output row, checks it against its schema and writes it, so memory stays flat however many
rows there are. Periods are half-open, [start_us, end_us), in microseconds since the Unix
epoch (UTC); `day_range` gives a UTC calendar day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Engine, Select, and_, or_, select
from sqlalchemy.engine import Connection

from venue.reporting.formats import (
    CANCEL_REASONS,
    CAT_EVENTS,
    LIVE_STATUSES,
    MEMBER_CANCEL_REASONS,
    ORDER_RECORDS,
    TIF_TO_RTS24,
    TRADE_REPORT,
)
from venue.reporting.schema import Schema
from venue.reporting.writer import Output, Progress, RowWriter, open_output
from venue.store.models import order_events, trades

DEFAULT_BATCH = 5_000  # rows fetched per round trip

EVENTS = order_events.c
TRADES = trades.c


class ExportError(RuntimeError):
    """The store holds something an export cannot represent (e.g. a bust of an unknown trade)."""


@dataclass
class ExportSummary:
    """What an export wrote. counts: rows per record kind (or per event type); totals: the
    export's own figures (trades: venue totals; others: per-event-type counts)."""

    export: str
    fmt: str
    start_us: int
    end_us: int
    firm: str | None
    symbol: str | None
    rows: int
    counts: dict[str, int]
    totals: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


# -- periods and values ------------------------------------------------------------------------


def to_us(moment: datetime) -> int:
    """A datetime as microseconds since the epoch; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def day_range(day: date | str) -> tuple[int, int]:
    """[00:00, 24:00) UTC of a calendar day, as microseconds since the epoch."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return to_us(start), to_us(start + timedelta(days=1))


def parse_time(text: str) -> int:
    """ISO 8601 date or date-time ("2024-05-01", "2024-05-01T13:30:00.5", "...Z", "+02:00")
    as microseconds since the epoch; without an offset it is UTC."""
    return to_us(datetime.fromisoformat(text.strip().replace("z", "Z")))


_second: tuple[int, str] = (-1, "")


def iso_us(ts: int | None) -> str | None:
    """Microseconds since the epoch -> "2024-05-01T13:45:12.123456Z" (None stays None)."""
    global _second
    if ts is None:
        return None
    sec, usec = divmod(ts, 1_000_000)
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{cached[1]}.{usec:06d}Z"


def money(value: Decimal | int | None) -> str | None:
    """A price or amount as the shortest exact decimal text: 190.01, 190, 0.00000001."""
    if value is None:
        return None
    text = str(value)
    if "E" in text or "e" in text:
        text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(value: str | None) -> str | None:
    return value or None


# -- running an export -------------------------------------------------------------------------


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection whose queries all see one snapshot of the store (on PostgreSQL a
    REPEATABLE READ transaction; on SQLite one read transaction), closed at the end."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def stream(conn: Connection, stmt: Select[Any], batch: int = DEFAULT_BATCH) -> Iterator[Any]:
    """The rows of a query as plain tuples, fetched `batch` at a time."""
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
    try:
        yield from result.tuples()
    finally:
        result.close()


def run_export(
    schema: Schema,
    engine: Engine,
    out: Output,
    fmt: str,
    start_us: int,
    end_us: int,
    firm: str | None,
    symbol: str | None,
    progress: Progress | None,
    body: Callable[[Connection, RowWriter], dict[str, Any] | None],
) -> ExportSummary:
    """Open the output and a snapshot connection, let `body` write the rows, summarise."""
    if end_us <= start_us:
        raise ValueError(f"empty period: end {end_us} is not after start {start_us}")
    started = time.perf_counter()
    with open_output(out) as (stream_out, path), reading(engine) as conn:
        writer = RowWriter(stream_out, schema, fmt, progress)
        totals = body(conn, writer) or {}
        writer.finish()
    return ExportSummary(
        export=schema.name,
        fmt=fmt,
        start_us=start_us,
        end_us=end_us,
        firm=firm,
        symbol=symbol,
        rows=writer.rows,
        counts=dict(writer.counts),
        totals=totals,
        path=path,
        seconds=time.perf_counter() - started,
    )


def _period(ts: Any, start_us: int, end_us: int) -> Any:
    return and_(ts >= start_us, ts < end_us)


# -- order records (RTS 24) --------------------------------------------------------------------

ORDER_RECORD_EVENTS = (
    "OrderAccepted",
    "OrderRejected",
    "OrderReplaced",
    "OrderRestated",
    "OrderFilled",
    "OrderCanceled",
    "OrderExpired",
    "OrderTradeCanceled",
    "CancelRejected",
    "OrderTriggered",
)
_RTS24_FIXED = {
    "OrderAccepted": "NEWO",
    "OrderTriggered": "TRIG",
    "OrderRejected": "REJE",
    "OrderReplaced": "REME",
    "OrderRestated": "REMA",
    "OrderExpired": "EXPI",
    "OrderTradeCanceled": "CHMO",
    "CancelRejected": "REJE",
}
# buy minus is a buy, sell plus and short sells are sells; other sides (only ever on a
# rejected order) have no buy-sell indicator: null
_RTS24_SIDE = {"1": "BUYI", "3": "BUYI", "2": "SELL", "4": "SELL", "5": "SELL", "6": "SELL"}
_ORDER_TYPE = {"1": "market", "2": "limit", "3": "stop", "4": "stop_limit"}
_REQUEST = {"1": "cancel", "2": "replace"}


def _order_event_columns() -> tuple[Any, ...]:
    """The order_events columns both order records and CAT events start with, in order."""
    e = EVENTS
    return (
        e.seq, e.ts_us, e.event_type, e.firm, e.session, e.account, e.order_id, e.cl_ord_id,
        e.orig_cl_ord_id, e.symbol, e.side, e.ord_type, e.tif, e.price, e.qty, e.leaves_qty,
        e.cum_qty,
    )  # fmt: skip


def order_records_query(
    start_us: int, end_us: int, firm: str | None = None, symbol: str | None = None
) -> Select[Any]:
    e = EVENTS
    stmt = (
        select(
            *_order_event_columns(),
            e.status,
            e.priority_ts_us,
            e.trade_id,
            e.last_px,
            e.last_qty,
            TRADES.aggressor_side,
            e.reject_code,
            e.cancel_reason,
            e.text,
            e.detail,
            e.stop_px,
            e.exec_inst,
            e.expire_us,
            e.expire_date,
            e.min_qty,
            e.max_floor,
        )
        .select_from(
            order_events.outerjoin(
                trades, and_(TRADES.trade_id == e.trade_id, e.event_type == "OrderFilled")
            )
        )
        .where(_period(e.ts_us, start_us, end_us), e.event_type.in_(ORDER_RECORD_EVENTS))
        .order_by(e.ts_us, e.seq)
    )
    if firm is not None:
        stmt = stmt.where(e.firm == firm)
    if symbol is not None:
        stmt = stmt.where(e.symbol == symbol)
    return stmt


def order_record(r: Any) -> dict[str, Any]:
    """One order_events row (order_records_query's columns) as an order record."""
    (
        seq,
        ts,
        event_type,
        firm,
        session,
        account,
        order_id,
        cl_ord_id,
        orig_cl_ord_id,
        symbol,
        side,
        ord_type,
        tif,
        price,
        qty,
        leaves,
        cum,
        status,
        priority_ts,
        trade_id,
        last_px,
        last_qty,
        aggressor_side,
        reject_code,
        cancel_reason,
        text,
        detail,
        stop_px,
        exec_inst,
        expire_us,
        expire_date,
        min_qty,
        max_floor,
    ) = r
    rts24 = _RTS24_FIXED.get(event_type)
    until = None
    if expire_us is not None:
        until = iso_us(expire_us)
    elif expire_date is not None:
        until = f"{expire_date // 10000:04d}-{expire_date // 100 % 100:02d}-{expire_date % 100:02d}"
    liquidity = None
    if rts24 is None:
        if event_type == "OrderFilled":
            rts24 = "FILL" if status == "2" else "PARF"
            if aggressor_side is not None:
                liquidity = "AGRE" if aggressor_side == side else "PASV"
        else:  # OrderCanceled
            rts24 = "CAME" if cancel_reason in MEMBER_CANCEL_REASONS else "CAMO"
    request = exec_ref = None
    if detail:
        if event_type == "CancelRejected":
            request = _REQUEST.get(orjson.loads(detail).get("response_to"))
        elif event_type == "OrderTradeCanceled":
            exec_ref = orjson.loads(detail).get("exec_ref")
    live = status in LIVE_STATUSES
    return {
        "seq": seq,
        "event_ts": iso_us(ts),
        "event_type": event_type,
        "rts24_event": rts24,
        "member_id": _text(firm),
        "session_id": _text(session),
        "client_id": _text(account),
        "order_id": order_id,
        "cl_ord_id": _text(cl_ord_id),
        "orig_cl_ord_id": _text(orig_cl_ord_id),
        "symbol": _text(symbol),
        "side": _RTS24_SIDE.get(side),  # type: ignore[arg-type]
        "order_type": _ORDER_TYPE.get(ord_type),  # type: ignore[arg-type]
        "validity": TIF_TO_RTS24.get(tif),  # type: ignore[arg-type]
        "validity_until": until,
        "order_restriction": "POST" if exec_inst == "6" else ("MINQ" if min_qty else None),
        "min_qty": min_qty,
        "display_qty": max_floor,
        "stop_price": money(stop_px),
        "limit_price": money(price),
        "initial_qty": qty,
        "remaining_qty": leaves,
        "traded_qty": cum,
        "ord_status": status,
        "order_status": None if status is None else ("ACTI" if live else "INAC"),
        "priority_ts": iso_us(priority_ts),
        "priority_size": leaves if live else None,
        "trade_id": trade_id,
        "exec_ref": exec_ref,
        "last_px": money(last_px),
        "last_qty": last_qty,
        "liquidity": liquidity,
        "rejected_request": request,
        "reject_code": reject_code,
        "cancel_reason": None if cancel_reason is None else CANCEL_REASONS.get(cancel_reason),
        "text": _text(text),
    }


def export_order_records(
    engine: Engine,
    out: Output,
    start_us: int,
    end_us: int,
    *,
    firm: str | None = None,
    symbol: str | None = None,
    fmt: str = "csv",
    progress: Progress | None = None,
    batch: int = DEFAULT_BATCH,
) -> ExportSummary:
    """Order records (RTS 24 style): one row per order event in [start_us, end_us).

    firm: only that member's events; symbol: only that instrument's (a cancel/replace
    reject about an unknown order has no symbol and is left out by a symbol filter).
    totals: rows per event_type.
    """

    def body(conn: Connection, writer: RowWriter) -> dict[str, Any]:
        write = writer.write
        for r in stream(conn, order_records_query(start_us, end_us, firm, symbol), batch):
            write(order_record(r))
        return dict(writer.counts)

    return run_export(
        ORDER_RECORDS, engine, out, fmt, start_us, end_us, firm, symbol, progress, body
    )


# -- CAT events --------------------------------------------------------------------------------

CAT_SOURCE_EVENTS = (
    "OrderAccepted",
    "OrderReplaced",
    "OrderRestated",
    "OrderCanceled",
    "OrderExpired",
    "TradeExecuted",
    "OrderFilled",
    "TradeBusted",
)
_CAT_KIND = {
    "OrderAccepted": "order_accepted",
    "OrderReplaced": "order_modified",
    "OrderRestated": "order_restated",
    "OrderCanceled": "order_canceled",
    "OrderExpired": "order_canceled",
    "OrderFilled": "order_fill",
    "TradeExecuted": "order_trade",
    "TradeBusted": "trade_break",
}
_CAT_SIDE = {"1": "B", "2": "SL"}
_CAT_TYPE = {"1": "MKT", "2": "LMT"}
_CAT_TIF = {"0": "DAY", "1": "GTC", "3": "IOC", "4": "FOK"}
_TRADE_COLUMNS = (
    TRADES.trade_id,
    TRADES.price,
    TRADES.qty,
    TRADES.aggressor_side,
    TRADES.buy_order_id,
    TRADES.sell_order_id,
    TRADES.buy_firm,
    TRADES.sell_firm,
    TRADES.buy_session,
    TRADES.sell_session,
    TRADES.buy_account,
    TRADES.sell_account,
)


def cat_events_query(
    start_us: int, end_us: int, firm: str | None = None, symbol: str | None = None
) -> Select[Any]:
    e = EVENTS
    stmt = (
        select(
            *_order_event_columns(),
            e.cancel_reason,
            e.trade_id,
            e.last_px,
            e.last_qty,
            e.text,
            e.detail,
            *_TRADE_COLUMNS,
        )
        .select_from(order_events.outerjoin(trades, TRADES.trade_id == e.trade_id))
        .where(_period(e.ts_us, start_us, end_us), e.event_type.in_(CAT_SOURCE_EVENTS))
        .order_by(e.ts_us, e.seq)
    )
    if firm is not None:
        # A bust's row names no firm: kept here, filtered once its trade is known.
        stmt = stmt.where(
            or_(
                e.firm == firm,
                and_(
                    e.event_type == "TradeExecuted",
                    or_(TRADES.buy_firm == firm, TRADES.sell_firm == firm),
                ),
                e.event_type == "TradeBusted",
            )
        )
    if symbol is not None:
        stmt = stmt.where(e.symbol == symbol)
    return stmt


def busted_trades(conn: Connection, start_us: int, end_us: int) -> dict[int, tuple[Any, ...]]:
    """Trades busted in the period, by the seq of their TradeBusted event.

    A TradeBusted row in order_events does not carry its trade_id (see spec/exports.md,
    "Store gaps"); trades.busted_seq links the two. Busts are operator actions, a handful a
    day, so they are read up front.
    """
    stmt = (
        select(TRADES.busted_seq, *_TRADE_COLUMNS)
        .select_from(trades.join(order_events, EVENTS.seq == TRADES.busted_seq))
        .where(TRADES.status == "busted", _period(EVENTS.ts_us, start_us, end_us))
    )
    return {row[0]: tuple(row[1:]) for row in conn.execute(stmt)}


def _trade_sides(t: tuple[Any, ...]) -> dict[str, Any]:
    (
        trade_id,
        price,
        qty,
        aggressor,
        buy_order,
        sell_order,
        buy_firm,
        sell_firm,
        buy_session,
        sell_session,
        buy_account,
        sell_account,
    ) = t
    return {
        "trade_id": trade_id,
        "trade_price": money(price),
        "trade_qty": qty,
        "aggressor_side": _CAT_SIDE.get(aggressor),
        "buy_order_id": buy_order,
        "sell_order_id": sell_order,
        "buy_member_id": buy_firm,
        "sell_member_id": sell_firm,
        "buy_session_id": buy_session,
        "sell_session_id": sell_session,
        "buy_account": _text(buy_account),
        "sell_account": _text(sell_account),
    }


def cat_event(r: Any, busts: dict[int, tuple[Any, ...]]) -> dict[str, Any]:
    """One row of cat_events_query as a CAT event."""
    (
        seq,
        ts,
        event_type,
        firm,
        session,
        account,
        order_id,
        cl_ord_id,
        orig_cl_ord_id,
        symbol,
        side,
        ord_type,
        tif,
        price,
        qty,
        leaves,
        cum,
        cancel_reason,
        trade_id,
        last_px,
        last_qty,
        text,
        detail,
        *trade,
    ) = r
    kind = _CAT_KIND[event_type]
    row: dict[str, Any] = {"event_type": kind, "event_id": seq, "event_ts": iso_us(ts)}
    if kind == "order_trade" or kind == "trade_break":
        row["symbol"] = symbol
        if kind == "order_trade":
            if trade[0] is None:
                raise ExportError(f"trade {trade_id} (event {seq}) is not in the trades table")
            row.update(_trade_sides(tuple(trade)))
        else:
            busted = busts.get(seq)
            if busted is None:
                raise ExportError(f"no trade has busted_seq {seq} (TradeBusted event)")
            row.update(_trade_sides(busted))
            info = orjson.loads(detail) if detail else {}
            row["operator"] = _text(info.get("operator"))
            row["text"] = _text(text)
        return row
    row.update(
        {
            "symbol": symbol,
            "order_id": order_id,
            "cl_ord_id": cl_ord_id,
            "orig_cl_ord_id": _text(orig_cl_ord_id),
            "member_id": firm,
            "session_id": session,
            "account": _text(account),
            "side": _CAT_SIDE.get(side),
            "order_type": _CAT_TYPE.get(ord_type),
            "tif": _CAT_TIF.get(tif),
            "price": money(price),
            "qty": qty,
            "leaves_qty": leaves,
            "cum_qty": cum,
        }
    )
    if kind == "order_fill":
        row["trade_id"] = trade_id
        row["trade_price"] = money(last_px)
        row["trade_qty"] = last_qty
        row["liquidity"] = "removed" if trade[3] == side else "added"
    elif kind == "order_modified":
        row["initiator"] = "member"
    elif kind == "order_restated":
        row["initiator"] = "venue"
        row["text"] = _text(text)
    elif kind == "order_canceled":
        row["cancel_qty"] = qty - cum
        if event_type == "OrderExpired":
            row["cancel_reason"] = "expired"
            row["initiator"] = "venue"
        else:
            row["cancel_reason"] = CANCEL_REASONS.get(cancel_reason)
            row["initiator"] = "member" if cancel_reason in MEMBER_CANCEL_REASONS else "venue"
        row["text"] = _text(text)
    return row


def export_cat_events(
    engine: Engine,
    out: Output,
    start_us: int,
    end_us: int,
    *,
    firm: str | None = None,
    symbol: str | None = None,
    fmt: str = "jsonl",
    progress: Progress | None = None,
    batch: int = DEFAULT_BATCH,
) -> ExportSummary:
    """Exchange events (CAT style) in [start_us, end_us): accepted, modified, restated,
    canceled (and expired), trade, fill, trade break.

    firm: its orders' events, and trades and breaks with the firm on either side.
    totals: rows per event_type.
    """

    def body(conn: Connection, writer: RowWriter) -> dict[str, Any]:
        busts = busted_trades(conn, start_us, end_us)
        write = writer.write
        for r in stream(conn, cat_events_query(start_us, end_us, firm, symbol), batch):
            row = cat_event(r, busts)
            if (
                firm is not None
                and row["event_type"] == "trade_break"
                and firm not in (row["buy_member_id"], row["sell_member_id"])
            ):
                continue
            write(row)
        return dict(writer.counts)

    return run_export(CAT_EVENTS, engine, out, fmt, start_us, end_us, firm, symbol, progress, body)


# -- daily trade report ------------------------------------------------------------------------

_TRADE_SIDE = {"1": "buy", "2": "sell"}


def trades_query(
    start_us: int, end_us: int, firm: str | None = None, symbol: str | None = None
) -> Select[Any]:
    t = TRADES
    stmt = (
        select(
            t.trade_id,
            t.seq,
            t.executed_us,
            t.symbol,
            t.price,
            t.qty,
            t.notional,
            t.aggressor_side,
            t.buy_order_id,
            t.sell_order_id,
            t.buy_firm,
            t.sell_firm,
            t.buy_session,
            t.sell_session,
            t.buy_account,
            t.sell_account,
            t.status,
            t.busted_seq,
        )
        .where(_period(t.executed_us, start_us, end_us))
        .order_by(t.executed_us, t.trade_id)
    )
    if firm is not None:
        stmt = stmt.where(or_(t.buy_firm == firm, t.sell_firm == firm))
    if symbol is not None:
        stmt = stmt.where(t.symbol == symbol)
    return stmt


class _Totals:
    __slots__ = (
        "trades",
        "qty",
        "notional",
        "busted",
        "buy_qty",
        "buy_notional",
        "sell_qty",
        "sell_notional",
    )

    def __init__(self) -> None:
        self.trades = self.qty = self.busted = self.buy_qty = self.sell_qty = 0
        self.notional = self.buy_notional = self.sell_notional = Decimal(0)


def export_trades(
    engine: Engine,
    out: Output,
    start_us: int,
    end_us: int,
    *,
    firm: str | None = None,
    symbol: str | None = None,
    fmt: str = "csv",
    progress: Progress | None = None,
    batch: int = DEFAULT_BATCH,
) -> ExportSummary:
    """The daily trade report: trades executed in [start_us, end_us), then totals per
    symbol, per firm and for the venue (active trades; busted counted apart).

    totals: {"trade_count", "qty", "notional", "busted_count"} of the venue_total row.
    """

    def body(conn: Connection, writer: RowWriter) -> dict[str, Any]:
        by_symbol: dict[str, _Totals] = {}
        by_firm: dict[str, _Totals] = {}
        venue = _Totals()
        write = writer.write
        for r in stream(conn, trades_query(start_us, end_us, firm, symbol), batch):
            (
                trade_id,
                seq,
                executed_us,
                sym,
                price,
                qty,
                notional,
                aggressor,
                buy_order,
                sell_order,
                buy_firm,
                sell_firm,
                buy_session,
                sell_session,
                buy_account,
                sell_account,
                status,
                busted_seq,
            ) = r
            write(
                {
                    "record": "trade",
                    "trade_id": trade_id,
                    "seq": seq,
                    "executed_ts": iso_us(executed_us),
                    "symbol": sym,
                    "price": money(price),
                    "qty": qty,
                    "notional": money(notional),
                    "aggressor_side": _TRADE_SIDE.get(aggressor),
                    "buy_order_id": buy_order,
                    "sell_order_id": sell_order,
                    "buy_firm": buy_firm,
                    "sell_firm": sell_firm,
                    "buy_session": buy_session,
                    "sell_session": sell_session,
                    "buy_account": _text(buy_account),
                    "sell_account": _text(sell_account),
                    "status": status,
                    "busted_seq": busted_seq,
                }
            )
            s = by_symbol.get(sym) or by_symbol.setdefault(sym, _Totals())
            firms = {buy_firm, sell_firm} if firm is None else {firm}
            for name in firms:
                if name not in by_firm:
                    by_firm[name] = _Totals()
            if status != "active":
                s.busted += 1
                venue.busted += 1
                for name in firms:
                    by_firm[name].busted += 1
                continue
            notional = Decimal(notional)
            for totals in (s, venue):
                totals.trades += 1
                totals.qty += qty
                totals.notional += notional
            for name in firms:
                f = by_firm[name]
                f.trades += 1
                if name == buy_firm:
                    f.buy_qty += qty
                    f.buy_notional += notional
                if name == sell_firm:
                    f.sell_qty += qty
                    f.sell_notional += notional
        for name in sorted(by_symbol):
            s = by_symbol[name]
            write(
                {
                    "record": "symbol_total",
                    "symbol": name,
                    "trade_count": s.trades,
                    "qty": s.qty,
                    "notional": money(s.notional),
                    "busted_count": s.busted,
                }
            )
        for name in sorted(by_firm):
            f = by_firm[name]
            write(
                {
                    "record": "firm_total",
                    "firm": name,
                    "trade_count": f.trades,
                    "buy_qty": f.buy_qty,
                    "buy_notional": money(f.buy_notional),
                    "sell_qty": f.sell_qty,
                    "sell_notional": money(f.sell_notional),
                    "busted_count": f.busted,
                }
            )
        total = {
            "trade_count": venue.trades,
            "qty": venue.qty,
            "notional": money(venue.notional),
            "busted_count": venue.busted,
        }
        write({"record": "venue_total", **total})
        return total

    return run_export(
        TRADE_REPORT, engine, out, fmt, start_us, end_us, firm, symbol, progress, body
    )
