"""The kernel: one deterministic state machine for the whole venue. No I/O, no clock.

    handle(command, ts) -> events

Stages, in this order, for every order command (written down here and nowhere else):
  1. sequence  the caller passes ts; the kernel keeps it monotonic
  2. validate  message terms against the instrument (symbol, quantity, lot, price, tick,
               duplicate ClOrdID)
  3. reserve   throttle, kill switch, halt, restrictions and instrument limits, price collar,
               firm credit (venue.risk.exposure.Exposure.reserve)
  3b. phase    the instrument's trading phase: closed rejects, a call accepts what may
               rest for its auction (spec/auctions.md)
  4. match     the symbol's engine (venue.matching), self-trade prevention included
  5. release   exposure (Exposure.release: fills, cancels, expiries, rejects, busts), last
               trade prices, the day's trades and ClOrdID indexes follow the events
The same commands with the same timestamps always give the same events and ids: journal
replay relies on it.
"""

from __future__ import annotations

import dataclasses
import heapq
import operator
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

from venue.domain.codes import CancelReason, RejectCode
from venue.domain.commands import (
    BustTrade,
    CancelOrder,
    Command,
    ExpireDayOrders,
    ExpireOrders,
    MassCancel,
    NewOrder,
    OperatorAction,
    QueryOrder,
    RejectMessage,
    ReplaceOrder,
    ScheduleTick,
    SessionDisconnected,
)
from venue.domain.events import (
    ORDER_EVENT_TYPES,
    CancelRejected,
    Event,
    IndicativeChanged,
    MassCancelReported,
    OperatorActionApplied,
    OrderAccepted,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSnapshot,
    OrderStatusReported,
    OrderTradeCanceled,
    PhaseChanged,
    TradeBusted,
    TradeExecuted,
)
from venue.domain.ids import OrderId, TradeId
from venue.domain.operator import (
    CancelAll,
    ChangePhase,
    EngageKillSwitch,
    Halt,
    Refusal,
    ReleaseKillSwitch,
    Resume,
    SetLimit,
    where,
)
from venue.domain.operator import parse as parse_operator
from venue.domain.order import Order
from venue.domain.reference import Firm, Instrument, Reference, Role, SessionInfo, StpMode
from venue.domain.trades import TradeRecord, busted, is_busted, new_trade, with_fill
from venue.domain.values import (
    OrdStatus,
    OrdType,
    Phase,
    Side,
    TimeInForce,
    format_price,
    utc_date,
)
from venue.matching import Counters, MatchingEngine
from venue.matching.auction import AuctionOrder, Indicative, indicative
from venue.risk.exposure import Exposure
from venue.risk.limits import changed

CANCEL = "1"
REPLACE = "2"
Problem = tuple[RejectCode, str]


@dataclasses.dataclass(frozen=True)
class Retention:
    """How much of the trading day's history the kernel keeps, so that its memory depends on
    the live book and these bounds, not on the number of orders seen (spec: "Retention").

    done_orders  finished orders kept for status requests and too-late answers; beyond it
                 the oldest finished order is forgotten (answered as an unknown order)
    trades       the day's trades kept bustable; beyond it the oldest can no longer be busted
    """

    done_orders: int = 100_000
    trades: int = 100_000

    def __post_init__(self) -> None:
        if self.done_orders < 1 or self.trades < 1:
            raise ValueError("retention must keep at least one done order and one trade")


