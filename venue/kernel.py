"""The kernel: one deterministic state machine for the whole venue. No I/O, no clock.

    handle(command, ts) -> events

Stages, in this order, for every command: sequence (the caller passes ts; the kernel keeps
it monotonic) -> validate -> (risk, issue 4) -> match -> events. The same commands with the
same timestamps always give the same events and ids, which is what journal replay relies on.
"""

from __future__ import annotations

from typing import Any

from venue.domain.codes import RejectCode
from venue.domain.commands import (
    CancelOrder,
    Command,
    ExpireDayOrders,
    NewOrder,
    QueryOrder,
    RejectMessage,
    ReplaceOrder,
)
from venue.domain.events import (
    CancelRejected,
    Event,
    OrderAccepted,
    OrderExpired,
    OrderRejected,
    OrderSnapshot,
    OrderStatusReported,
)
from venue.domain.order import Order
from venue.domain.reference import Instrument, Reference, Role
from venue.domain.values import OrdStatus, OrdType, Side, TimeInForce, format_price
from venue.matching import Counters, MatchingEngine

CANCEL = "1"
REPLACE = "2"


class Kernel:
    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.counters = Counters()
        self.engines = {s: MatchingEngine(s, self.counters) for s in reference.instruments}
        self.live: dict[int, Order] = {}
        # (session, ClOrdID) -> order, for live orders and for orders already done.
        self._live_by_cl: dict[tuple[str, str], Order] = {}
        self._done_by_cl: dict[tuple[str, str], Order] = {}
        self.last_ts = 0
        self.expired_through = 0  # cutoff of the last ExpireDayOrders handled

    # -- entry point --------------------------------------------------------------------

    def handle(self, command: Command, ts: int) -> list[Event]:
        ts = self.last_ts = max(ts, self.last_ts)
        out: list[Event] = []
        if type(command) is NewOrder:
            self._new_order(command, ts, out)
        elif type(command) is CancelOrder:
            self._cancel(command, ts, out)
        elif type(command) is ReplaceOrder:
            self._replace(command, ts, out)
        elif type(command) is QueryOrder:
            self._query(command, ts, out)
        elif type(command) is RejectMessage:
            self._reject_message(command, ts, out)
        elif type(command) is ExpireDayOrders:
            self._expire_day_orders(command, ts, out)
        else:
            raise TypeError(f"unknown command {command!r}")
        self._retire_done(out)
        return out

    # -- commands -----------------------------------------------------------------------

    def _new_order(self, cmd: NewOrder, ts: int, out: list[Event]) -> None:
        firm = self.reference.sessions[cmd.session].firm
        order = Order(
            self.counters.next_order_id(),
            cmd.session,
            firm,
            cmd.account,
            cmd.cl_ord_id,
            cmd.symbol,
            cmd.side,
            cmd.ord_type,
            cmd.tif,
            cmd.price,
            cmd.qty,
            ts,
        )
        problem = self._check_new(cmd)
        if problem is not None:
            order.status = OrdStatus.REJECTED
            out.append(OrderRejected(self.counters.next_seq(), ts, order.snapshot(), *problem))
            return
        self.live[order.order_id] = order
        self._live_by_cl[(cmd.session, cmd.cl_ord_id)] = order
        out.append(OrderAccepted(self.counters.next_seq(), ts, order.snapshot()))
        self.engines[cmd.symbol].submit(order, ts, out)

    def _cancel(self, cmd: CancelOrder, ts: int, out: list[Event]) -> None:
        order, problem = self._find(cmd.session, cmd.orig_cl_ord_id, cmd.order_id)
        if problem is None and order is not None:
            problem = self._check_same_order(cmd, order) or self._check_new_cl_ord_id(cmd)
        if problem is not None:
            self._cancel_reject(cmd, CANCEL, problem, order, ts, out)
            return
        assert order is not None
        self._rekey(order, cmd.cl_ord_id)
        self.engines[order.symbol].cancel(order, cmd.cl_ord_id, ts, out)

    def _replace(self, cmd: ReplaceOrder, ts: int, out: list[Event]) -> None:
        order, problem = self._find(cmd.session, cmd.orig_cl_ord_id, cmd.order_id)
        if problem is None and order is not None:
            problem = (
                self._check_same_order(cmd, order)
                or self._check_new_cl_ord_id(cmd)
                or self._check_replace_terms(cmd, order)
            )
        if problem is not None:
            self._cancel_reject(cmd, REPLACE, problem, order, ts, out)
            return
        assert order is not None
        self._rekey(order, cmd.cl_ord_id)
        self.engines[order.symbol].replace(
            order, cmd.cl_ord_id, cmd.qty, cmd.price, cmd.tif, ts, out
        )

    def _query(self, cmd: QueryOrder, ts: int, out: list[Event]) -> None:
        order, problem = self._find(cmd.session, cmd.cl_ord_id, cmd.order_id, allow_done=True)
        snapshot = order.snapshot() if order is not None and problem is None else None
        out.append(
            OrderStatusReported(
                self.counters.next_seq(),
                ts,
                cmd.session,
                cmd.cl_ord_id,
                cmd.symbol,
                cmd.side,
                snapshot,
            )
        )

    def _reject_message(self, cmd: RejectMessage, ts: int, out: list[Event]) -> None:
        if cmd.msg_type == "D":
            firm = self.reference.sessions[cmd.session].firm
            snapshot = OrderSnapshot(
                self.counters.next_order_id(),
                cmd.session,
                firm,
                cmd.account,
                cmd.cl_ord_id,
                "",
                cmd.symbol,
                cmd.side or Side.BUY,
                None,
                None,
                None,
                cmd.qty,
                0,
                0,
                0,
                OrdStatus.REJECTED,
                ts,
            )
            out.append(OrderRejected(self.counters.next_seq(), ts, snapshot, cmd.code, cmd.text))
        else:
            response_to = CANCEL if cmd.msg_type == "F" else REPLACE
            out.append(
                CancelRejected(
                    self.counters.next_seq(),
                    ts,
                    cmd.session,
                    cmd.cl_ord_id,
                    cmd.orig_cl_ord_id,
                    response_to,
                    cmd.code,
                    cmd.text,
                    None,
                )
            )

    def _expire_day_orders(self, cmd: ExpireDayOrders, ts: int, out: list[Event]) -> None:
        """Expire live Day orders from before the cutoff, in order-id order. O(live)."""
        for order in sorted(self.live.values(), key=lambda o: o.order_id):
            if order.tif is TimeInForce.DAY and order.priority_ts < cmd.cutoff:
                self.engines[order.symbol].expire(order)
                out.append(OrderExpired(self.counters.next_seq(), ts, order.snapshot()))
        self.expired_through = max(self.expired_through, cmd.cutoff)
        # Too-late answers and status of finished orders are kept for one trading day.
        self._done_by_cl = {
            key: o for key, o in self._done_by_cl.items() if o.priority_ts >= cmd.cutoff
        }

    # -- checks: each returns (code, text) or None ----------------------------------------

    def _check_new(self, cmd: NewOrder) -> tuple[RejectCode, str] | None:
        if (cmd.session, cmd.cl_ord_id) in self._live_by_cl:
            return RejectCode.DUPLICATE_CL_ORD_ID, (
                f"ClOrdID {cmd.cl_ord_id} is already used by a live order of this session"
            )
        instrument = self.reference.instruments.get(cmd.symbol)
        if instrument is None:
            return RejectCode.UNKNOWN_SYMBOL, f"unknown symbol {cmd.symbol}"
        if cmd.ord_type is OrdType.MARKET and cmd.price is not None:
            return (
                RejectCode.UNSUPPORTED_CHARACTERISTIC,
                "Price(44) must not be set on a market order",
            )
        return self._check_terms(instrument, cmd.ord_type, cmd.qty, cmd.price)

    @staticmethod
    def _check_terms(
        instrument: Instrument, ord_type: OrdType, qty: int, price: int | None
    ) -> tuple[RejectCode, str] | None:
        if qty <= 0:
            return RejectCode.INVALID_QUANTITY, f"OrderQty {qty} must be positive"
        if qty % instrument.lot:
            return RejectCode.INVALID_QUANTITY, (
                f"OrderQty {qty} is not a multiple of the lot size {instrument.lot}"
            )
        if ord_type is OrdType.LIMIT:
            if price is None:
                return RejectCode.MISSING_FIELD, "Price(44) is required on a limit order"
            if price <= 0:
                return RejectCode.INVALID_PRICE, f"price {format_price(price)} must be positive"
            if price % instrument.tick:
                return RejectCode.PRICE_OFF_TICK, (
                    f"price {format_price(price)} is not a multiple of the tick "
                    f"{instrument.tick_text}"
                )
        return None

    def _check_same_order(
        self, cmd: CancelOrder | ReplaceOrder, order: Order
    ) -> tuple[RejectCode, str] | None:
        if cmd.symbol != order.symbol:
            return RejectCode.CHANGE_NOT_ALLOWED, (
                f"Symbol {cmd.symbol} differs from the order's symbol {order.symbol}"
            )
        if cmd.side is not order.side:
            return RejectCode.CHANGE_NOT_ALLOWED, (
                f"Side {cmd.side.value} differs from the order's side {order.side.value}"
            )
        return None

    def _check_new_cl_ord_id(
        self, cmd: CancelOrder | ReplaceOrder
    ) -> tuple[RejectCode, str] | None:
        if (cmd.session, cmd.cl_ord_id) in self._live_by_cl:
            return RejectCode.DUPLICATE_CL_ORD_ID, (
                f"ClOrdID {cmd.cl_ord_id} is already used by a live order of this session"
            )
        return None

    def _check_replace_terms(
        self, cmd: ReplaceOrder, order: Order
    ) -> tuple[RejectCode, str] | None:
        if cmd.ord_type is not order.ord_type:
            return RejectCode.CHANGE_NOT_ALLOWED, "OrdType cannot be changed by a replace"
        if cmd.tif not in (TimeInForce.DAY, TimeInForce.GTC):
            return RejectCode.CHANGE_NOT_ALLOWED, (
                f"TimeInForce {cmd.tif.value} is not allowed on a replace: use 0 Day or 1 GTC"
            )
        return self._check_terms(
            self.reference.instruments[order.symbol], cmd.ord_type, cmd.qty, cmd.price
        )

    # -- helpers ------------------------------------------------------------------------

    def _find(
        self, session: str, cl_ord_id: str, order_id: int | None, allow_done: bool = False
    ) -> tuple[Order | None, tuple[RejectCode, str] | None]:
        """The session's order by ClOrdID (or by OrderID within the session's firm)."""
        key = (session, cl_ord_id)
        order = self._live_by_cl.get(key)
        if order is None and order_id is not None:
            candidate = self.live.get(order_id)
            if candidate is not None and candidate.firm == self.reference.sessions[session].firm:
                order = candidate
        if order is not None:
            return order, None
        done = self._done_by_cl.get(key)
        if done is not None:
            if allow_done:
                return done, None
            return done, (
                RejectCode.TOO_LATE,
                (f"order {cl_ord_id} is already {done.status.name.lower().replace('_', ' ')}"),
            )
        return None, (RejectCode.UNKNOWN_ORDER, f"unknown order {cl_ord_id}")

    def _cancel_reject(
        self,
        cmd: CancelOrder | ReplaceOrder,
        response_to: str,
        problem: tuple[RejectCode, str],
        order: Order | None,
        ts: int,
        out: list[Event],
    ) -> None:
        code, text = problem
        snapshot = order.snapshot() if order is not None else None
        out.append(
            CancelRejected(
                self.counters.next_seq(),
                ts,
                cmd.session,
                cmd.cl_ord_id,
                cmd.orig_cl_ord_id,
                response_to,
                code,
                text,
                snapshot,
            )
        )

    def _rekey(self, order: Order, cl_ord_id: str) -> None:
        """The order will answer to a new ClOrdID (cancel or replace)."""
        del self._live_by_cl[(order.session, order.cl_ord_id)]
        self._live_by_cl[(order.session, cl_ord_id)] = order

    def _retire_done(self, events: list[Event]) -> None:
        """Move orders that finished during this command out of the live indexes."""
        for event in events:
            snapshot = getattr(event, "order", None)
            if snapshot is None or not snapshot.status.is_done:
                continue
            order = self.live.pop(snapshot.order_id, None)
            if order is None:
                continue
            self._live_by_cl.pop((order.session, order.cl_ord_id), None)
            # Too-late answers work with the last ClOrdID and the one before it.
            for cl in (order.cl_ord_id, order.orig_cl_ord_id):
                if cl:
                    self._done_by_cl[(order.session, cl)] = order

    # -- snapshots ----------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Everything needed to rebuild this kernel, as plain data. O(orders).

        Resting orders are listed book by book, best level first, FIFO within a level, so
        restoring them in this order keeps time priority exactly.
        """
        resting = [
            _order_to_plain(order)
            for engine in self.engines.values()
            for side in (Side.BUY, Side.SELL)
            for level in engine.book.levels(side)
            for order in level.orders.values()
        ]
        done: dict[int, list[Any]] = {}
        for (session, cl), order in self._done_by_cl.items():
            done.setdefault(order.order_id, [_order_to_plain(order), []])[1].append([session, cl])
        c = self.counters
        return {
            "counters": [c.seq, c.order_id, c.trade_id],
            "last_ts": self.last_ts,
            "expired_through": self.expired_through,
            "resting": resting,
            "done": list(done.values()),
        }

    @classmethod
    def restore(cls, reference: Reference, state: dict[str, Any]) -> Kernel:
        kernel = cls(reference)
        c = kernel.counters
        c.seq, c.order_id, c.trade_id = state["counters"]
        kernel.last_ts = state["last_ts"]
        kernel.expired_through = state["expired_through"]
        for plain in state["resting"]:
            order = _order_from_plain(plain)
            kernel.engines[order.symbol].book.add(order)
            kernel.live[order.order_id] = order
            kernel._live_by_cl[(order.session, order.cl_ord_id)] = order
        for plain, keys in state["done"]:
            order = _order_from_plain(plain)
            for session, cl in keys:
                kernel._done_by_cl[(session, cl)] = order
        return kernel

    # -- views for tests and snapshots ----------------------------------------------------

    def check_invariants(self) -> None:
        in_books = 0
        for engine in self.engines.values():
            engine.book.check_invariants()
            in_books += len(engine.book.orders)
        assert in_books == len(self.live), "an order is live but not in a book, or the reverse"
        for (session, cl), order in self._live_by_cl.items():
            assert order.session == session and order.cl_ord_id == cl
            assert self.live.get(order.order_id) is order
        assert len(self._live_by_cl) == len(self.live)

    def is_order_entry(self, session: str) -> bool:
        info = self.reference.sessions.get(session)
        return info is not None and info.role is Role.ORDER_ENTRY


_ORDER_FIELDS = Order.__slots__


def _order_to_plain(order: Order) -> list[Any]:
    return [getattr(order, name) for name in _ORDER_FIELDS]


def _order_from_plain(values: list[Any]) -> Order:
    order = Order.__new__(Order)
    for name, value in zip(_ORDER_FIELDS, values, strict=True):
        setattr(order, name, value)
    order.side = Side(order.side)
    order.ord_type = OrdType(order.ord_type)
    order.tif = TimeInForce(order.tif)
    order.status = OrdStatus(order.status)
    return order
