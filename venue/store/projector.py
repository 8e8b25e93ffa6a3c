"""The SQL projector: writes kernel events into the store's tables, in batches.

    projector = SqlProjector(engine)
    projector.apply(events)   # one transaction; returns the new last_seq

Idempotent by event seq: events at or below projector_state.last_seq are skipped, inserts
are ON CONFLICT DO NOTHING, and an order's row is only overwritten by a later event. Events
must come in seq order without gaps (the kernel's seqs are gapless); a gap raises
ProjectionGap rather than leaving a hole in the audit trail.

What goes where:
- order_events: every event. Columns take the order snapshot, then the event's own fields
  (a cancel/replace reject's ClOrdIDs are the request's); fields without a column go to
  `detail` as JSON, so an event kind added later is still recorded in full.
- executions: every event that sends an ExecutionReport: the order events
  (events.ORDER_EVENTS) and OrderStatusReported about a known order.
- orders: the latest snapshot of each order touched by an order event.
- trades: TradeExecuted.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from venue.domain.events import (
    ORDER_EVENTS,
    Event,
    OrderSnapshot,
    OrderStatusReported,
    TradeBusted,
    TradeExecuted,
)
from venue.domain.values import price_to_decimal
from venue.store.models import Execution, Order, OrderEvent, ProjectorState, Trade

Row = dict[str, Any]

# executions.exec_type by event class name; others: the name without "Order", lower case.
EXEC_TYPES = {
    "OrderAccepted": "new",
    "OrderRejected": "rejected",
    "OrderFilled": "trade",
    "OrderCanceled": "canceled",
    "OrderReplaced": "replaced",
    "OrderExpired": "expired",
    "OrderRestated": "restated",
    "OrderStatusReported": "status",
    "OrderTradeCanceled": "trade_cancel",
}
# Event fields that have a column in order_events; any other field goes to `detail`.
_COLUMN_FIELDS = frozenset(
    {
        "seq", "ts", "order", "session", "firm", "cl_ord_id", "orig_cl_ord_id", "symbol", "side",
        "code", "reason", "text", "trade_id", "last_px", "last_qty",
        "aggressor",  # executions.liquidity and trades.aggressor_side say it
    }
)  # fmt: skip

_ZERO = Decimal(0)
_px: Callable[[int], Decimal] = lru_cache(maxsize=1 << 16)(price_to_decimal)
_AUDIT_NULLS: Row = dict.fromkeys(c.name for c in OrderEvent.__table__.columns)
_EXEC_NULLS: Row = dict.fromkeys(c.name for c in Execution.__table__.columns)


class ProjectionGap(ValueError):
    """A batch does not continue from the last projected seq: events would be lost."""


def avg_px(cum_notional: int, cum_qty: int) -> Decimal:
    """AvgPx(6) as the FIX edge sends it: rounded half up to 8 decimals; 0 before a fill."""
    if not cum_qty:
        return _ZERO
    return _px((cum_notional + cum_qty // 2) // cum_qty)


class SqlProjector:
    """Projects events into orders, executions, trades, order_events and projector_state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        name = engine.dialect.name
        insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(name)
        if insert is None:
            raise ValueError(f"unsupported database {name!r}: use sqlite or postgresql")

        self._insert_events = insert(OrderEvent).on_conflict_do_nothing(index_elements=["seq"])
        self._insert_executions = insert(Execution).on_conflict_do_nothing(
            index_elements=["exec_id"]
        )
        self._insert_trades = insert(Trade).on_conflict_do_nothing(index_elements=["trade_id"])
        upsert = insert(Order)
        keep = {"order_id", "created_us"}
        self._upsert_orders = upsert.on_conflict_do_update(
            index_elements=["order_id"],
            set_={c.name: upsert.excluded[c.name] for c in Order.__table__.c if c.name not in keep},
            where=Order.__table__.c.last_seq < upsert.excluded.last_seq,
        )
        state = insert(ProjectorState)
        self._set_state = state.on_conflict_do_update(
            index_elements=["id"], set_={"last_seq": state.excluded.last_seq}
        )
        self._get_state = select(ProjectorState.last_seq).where(ProjectorState.id == 1)
        trades = Trade.__table__.c
        self._mark_busted = (
            update(Trade)
            .where(trades.trade_id == bindparam("b_trade_id"))
            .values(status="busted", busted_seq=bindparam("b_seq"))
        )

    def last_seq(self) -> int:
        """The seq of the last event written (0 for an empty store)."""
        with self.engine.connect() as conn:
            return conn.execute(self._get_state).scalar() or 0

    def apply(self, events: Sequence[Event]) -> int:
        """Write the events not yet written, in one transaction; return the new last_seq."""
        with self.engine.begin() as conn:
            last = self._locked_last_seq(conn)
            fresh = sorted({e.seq: e for e in events if e.seq > last}.values(), key=_seq)
            if not fresh:
                return last
            _check_contiguous(last, fresh)
            audit, execs, trades, orders = rows_for(fresh)
            conn.execute(self._insert_events, audit)
            if execs:
                conn.execute(self._insert_executions, execs)
            if trades:
                conn.execute(self._insert_trades, trades)
            if orders:
                conn.execute(self._upsert_orders, orders)
            busts = [
                {"b_trade_id": e.trade_id, "b_seq": e.seq} for e in fresh if type(e) is TradeBusted
            ]
            if busts:
                conn.execute(self._mark_busted, busts)
            last = fresh[-1].seq
            conn.execute(self._set_state, {"id": 1, "last_seq": last})
        return last

    def _locked_last_seq(self, conn: Connection) -> int:
        # FOR UPDATE serialises two projectors on PostgreSQL; SQLite has one writer anyway.
        return conn.execute(self._get_state.with_for_update()).scalar() or 0


