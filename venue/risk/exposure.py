"""Exposure: the risk state that orders change, reserved before matching and released after.

    reserve(...)     before matching: may this order (or these new terms of a replace)
                     enter? Throttle, kill switch, halt, instrument limits, price collar,
                     firm credit, in that order; the first problem found, or None
    release(events)  after matching: open and executed notional follow the events (fills,
                     cancels, expiries, rejects, replaces, busts)

An order's open notional (leaves x limit price; 0 for a market order) counts from the event
that accepts it on. reserve holds nothing itself: the kernel releases each command's events
before it reserves for the next order, so every check sees every earlier order.

Pure: no I/O, no clock (ts is passed in), one writer (the kernel thread).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from venue.domain.codes import RejectCode
from venue.domain.events import (
    ORDER_EVENT_TYPES,
    Event,
    OrderFilled,
    OrderSnapshot,
    OrderTradeCanceled,
)
from venue.domain.ids import OrderId
from venue.domain.order import Order
from venue.domain.reference import Firm, Instrument, SessionInfo
from venue.risk.checks import (
    Problem,
    check_collar,
    check_credit,
    check_instrument_limits,
    check_throttle,
)

Block = tuple[str, str]  # a kill switch: (scope, key), scope venue ("" key), firm or session


class Exposure:
    __slots__ = ("firm_open", "firm_executed", "blocked", "_open_by_order", "_recent")

    def __init__(self) -> None:
        self.firm_open: dict[str, int] = {}  # notional of live orders, per firm
        self.firm_executed: dict[str, int] = {}  # notional traded today, per firm
        self.blocked: set[Block] = set()  # kill switches engaged
        self._open_by_order: dict[OrderId, int] = {}  # what each live priced order counts for
        self._recent: dict[str, deque[int]] = {}  # throttle windows, per session

    # -- before matching ------------------------------------------------------------------

    def reserve(
        self,
        session: SessionInfo,
        firm: Firm,
        instrument: Instrument,
        halted: bool,
        qty: int,
        price: int | None,
        reference: int | None,
        ts: int,
        replacing: OrderId | None = None,
    ) -> Problem | None:
        """Pre-trade risk for a new order, or for the new terms of the live order
        `replacing` (qty: what may still trade; what the order counts for now is not
        counted twice). reference: the last trade price, else the instrument's; a market
        order's notional is taken at it. A message the throttle lets through takes its
        place in the window even if a later check refuses it."""
        throttled = check_throttle(
            self._recent.setdefault(session.session, deque()), ts, session.max_orders_per_second
        )
        if throttled:
            return throttled
        blocked = self.blocked
        if blocked:
            for block in (("venue", ""), ("firm", session.firm), ("session", session.session)):
                if block in blocked:
                    scope, key = block
                    where = "the venue" if scope == "venue" else f"{scope} {key}"
                    return RejectCode.BLOCKED, f"kill switch engaged for {where}: orders blocked"
        if halted:
            return RejectCode.HALTED, f"{instrument.symbol} is halted"
        notional = qty * (price if price is not None else (reference or 0))
        before = 0 if replacing is None else self._open_by_order.get(replacing, 0)
        return (
            check_instrument_limits(instrument, qty, notional)
            or check_collar(instrument, reference, price)
            or check_credit(firm, self.used(firm.firm) - before, notional)
        )

    def used(self, firm: str) -> int:
        """The firm's credit in use: open plus executed notional today."""
        return self.firm_open.get(firm, 0) + self.firm_executed.get(firm, 0)

    # -- after matching -------------------------------------------------------------------

    def release(self, events: Iterable[Event]) -> None:
        """Open and executed notional follow what happened to each order: an order counts
        for leaves x price after each of its events (0 once done, a market order 0).
        O(events)."""
        open_by_order = self._open_by_order
        firm_open = self.firm_open
        executed = self.firm_executed
        for event in events:
            kind = type(event)
            if kind not in ORDER_EVENT_TYPES:
                continue
            snap: OrderSnapshot = event.order  # type: ignore[union-attr,assignment]
            if kind is OrderFilled:
                fill: OrderFilled = event  # type: ignore[assignment]
                executed[snap.firm] = executed.get(snap.firm, 0) + fill.last_qty * fill.last_px
            elif kind is OrderTradeCanceled:
                bust: OrderTradeCanceled = event  # type: ignore[assignment]
                executed[snap.firm] = executed.get(snap.firm, 0) - bust.last_qty * bust.last_px
            price = snap.price
            open_now = 0 if price is None else snap.leaves_qty * price  # leaves 0 once done
            oid = snap.order_id
            open_before = open_by_order.get(oid, 0)
            if open_now != open_before:
                firm_open[snap.firm] = firm_open.get(snap.firm, 0) + open_now - open_before
                if open_now:
                    open_by_order[oid] = open_now
                else:
                    del open_by_order[oid]

    def new_day(self) -> None:
        """A new trading day: executed notional starts again from zero."""
        self.firm_executed.clear()

    # -- kill switches --------------------------------------------------------------------

    def block(self, scope: str, key: str) -> None:
        self.blocked.add((scope, key))

    def unblock(self, scope: str, key: str) -> bool:
        """Release a kill switch; False if none was engaged there."""
        if (scope, key) not in self.blocked:
            return False
        self.blocked.discard((scope, key))
        return True

    # -- snapshots and tests --------------------------------------------------------------

    def export(self) -> dict[str, object]:
        """The state a snapshot keeps (the open notional is rebuilt from the live orders)."""
        return {
            "blocked": sorted(list(b) for b in self.blocked),
            "firm_executed": dict(self.firm_executed),
            "recent": {s: list(d) for s, d in self._recent.items()},
        }

    @classmethod
    def restore(
        cls,
        blocked: Iterable[Iterable[str]],
        firm_executed: dict[str, int],
        recent: dict[str, list[int]],
        live: Iterable[Order],
    ) -> Exposure:
        exposure = cls()
        exposure.blocked = {(scope, key) for scope, key in blocked}
        exposure.firm_executed = dict(firm_executed)
        exposure._recent = {s: deque(ts) for s, ts in recent.items()}
        for order in live:
            exposure.hold(order)
        return exposure

    def hold(self, order: Order) -> None:
        """Count a live order restored from a snapshot (a market order counts for 0)."""
        if order.price is None:
            return
        open_now = order.leaves_qty * order.price
        self._open_by_order[order.order_id] = open_now
        self.firm_open[order.firm] = self.firm_open.get(order.firm, 0) + open_now

    def check(self, live: Iterable[Order]) -> None:
        """Assert that the open notional is what the live orders add up to. O(live)."""
        by_firm: dict[str, int] = {}
        for order in live:
            if order.price is not None:
                by_firm[order.firm] = by_firm.get(order.firm, 0) + order.leaves_qty * order.price
        kept = {f: v for f, v in self.firm_open.items() if v}
        assert kept == {f: v for f, v in by_firm.items() if v}, (
            "firm open notional drifted from the live orders"
        )