class Kernel:
    def __init__(self, reference: Reference, retention: Retention | None = None) -> None:
        self.reference = reference
        self.retention = retention or Retention()
        # Limits the operator may change while the venue runs (journaled, so replayed).
        self.instruments: dict[str, Instrument] = dict(reference.instruments)
        self.firms: dict[str, Firm] = dict(reference.firms)
        self.sessions: dict[str, SessionInfo] = dict(reference.sessions)
        self.counters = Counters()
        self.engines = {s: MatchingEngine(s, self.counters) for s in reference.instruments}
        self.live: dict[OrderId, Order] = {}
        # (session, ClOrdID) -> live order.
        self._live_by_cl: dict[tuple[str, str], Order] = {}
        # Finished orders, at most retention.done_orders, oldest first (the order they
        # finished in): order id -> compact record (_compact: a tuple of str/int/None, which
        # the garbage collector stops tracking, and immutable, so a snapshot copies the
        # dict's values without copying records). (session, ClOrdID or the one before it)
        # -> order id of the last finished order that answered to it; always what
        # _index_done would rebuild from the records, in order.
        self._done: dict[OrderId, tuple[Any, ...]] = {}
        self._done_fifo: deque[OrderId] = deque()
        self._done_by_cl: dict[tuple[str, str], OrderId] = {}
        # Today's trades, for busts, at most retention.trades (venue.domain.trades: plain
        # immutable tuples, replaced, never changed).
        self.trades: dict[TradeId, TradeRecord] = {}
        self._trade_fifo: deque[TradeId] = deque()
        # Per symbol, (open, high, low, volume) of today's standing trades no longer in
        # `trades` (retention): what market data needs to rebuild the day's statistics.
        self.day_base: dict[str, tuple[int, int, int, int]] = {}
        self.last_ts = 0
        self.expired_through = 0  # cutoff of the last ExpireDayOrders handled
        # Risk state: exposure, throttles and kill switches in venue.risk; halts here.
        self.exposure = Exposure()
        self.halted: set[str] = set()
        self.last_trade_px: dict[str, int] = {}
        # GTD by ExpireTime: (expire_ts, order_id), stale entries skipped when popped.
        self._gtd: list[tuple[int, OrderId]] = []
        # Trading phases (spec/auctions.md): per symbol; timed calls end at call_end with
        # their auction (extended at most once); static_ref is the last auction price.
        self.phase: dict[str, Phase] = dict.fromkeys(reference.instruments, Phase.CONTINUOUS)
        self.call_end: dict[str, int] = {}
        self.extended: set[str] = set()
        self.static_ref: dict[str, int] = {}
        self.indicative: dict[str, tuple[int | None, int, int, str | None]] = {}
        # The schedule's next step per scheduled symbol: (due ts, phase value or "auction").
        self.next_step: dict[str, tuple[int, str]] = {}
        # During one command: per order an auction filled, the trades its fill covers.
        self._auction_trades: dict[OrderId, list[TradeId]] = {}
        self._calls: set[str] = set()  # symbols in a call now
        self._call_qty: dict[str, dict[tuple[Side, int | None], int]] = {}
        self._call_contrib: dict[str, dict[OrderId, tuple[tuple[Side, int | None], int]]] = {}
        self._armed: str | None = None  # the symbol whose band the last order ran under
        self._unstarted = {s for s, i in reference.instruments.items() if i.schedule}

    # Views of the risk state (venue.risk.exposure) for status pages and tests.
    @property
    def blocked(self) -> set[tuple[str, str]]:
        return self.exposure.blocked

    @property
    def firm_open(self) -> dict[str, int]:
        return self.exposure.firm_open

    @property
    def firm_executed(self) -> dict[str, int]:
        return self.exposure.firm_executed

    # -- entry point --------------------------------------------------------------------

    def handle(self, command: Command, ts: int) -> list[Event]:
        ts = self.last_ts = max(ts, self.last_ts)
        out: list[Event] = []
        handler = _HANDLERS.get(type(command))
        if handler is None:
            raise TypeError(f"unknown command {command!r}")
        starting = self._starting(command) if self._unstarted else ()
        due = (self._gtd and self._gtd[0][0] <= ts) or starting or self._phase_due(ts)
        if due:  # GTD orders due expire, and due calls end, before anything else
            before: list[Event] = []
            if self._gtd and self._gtd[0][0] <= ts:
                self._expire_gtd(ts, before)
            if starting or self._phase_due(ts):
                self._run_phase_timers(ts, before, starting)
            self._after(ts, before)
            self._release(before)
            self._auction_trades.clear()
            handler(self, command, ts, out)
            self._after(ts, out)
            self._release(out)
            self._auction_trades.clear()
            return before + out
        handler(self, command, ts, out)
        self._after(ts, out)
        self._release(out)
        if self._auction_trades:
            self._auction_trades.clear()
        return out

    def next_expiry(self) -> int | None:
        """When the next GTD order expires by its ExpireTime (µs UTC), for the scheduler."""
        return self._gtd[0][0] if self._gtd else None

    def next_phase_due(self) -> int | None:
        """When the next timed call ends or scheduled phase begins (µs UTC), or None."""
        times = list(self.call_end.values()) + [t for t, _ in self.next_step.values()]
        return min(times) if times else None

    def _phase_due(self, ts: int) -> bool:
        if self.call_end and min(self.call_end.values()) <= ts:
            return True
        return bool(self.next_step) and min(t for t, _ in self.next_step.values()) <= ts

    # -- phases and auctions --------------------------------------------------------------

    @property
    def _pending_schedules(self) -> list[str]:
        """Scheduled symbols whose schedule has not started yet: it starts with the first
        command about the symbol or the scheduler's first tick at one of its steps."""
        return sorted(self._unstarted)

    def pending_schedules(self) -> dict[str, tuple[tuple[int, str], ...]]:
        """For the scheduler: the schedules not started yet (it ticks at their next step)."""
        return {s: self.instruments[s].schedule for s in self._pending_schedules}

    def _starting(self, command: Command) -> list[str]:
        pending = self._pending_schedules
        if type(command) is ScheduleTick:
            return pending
        symbol = getattr(command, "symbol", None) or getattr(command, "key", None)
        return [symbol] if symbol in pending else []

    def _run_phase_timers(self, ts: int, out: list[Event], starting: Sequence[str] = ()) -> None:
        """Scheduled phases that have begun and timed calls that have ended, in time order."""
        for symbol in starting:  # the schedule starts: the phase it says for now
            self._unstarted.discard(symbol)
            schedule = self.instruments[symbol].schedule
            target, due = _schedule_at(schedule, ts)
            phase = _AFTER_STEP.get(target) or Phase(target)
            if phase is not self.phase[symbol]:
                self._change_phase(symbol, phase, "schedule", ts, out, initial=True)
            self.next_step[symbol] = (due, _schedule_at(schedule, due)[0])
        while True:
            steps = [(t, 0, s) for s, t in self.call_end.items() if t <= ts]
            steps += [(t, 1, s) for s, (t, _) in self.next_step.items() if t <= ts]
            if not steps:
                return
            due, kind, symbol = min(steps)
            if kind == 0:
                self._end_call(symbol, due, ts, out)
            else:
                self._schedule_step(symbol, due, ts, out)

    def _schedule_step(self, symbol: str, due: int, ts: int, out: list[Event]) -> None:
        schedule = self.instruments[symbol].schedule
        _, target = self.next_step[symbol]
        following = _next_after(schedule, due)
        self.next_step[symbol] = (following, _schedule_at(schedule, following)[0])
        phase = self.phase[symbol]
        if symbol in self.halted:
            return  # a halted instrument waits for the operator
        if target in _AFTER_STEP:  # the call's end: its auction (perhaps extended)
            if phase.is_call:
                self._end_call(symbol, due, ts, out, actor="schedule")
            return
        target_phase = Phase(target)
        if target_phase is phase:
            return
        self._change_phase(symbol, target_phase, "schedule", ts, out)

    def _end_call(
        self, symbol: str, due: int | None, ts: int, out: list[Event], actor: str = "schedule"
    ) -> None:
        """A call's time is up: extended once if the indicative price is too far from the
        reference, else its auction runs now."""
        self.call_end.pop(symbol, None)
        if symbol in self.halted or not self.phase[symbol].is_call:
            return
        instrument = self.instruments[symbol]
        if instrument.extension_bps is not None and symbol not in self.extended:
            reference = self._auction_reference(symbol)
            result = self.engines[symbol].indicative(reference, self._participates(symbol))
            if (
                reference is not None
                and result.price is not None
                and abs(result.price - reference) * 10_000 > instrument.extension_bps * reference
            ):
                self.extended.add(symbol)
                end = (due or ts) + instrument.extension_secs * 1_000_000
                self.call_end[symbol] = end
                phase = self.phase[symbol]
                out.append(
                    PhaseChanged(
                        self.counters.next_seq(), ts, symbol, phase, phase, actor,
                        f"{symbol} call extended by {instrument.extension_secs}s: indicative "
                        f"price {format_price(result.price)} is more than "
                        f"{instrument.extension_bps / 100:g}% from the reference "
                        f"{format_price(reference)}",
                        end,
                    )
                )  # fmt: skip
                return
        self._auction(symbol, actor, ts, out)

    def _auction_reference(self, symbol: str) -> int | None:
        """The uncross's last tie-break: the last trade, else the instrument's reference."""
        return self.last_trade_px.get(
            symbol, self.static_ref.get(symbol, self.instruments[symbol].reference_price)
        )

    def _participates(self, symbol: str) -> Any:
        """Which live orders take part in the auction of the symbol's current call."""
        phase = self.phase[symbol]
        if phase is Phase.PRE_OPEN or phase is Phase.CLOSED:
            return lambda o: o.tif is not TimeInForce.AT_CLOSE
        if phase is Phase.PRE_CLOSE:
            return lambda o: o.tif is not TimeInForce.AT_OPEN
        return lambda o: o.tif is not TimeInForce.AT_OPEN and o.tif is not TimeInForce.AT_CLOSE

    def _auction(
        self, symbol: str, actor: str, ts: int, out: list[Event], then: Phase | None = None
    ) -> str:
        """Uncross the symbol's call now and move to the phase after it (continuous after
        an opening or intraday auction, closed after the closing one, or `then`)."""
        phase = self.phase[symbol]
        kind = {Phase.PRE_CLOSE: "closing", Phase.CALL: "intraday"}.get(phase, "opening")
        after = then or (Phase.CLOSED if kind == "closing" else Phase.CONTINUOUS)
        engine = self.engines[symbol]
        uncrossed = engine.uncross(
            ts, self._auction_reference(symbol), self._participates(symbol), out
        )
        result = uncrossed.result
        self._auction_trades.update(uncrossed.trades_of_fill)
        if result.price is not None and uncrossed.trades_of_fill:
            self.static_ref[symbol] = result.price
            text = f"{symbol} {kind} auction: {result.volume} at {format_price(result.price)}"
        else:
            text = f"{symbol} {kind} auction: nothing to execute"
        ended = TimeInForce.AT_OPEN if kind == "opening" else TimeInForce.AT_CLOSE
        if kind == "intraday":
            ended = None  # type: ignore[assignment]
        self._cancel_leftovers(
            symbol, ended, CancelReason.AUCTION_REMAINDER, f"not executed in the {kind} auction",
            ts, out,
        )  # fmt: skip
        self._move(symbol, after, actor, ts, out, text)
        engine.band = self._band(symbol)  # stops the auction triggers run under the new band
        self._armed = symbol
        engine.after_auction(ts, out, continuous=after is Phase.CONTINUOUS)
        return text

    def _cancel_leftovers(
        self,
        symbol: str,
        tif: TimeInForce | None,
        reason: CancelReason,
        why: str,
        ts: int,
        out: list[Event],
    ) -> None:
        """A call ends: its market orders, and the orders of `tif` (at the opening or at
        the close), are canceled; in order-id order."""
        engine = self.engines[symbol]
        chosen = list(engine.call_market.values())
        if tif is not None:
            chosen += [o for o in engine.book.orders.values() if o.tif is tif]
        for order in sorted(chosen, key=lambda o: o.order_id):
            kind = "market order" if order.price is None else _TIF_TEXT.get(order.tif, "order")
            engine.cancel_resting(order, ts, reason, f"{kind} {why}", out)

    def _move(
        self,
        symbol: str,
        phase: Phase,
        actor: str,
        ts: int,
        out: list[Event],
        text: str,
        call_end: int | None = None,
        initial: bool = False,
    ) -> None:
        previous = self.phase[symbol]
        self.phase[symbol] = phase
        if phase.is_call:
            self._calls.add(symbol)
            self._rebuild_call(symbol)
        else:
            self._calls.discard(symbol)
            self._call_qty.pop(symbol, None)
            self._call_contrib.pop(symbol, None)
        self.engines[symbol].in_call = not phase.matches
        self.extended.discard(symbol)
        if call_end is None:
            self.call_end.pop(symbol, None)
        else:
            self.call_end[symbol] = call_end
        if not phase.is_call:
            self.indicative.pop(symbol, None)
        out.append(
            PhaseChanged(
                self.counters.next_seq(),
                ts,
                symbol,
                phase,
                previous,
                actor,
                text,
                call_end,
                initial,
            )
        )

    def _change_phase(
        self,
        symbol: str,
        target: Phase,
        actor: str,
        ts: int,
        out: list[Event],
        initial: bool = False,
    ) -> str | Refusal:
        """Move an instrument to `target` (operator or schedule). Leaving a phase in which
        nothing matched for continuous trading always goes through an auction (the book
        may be crossed); leaving a call otherwise cancels its market orders and the
        orders of its auction."""
        phase = self.phase[symbol]
        if target is phase:
            return Refusal(f"{symbol} is already {phase.value}")
        if target is Phase.CONTINUOUS and not initial:
            return self._auction(symbol, actor, ts, out, then=Phase.CONTINUOUS)
        if phase.is_call:
            ended = {Phase.PRE_OPEN: TimeInForce.AT_OPEN, Phase.PRE_CLOSE: TimeInForce.AT_CLOSE}
            self._cancel_leftovers(
                symbol, ended.get(phase), CancelReason.PHASE_ENDED,
                f"canceled: the {phase.value} call ended without an auction", ts, out,
            )  # fmt: skip
        texts = {
            Phase.CLOSED: f"{symbol} closed: new orders rejected, resting orders stay",
            Phase.PRE_OPEN: f"{symbol} pre-open: orders collected for the opening auction",
            Phase.PRE_CLOSE: f"{symbol} pre-close: orders collected for the closing auction",
        }
        text = texts.get(target, f"{symbol} {target.value}")
        if initial:
            text += " (the schedule starts)"
        self._move(symbol, target, actor, ts, out, text, initial=initial)
        return text

    def _after(self, ts: int, out: list[Event]) -> None:
        """After a command: an engine that went into a call on its own (a volatility
        interruption) moves its instrument into a call; the indicative price of every
        instrument in a call that this command changed is published if it changed."""
        armed, self._armed = self._armed, None
        phase = self.phase
        if armed is not None and self.engines[armed].in_call and phase[armed].matches:
            self._interrupt(armed, ts, out)
        calls = self._calls
        if not calls:
            return  # continuous trading everywhere: nothing more to do (the order path)
        touched: set[str] = set()
        for event in out:
            snap = getattr(event, "order", None)
            if snap is not None:
                if snap.symbol in calls:
                    touched.add(snap.symbol)
                    self._track(snap)
            elif type(event) is PhaseChanged and event.symbol in calls:  # type: ignore[union-attr]
                touched.add(event.symbol)  # type: ignore[union-attr]
        for symbol in sorted(touched):
            if phase[symbol].is_call:
                result = self._indicative_now(symbol)
                side = None if result.surplus_side is None else result.surplus_side.value
                key = (result.price, result.volume, result.surplus, side)
                if self.indicative.get(symbol) != key:
                    self.indicative[symbol] = key
                    out.append(
                        IndicativeChanged(
                            self.counters.next_seq(), ts, symbol, result.price, result.volume,
                            result.surplus, result.surplus_side,
                        )
                    )  # fmt: skip

    # The quantity each price (and the market orders of each side) brings to the auction of
    # a call, kept up to date from the order events, so that the indicative figures after a
    # change cost O(levels log levels), not O(orders): symbol -> (side, price) -> qty, and
    # what each order counts for. Rebuilt from the book when a call begins or is restored.

    def _rebuild_call(self, symbol: str) -> None:
        engine = self.engines[symbol]
        self._call_qty[symbol] = {}
        self._call_contrib[symbol] = {}
        for order in (*engine.call_market.values(), *engine.book.orders.values()):
            self._track(order)  # type: ignore[arg-type]

    def _track(self, o: OrderSnapshot | Order) -> None:
        """The order's latest state counts for its price in the call (replacing what it
        counted for before: applying the same state twice changes nothing)."""
        symbol = o.symbol
        qty = self._call_qty[symbol]
        old = self._call_contrib[symbol].pop(o.order_id, None)
        if old is not None:
            left = qty[old[0]] - old[1]
            if left:
                qty[old[0]] = left
            else:
                del qty[old[0]]
        parked = o.stop_px is not None and not o.triggered
        if o.status.is_done or o.leaves_qty <= 0 or parked or not self._participates(symbol)(o):
            return
        key = (o.side, o.price)
        self._call_contrib[symbol][o.order_id] = (key, o.leaves_qty)
        qty[key] = qty.get(key, 0) + o.leaves_qty

    def _indicative_now(self, symbol: str) -> Indicative:
        orders = [
            AuctionOrder(i, side, price, qty, i)
            for i, ((side, price), qty) in enumerate(self._call_qty[symbol].items(), 1)
        ]
        return indicative(orders, self._auction_reference(symbol))

    def _interrupt(self, symbol: str, ts: int, out: list[Event]) -> None:
        instrument = self.instruments[symbol]
        engine = self.engines[symbol]
        band = engine.band or (None, None)
        where = "-".join("" if p is None else format_price(p) for p in band)
        end = ts + instrument.interruption_secs * 1_000_000
        text = (
            f"{symbol} volatility interruption: a trade at "
            f"{format_price(engine.breach or 0)} would print outside the band {where}; "
            f"call for {instrument.interruption_secs}s, then an auction"
        )
        self._move(symbol, Phase.CALL, "volatility", ts, out, text, end)

    def _band(self, symbol: str) -> tuple[int | None, int | None] | None:
        """The prices a trade may print at now: the dynamic band around the last trade and
        the static band around the last auction price (else the reference price)."""
        instrument = self.instruments[symbol]
        low: int | None = None
        high: int | None = None
        last = self.last_trade_px.get(symbol)
        if instrument.dynamic_band_bps is not None and last is not None:
            width = last * instrument.dynamic_band_bps // 10_000
            low, high = last - width, last + width
        static = self.static_ref.get(symbol, instrument.reference_price)
        if instrument.static_band_bps is not None and static is not None:
            width = static * instrument.static_band_bps // 10_000
            low = static - width if low is None else max(low, static - width)
            high = static + width if high is None else min(high, static + width)
        return None if low is None and high is None else (low, high)

    def _expire_gtd(self, ts: int, out: list[Event]) -> None:
        """Expire GTD orders whose ExpireTime has come, earliest first. O(k log n)."""
        gtd = self._gtd
        while gtd and gtd[0][0] <= ts:
            expire_ts, order_id = heapq.heappop(gtd)
            order = self.live.get(order_id)
            if order is None or order.expire_ts != expire_ts or order.tif is not TimeInForce.GTD:
                continue  # done or replaced since
            self.engines[order.symbol].expire(order)
            out.append(OrderExpired(self.counters.next_seq(), ts, order.snapshot()))

    def _expire_orders(self, cmd: ExpireOrders, ts: int, out: list[Event]) -> None:
        """Nothing beyond what every command does first (see handle)."""

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
        limit_problem = None
        if cmd.ord_type is OrdType.MARKET_TO_LIMIT:
            cmd, limit_problem = self._market_to_limit(cmd)
        stp = cmd.stp or self.firm(firm).stp_mode
        order = Order(
            self.counters.next_order_id(), cmd.session, firm, cmd.account, cmd.cl_ord_id,
            cmd.symbol, cmd.side, cmd.ord_type, cmd.tif, cmd.price, cmd.qty, ts, stp,
            cmd.stop_px, cmd.post_only, cmd.expire_ts, cmd.expire_date, cmd.min_qty,
            cmd.max_floor,
        )  # fmt: skip
        problem = (
            self._check_phase(cmd)
            or limit_problem
            or self._check_new(cmd)
            or self._check_gtd(cmd.tif, cmd.expire_ts, cmd.expire_date, ts)
            or self._reserve(cmd.session, cmd.symbol, cmd.qty, cmd.price, ts)
        )
        if problem is None and cmd.post_only:
            price, problem = self._post_only_price(cmd.symbol, cmd.side, cmd.price)
            order.price = price
        if problem is not None:
            order.status = OrdStatus.REJECTED
            out.append(OrderRejected(self.counters.next_seq(), ts, order.snapshot(), *problem))
            return
        self.live[order.order_id] = order
        self._live_by_cl[(cmd.session, cmd.cl_ord_id)] = order
        out.append(OrderAccepted(self.counters.next_seq(), ts, order.snapshot()))
        if order.expire_ts is not None:
            heapq.heappush(self._gtd, (order.expire_ts, order.order_id))
        engine = self.engines[cmd.symbol]
        engine.band = self._band(cmd.symbol)
        self._armed = cmd.symbol
        engine.submit(order, ts, out)

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
                or self._check_replace_phase(order)
                or self._check_gtd(cmd.tif, cmd.expire_ts, cmd.expire_date, ts)
                or self._reserve(
                    cmd.session, order.symbol, cmd.qty - order.cum_qty, cmd.price, ts,
                    order.order_id,
                )
            )  # fmt: skip
        if problem is not None:
            self._cancel_reject(cmd, REPLACE, problem, order, ts, out)
            return
        assert order is not None
        price = cmd.price
        if order.post_only:
            price, problem = self._post_only_price(order.symbol, order.side, price)
            if problem is not None:
                self._cancel_reject(cmd, REPLACE, problem, order, ts, out)
                return
            cmd = dataclasses.replace(cmd, price=price)
        self._rekey(order, cmd.cl_ord_id)
        order.expire_ts, order.expire_date = cmd.expire_ts, cmd.expire_date
        if order.expire_ts is not None:
            heapq.heappush(self._gtd, (order.expire_ts, order.order_id))
        engine = self.engines[order.symbol]
        engine.band = self._band(order.symbol)
        self._armed = order.symbol
        stop_px = cmd.stop_px if order.is_parked else order.stop_px
        engine.replace(
            order, cmd.cl_ord_id, cmd.qty, cmd.price, cmd.tif, ts, out, stop_px, cmd.max_floor
        )

    def _query(self, cmd: QueryOrder, ts: int, out: list[Event]) -> None:
        order, problem = self._find(cmd.session, cmd.cl_ord_id, cmd.order_id, allow_done=True)
        snapshot = order.snapshot() if order is not None and problem is None else None
        out.append(
            OrderStatusReported(
                self.counters.next_seq(), ts, cmd.session, cmd.cl_ord_id, cmd.symbol, cmd.side,
                snapshot, self._firm_of(cmd.session), status_req_id=cmd.status_req_id,
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
                    cmd.side or Side.BUY, None, self._firm_of(cmd.session), cmd.text,
                )
            )  # fmt: skip
        elif cmd.msg_type == "q":  # a mass cancel the edge refused: rejected (531=0)
            out.append(
                MassCancelReported(
                    self.counters.next_seq(), ts, cmd.session, cmd.cl_ord_id,
                    cmd.request_type or "7", cmd.symbol, "0", 0, cmd.text,
                    self._firm_of(cmd.session),
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
            tifs.update((TimeInForce.GTC, TimeInForce.GTD))
        self._cancel_where(
            lambda o: o.session == cmd.session and o.tif in tifs,
            ts, CancelReason.DISCONNECT, "canceled on disconnect", out,
        )  # fmt: skip

    def _expire_day_orders(self, cmd: ExpireDayOrders, ts: int, out: list[Event]) -> None:
        """Expire live Day orders from before the cutoff, in order-id order. O(live)."""
        last_date = utc_date(cmd.cutoff)
        for order in sorted(self.live.values(), key=lambda o: o.order_id):
            if (order.tif is TimeInForce.DAY and order.priority_ts < cmd.cutoff) or (
                order.expire_date is not None and order.expire_date <= last_date
            ):
                self.engines[order.symbol].expire(order)
                out.append(OrderExpired(self.counters.next_seq(), ts, order.snapshot()))
        self.expired_through = max(self.expired_through, cmd.cutoff)
        # A new trading day: executed notional starts again from zero, and too-late answers
        # and status of finished orders are kept for one day only.
        self.exposure.new_day()
        self.trades.clear()
        self._trade_fifo.clear()
        self.day_base.clear()
        self._index_done([r for r in self._done.values() if r[_PRIORITY_TS] >= cmd.cutoff])

    def _bust(self, cmd: BustTrade, ts: int, out: list[Event]) -> None:
        trade = self.trades.get(cmd.trade_id)
        ok, text = True, f"trade {cmd.trade_id} busted by {cmd.operator}"
        if cmd.reason:
            text += f": {cmd.reason}"
        if trade is None:
            ok, text = False, f"no trade {cmd.trade_id} today"
            if len(self._trade_fifo) >= self.retention.trades:
                text += f" among the last {self.retention.trades} kept (retention)"
        elif is_busted(trade):
            ok, text = False, f"trade {cmd.trade_id} is already busted"
        else:
            _, _, _, buy_id, sell_id, *_ = trade
            for order_id in (buy_id, sell_id):
                if order_id not in self.live and order_id not in self._done:
                    ok = False
                    text = (
                        f"trade {cmd.trade_id} can no longer be busted: order {order_id} is "
                        "no longer kept (retention)"
                    )
        if ok and trade is not None:
            symbol, price, qty, buy_id, sell_id, buy_exec, sell_exec, _ = trade
            self.trades[cmd.trade_id] = busted(trade)
            out.append(
                TradeBusted(
                    self.counters.next_seq(), ts, cmd.trade_id, symbol, price, qty,
                    cmd.operator, text,
                )
            )  # fmt: skip
            for order_id, exec_ref in ((buy_id, buy_exec), (sell_id, sell_exec)):
                order = self.live.get(order_id) or _order_from_plain(self._done[order_id])
                order.unfill(qty, price)
                if order_id in self._done:
                    self._done[order_id] = _compact(order)
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
        """One operator action (venue.domain.operator): its key checked against what the
        venue has, parsed into a typed command, carried out; a Refusal is said as is."""
        result = self._unknown_key(cmd.scope, cmd.key) or parse_operator(cmd)
        if not isinstance(result, Refusal):
            result = _OPERATOR_HANDLERS[type(result)](self, result, ts, out)
        ok, text = (False, result.text) if isinstance(result, Refusal) else (True, result)
        out.append(
            OperatorActionApplied(
                self.counters.next_seq(), ts, cmd.operator, cmd.action, cmd.scope, cmd.key,
                cmd.field, cmd.value, ok, text,
            )
        )  # fmt: skip

    def _unknown_key(self, scope: str, key: str) -> Refusal | None:
        if scope == "instrument" and key not in self.engines:
            return Refusal(f"unknown symbol {key}")
        if scope == "session" and key not in self.sessions:
            return Refusal(f"unknown session {key}")
        if scope == "firm" and key not in {s.firm for s in self.sessions.values()}:
            return Refusal(f"unknown firm {key}")
        return None

    def _halt(self, cmd: Halt, ts: int, out: list[Event]) -> str:
        self.halted.add(cmd.symbol)
        return f"{cmd.symbol} halted: new orders and replaces rejected, resting orders stay"

    def _resume(self, cmd: Resume, ts: int, out: list[Event]) -> str:
        key = cmd.symbol
        was_halted = key in self.halted
        self.halted.discard(key)
        secs = self.instruments[key].resume_call_secs
        if secs and was_halted and self.phase[key] is Phase.CONTINUOUS:
            text = f"{key} resumed: call for {secs}s, then an auction"
            self._move(key, Phase.CALL, cmd.operator, ts, out, text, ts + secs * 1_000_000)
            return text
        if was_halted and self.phase[key] is Phase.CALL and key not in self.call_end:
            # its end came during the halt: the auction follows after resume_call_secs
            self.call_end[key] = ts + secs * 1_000_000
            return f"{key} resumed: the call ends in {secs}s with its auction"
        return f"{key} resumed"

    def _kill(self, cmd: EngageKillSwitch, ts: int, out: list[Event]) -> str:
        place = where(cmd.scope, cmd.key)
        n = self._cancel_where(
            self._in_scope(cmd.scope, cmd.key), ts, CancelReason.KILL_SWITCH,
            f"kill switch engaged for {place}", out,
        )  # fmt: skip
        self.exposure.block(cmd.scope, cmd.key)
        return f"kill switch engaged for {place}: {n} orders canceled, new orders blocked"

    def _release_kill(self, cmd: ReleaseKillSwitch, ts: int, out: list[Event]) -> str | Refusal:
        place = where(cmd.scope, cmd.key)
        if not self.exposure.unblock(cmd.scope, cmd.key):
            return Refusal(f"no kill switch engaged for {place}")
        return f"kill switch released for {place}"

    def _cancel_all(self, cmd: CancelAll, ts: int, out: list[Event]) -> str:
        place = where(cmd.scope, cmd.key)
        n = self._cancel_where(
            self._in_scope(cmd.scope, cmd.key), ts, CancelReason.OPERATOR,
            f"canceled by the operator ({place})", out,
        )  # fmt: skip
        return f"{n} orders of {place} canceled"

    def _operator_phase(self, cmd: ChangePhase, ts: int, out: list[Event]) -> str | Refusal:
        symbol, target = cmd.symbol, cmd.target
        if symbol in self.halted:
            return Refusal(f"{symbol} is halted: resume it first")
        phase = self.phase[symbol]
        if target == "auction":
            if not phase.is_call:
                return Refusal(
                    f"{symbol} is {phase.value}: an auction ends a call (pre-open, pre-close "
                    "or a call)"
                )
            return self._auction(symbol, cmd.operator, ts, out)
        allowed = ("closed", "pre-open", "continuous", "pre-close")
        if target not in allowed:
            return Refusal(f"unknown phase {target!r} (allowed: {', '.join(allowed)}, auction)")
        return self._change_phase(symbol, Phase(target), cmd.operator, ts, out)

    def _set_limit(self, cmd: SetLimit, ts: int, out: list[Event]) -> str | Refusal:
        scope, key = cmd.scope, cmd.key
        current: Instrument | Firm | SessionInfo = (
            self.instruments[key]
            if scope == "instrument"
            else self.firm(key)
            if scope == "firm"
            else self.sessions[key]
        )
        new = changed(current, scope, cmd.field, cmd.value)
        if isinstance(new, Refusal):
            return new
        if isinstance(new, Instrument):
            self.instruments[key] = new
        elif isinstance(new, Firm):
            self.firms[key] = new
        else:
            self.sessions[key] = new
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
        return (
            self._check_terms(instrument, cmd.ord_type, cmd.qty, cmd.price)
            or self._check_stop(instrument, cmd.ord_type, cmd.side, cmd.tif, cmd.price, cmd.stop_px)
            or self._check_post_only(cmd)
            or self._check_min_qty(instrument, cmd)
            or self._check_iceberg(instrument, cmd.ord_type, cmd.tif, cmd.qty, cmd.max_floor)
        )

    def _check_phase(self, cmd: NewOrder) -> Problem | None:
        """What the instrument's phase allows: nothing when closed; in a call only orders
        that can wait for the auction; at-the-opening and at-the-close orders only in the
        call of their auction."""
        phase = self.phase.get(cmd.symbol)
        if phase is None:
            return None  # unknown symbol: its own check says so
        us = RejectCode.UNSUPPORTED_CHARACTERISTIC
        if phase is Phase.CLOSED:
            return RejectCode.MARKET_CLOSED, f"{cmd.symbol} is closed: no new orders"
        tif = cmd.tif
        for wanted, call in ((TimeInForce.AT_OPEN, Phase.PRE_OPEN),
                             (TimeInForce.AT_CLOSE, Phase.PRE_CLOSE)):  # fmt: skip
            if tif is wanted and phase is not call:
                return us, (
                    f"TimeInForce(59)={tif.value} ({_TIF_TEXT[tif]}) is not accepted now: "
                    f"{cmd.symbol} is {_PHASE_TEXT[phase]}, it is taken in the {call.value} "
                    "call only"
                )
        if tif in (TimeInForce.AT_OPEN, TimeInForce.AT_CLOSE) and cmd.ord_type.is_stop:
            return us, f"a stop order cannot be {_TIF_TEXT[tif]}"
        if not phase.is_call:
            return None
        why = f"during a call: {cmd.symbol} is {_PHASE_TEXT[phase]}, orders rest for the auction"
        if tif is TimeInForce.IOC or tif is TimeInForce.FOK:
            return us, f"TimeInForce(59)={tif.value} is not accepted {why}"
        if cmd.ord_type is OrdType.MARKET_TO_LIMIT:
            return us, f"market-to-limit (40=K) is not accepted {why}"
        if cmd.post_only:
            return us, f"post-only (18=6) is not accepted {why}"
        return None

    def _check_replace_phase(self, order: Order) -> Problem | None:
        if self.phase[order.symbol] is Phase.CLOSED:
            return RejectCode.MARKET_CLOSED, f"{order.symbol} is closed: no replaces"
        return None

    @staticmethod
    def _check_iceberg(
        instrument: Instrument, ord_type: OrdType, tif: TimeInForce, qty: int, peak: int | None
    ) -> Problem | None:
        """MaxFloor(111): a limit order that may rest, with a peak of whole lots <= OrderQty."""
        if peak is None:
            return None
        us = RejectCode.UNSUPPORTED_CHARACTERISTIC
        if ord_type is not OrdType.LIMIT:
            return us, (
                f"MaxFloor(111) is not supported on OrdType(40)={ord_type.value}: use 2 (limit)"
            )
        if tif in (TimeInForce.IOC, TimeInForce.FOK):
            return us, (
                f"MaxFloor(111) is not supported with TimeInForce(59)={tif.value}: "
                "an iceberg must be able to rest"
            )
        if peak <= 0 or peak % instrument.lot:
            return RejectCode.INVALID_QUANTITY, (
                f"MaxFloor {peak} must be a positive multiple of the lot size {instrument.lot}"
            )
        if peak > qty:
            return RejectCode.INVALID_QUANTITY, f"MaxFloor {peak} is above OrderQty {qty}"
        return None

    @staticmethod
    def _check_min_qty(instrument: Instrument, cmd: NewOrder) -> Problem | None:
        """MinQty(110) applies on arrival only, so it goes with IOC only."""
        if cmd.min_qty is None:
            return None
        if cmd.tif is not TimeInForce.IOC:
            return RejectCode.UNSUPPORTED_CHARACTERISTIC, (
                f"MinQty(110) is not supported with TimeInForce(59)={cmd.tif.value}: use 3 (IOC)"
            )
        if cmd.min_qty <= 0 or cmd.min_qty % instrument.lot:
            return RejectCode.INVALID_QUANTITY, (
                f"MinQty {cmd.min_qty} must be a positive multiple of the lot size {instrument.lot}"
            )
        if cmd.min_qty > cmd.qty:
            return RejectCode.INVALID_QUANTITY, (
                f"MinQty {cmd.min_qty} is above OrderQty {cmd.qty}"
            )
        return None

    def _market_to_limit(self, cmd: NewOrder) -> tuple[NewOrder, Problem | None]:
        """OrdType K takes the best opposite price as its limit: it trades at that level
        only and rests there. No opposite side: rejected."""
        if cmd.price is not None:
            return cmd, (
                RejectCode.UNSUPPORTED_CHARACTERISTIC,
                "Price(44) must not be set on a market-to-limit order",
            )
        engine = self.engines.get(cmd.symbol)
        if engine is None:
            return cmd, None  # the symbol check says so
        best = engine.book.best(cmd.side.opposite)
        if best is None:
            what = "offers" if cmd.side is Side.BUY else "bids"
            return cmd, (
                RejectCode.NO_OPPOSITE_SIDE,
                f"market-to-limit order rejected: no {what} in {cmd.symbol}",
            )
        return dataclasses.replace(cmd, price=best.price), None

    def _post_only_price(
        self, symbol: str, side: Side, price: int | None
    ) -> tuple[int | None, Problem | None]:
        """The price a post-only order may rest at: its own if it does not cross the
        opposite best, else one tick behind that best (the instrument slides) or a reject.
        """
        best = self.engines[symbol].book.best(side.opposite)
        if best is None or price is None:
            return price, None
        if price < best.price if side is Side.BUY else price > best.price:
            return price, None
        instrument = self.instruments[symbol]
        slid = best.price - instrument.tick if side is Side.BUY else best.price + instrument.tick
        if instrument.post_only_slide and slid > 0:
            return slid, None
        what = "offer" if side is Side.BUY else "bid"
        return price, (
            RejectCode.WOULD_TAKE_LIQUIDITY,
            f"post-only order would take liquidity: {side.name.lower()} at "
            f"{format_price(price)} crosses the best {what} {format_price(best.price)}",
        )

    @staticmethod
    def _check_gtd(
        tif: TimeInForce, expire_ts: int | None, expire_date: int | None, ts: int
    ) -> Problem | None:
        """TimeInForce 6 takes exactly one of ExpireTime(126) and ExpireDate(432), not past."""
        code = RejectCode.INVALID_EXPIRY
        if tif is not TimeInForce.GTD:
            if expire_ts is not None or expire_date is not None:
                tag = "ExpireTime(126)" if expire_ts is not None else "ExpireDate(432)"
                return RejectCode.UNSUPPORTED_CHARACTERISTIC, (
                    f"{tag} is not supported without TimeInForce(59)=6 (good till date)"
                )
            return None
        if expire_ts is None and expire_date is None:
            return code, "TimeInForce(59)=6 needs ExpireTime(126) or ExpireDate(432)"
        if expire_ts is not None and expire_date is not None:
            return code, "send ExpireTime(126) or ExpireDate(432), not both"
        if expire_ts is not None and expire_ts <= ts:
            return code, "ExpireTime(126) is in the past"
        today = utc_date(ts)
        if expire_date is not None and expire_date < today:
            return code, f"ExpireDate(432)={expire_date} is in the past"
        return None

    def _check_post_only(self, cmd: NewOrder) -> Problem | None:
        """ExecInst(18)=6 goes with limit orders that may rest: Day or GTC."""
        if not cmd.post_only:
            return None
        if cmd.ord_type is not OrdType.LIMIT:
            return RejectCode.UNSUPPORTED_CHARACTERISTIC, (
                f"ExecInst(18)=6 (post only) is not supported on OrdType(40)={cmd.ord_type.value}:"
                " use 2 (limit)"
            )
        if cmd.tif in (TimeInForce.IOC, TimeInForce.FOK):
            return RejectCode.UNSUPPORTED_CHARACTERISTIC, (
                f"ExecInst(18)=6 (post only) is not supported with TimeInForce(59)="
                f"{cmd.tif.value}: a post-only order must be able to rest"
            )
        return None

    def _check_stop(
        self,
        instrument: Instrument,
        ord_type: OrdType,
        side: Side,
        tif: TimeInForce,
        price: int | None,
        stop_px: int | None,
    ) -> Problem | None:
        """StopPx(99) and the terms only a stop or stop-limit has. "Last" is the last trade
        price, or the instrument's reference price before the first trade."""
        us = RejectCode.UNSUPPORTED_CHARACTERISTIC
        if not ord_type.is_stop:
            if stop_px is not None:
                return us, "StopPx(99) is only for stop (40=3) and stop-limit (40=4) orders"
            return None
        if stop_px is None:
            return RejectCode.MISSING_FIELD, "StopPx(99) is required on a stop order"
        if ord_type is OrdType.STOP and price is not None:
            return us, "Price(44) must not be set on a stop order: use 40=4 for a stop limit"
        if tif not in (TimeInForce.DAY, TimeInForce.GTC, TimeInForce.GTD):
            return us, (
                f"TimeInForce(59)={tif.value} is not supported on a stop order: use 0, 1 or 6"
            )
        if stop_px <= 0:
            return RejectCode.INVALID_PRICE, f"stop price {format_price(stop_px)} must be positive"
        if stop_px % instrument.tick:
            return RejectCode.PRICE_OFF_TICK, (
                f"stop price {format_price(stop_px)} is not a multiple of the tick "
                f"{instrument.tick_text}"
            )
        if price is not None and (price < stop_px if side is Side.BUY else price > stop_px):
            where = "below" if side is Side.BUY else "above"
            return RejectCode.INVALID_PRICE, (
                f"{side.name.lower()} stop limit price {format_price(price)} is {where} its "
                f"stop price {format_price(stop_px)}"
            )
        last = self.last_trade_px.get(instrument.symbol, instrument.reference_price)
        if last is not None and (stop_px <= last if side is Side.BUY else stop_px >= last):
            where = "at or below" if side is Side.BUY else "at or above"
            return RejectCode.INVALID_PRICE, (
                f"{side.name.lower()} stop price {format_price(stop_px)} is {where} the last "
                f"price {format_price(last)}: it would trigger at once"
            )
        return None

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
        if ord_type in _PRICED:
            if price is None:
                kind = _PRICED[ord_type]
                return RejectCode.MISSING_FIELD, f"Price(44) is required on a {kind} order"
            if price <= 0:
                return RejectCode.INVALID_PRICE, f"price {format_price(price)} must be positive"
            if price % instrument.tick:
                return RejectCode.PRICE_OFF_TICK, (
                    f"price {format_price(price)} is not a multiple of the tick "
                    f"{instrument.tick_text}"
                )
        return None

    def _reserve(
        self,
        session: str,
        symbol: str,
        qty: int,
        price: int | None,
        ts: int,
        replacing: OrderId | None = None,
    ) -> Problem | None:
        """Pre-trade risk (venue.risk.exposure) for a new order or the new terms of the
        replace of `replacing` (qty = what may still trade)."""
        info = self.sessions[session]
        instrument = self.instruments[symbol]
        return self.exposure.reserve(
            info, self.firm(info.firm), instrument, symbol in self.halted, qty, price,
            self.last_trade_px.get(symbol, instrument.reference_price), ts, replacing,
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
        if (cmd.max_floor is None) != (order.max_floor is None):
            return RejectCode.CHANGE_NOT_ALLOWED, (
                "MaxFloor(111) is required on a replace of an iceberg order"
                if cmd.max_floor is None
                else "MaxFloor(111) cannot be added by a replace: enter a new iceberg order"
            )
        if cmd.max_floor is not None:
            problem = self._check_iceberg(
                self.instruments[order.symbol], cmd.ord_type, cmd.tif, cmd.qty, cmd.max_floor
            )
            if problem is not None:
                return problem
        auction_only = (TimeInForce.AT_OPEN, TimeInForce.AT_CLOSE)
        if (cmd.tif in auction_only or order.tif in auction_only) and cmd.tif is not order.tif:
            return RejectCode.CHANGE_NOT_ALLOWED, (
                "TimeInForce cannot be changed to or from 2 (at the opening) or 7 (at the "
                "close) by a replace"
            )
        if cmd.tif not in (TimeInForce.DAY, TimeInForce.GTC, TimeInForce.GTD, *auction_only):
            return RejectCode.CHANGE_NOT_ALLOWED, (
                f"TimeInForce {cmd.tif.value} is not allowed on a replace: "
                "use 0 Day, 1 GTC or 6 GTD"
            )
        instrument = self.instruments[order.symbol]
        problem = self._check_terms(instrument, cmd.ord_type, cmd.qty, cmd.price)
        if problem is not None or not order.ord_type.is_stop:
            return problem
        if order.is_parked:
            return self._check_stop(
                instrument, cmd.ord_type, order.side, cmd.tif, cmd.price, cmd.stop_px
            )
        if cmd.stop_px is not None and cmd.stop_px != order.stop_px:
            return RejectCode.CHANGE_NOT_ALLOWED, (
                "StopPx(99) cannot be changed: the stop has already triggered"
            )
        return None

    # -- helpers ------------------------------------------------------------------------

    def _firm_of(self, session: str) -> str:
        info = self.sessions.get(session)
        return info.firm if info is not None else ""

    def firm(self, name: str) -> Firm:
        return self.firms.get(name) or Firm(name)

    def _find(
        self, session: str, cl_ord_id: str, order_id: OrderId | None, allow_done: bool = False
    ) -> tuple[Order | None, Problem | None]:
        """The session's order by ClOrdID, or by OrderID. A session acts only on its own
        orders: anyone else's, even of the same firm, is answered as unknown."""
        key = (session, cl_ord_id)
        order = self._live_by_cl.get(key)
        if order is None and order_id is not None:
            candidate = self.live.get(order_id)
            if candidate is not None and candidate.session == session:
                order = candidate
        if order is not None and order_id is not None and order.order_id != order_id:
            return None, _other_order(cl_ord_id, order_id)
        if order is not None:
            return order, None
        done_id = self._done_by_cl.get(key)
        if done_id is not None and order_id is not None and done_id != order_id:
            return None, _other_order(cl_ord_id, order_id)
        if done_id is not None:
            done = _order_from_plain(self._done[done_id])
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
        """After matching: exposure (venue.risk), last prices, the day's trades and the
        order indexes follow what happened."""
        self.exposure.release(events)
        for event in events:
            kind = type(event)
            if kind is TradeExecuted:
                t: TradeExecuted = event  # type: ignore[assignment]
                self.last_trade_px[t.symbol] = t.price
                self.trades[t.trade_id] = new_trade(
                    _intern(t.symbol), t.price, t.qty, t.buy_order_id, t.sell_order_id
                )
                self._trade_fifo.append(t.trade_id)
                if len(self._trade_fifo) > self.retention.trades:
                    self._forget_trade(self._trade_fifo.popleft())
                continue
            if kind not in ORDER_EVENT_TYPES:
                continue
            snap: OrderSnapshot = event.order  # type: ignore[union-attr,assignment]
            if kind is OrderFilled:
                fill: OrderFilled = event  # type: ignore[assignment]
                for trade_id in self._auction_trades.get(snap.order_id) or (fill.trade_id,):
                    trade = self.trades.get(trade_id)
                    if trade is not None:
                        self.trades[trade_id] = with_fill(trade, snap.side is Side.BUY, fill.seq)
            if snap.status in _DONE:
                self._retire(snap.order_id)

    def _retire(self, order_id: OrderId) -> None:
        """Move a finished order out of the live indexes."""
        order = self.live.pop(order_id, None)
        if order is None:
            return
        self._live_by_cl.pop((order.session, order.cl_ord_id), None)
        self._add_done(_compact(order))
        if len(self._done_fifo) > self.retention.done_orders:
            self._forget(self._done_fifo.popleft())

    def _add_done(self, record: tuple[Any, ...]) -> None:
        order_id, session = record[_ORDER_ID], record[_SESSION]
        self._done[order_id] = record
        self._done_fifo.append(order_id)
        # Too-late answers work with the last ClOrdID and the one before it.
        for cl in (record[_CL_ORD_ID], record[_ORIG_CL_ORD_ID]):
            if cl:
                self._done_by_cl[(session, cl)] = order_id

    def _forget(self, order_id: OrderId) -> None:
        """Drop the oldest finished order (retention). O(1)."""
        record = self._done.pop(order_id, None)
        if record is None:
            return
        session = record[_SESSION]
        for cl in (record[_CL_ORD_ID], record[_ORIG_CL_ORD_ID]):
            key = (session, cl)
            if cl and self._done_by_cl.get(key) == order_id:
                del self._done_by_cl[key]

    def _index_done(self, records: list[tuple[Any, ...]]) -> None:
        """Rebuild the finished-order indexes from records, oldest first."""
        self._done, self._done_fifo, self._done_by_cl = {}, deque(), {}
        for record in records:
            self._add_done(record)

    def set_retention(self, retention: Retention) -> None:
        """Apply a (new) retention, forgetting what is over it at once. The caller snapshots
        right after, so that replay of later records runs with the same retention."""
        self.retention = retention
        while len(self._done_fifo) > retention.done_orders:
            self._forget(self._done_fifo.popleft())
        while len(self._trade_fifo) > retention.trades:
            self._forget_trade(self._trade_fifo.popleft())

    def _forget_trade(self, trade_id: TradeId) -> None:
        trade = self.trades.pop(trade_id, None)
        if trade is not None and not is_busted(trade):  # a standing trade: into day_base
            symbol, price, qty, *_ = trade
            b = self.day_base.get(symbol)
            self.day_base[symbol] = (
                (price, price, price, qty)
                if b is None
                else (b[0], max(b[1], price), min(b[2], price), b[3] + qty)
            )

    # -- snapshots ----------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """What is needed to rebuild this kernel: the live orders, counters, limits and the
        retained indexes, as plain data. Cheap enough for the kernel thread: O(live orders)
        in Python plus C-speed copies of the finished-order and trade dicts, whose records
        are immutable tuples, so the result may be encoded on another thread while the
        kernel goes on.

        Resting orders are listed book by book, best level first, FIFO within a level, so
        restoring them in this order keeps time priority exactly. Finished orders are listed
        in the order they finished (their ClOrdID index is rebuilt from that).
        """
        resting = [
            _order_to_plain(order)
            for engine in self.engines.values()
            for side in (Side.BUY, Side.SELL)
            for level in engine.book.levels(side)
            for order in level.orders.values()
        ]
        stops = [_order_to_plain(o) for e in self.engines.values() for o in e.parked.values()]
        call_market = [
            _order_to_plain(o) for e in self.engines.values() for o in e.call_market.values()
        ]
        c = self.counters
        risk = self.exposure.export()
        return {
            "format": 2,
            "counters": [c.seq, c.order_id, c.trade_id],
            "last_ts": self.last_ts,
            "expired_through": self.expired_through,
            "retention": [self.retention.done_orders, self.retention.trades],
            "resting": resting,
            "stops": stops,  # parked, in accept order
            "done": list(self._done.values()),
            "instruments": [_plain(i) for i in self.instruments.values()],
            "firms": [_plain(f) for f in self.firms.values()],
            "sessions": [_plain(s) for s in self.sessions.values()],
            "halted": sorted(self.halted),
            "blocked": risk["blocked"],
            "last_trade_px": dict(self.last_trade_px),
            "firm_executed": risk["firm_executed"],
            "recent": risk["recent"],
            "trade_ids": list(self.trades),
            "trades": list(self.trades.values()),
            "phases": {s: p.value for s, p in self.phase.items() if p is not Phase.CONTINUOUS},
            "call_market": call_market,  # market orders waiting for an auction
            "call_end": dict(self.call_end),
            "extended": sorted(self.extended),
            "static_ref": dict(self.static_ref),
            "indicative": {s: list(v) for s, v in self.indicative.items()},
            "next_step": {s: list(v) for s, v in self.next_step.items()},
            "day_base": {s: list(b) for s, b in self.day_base.items()},
        }

    @classmethod
    def restore(cls, reference: Reference, state: dict[str, Any]) -> Kernel:
        """The kernel export_state described, with the retention it ran with (so that the
        journal after the snapshot replays exactly). Also reads the format before 2, which
        listed every finished order of the day with its ClOrdIDs."""
        retention = Retention(*state["retention"]) if "retention" in state else None
        kernel = cls(reference, retention)
        c = kernel.counters
        c.seq, c.order_id, c.trade_id = state["counters"]
        kernel.last_ts = state["last_ts"]
        kernel.expired_through = state["expired_through"]
        kernel.instruments = {
            d["symbol"]: Instrument(
                **{**d, "schedule": tuple(tuple(step) for step in d.get("schedule", ()))}
            )
            for d in state["instruments"]
        }
        for symbol, value in state.get("phases", {}).items():
            kernel.phase[symbol] = Phase(value)
            kernel.engines[symbol].in_call = not Phase(value).matches
            if Phase(value).is_call:
                kernel._calls.add(symbol)
        kernel.call_end = dict(state.get("call_end", {}))
        kernel.extended = set(state.get("extended", ()))
        kernel.static_ref = dict(state.get("static_ref", {}))
        kernel.indicative = {s: tuple(v) for s, v in state.get("indicative", {}).items()}  # type: ignore[misc]
        kernel.next_step = {s: (v[0], v[1]) for s, v in state.get("next_step", {}).items()}
        kernel._unstarted -= set(kernel.next_step)
        for plain in state.get("call_market", ()):
            order = _order_from_plain(plain)
            kernel.engines[order.symbol].call_market[order.order_id] = order
            kernel.live[order.order_id] = order
            kernel._live_by_cl[(order.session, order.cl_ord_id)] = order
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
        kernel.last_trade_px = dict(state["last_trade_px"])
        for plain in state["resting"]:
            order = _order_from_plain(plain)
            kernel.engines[order.symbol].book.add(order)
            kernel.live[order.order_id] = order
            kernel._live_by_cl[(order.session, order.cl_ord_id)] = order
        for plain in state.get("stops", ()):
            order = _order_from_plain(plain)
            kernel.engines[order.symbol].park(order)
            kernel.live[order.order_id] = order
            kernel._live_by_cl[(order.session, order.cl_ord_id)] = order
        kernel.exposure = Exposure.restore(
            state["blocked"], state["firm_executed"], state["recent"], kernel.live.values()
        )
        if state.get("format", 1) >= 2:
            kernel._index_done([_compact(_order_from_plain(r)) for r in state["done"]])
            trades: Iterable[tuple[TradeId, Any]] = zip(
                state["trade_ids"], state["trades"], strict=True
            )
        else:  # format 1: [[order, [[session, ClOrdID], ...]], ...]; [[trade_id, *trade]]
            kernel._index_done([_compact(_order_from_plain(plain)) for plain, _ in state["done"]])
            kernel._done_by_cl = {
                (session, cl): plain[0] for plain, keys in state["done"] for session, cl in keys
            }
            trades = ((t[0], t[1:]) for t in state["trades"])
        kernel.day_base = {s: tuple(b) for s, b in state.get("day_base", {}).items()}  # type: ignore[misc]
        for trade_id, trade in trades:
            kernel.trades[trade_id] = tuple(trade)  # type: ignore[assignment]
            kernel._trade_fifo.append(trade_id)
        kernel.set_retention(kernel.retention)
        kernel._gtd = sorted(
            (o.expire_ts, o.order_id) for o in kernel.live.values() if o.expire_ts is not None
        )  # a sorted list is a heap
        for symbol in kernel._calls:
            kernel._rebuild_call(symbol)
        return kernel

    # -- views for tests ------------------------------------------------------------------

    def check_invariants(self) -> None:
        in_books = 0
        for symbol, engine in self.engines.items():
            engine.book.check_invariants(crossed_ok=engine.in_call)
            assert engine.in_call == (not self.phase[symbol].matches), f"{symbol} phase"
            assert not engine.call_market or engine.in_call, "market orders rest only in a call"
            in_books += len(engine.book.orders) + len(engine.parked) + len(engine.call_market)
            for order in engine.parked.values():
                assert order.is_parked and order.order_id not in engine.book.orders
        assert in_books == len(self.live), "an order is live but not in a book, or the reverse"
        for (session, cl), order in self._live_by_cl.items():
            assert order.session == session and order.cl_ord_id == cl
            assert self.live.get(order.order_id) is order
        assert len(self._live_by_cl) == len(self.live)
        for symbol in self._calls:  # the call's quantities per price are the book's
            kept = dict(self._call_qty[symbol])
            self._rebuild_call(symbol)
            assert self._call_qty[symbol] == kept, f"{symbol}: call quantities drifted"
        for order in self.live.values():
            assert order.expire_ts is None or order.expire_ts > self.last_ts, "GTD past expiry"
        self.exposure.check(self.live.values())


_TIF_TEXT = {TimeInForce.AT_OPEN: "at the opening", TimeInForce.AT_CLOSE: "at the close"}
_PHASE_TEXT = {
    Phase.CLOSED: "closed", Phase.PRE_OPEN: "in the pre-open call",
    Phase.CONTINUOUS: "in continuous trading", Phase.PRE_CLOSE: "in the pre-close call",
    Phase.CALL: "in an intraday call",
}  # fmt: skip


# Schedule steps that end a call with its auction, and the phase that follows them.
_AFTER_STEP = {"open-auction": Phase.CONTINUOUS, "close-auction": Phase.CLOSED}


def _schedule_at(schedule: tuple[tuple[int, str], ...], ts: int) -> tuple[str, int]:
    """The scheduled step in force at ts (the last one begun, today or before) and when
    the next step begins (µs UTC)."""
    now = ts % 86_400_000_000 // 1_000_000
    current = schedule[-1][1]  # before the first step of the day: yesterday's last
    for begins, what in schedule:
        if begins <= now:
            current = what
    return current, _next_after(schedule, ts)


def first_step_after(schedule: tuple[tuple[int, str], ...], ts: int) -> int:
    """When the first step of a schedule after ts begins (µs UTC)."""
    return _next_after(schedule, ts)


def _next_after(schedule: tuple[tuple[int, str], ...], ts: int) -> int:
    """When the first step after ts begins (µs UTC)."""
    day, secs = divmod(ts, 86_400_000_000)
    for begins, _ in schedule:
        at = day * 86_400_000_000 + begins * 1_000_000
        if at > ts:
            return at
    return (day + 1) * 86_400_000_000 + schedule[0][0] * 1_000_000


# OrdTypes that rest with a Price(44): the name a missing-price reject uses.
_PRICED = {
    OrdType.LIMIT: "limit",
    OrdType.STOP_LIMIT: "stop limit",
    OrdType.MARKET_TO_LIMIT: "market-to-limit",
}

_DONE = frozenset(s for s in OrdStatus if s.is_done)  # OrdStatus.is_done without the call

_OPERATOR_HANDLERS: dict[type, Any] = {
    Halt: Kernel._halt,
    Resume: Kernel._resume,
    ChangePhase: Kernel._operator_phase,
    EngageKillSwitch: Kernel._kill,
    ReleaseKillSwitch: Kernel._release_kill,
    CancelAll: Kernel._cancel_all,
    SetLimit: Kernel._set_limit,
}

_HANDLERS: dict[type, Any] = {
    NewOrder: Kernel._new_order,
    CancelOrder: Kernel._cancel,
    ReplaceOrder: Kernel._replace,
    QueryOrder: Kernel._query,
    RejectMessage: Kernel._reject_message,
    ExpireDayOrders: Kernel._expire_day_orders,
    ExpireOrders: Kernel._expire_orders,
    ScheduleTick: Kernel._expire_orders,  # nothing beyond what every command does first
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


def _other_order(cl_ord_id: str, order_id: OrderId) -> Problem:
    """A request whose OrderID(37) and ClOrdID name different orders: refused."""
    return RejectCode.UNKNOWN_ORDER, (
        f"OrderID(37) {order_id} is not the order of ClOrdID {cl_ord_id}"
    )


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


_order_values = operator.attrgetter(*_ORDER_FIELDS)


def _order_to_plain(order: Order) -> tuple[Any, ...]:
    """The order's fields in Order.__slots__ order (one C call: the snapshot's copy of the
    live orders runs on the kernel thread)."""
    return _order_values(order)  # type: ignore[no-any-return]


_INDEX = {name: i for i, name in enumerate(_ORDER_FIELDS)}
_ORDER_ID, _SESSION = _INDEX["order_id"], _INDEX["session"]
_CL_ORD_ID, _ORIG_CL_ORD_ID = _INDEX["cl_ord_id"], _INDEX["orig_cl_ord_id"]
_PRIORITY_TS = _INDEX["priority_ts"]
_SHARED = {_INDEX[name] for name in ("session", "firm", "account", "symbol")}
_intern = sys.intern


def _compact(order: Order) -> tuple[Any, ...]:
    """A finished order as a tuple of str/int/None: enums by value, the strings many orders
    share interned. The collector stops tracking such a tuple, so keeping many costs no
    collection time. _order_from_plain reads it back."""
    return tuple(
        value.value
        if isinstance(value, Enum)
        else (_intern(value) if i in _SHARED and type(value) is str else value)
        for i, value in enumerate(_order_to_plain(order))
    )


# Order fields added after the first snapshot format: a shorter list gets these.
_ORDER_DEFAULTS: dict[str, Any] = {
    "stop_px": None, "triggered": False, "post_only": False, "expire_ts": None,
    "expire_date": None, "min_qty": None, "max_floor": None, "display": 0,
}  # fmt: skip


def _order_from_plain(values: Sequence[Any]) -> Order:
    order = Order.__new__(Order)
    for name in _ORDER_FIELDS[len(values) :]:
        setattr(order, name, _ORDER_DEFAULTS[name])
    for name, value in zip(_ORDER_FIELDS, values, strict=False):
        enum = _ENUM_FIELDS.get(name)
        setattr(order, name, enum(value) if enum is not None else value)
    return order