def _seq(event: Event) -> int:
    return event.seq


def _check_contiguous(last: int, events: list[Event]) -> None:
    expected = last + 1
    for event in events:
        if event.seq != expected:
            raise ProjectionGap(
                f"expected event seq {expected}, got {event.seq} "
                "(events must be applied in seq order, without gaps)"
            )
        expected += 1


def rows_for(events: Sequence[Event]) -> tuple[list[Row], list[Row], list[Row], list[Row]]:
    """Rows for order_events, executions, trades and orders (one per order: its latest)."""
    audit: list[Row] = []
    execs: list[Row] = []
    trades: list[Row] = []
    latest: dict[int, Row] = {}
    for e in events:
        if type(e) is TradeExecuted:
            audit.append(_trade_audit(e))
            trades.append(_trade(e))
            continue
        order: OrderSnapshot | None = getattr(e, "order", None)
        common = None if order is None else _common(order)
        row = _audit(e, order, common)
        audit.append(row)
        if type(e) is OrderStatusReported and order is None:
            execs.append(_unknown_status(e))  # type: ignore[arg-type]
            continue
        if order is None or common is None:
            continue
        changes_order = isinstance(e, ORDER_EVENTS)
        if changes_order or type(e) is OrderStatusReported:
            execs.append(_execution(e, order, common))
        if not changes_order:
            continue
        previous = latest.get(order.order_id)
        latest[order.order_id] = {
            **common,
            "ord_type": None if order.ord_type is None else order.ord_type.value,
            "tif": None if order.tif is None else order.tif.value,
            "avg_px": avg_px(order.cum_notional, order.cum_qty),
            "status": order.status.value,
            "priority_ts_us": order.priority_ts,
            "created_us": e.ts if previous is None else previous["created_us"],
            "updated_us": e.ts,
            "last_seq": e.seq,
            **_terms(order),
        }
    return audit, execs, trades, list(latest.values())


def _terms(o: OrderSnapshot) -> Row:
    """Order terms beyond the plain limit order: columns of orders and order_events."""
    return {
        "stop_px": None if o.stop_px is None else _px(o.stop_px),
        "exec_inst": "6" if o.post_only else None,
        "expire_us": o.expire_ts,
        "expire_date": o.expire_date,
        "min_qty": o.min_qty,
        "max_floor": o.max_floor,
    }


def _common(o: OrderSnapshot) -> Row:
    """The snapshot's columns shared by orders, executions and order_events."""
    return {
        "order_id": o.order_id,
        "session": o.session,
        "firm": o.firm,
        "account": o.account or None,
        "cl_ord_id": o.cl_ord_id,
        "orig_cl_ord_id": o.orig_cl_ord_id or None,
        "symbol": o.symbol,
        "side": o.side.value,
        "price": None if o.price is None else _px(o.price),
        "qty": o.qty,
        "cum_qty": o.cum_qty,
        "leaves_qty": o.leaves_qty,
    }


