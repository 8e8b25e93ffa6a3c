"""The kernel: one deterministic state machine for the whole venue. No I/O, no clock.

    handle(command, ts) -> events

Stages, in this order, for every order command (written down here and nowhere else):
  1. sequence  the caller passes ts; the kernel keeps it monotonic
  2. validate  message terms against the instrument (symbol, quantity, lot, price, tick,
               duplicate ClOrdID)
  3. risk      throttle, kill switch, halt, restrictions and instrument limits, price collar,
               firm credit (venue.risk)
  4. match     the symbol's engine (venue.matching), self-trade prevention included
  5. release   exposure, last trade prices and ClOrdID indexes follow the events
The same commands with the same timestamps always give the same events and ids: journal
replay relies on it.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from venue.domain.codes import CancelReason, RejectCode
from venue.domain.commands import (
    BustTrade,
    CancelOrder,
    Command,
    ExpireDayOrders,
    MassCancel,
    NewOrder,
    OperatorAction,
    QueryOrder,
    RejectMessage,
    ReplaceOrder,
    SessionDisconnected,
)
from venue.domain.events import (
    ORDER_EVENTS,
    CancelRejected,
    Event,
    MassCancelReported,
    OperatorActionApplied,
    OrderAccepted,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSnapshot,
    OrderStatusReported,
    OrderTradeCanceled,
    TradeBusted,
    TradeExecuted,
)
from venue.domain.order import Order
from venue.domain.reference import Firm, Instrument, Reference, Role, SessionInfo, StpMode
from venue.domain.values import OrdStatus, OrdType, Side, TimeInForce, format_price
from venue.matching import Counters, MatchingEngine
from venue.risk import check_collar, check_credit, check_instrument_limits, check_throttle
from venue.risk.limits import changed

CANCEL = "1"
REPLACE = "2"
Problem = tuple[RejectCode, str]


class Kernel:
    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        # Limits the operator may change while the venue runs (journaled, so replayed).
        self.instruments: dict[str, Instrument] = dict(reference.instruments)
        self.firms: dict[str, Firm] = dict(reference.firms)
        self.sessions: dict[str, SessionInfo] = dict(reference.sessions)
        self.counters = Counters()
        self.engines = {s: MatchingEngine(s, self.counters) for s in reference.instruments}
        self.live: dict[int, Order] = {}
        # (session, ClOrdID) -> order, for live orders and for orders already done.
        self._live_by_cl: dict[tuple[str, str], Order] = {}
        self._done_by_cl: dict[tuple[str, str], Order] = {}
        self._done_by_id: dict[int, Order] = {}
        # Today's trades, for busts: trade_id -> [symbol, price, qty, buy order id,
        # sell order id, buy fill ExecID, sell fill ExecID, busted]
        self.trades: dict[int, list[Any]] = {}
        self.last_ts = 0
        self.expired_through = 0  # cutoff of the last ExpireDayOrders handled
        # Risk state.
        self.halted: set[str] = set()
        self.blocked: set[tuple[str, str]] = set()  # kill switches: (scope, key)
        self.last_trade_px: dict[str, int] = {}
        self.firm_open: dict[str, int] = {}  # notional of live orders
        self.firm_executed: dict[str, int] = {}  # notional traded today
        self._open_by_order: dict[int, int] = {}
        self._recent: dict[str, deque[int]] = {}  # throttle windows per session

    # -- entry point --------------------------------------------------------------------

    def handle(self, command: Command, ts: int) -> list[Event]:
        ts = self.last_ts = max(ts, self.last_ts)
        out: list[Event] = []
        handler = _HANDLERS.get(type(command))
        if handler is None:
            raise TypeError(f"unknown command {command!r}")
        handler(self, command, ts, out)
        self._release(out)
        return out

    # -- order commands -----------------------------------------------------------------

    def _new_order(self, cmd: NewOrder, ts: int, out: list[Event]) -> None:
        firm = self.sessions[cmd.session].firm
        if cmd.poss_resend:  # already processed today: not again; answer with its state
            known, _ = self._find(cmd.session, cmd.cl_ord_id, None, allow_done=True)
            if known is not None:
                out.append(
                    OrderStatusReported(
                        self.counters.next_seq(), ts, cmd.session, cmd.cl_ord_id, cmd.symbol,
                        cmd.side, known.snapshot(), firm,
                    )
                )  # fmt: skip
                return
        stp = cmd.stp or self.firm(firm).stp_mode
        order = Order(
            self.counters.next_order_id(), cmd.session, firm, cmd.account, cmd.cl_ord_id,
            cmd.symbol, cmd.side, cmd.ord_type, cmd.tif, cmd.price, cmd.qty, ts, stp,
        )  # fmt: skip
        problem = self._check_new(cmd) or self._check_risk(
            cmd.session, cmd.symbol, cmd.qty, cmd.price, ts, exposure_before=0
        )
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
                or self._check_risk(
                    cmd.session, order.symbol, cmd.qty - order.cum_qty, cmd.price, ts,
                    exposure_before=self._open_by_order.get(order.order_id, 0),
                )
            )  # fmt: skip
        if problem is not None:
            self._cancel_reject(cmd, REPLACE, problem, order, ts, out)
            return
        assert order is not None
        self._rekey(order, cmd.cl_ord_id)
        engine = self.engines[order.symbol]
        engine.replace(order, cmd.cl_ord_id, cmd.qty, cmd.price, cmd.tif, ts, out)

    def _query(self, cmd: QueryOrder, ts: int, out: list[Event]) -> None:
        order, problem = self._find(cmd.session, cmd.cl_ord_id, cmd.order_id, allow_done=True)
        snapshot = order.snapshot() if order is not None and problem is None else None
        out.append(
            OrderStatusReported(
                self.counters.next_seq(), ts, cmd.session, cmd.cl_ord_id, cmd.symbol, cmd.side,
                snapshot, self._firm_of(cmd.session), cmd.status_req_id,
            )
        )  # fmt: skip

    def _reject_message(self, cmd: RejectMessage, ts: int, out: list[Event]) -> None:
        if cmd.msg_type == "D":
            info = self.sessions.get(cmd.session)
            snapshot = OrderSnapshot(
                self.counters.next_order_id(), cmd.session, info.firm if info else "",
                cmd.account, cmd.cl_ord_id, "", cmd.symbol, cmd.side or Side.BUY, None, None,
                None, cmd.qty, 0, 0, 0, OrdStatus.REJECTED, ts,
            )  # fmt: skip
            out.append(OrderRejected(self.counters.next_seq(), ts, snapshot, cmd.code, cmd.text))
        elif cmd.msg_type == "H":  # a status request we cannot read: the order is unknown
            out.append(
                OrderStatusReported(
                    self.counters.next_seq(), ts, cmd.session, cmd.cl_ord_id, cmd.symbol,
                    cmd.side or Side.BUY, None, self._firm_of(cmd.session),
                )
            )  # fmt: skip
        else:
            response_to = CANCEL if cmd.msg_type == "F" else REPLACE
            order, problem = self._find(cmd.session, cmd.orig_cl_ord_id, None)
            live = order.snapshot() if order is not None and problem is None else None
            out.append(
                CancelRejected(
                    self.counters.next_seq(), ts, cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                    response_to, cmd.code, cmd.text, live, self._firm_of(cmd.session),
                )
            )  # fmt: skip

    def _mass_cancel(self, cmd: MassCancel, ts: int, out: list[Event]) -> None:
        firm = self.sessions[cmd.session].firm
        response, text = cmd.request_type, ""
        if cmd.request_type == "1" and cmd.symbol not in self.engines:
            response, text = "0", f"unknown symbol {cmd.symbol}"
        elif cmd.request_type not in ("1", "7"):
            response = "0"
            text = f"MassCancelRequestType {cmd.request_type} is not supported: use 1 or 7"
        affected = 0
        if response != "0":
            affected = self._cancel_where(
                lambda o: o.firm == firm and (cmd.request_type == "7" or o.symbol == cmd.symbol),
                ts, CancelReason.MASS_CANCEL, f"mass cancel {cmd.cl_ord_id}", out,
            )  # fmt: skip
        out.append(
            MassCancelReported(
                self.counters.next_seq(), ts, cmd.session, cmd.cl_ord_id, cmd.request_type,
                cmd.symbol, response, affected, text, firm,
            )
        )  # fmt: skip

    def _session_disconnected(self, cmd: SessionDisconnected, ts: int, out: list[Event]) -> None:
        info = self.sessions.get(cmd.session)
        if info is None:
            return
        tifs = set()
        if info.cancel_on_disconnect:
            tifs.add(TimeInForce.DAY)
        if info.cancel_gtc_on_disconnect:
            tifs.add(TimeInForce.GTC)
        self._cancel_where(
            lambda o: o.session == cmd.session and o.tif in tifs,
            ts, CancelReason.DISCONNECT, "canceled on disconnect", out,
        )  # fmt: skip

    def _expire_day_orders(self, cmd: ExpireDayOrders, ts: int, out: list[Event]) -> None:
        """Expire live Day orders from before the cutoff, in order-id order. O(live)."""
        for order in sorted(self.live.values(), key=lambda o: o.order_id):
            if order.tif is TimeInForce.DAY and order.priority_ts < cmd.cutoff:
                self.engines[order.symbol].expire(order)
                out.append(OrderExpired(self.counters.next_seq(), ts, order.snapshot()))
        self.expired_through = max(self.expired_through, cmd.cutoff)
        # A new trading day: executed notional starts again from zero, and too-late answers
        # and status of finished orders are kept for one day only.
        self.firm_executed.clear()
        self.trades.clear()
        self._done_by_cl = {
            key: o for key, o in self._done_by_cl.items() if o.priority_ts >= cmd.cutoff
        }
        self._done_by_id = {o.order_id: o for o in self._done_by_cl.values()}

    def _bust(self, cmd: BustTrade, ts: int, out: list[Event]) -> None:
        trade = self.trades.get(cmd.trade_id)
        ok, text = True, f"trade {cmd.trade_id} busted by {cmd.operator}"
        if cmd.reason:
            text += f": {cmd.reason}"
        if trade is None:
            ok, text = False, f"no trade {cmd.trade_id} today"
        elif trade[7]:
            ok, text = False, f"trade {cmd.trade_id} is already busted"
        if ok and trade is not None:
            symbol, price, qty, buy_id, sell_id, buy_exec, sell_exec, _ = trade
            trade[7] = True
            out.append(
                TradeBusted(
                    self.counters.next_seq(), ts, cmd.trade_id, symbol, price, qty,
                    cmd.operator, text,
                )
            )  # fmt: skip
            for order_id, exec_ref in ((buy_id, buy_exec), (sell_id, sell_exec)):
                order = self.live.get(order_id) or self._done_by_id[order_id]
                order.unfill(qty, price)
                self.firm_executed[order.firm] = self.firm_executed.get(order.firm, 0) - (
                    qty * price
                )
                out.append(
                    OrderTradeCanceled(
                        self.counters.next_seq(), ts, order.snapshot(), cmd.trade_id,
                        exec_ref, price, qty, text,
                    )
                )  # fmt: skip
        out.append(
            OperatorActionApplied(
                self.counters.next_seq(), ts, cmd.operator, "bust", "trade",
                str(cmd.trade_id), "", None, ok, text,
            )
        )  # fmt: skip

    # -- operator -----------------------------------------------------------------------

    def _operator(self, cmd: OperatorAction, ts: int, out: list[Event]) -> None:
        try:
            text = self._apply_operator(cmd, ts, out)
            ok = True
        except ValueError as exc:
            text, ok = str(exc), False
        out.append(
            OperatorActionApplied(
                self.counters.next_seq(), ts, cmd.operator, cmd.action, cmd.scope, cmd.key,
                cmd.field, cmd.value, ok, text,
            )
        )  # fmt: skip

    def _apply_operator(self, cmd: OperatorAction, ts: int, out: list[Event]) -> str:
        """Carry out one operator action; ValueError (with a clear text) if it is invalid."""
        scope, key, action = cmd.scope, cmd.key, cmd.action
        if scope == "instrument" and key not in self.engines:
            raise ValueError(f"unknown symbol {key}")
        if scope == "session" and key not in self.sessions:
            raise ValueError(f"unknown session {key}")
        if scope == "firm" and key not in {s.firm for s in self.sessions.values()}:
            raise ValueError(f"unknown firm {key}")
        if scope not in ("instrument", "session", "firm", "venue"):
            raise ValueError(f"unknown scope {scope}")
        if action in ("halt", "resume"):
            if scope != "instrument":
                raise ValueError("halt and resume apply to an instrument")
            if action == "halt":
                self.halted.add(key)
                return f"{key} halted: new orders and replaces rejected, resting orders stay"
            self.halted.discard(key)
            return f"{key} resumed"
        where = "the venue" if scope == "venue" else f"{scope} {key}"
        if action == "kill":
            if scope == "instrument":
                raise ValueError("the kill switch applies to a session, a firm or the venue")
            n = self._cancel_where(
                self._in_scope(scope, key), ts, CancelReason.KILL_SWITCH,
                f"kill switch engaged for {where}", out,
            )  # fmt: skip
            self.blocked.add((scope, key))
            return f"kill switch engaged for {where}: {n} orders canceled, new orders blocked"
        if action == "cancel_all":
            n = self._cancel_where(
                self._in_scope(scope, key), ts, CancelReason.OPERATOR,
                f"canceled by the operator ({where})", out,
            )  # fmt: skip
            return f"{n} orders of {where} canceled"
        if action == "release":
            if (scope, key) not in self.blocked:
                raise ValueError(f"no kill switch engaged for {where}")
            self.blocked.discard((scope, key))
            return f"kill switch released for {where}"
        if action == "set_limit":
            return self._set_limit(cmd)
        raise ValueError(f"unknown action {action}")

    def _set_limit(self, cmd: OperatorAction) -> str:
        scope, key = cmd.scope, cmd.key
        if scope == "instrument":
            self.instruments[key] = changed(self.instruments[key], scope, cmd.field, cmd.value)  # type: ignore[assignment]
        elif scope == "firm":
            self.firms[key] = changed(self.firm(key), scope, cmd.field, cmd.value)  # type: ignore[assignment]
        elif scope == "session":
            self.sessions[key] = changed(self.sessions[key], scope, cmd.field, cmd.value)  # type: ignore[assignment]
        else:
            raise ValueError("limits are set per instrument, firm or session")
        return f"{scope} {key} {cmd.field} = {cmd.value if cmd.value is not None else 'none'}"

    def _in_scope(self, scope: str, key: str) -> Any:
        attr = {"instrument": "symbol", "session": "session", "firm": "firm"}.get(scope)
        if attr is None:
            return lambda o: True
        return lambda o: getattr(o, attr) == key

    def _cancel_where(
        self, predicate: Any, ts: int, reason: CancelReason, text: str, out: list[Event]
    ) -> int:
        """Cancel every live order matching predicate, in order-id order. O(live)."""
        chosen = [o for o in sorted(self.live.values(), key=lambda o: o.order_id) if predicate(o)]
        for order in chosen:
            self.engines[order.symbol].cancel_resting(order, ts, reason, text, out)
        return len(chosen)

    # -- checks: each returns (code, text) or None --------------------------------------

    def _check_new(self, cmd: NewOrder) -> Problem | None:
        if (cmd.session, cmd.cl_ord_id) in self._live_by_cl:
            return RejectCode.DUPLICATE_CL_ORD_ID, (
                f"ClOrdID {cmd.cl_ord_id} is already used by a live order of this session"
            )
        instrument = self.instruments.get(cmd.symbol)
        if instrument is None:
            return RejectCode.UNKNOWN_SYMBOL, f"unknown symbol {cmd.symbol}"
        if cmd.ord_type is OrdType.MARKET and cmd.price is not None:
            return RejectCode.UNSUPPORTED_CHARACTERISTIC, (
                "Price(44) must not be set on a market order"
            )
        return self._check_terms(instrument, cmd.ord_type, cmd.qty, cmd.price)

    @staticmethod
    def _check_terms(
        instrument: Instrument, ord_type: OrdType, qty: int, price: int | None
    ) -> Problem | None:
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

    def _check_risk(
        self,
        session: str,
        symbol: str,
        qty: int,
        price: int | None,
        ts: int,
        exposure_before: int,
    ) -> Problem | None:
        """Pre-trade risk for a new order or the new terms of a replace (qty = what may
        still trade; exposure_before = what the order already counts for)."""
        info = self.sessions[session]
        throttled = check_throttle(
            self._recent.setdefault(session, deque()), ts, info.max_orders_per_second
        )
        if throttled:
            return throttled
        for scope, key in (("venue", ""), ("firm", info.firm), ("session", session)):
            if (scope, key) in self.blocked:
                where = "the venue" if scope == "venue" else f"{scope} {key}"
                return RejectCode.BLOCKED, f"kill switch engaged for {where}: orders blocked"
        if symbol in self.halted:
            return RejectCode.HALTED, f"{symbol} is halted"
        instrument = self.instruments[symbol]
        reference = self.last_trade_px.get(symbol, instrument.reference_price)
        notional = qty * (price if price is not None else (reference or 0))
        return (
            check_instrument_limits(instrument, qty, notional)
            or check_collar(instrument, reference, price)
            or check_credit(
                self.firm(info.firm),
                self.firm_open.get(info.firm, 0) + self.firm_executed.get(info.firm, 0)
                - exposure_before,
                notional,
            )
        )  # fmt: skip

    def _check_same_order(self, cmd: CancelOrder | ReplaceOrder, order: Order) -> Problem | None:
        if cmd.symbol != order.symbol:
            return RejectCode.CHANGE_NOT_ALLOWED, (
                f"Symbol {cmd.symbol} differs from the order's symbol {order.symbol}"
            )
        if cmd.side is not order.side:
            return RejectCode.CHANGE_NOT_ALLOWED, (
                f"Side {cmd.side.value} differs from the order's side {order.side.value}"
            )
        return None

    def _check_new_cl_ord_id(self, cmd: CancelOrder | ReplaceOrder) -> Problem | None:
        if (cmd.session, cmd.cl_ord_id) in self._live_by_cl:
            return RejectCode.DUPLICATE_CL_ORD_ID, (
                f"ClOrdID {cmd.cl_ord_id} is already used by a live order of this session"
            )
        return None

    def _check_replace_terms(self, cmd: ReplaceOrder, order: Order) -> Problem | None:
        if cmd.ord_type is not order.ord_type:
            return RejectCode.CHANGE_NOT_ALLOWED, "OrdType cannot be changed by a replace"
        if cmd.tif not in (TimeInForce.DAY, TimeInForce.GTC):
            return RejectCode.CHANGE_NOT_ALLOWED, (
                f"TimeInForce {cmd.tif.value} is not allowed on a replace: use 0 Day or 1 GTC"
            )
        return self._check_terms(self.instruments[order.symbol], cmd.ord_type, cmd.qty, cmd.price)

    # -- helpers ------------------------------------------------------------------------

    def _firm_of(self, session: str) -> str:
        info = self.sessions.get(session)
        return info.firm if info is not None else ""

    def firm(self, name: str) -> Firm:
        return self.firms.get(name) or Firm(name)

    def _find(
        self, session: str, cl_ord_id: str, order_id: int | None, allow_done: bool = False
    ) -> tuple[Order | None, Problem | None]:
        """The session's order by ClOrdID, or by OrderID. A session acts only on its own
        orders: anyone else's, even of the same firm, is answered as unknown."""
        key = (session, cl_ord_id)
        order = self._live_by_cl.get(key)
        if order is None and order_id is not None:
            candidate = self.live.get(order_id)
            if candidate is not None and candidate.session == session:
                order = candidate
        if order is not None:
            return order, None
        done = self._done_by_cl.get(key)
        if done is not None:
            if allow_done:
                return done, None
            status = done.status.name.lower().replace("_", " ")
            return done, (RejectCode.TOO_LATE, f"order {cl_ord_id} is already {status}")
        return None, (RejectCode.UNKNOWN_ORDER, f"unknown order {cl_ord_id}")

    def _cancel_reject(
        self,
        cmd: CancelOrder | ReplaceOrder,
        response_to: str,
        problem: Problem,
        order: Order | None,
        ts: int,
        out: list[Event],
    ) -> None:
        code, text = problem
        snapshot = order.snapshot() if order is not None else None
        out.append(
            CancelRejected(
                self.counters.next_seq(), ts, cmd.session, cmd.cl_ord_id, cmd.orig_cl_ord_id,
                response_to, code, text, snapshot, self._firm_of(cmd.session),
            )
        )  # fmt: skip

    def _rekey(self, order: Order, cl_ord_id: str) -> None:
        """The order will answer to a new ClOrdID (cancel or replace)."""
        del self._live_by_cl[(order.session, order.cl_ord_id)]
        self._live_by_cl[(order.session, cl_ord_id)] = order

    def _release(self, events: list[Event]) -> None:
        """After matching: exposure, last prices and indexes follow what happened."""
        for event in events:
            kind = type(event)
            if kind is TradeExecuted:
                t: TradeExecuted = event  # type: ignore[assignment]
                self.last_trade_px[t.symbol] = t.price
                self.trades[t.trade_id] = [
                    t.symbol, t.price, t.qty, t.buy_order_id, t.sell_order_id, 0, 0, False,
                ]  # fmt: skip
                continue
            if kind not in ORDER_EVENTS:
                continue
            snap: OrderSnapshot = event.order  # type: ignore[union-attr,assignment]
            if kind is OrderFilled:
                fill: OrderFilled = event  # type: ignore[assignment]
                executed = fill.last_qty * fill.last_px
                self.firm_executed[snap.firm] = self.firm_executed.get(snap.firm, 0) + executed
                self.trades[fill.trade_id][5 if snap.side is Side.BUY else 6] = fill.seq
            oid = snap.order_id
            open_now = 0 if snap.price is None else snap.leaves_qty * snap.price
            open_before = self._open_by_order.get(oid, 0)
            if open_now != open_before:
                self.firm_open[snap.firm] = (
                    self.firm_open.get(snap.firm, 0) + open_now - open_before
                )
            if snap.status.is_done:
                self._open_by_order.pop(oid, None)
                self._retire(oid)
            elif snap.price is not None:
                self._open_by_order[oid] = open_now

    def _retire(self, order_id: int) -> None:
        """Move a finished order out of the live indexes."""
        order = self.live.pop(order_id, None)
        if order is None:
            return
        self._live_by_cl.pop((order.session, order.cl_ord_id), None)
        # Too-late answers work with the last ClOrdID and the one before it.
        for cl in (order.cl_ord_id, order.orig_cl_ord_id):
            if cl:
                self._done_by_cl[(order.session, cl)] = order
        self._done_by_id[order.order_id] = order

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
            "instruments": [_plain(i) for i in self.instruments.values()],
            "firms": [_plain(f) for f in self.firms.values()],
            "sessions": [_plain(s) for s in self.sessions.values()],
            "halted": sorted(self.halted),
            "blocked": sorted(list(b) for b in self.blocked),
            "last_trade_px": self.last_trade_px,
            "firm_executed": self.firm_executed,
            "recent": {s: list(d) for s, d in self._recent.items()},
            "trades": [[trade_id, *t] for trade_id, t in self.trades.items()],
        }

    @classmethod
    def restore(cls, reference: Reference, state: dict[str, Any]) -> Kernel:
        kernel = cls(reference)
        c = kernel.counters
        c.seq, c.order_id, c.trade_id = state["counters"]
        kernel.last_ts = state["last_ts"]
        kernel.expired_through = state["expired_through"]
        kernel.instruments = {d["symbol"]: Instrument(**d) for d in state["instruments"]}
        kernel.firms = {
            d["firm"]: Firm(**{**d, "stp_mode": StpMode(d["stp_mode"])}) for d in state["firms"]
        }
        kernel.sessions = {
            d["session"]: SessionInfo(
                **{**d, "role": Role(d["role"]), "copy_firms": tuple(d["copy_firms"])}
            )
            for d in state["sessions"]
        }
        kernel.halted = set(state["halted"])
        kernel.blocked = {(scope, key) for scope, key in state["blocked"]}
        kernel.last_trade_px = dict(state["last_trade_px"])
        kernel.firm_executed = dict(state["firm_executed"])
        kernel._recent = {s: deque(ts) for s, ts in state["recent"].items()}
        for plain in state["resting"]:
            order = _order_from_plain(plain)
            kernel.engines[order.symbol].book.add(order)
            kernel.live[order.order_id] = order
            kernel._live_by_cl[(order.session, order.cl_ord_id)] = order
            open_now = order.leaves_qty * order.price  # type: ignore[operator]
            kernel._open_by_order[order.order_id] = open_now
            kernel.firm_open[order.firm] = kernel.firm_open.get(order.firm, 0) + open_now
        for plain, keys in state["done"]:
            order = _order_from_plain(plain)
            kernel._done_by_id[order.order_id] = order
            for session, cl in keys:
                kernel._done_by_cl[(session, cl)] = order
        kernel.trades = {t[0]: list(t[1:]) for t in state["trades"]}
        return kernel

    # -- views for tests ------------------------------------------------------------------

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
        open_by_firm: dict[str, int] = {}
        for order in self.live.values():
            open_by_firm[order.firm] = open_by_firm.get(order.firm, 0) + (
                order.leaves_qty * order.price  # type: ignore[operator]
            )
        assert {f: v for f, v in self.firm_open.items() if v} == {
            f: v for f, v in open_by_firm.items() if v
        }, "firm open notional drifted from the live orders"


_HANDLERS: dict[type, Any] = {
    NewOrder: Kernel._new_order,
    CancelOrder: Kernel._cancel,
    ReplaceOrder: Kernel._replace,
    QueryOrder: Kernel._query,
    RejectMessage: Kernel._reject_message,
    ExpireDayOrders: Kernel._expire_day_orders,
    MassCancel: Kernel._mass_cancel,
    SessionDisconnected: Kernel._session_disconnected,
    OperatorAction: Kernel._operator,
    BustTrade: Kernel._bust,
}

_ORDER_FIELDS = Order.__slots__
_ENUM_FIELDS = {
    "side": Side,
    "ord_type": OrdType,
    "tif": TimeInForce,
    "status": OrdStatus,
    "stp": StpMode,
}


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _order_to_plain(order: Order) -> list[Any]:
    return [getattr(order, name) for name in _ORDER_FIELDS]


def _order_from_plain(values: list[Any]) -> Order:
    order = Order.__new__(Order)
    for name, value in zip(_ORDER_FIELDS, values, strict=True):
        enum = _ENUM_FIELDS.get(name)
        setattr(order, name, enum(value) if enum is not None else value)
    return order
