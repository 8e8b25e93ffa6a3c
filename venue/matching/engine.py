"""Price-time matching for one symbol. Takes validated orders, appends events to `out`.

Rules: the best price trades first, then the earliest order at that price; a trade happens
at the resting order's price; a market order or an IOC remainder is canceled, never rests;
a FOK order trades in full at once or not at all, an IOC with MinQty at least MinQty or
nothing; both decide from the same walk of the book the match then makes (`_plan`).

Calls (spec/auctions.md): while `in_call` nothing matches; orders rest as they come (the
book may be crossed), market orders wait in `call_market`, and `uncross` runs the auction
(venue.matching.auction) at one price. `band` (set by the kernel before each order) is the
volatility band: a trade that would print outside it is not executed; the engine goes
into a call instead (`breach` says at which price) and the order's remainder rests for
the auction (an IOC/FOK remainder is canceled as always).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from sortedcontainers import SortedList

from venue.book import OrderBook
from venue.domain.codes import CancelReason
from venue.domain.events import (
    Event,
    OrderCanceled,
    OrderFilled,
    OrderReplaced,
    OrderRestated,
    OrderTriggered,
    TradeExecuted,
)
from venue.domain.ids import OrderId, Seq, TradeId
from venue.domain.order import Order
from venue.domain.reference import StpMode
from venue.domain.values import OrdStatus, Side, TimeInForce, format_price
from venue.matching.auction import AuctionOrder, Indicative, indicative, uncross


class Counters:
    """Venue-wide id sequences (the id source). Owned by the kernel; restored by journal
    replay. Each hands out the int it counted as its id type: no conversion call, no cost.
    """

    __slots__ = ("seq", "order_id", "trade_id")

    def __init__(self) -> None:
        self.seq = 0
        self.order_id = 0
        self.trade_id = 0

    def next_seq(self) -> Seq:
        self.seq += 1
        return self.seq  # type: ignore[return-value]

    def next_order_id(self) -> OrderId:
        self.order_id += 1
        return self.order_id  # type: ignore[return-value]

    def next_trade_id(self) -> TradeId:
        self.trade_id += 1
        return self.trade_id  # type: ignore[return-value]


class Uncrossed(NamedTuple):
    """What an auction's uncross did: its price and volume, and per order that traded the
    trades its one OrderFilled covers (first trade id first: the fill's TradeID)."""

    result: Indicative
    trades_of_fill: dict[OrderId, list[TradeId]]


_TRADE = 0  # plan step kinds
_STP = 1

_REMAINDER_TEXT = {
    CancelReason.MARKET_REMAINDER: "market order remainder canceled: no more liquidity",
    CancelReason.IOC_REMAINDER: "IOC remainder canceled",
    CancelReason.FOK_NOT_FILLED: "FOK order canceled: not enough liquidity to fill in full",
}


class MatchingEngine:
    def __init__(self, symbol: str, counters: Counters) -> None:
        self.symbol = symbol
        self.book = OrderBook(symbol)
        self._ids = counters
        # Parked stops, in accept order (order id), and by stop price per side.
        self.parked: dict[OrderId, Order] = {}
        self._stops: dict[Side, SortedList] = {Side.BUY: SortedList(), Side.SELL: SortedList()}
        # Highest and lowest trade price printed since the last trigger check.
        self._hi: int | None = None
        self._lo: int | None = None
        # Calls: nothing matches; market orders wait here for the auction (accept order).
        self.in_call = False
        self.call_market: dict[OrderId, Order] = {}
        # Volatility band (lowest, highest price a trade may print at; None: no bound),
        # and the first price outside it that an order's walk reached.
        self.band: tuple[int | None, int | None] | None = None
        self.breach: int | None = None

    # -- entry points -------------------------------------------------------------------

    def submit(self, order: Order, ts: int, out: list[Event]) -> None:
        """Match an accepted order, then rest or cancel what is left; a stop is parked.
        Stops that the trades trigger enter after it."""
        if order.is_parked:
            self.park(order)
            return
        self._submit(order, ts, out)
        self._trigger_stops(ts, out)

    def park(self, order: Order) -> None:
        """Hold a stop until its trigger prints. O(log S)."""
        self.parked[order.order_id] = order
        self._stops[order.side].add((order.stop_px, order.order_id))

    def _unpark(self, order: Order) -> None:
        del self.parked[order.order_id]
        self._stops[order.side].remove((order.stop_px, order.order_id))

    def _trigger_stops(self, ts: int, out: list[Event]) -> None:
        """Release every parked stop whose trigger printed: a buy stop when a trade printed
        at or above its stop price, a sell stop at or below. Stops triggered together
        enter in accept order; their own trades may trigger more, which enter after them.
        O(triggered x log S) when nothing triggers: O(1)."""
        while self._hi is not None:
            hi, lo = self._hi, self._lo
            self._hi = self._lo = None
            assert lo is not None
            buys, sells = self._stops[Side.BUY], self._stops[Side.SELL]
            fired: list[OrderId] = []
            while buys and buys[0][0] <= hi:
                fired.append(buys.pop(0)[1])
            while sells and sells[-1][0] >= lo:
                fired.append(sells.pop()[1])
            fired.sort()
            for order_id in fired:
                order = self.parked.pop(order_id)
                order.triggered = True
                order.priority_ts = ts
                last = hi if order.side is Side.BUY else lo
                text = (
                    f"stop triggered: trade at {format_price(last)} reached the stop price "
                    f"{format_price(order.stop_px)}"  # type: ignore[arg-type]
                )
                out.append(OrderTriggered(self._ids.next_seq(), ts, order.snapshot(), text))
                self._submit(order, ts, out)

    def _submit(self, order: Order, ts: int, out: list[Event]) -> None:
        if self.in_call:
            self._rest(order)
            return
        plan, fills = self._plan(order)
        if self.breach is not None:
            self.in_call = True  # the volatility interruption starts with this order
        if order.tif is TimeInForce.FOK and fills < order.leaves_qty:
            self._cancel(order, ts, CancelReason.FOK_NOT_FILLED, out)
            return
        if order.min_qty is not None and fills < order.min_qty:
            text = f"IOC canceled: MinQty {order.min_qty} cannot fill at once ({fills} would fill)"
            self._cancel(order, ts, CancelReason.MIN_QTY_NOT_MET, out, text)
            return
        self._execute(order, plan, ts, out)
        if order.leaves_qty == 0:  # filled, or canceled by self-trade prevention
            return
        if self.in_call and order.tif is not TimeInForce.IOC and order.tif is not TimeInForce.FOK:
            self._rest(order)  # interrupted: the remainder waits for the auction
            return
        if order.is_market:
            self._cancel(order, ts, CancelReason.MARKET_REMAINDER, out)
        elif order.tif is TimeInForce.IOC or order.tif is TimeInForce.FOK:
            self._cancel(order, ts, CancelReason.IOC_REMAINDER, out)
        else:
            self._rest(order)

    def _rest(self, order: Order) -> None:
        """Put an order in the book; an iceberg shows its first peak. In a call a market
        order waits for the auction beside the book."""
        if order.price is None:
            assert self.in_call, "market orders rest only in a call"
            self.call_market[order.order_id] = order
            return
        if order.max_floor is not None:
            order.display = min(order.max_floor, order.leaves_qty)
        self.book.add(order)

    def cancel(self, order: Order, cl_ord_id: str, ts: int, out: list[Event]) -> None:
        """Cancel a resting order at its owner's request."""
        order.orig_cl_ord_id, order.cl_ord_id = order.cl_ord_id, cl_ord_id
        self.cancel_resting(order, ts, CancelReason.REQUESTED, "canceled at request", out)

    def cancel_resting(
        self, order: Order, ts: int, reason: CancelReason, text: str, out: list[Event]
    ) -> None:
        """Take a resting order out of the book as canceled (requested or not). O(1)."""
        self._take_out(order)
        order.transition(OrdStatus.CANCELED)
        out.append(OrderCanceled(self._ids.next_seq(), ts, order.snapshot(), reason, text))

    def expire(self, order: Order) -> None:
        """Take an order out of the book because its time in force ended."""
        self._take_out(order)
        order.transition(OrdStatus.EXPIRED)

    def _take_out(self, order: Order) -> None:
        if order.order_id in self.parked:
            self._unpark(order)
        elif order.order_id in self.call_market:
            del self.call_market[order.order_id]
        else:
            self.book.remove(order)

    def replace(
        self,
        order: Order,
        cl_ord_id: str,
        qty: int,
        price: int | None,
        tif: TimeInForce,
        ts: int,
        out: list[Event],
        stop_px: int | None = None,
        max_floor: int | None = None,
    ) -> None:
        """Change a resting order's quantity, price or time in force (a parked stop's
        stop price, an iceberg's peak too).

        Keeps time priority on a quantity or peak decrease or a change of TIF only; a new
        price or a larger quantity or peak sends the order to the back of its (new) level,
        and if it now crosses it trades at once. A quantity at or below CumQty finishes the
        order.
        """
        leaves_before = order.visible
        order.orig_cl_ord_id, order.cl_ord_id = order.cl_ord_id, cl_ord_id
        order.tif = tif
        if order.is_parked:  # not in the book: new terms, same place in accept order
            self._unpark(order)
            order.qty, order.price, order.stop_px = qty, price, stop_px
            order.transition(order.status)
            self.park(order)
            out.append(OrderReplaced(self._ids.next_seq(), ts, order.snapshot()))
            return
        if order.order_id in self.call_market:  # a market order waiting for the auction
            if qty <= order.cum_qty:
                del self.call_market[order.order_id]
                order.qty = order.cum_qty
                order.transition(OrdStatus.FILLED)
            else:
                if qty > order.qty:
                    order.priority_ts = ts
                order.qty = qty
                order.transition(order.status)
            out.append(OrderReplaced(self._ids.next_seq(), ts, order.snapshot()))
            return
        if qty <= order.cum_qty:
            self.book.remove(order, leaves_before)
            order.qty = order.cum_qty
            order.transition(OrdStatus.FILLED)
            out.append(OrderReplaced(self._ids.next_seq(), ts, order.snapshot()))
            return
        peak_kept = max_floor is None or (
            order.max_floor is not None and max_floor <= order.max_floor
        )
        if price == order.price and qty <= order.qty and peak_kept:
            order.qty = qty
            if max_floor is not None:
                order.max_floor = max_floor
                order.display = min(order.display, max_floor)
            self.book.reduce(order, leaves_before - order.visible)
            order.transition(order.status)
            out.append(OrderReplaced(self._ids.next_seq(), ts, order.snapshot()))
            return
        self.book.remove(order, leaves_before)
        order.qty = qty
        order.price = price
        order.max_floor = max_floor
        order.priority_ts = ts
        order.transition(order.status)
        if max_floor is not None:
            order.display = min(max_floor, order.leaves_qty)
        out.append(OrderReplaced(self._ids.next_seq(), ts, order.snapshot()))
        if not self.in_call:
            self._match(order, ts, out)
            if self.breach is not None:
                self.in_call = True
        if order.leaves_qty:
            self._rest(order)
        self._trigger_stops(ts, out)

    # -- auctions -----------------------------------------------------------------------

    def _auction_orders(self, include: Callable[[Order], bool]) -> list[AuctionOrder]:
        """The orders that take part in an auction now: market orders of the call and
        the book's orders (an iceberg with all of its quantity), time priority by rank."""
        chosen = [o for o in self.call_market.values() if include(o)]
        chosen += [o for o in self.book.orders.values() if include(o)]
        chosen.sort(key=lambda o: (o.priority_ts, o.order_id))
        return [
            AuctionOrder(o.order_id, o.side, o.price, o.leaves_qty, rank)
            for rank, o in enumerate(chosen)
        ]

    def indicative(self, reference: int | None, include: Callable[[Order], bool]) -> Indicative:
        """What the auction would do now: price, volume and surplus (nothing changes). The
        price depends only on the quantity at each price, so the auction sees one order per
        price level (and per side for the market orders): O(orders) additions and
        O(levels log levels) for the price, run after every change during a call."""
        orders: list[AuctionOrder] = []
        key = 0
        for side in (Side.BUY, Side.SELL):
            market = sum(
                o.leaves_qty for o in self.call_market.values() if o.side is side and include(o)
            )
            if market:
                key += 1
                orders.append(AuctionOrder(key, side, None, market, key))
            for level in self.book.levels(side):
                qty = sum(o.leaves_qty for o in level.orders.values() if include(o))
                if qty:
                    key += 1
                    orders.append(AuctionOrder(key, side, level.price, qty, key))
        return indicative(orders, reference)

    def uncross(
        self,
        ts: int,
        reference: int | None,
        include: Callable[[Order], bool],
        out: list[Event],
    ) -> Uncrossed:
        """Run the auction: every execution at one price, one TradeExecuted per pair and
        one OrderFilled per order with its whole allocation. The book is left uncrossed."""
        result, fills = uncross(self._auction_orders(include), reference)
        if not fills:
            return Uncrossed(result, {})
        price = result.price
        assert price is not None
        ids = self._ids
        orders = {**self.book.orders, **self.call_market}
        allocated: dict[OrderId, int] = {}
        trades: dict[OrderId, list[TradeId]] = {}
        for fill in fills:  # the auction's keys are the order ids (_auction_orders)
            buy, sell = orders[OrderId(fill.buy)], orders[OrderId(fill.sell)]
            trade_id = ids.next_trade_id()
            out.append(
                TradeExecuted(
                    ids.next_seq(), ts, trade_id, self.symbol, price, fill.qty,
                    result.surplus_side or Side.BUY, buy.order_id, sell.order_id, buy.firm,
                    sell.firm, buy.session, sell.session, buy.account, sell.account,
                    auction=True,
                )
            )  # fmt: skip
            for order_id in (buy.order_id, sell.order_id):
                allocated[order_id] = allocated.get(order_id, 0) + fill.qty
                trades.setdefault(order_id, []).append(trade_id)
        for order_id, qty in allocated.items():
            order = orders[order_id]
            if order_id in self.call_market:
                order.fill(qty, price)
                if not order.leaves_qty:
                    del self.call_market[order_id]
            else:
                shown = order.visible
                order.fill(qty, price)
                if not order.leaves_qty:
                    self.book.remove(order, shown)
                else:
                    if order.max_floor is not None:
                        order.display = min(order.max_floor, order.leaves_qty)
                    self.book.reduce(order, shown - order.visible)
            out.append(
                OrderFilled(
                    ids.next_seq(), ts, order.snapshot(), trades[order_id][0], price, qty, False
                )
            )
        self._hi = price if self._hi is None else max(self._hi, price)
        self._lo = price if self._lo is None else min(self._lo, price)
        return Uncrossed(result, trades)

    def after_auction(self, ts: int, out: list[Event], continuous: bool) -> None:
        """The call is over: stops the auction's price reached trigger if trading goes on
        continuously (else the auction's prints trigger nothing)."""
        self.in_call = not continuous
        if continuous:
            self._trigger_stops(ts, out)
        else:
            self._hi = self._lo = None

    # -- internals ----------------------------------------------------------------------

    def _crosses(self, order: Order, level_price: int) -> bool:
        if order.price is None:
            return True
        if order.side is Side.BUY:
            return level_price <= order.price
        return level_price >= order.price

    def _plan(self, order: Order) -> tuple[list[tuple[int, Order, int]], int]:
        """What matching `order` now would do, step by step, without doing it.

        The one walk over the book that both the all-or-nothing checks (FOK) and the match
        loop use, so a check can never count liquidity the match will not reach: a
        same-firm order in the way stops or shrinks the walk exactly as self-trade
        prevention will. Returns the steps [(kind, resting, qty)] in execution order and
        the quantity they fill. O(orders crossed).
        """
        steps: list[tuple[int, Order, int]] = []
        remaining = order.leaves_qty
        fills = 0
        firm = order.firm
        band = self.band
        self.breach = None
        for level in self.book.levels(order.side.opposite):
            if not remaining or not self._crosses(order, level.price):
                break
            if band is not None and (
                (band[0] is not None and level.price < band[0])
                or (band[1] is not None and level.price > band[1])
            ):
                self.breach = level.price  # would print outside the band: not executed
                break
            # icebergs whose peak this walk uses up show a new one at the back of the level:
            # (order, leaves after the peak), in the order their peaks ran out
            refills: deque[tuple[Order, int]] | None = None
            for resting in level.orders.values():
                if not remaining:
                    break
                if resting.firm != firm:
                    shown = resting.visible
                    qty = min(remaining, shown)
                    steps.append((_TRADE, resting, qty))
                    remaining -= qty
                    fills += qty
                    if qty == shown and resting.leaves_qty > qty:
                        if refills is None:
                            refills = deque()
                        refills.append((resting, resting.leaves_qty - qty))
                    continue
                mode = order.stp
                if mode is StpMode.CANCEL_RESTING:
                    steps.append((_STP, resting, 0))
                    continue
                if mode is StpMode.DECREMENT:
                    qty = min(remaining, resting.leaves_qty)
                    steps.append((_STP, resting, qty))
                    remaining -= qty
                    continue
                steps.append((_STP, resting, 0))  # cancel aggressor / both: the walk ends
                return steps, fills
            while refills and remaining:  # hidden quantity: after every shown one
                resting, leaves = refills.popleft()
                shown = min(resting.max_floor or leaves, leaves)
                qty = min(remaining, shown)
                steps.append((_TRADE, resting, qty))
                remaining -= qty
                fills += qty
                if qty == shown and leaves > qty:
                    refills.append((resting, leaves - qty))
        return steps, fills

    def _match(self, order: Order, ts: int, out: list[Event]) -> None:
        self._execute(order, self._plan(order)[0], ts, out)

    def _execute(
        self, order: Order, plan: list[tuple[int, Order, int]], ts: int, out: list[Event]
    ) -> None:
        """Carry out the steps of `_plan`, in order."""
        book = self.book
        ids = self._ids
        for kind, resting, qty in plan:
            if kind == _STP:
                if not self._prevent_self_trade(order, resting, ts, out):
                    return
                continue
            price = resting.price
            assert price is not None
            shown = resting.visible
            resting.fill(qty, price)
            order.fill(qty, price)
            if not resting.leaves_qty:
                book.remove(resting, shown)
            elif resting.max_floor is None:
                book.reduce(resting, qty)
            else:
                resting.display -= qty
                if resting.display:
                    book.reduce(resting, qty)
                else:  # peak used up: a new one at the back of the level, new priority
                    resting.display = min(resting.max_floor, resting.leaves_qty)
                    resting.priority_ts = ts
                    book.requeue(resting, shown)
            if self._hi is None or price > self._hi:
                self._hi = price
            if self._lo is None or price < self._lo:
                self._lo = price
            trade_id = ids.next_trade_id()
            buy, sell = (order, resting) if order.side is Side.BUY else (resting, order)
            out.append(
                TradeExecuted(
                    ids.next_seq(),
                    ts,
                    trade_id,
                    self.symbol,
                    price,
                    qty,
                    order.side,
                    buy.order_id,
                    sell.order_id,
                    buy.firm,
                    sell.firm,
                    buy.session,
                    sell.session,
                    buy.account,
                    sell.account,
                )
            )
            out.append(
                OrderFilled(ids.next_seq(), ts, order.snapshot(), trade_id, price, qty, True)
            )
            out.append(
                OrderFilled(ids.next_seq(), ts, resting.snapshot(), trade_id, price, qty, False)
            )

    def _prevent_self_trade(self, order: Order, resting: Order, ts: int, out: list[Event]) -> bool:
        """Apply the aggressor's STP mode to a same-firm match. Returns whether the
        aggressor may keep matching."""
        mode = order.stp
        why = f"self-trade prevented ({order.firm} on both sides, mode {mode.name.lower()})"
        if mode is StpMode.DECREMENT:
            qty = min(order.leaves_qty, resting.leaves_qty)
            for o in (resting, order):
                if o.leaves_qty == qty:
                    if o is resting:
                        self.cancel_resting(o, ts, CancelReason.SELF_TRADE, why, out)
                    else:
                        self._cancel(o, ts, CancelReason.SELF_TRADE, out, why)
                else:
                    shown = o.visible
                    o.qty -= qty
                    if o is resting:
                        self.book.reduce(o, shown - o.visible)
                    text = f"{why}: quantity decremented by {qty}"
                    out.append(OrderRestated(self._ids.next_seq(), ts, o.snapshot(), text))
            return order.leaves_qty > 0
        if mode is not StpMode.CANCEL_AGGRESSOR:
            self.cancel_resting(resting, ts, CancelReason.SELF_TRADE, why, out)
        if mode is StpMode.CANCEL_RESTING:
            return True
        self._cancel(order, ts, CancelReason.SELF_TRADE, out, why)
        return False

    def _cancel(
        self, order: Order, ts: int, reason: CancelReason, out: list[Event], text: str = ""
    ) -> None:
        order.transition(OrdStatus.CANCELED)
        text = text or _REMAINDER_TEXT[reason]
        out.append(OrderCanceled(self._ids.next_seq(), ts, order.snapshot(), reason, text))