def _audit(e: Event, o: OrderSnapshot | None, common: Row | None) -> Row:
    row = {**_AUDIT_NULLS, "seq": e.seq, "ts_us": e.ts, "event_type": type(e).__name__}
    if o is not None and common is not None:
        row.update(common)
        row["ord_type"] = None if o.ord_type is None else o.ord_type.value
        row["tif"] = None if o.tif is None else o.tif.value
        row["status"] = o.status.value
        row["priority_ts_us"] = o.priority_ts
        row.update(_terms(o))
    get = e.__getattribute__
    plan = _plan(type(e))
    for name in plan.own:  # the event's own identifiers win over the snapshot's
        value = get(name)
        if value:
            row[name] = value.value if isinstance(value, Enum) else value
    if plan.text:
        row["text"] = get("text") or None
    if plan.code:
        row["reject_code"] = int(get("code"))
    if plan.reason:
        row["cancel_reason"] = int(get("reason"))
    if plan.fill:
        row["last_px"] = _px(get("last_px"))
        row["last_qty"] = get("last_qty")
        row["trade_id"] = get("trade_id")
    if plan.detail:
        row["detail"] = json.dumps(
            {name: _plain(get(name)) for name in plan.detail}, sort_keys=True
        )
    return row


def _execution(e: Event, o: OrderSnapshot, common: Row) -> Row:
    name = type(e).__name__
    row = {
        **_EXEC_NULLS,
        **common,
        "exec_id": e.seq,
        "exec_type": EXEC_TYPES.get(name) or name.removeprefix("Order").lower(),
        "ord_status": o.status.value,
        "avg_px": avg_px(o.cum_notional, o.cum_qty),
        "transact_us": e.ts,
    }
    get = e.__getattribute__
    plan = _plan(type(e))
    if plan.text:
        row["text"] = get("text") or None
    if plan.code:
        row["reject_code"] = int(get("code"))
    if plan.fill:
        row["last_px"] = _px(get("last_px"))
        row["last_qty"] = get("last_qty")
        row["trade_id"] = get("trade_id")
        if plan.liquidity:
            row["liquidity"] = "R" if get("aggressor") else "A"
    return row


def _unknown_status(e: OrderStatusReported) -> Row:
    """The ExecutionReport answering a status request for an order the venue does not know
    (OrderID NONE, OrdStatus 8 rejected)."""
    return {
        **_EXEC_NULLS,
        "exec_id": e.seq,
        "session": e.session,
        "firm": e.firm,
        "cl_ord_id": e.cl_ord_id,
        "symbol": e.symbol,
        "side": e.side.value,
        "exec_type": "status",
        "ord_status": "8",
        "qty": 0,
        "cum_qty": 0,
        "leaves_qty": 0,
        "avg_px": Decimal(0),
        "text": f"unknown order {e.cl_ord_id}",
        "transact_us": e.ts,
    }


def _trade(e: TradeExecuted) -> Row:
    return {
        "trade_id": e.trade_id,
        "seq": e.seq,
        "symbol": e.symbol,
        "price": _px(e.price),
        "qty": e.qty,
        "notional": price_to_decimal(e.price * e.qty),
        "aggressor_side": e.aggressor_side.value,
        "buy_order_id": e.buy_order_id,
        "sell_order_id": e.sell_order_id,
        "buy_firm": e.buy_firm,
        "sell_firm": e.sell_firm,
        "buy_session": e.buy_session,
        "sell_session": e.sell_session,
        "buy_account": e.buy_account or None,
        "sell_account": e.sell_account or None,
        "executed_us": e.ts,
        "status": "active",
    }


def _trade_audit(e: TradeExecuted) -> Row:
    """TradeExecuted in the audit trail: the trade, no order (both are in `trades`)."""
    price = _px(e.price)
    return {
        **_AUDIT_NULLS,
        "seq": e.seq,
        "ts_us": e.ts,
        "event_type": "TradeExecuted",
        "symbol": e.symbol,
        "side": e.aggressor_side.value,
        "price": price,
        "qty": e.qty,
        "last_px": price,
        "last_qty": e.qty,
        "trade_id": e.trade_id,
    }


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """Which of an event class's fields map to which columns."""

    own: tuple[str, ...]  # identifiers carried by the event itself
    text: bool
    code: bool
    reason: bool
    fill: bool
    liquidity: bool  # a fill that says which side was the aggressor
    detail: tuple[str, ...]  # fields without a column


_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    """The plan for an event class, made on first use."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _make_plan(cls)
    return plan


def _make_plan(cls: type) -> _Plan:
    names = [f.name for f in dataclasses.fields(cls)]
    fields = set(names)
    return _Plan(
        own=tuple(
            n
            for n in ("session", "firm", "cl_ord_id", "orig_cl_ord_id", "symbol", "side")
            if n in fields
        ),
        text="text" in fields,
        code="code" in fields,
        reason="reason" in fields,
        fill={"last_px", "last_qty", "trade_id"} <= fields,
        liquidity="aggressor" in fields,
        detail=tuple(n for n in names if n not in _COLUMN_FIELDS),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    return value
