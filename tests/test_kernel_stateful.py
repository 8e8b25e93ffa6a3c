"""Hypothesis stateful tests of the kernel, and a seeded stress test of the book alone.

KernelMachine draws real commands (sessions of three firms, both sides, prices a few ticks
around the touch, quantities, Day/GTC/IOC/FOK, market orders, per-order STP modes, cancels
and replaces of live orders, mass cancels, disconnects, firm STP defaults), so a failure
shrinks to a short command sequence. After every step it checks the rules a venue is judged
on: book invariants, no trade-through, price-time priority, FOK all-or-nothing, no
same-firm trade, CumQty + LeavesQty = OrderQty, both sides of every trade filled by its
quantity; at the end, the journal records (encoded and decoded as the journal stores them)
replayed through a fresh kernel give the same events and state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from core_helpers import kernel
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from venue.book import OrderBook
from venue.domain.commands import (
    CancelOrder,
    Command,
    MassCancel,
    NewOrder,
    OperatorAction,
    ReplaceOrder,
    SessionDisconnected,
)
from venue.domain.events import (
    Event,
    OrderCanceled,
    OrderFilled,
    OrderRestated,
    TradeExecuted,
)
from venue.domain.order import Order
from venue.domain.reference import StpMode
from venue.domain.values import PRICE_SCALE, OrdStatus, OrdType, Side, TimeInForce
from venue.journal import decode_record, encode_record

TICK = PRICE_SCALE // 100
MID = 100 * PRICE_SCALE
SESSIONS = ("C1", "C2", "C3", "C4")  # FIRM1, FIRM2, FIRM1 (again: self-trades), FIRM3
SYMBOLS = ("AAPL", "MSFT")

sessions = st.sampled_from(SESSIONS)
symbols = st.sampled_from(SYMBOLS)
sides = st.sampled_from([Side.BUY, Side.SELL])
offsets = st.integers(-3, 3)  # ticks from the touch (positive: through it)
quantities = st.sampled_from([10, 50, 100]) | st.integers(1, 300)  # round lots meet more often
tifs = st.sampled_from([TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK])
stps = st.none() | st.sampled_from(list(StpMode))
picks = st.integers(0, 10_000)  # which live order (modulo how many there are)


@dataclass(frozen=True)
class Queue:
    """One side of one book before a step: (price, order id) in priority order."""

    entries: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, book: OrderBook, side: Side) -> Queue:
        return cls(tuple((lv.price, oid) for lv in book.levels(side) for oid in lv.orders))


def _fok_fills(events: list[Event], command: Command) -> tuple[int, int, bool]:
    """For a FOK NewOrder: (filled qty, its final OrderQty, whether STP acted in the step)."""
    filled, qty, stp = 0, getattr(command, "qty", 0), False
    for e in events:
        if isinstance(e, OrderFilled) and e.aggressor:
            filled += e.last_qty
            qty = e.order.qty
        if isinstance(e, OrderRestated) or (
            isinstance(e, OrderCanceled) and e.text.startswith("self-trade prevented")
        ):
            stp = True
    return filled, qty, stp


class KernelMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.k = kernel()
        self.ts = 1_000_000
        self.n = 0
        self.log: list[tuple[int, Command, list[Event]]] = []

    # -- driving

    def touch(self, symbol: str, side: Side) -> int:
        """The price an order on `side` would trade at first, or the middle if none."""
        book = self.k.engines[symbol].book
        best = book.best(Side.SELL if side is Side.BUY else Side.BUY)
        return MID if best is None else best.price

    def live(self, pick: int, session: str | None = None) -> Order | None:
        orders = sorted(
            (o for o in self.k.live.values() if session is None or o.session == session),
            key=lambda o: o.order_id,
        )
        return orders[pick % len(orders)] if orders else None

    def run(self, command: Command) -> list[Event]:
        self.n += 1
        self.ts += 1
        before = {
            (s, side): Queue.of(self.k.engines[s].book, side)
            for s in SYMBOLS
            for side in (Side.BUY, Side.SELL)
        }
        events = self.k.handle(command, self.ts)
        self.log.append((self.ts, command, events))
        self.check_step(command, events, before)
        return events

    # -- rules

    @rule(
        session=sessions, symbol=symbols, side=sides, offset=offsets, qty=quantities, tif=tifs,
        market=st.booleans(), stp=stps,
    )  # fmt: skip
    def new_order(
        self, session: str, symbol: str, side: Side, offset: int, qty: int,
        tif: TimeInForce, market: bool, stp: StpMode | None,
    ) -> None:  # fmt: skip
        market = market and tif in (TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY)
        through = offset if side is Side.BUY else -offset  # positive: through the touch
        price = None if market else self.touch(symbol, side) + through * TICK
        ord_type = OrdType.MARKET if market else OrdType.LIMIT
        self.run(NewOrder(session, f"n{self.n}", symbol, side, ord_type, tif, qty, price, stp=stp))

    @precondition(lambda self: self.k.live)
    @rule(pick=picks)
    def cancel(self, pick: int) -> None:
        o = self.live(pick)
        assert o is not None
        self.run(CancelOrder(o.session, f"c{self.n}", o.cl_ord_id, o.symbol, o.side))

    @precondition(lambda self: self.k.live)
    @rule(
        pick=picks,
        qty=quantities,
        offset=offsets,
        tif=st.sampled_from([TimeInForce.DAY, TimeInForce.GTC]),
    )
    def replace(self, pick: int, qty: int, offset: int, tif: TimeInForce) -> None:
        o = self.live(pick)
        assert o is not None
        price = (o.price or MID) + offset * TICK
        self.run(
            ReplaceOrder(
                o.session, f"r{self.n}", o.cl_ord_id, o.symbol, o.side, OrdType.LIMIT, tif,
                qty, price,
            )
        )  # fmt: skip

    @rule(session=sessions, symbol=symbols, all_=st.booleans())
    def mass_cancel(self, session: str, symbol: str, all_: bool) -> None:
        self.run(MassCancel(session, f"m{self.n}", "7" if all_ else "1", symbol))

    @rule(session=sessions)
    def disconnect(self, session: str) -> None:
        self.run(SessionDisconnected(session))

    @rule(firm=st.sampled_from(["FIRM1", "FIRM2"]), mode=st.sampled_from(list(StpMode)))
    def firm_stp_default(self, firm: str, mode: StpMode) -> None:
        self.run(OperatorAction("ops", "set_limit", "firm", firm, "stp_mode", mode.value))

    # -- the rules a venue is judged on, after every step

    def check_step(
        self, command: Command, events: list[Event], before: dict[tuple[str, Side], Queue]
    ) -> None:
        fills: dict[int, int] = {}
        for e in events:
            snap = getattr(e, "order", None)
            if snap is not None and snap.ord_type is not None:
                if not snap.status.is_done:
                    assert snap.cum_qty + snap.leaves_qty == snap.qty, e
                assert 0 <= snap.cum_qty <= snap.qty or snap.status is OrdStatus.REJECTED, e
            if isinstance(e, OrderFilled):
                fills[e.trade_id] = fills.get(e.trade_id, 0) + e.last_qty
        trades = [e for e in events if isinstance(e, TradeExecuted)]
        # Quantities are conserved: each trade fills both sides by its quantity.
        assert {t.trade_id: 2 * t.qty for t in trades} == fills, "each trade fills both sides"
        for t in trades:
            # Self-trade prevention: a firm never trades with itself.
            assert t.buy_firm != t.sell_firm, f"self-trade: {t}"
            resting_side = Side.SELL if t.aggressor_side is Side.BUY else Side.BUY
            resting_id = t.sell_order_id if resting_side is Side.SELL else t.buy_order_id
            queue = before[(t.symbol, resting_side)].entries
            position = next(i for i, (_, oid) in enumerate(queue) if oid == resting_id)
            # The trade is at the resting order's price...
            assert t.price == queue[position][0], f"trade {t.trade_id} not at the resting price"
            # ...and everything ahead of it in price-time priority is gone (filled or
            # canceled by STP): no trade-through, no queue jumping.
            jumped = [oid for _, oid in queue[:position] if oid in self.k.live]
            assert not jumped, f"trade {t.trade_id} with {resting_id} while {jumped} waited"
        limit = getattr(command, "price", None)
        if trades and limit is not None and isinstance(command, NewOrder | ReplaceOrder):
            worst = (
                max(t.price for t in trades)
                if command.side is Side.BUY
                else min(t.price for t in trades)
            )
            beyond = worst > limit if command.side is Side.BUY else worst < limit
            assert not beyond, f"traded at {worst} beyond the limit {limit}"
        if isinstance(command, NewOrder) and command.tif is TimeInForce.FOK:
            filled, qty, _stp = _fok_fills(events, command)
            assert filled in (0, qty), f"FOK filled {filled} of {qty}"
        for o in self.k.live.values():
            assert o.cum_qty + o.leaves_qty == o.qty, f"live order {o.order_id}"

    @invariant()
    def books_hold_their_invariants(self) -> None:
        self.k.check_invariants()

    def teardown(self) -> None:
        """The journal, replayed: records encoded and decoded as Journal stores them, through
        a fresh kernel, give the same events, counters and state."""
        replayed = kernel()
        for ts, command, events in self.log:
            ts2, command2, recorded = decode_record(encode_record(ts, command, events))
            assert (ts2, command2, recorded) == (ts, command, events)
            assert replayed.handle(command2, ts2) == recorded
        assert replayed.export_state() == self.k.export_state()


TestKernelMachine = KernelMachine.TestCase
TestKernelMachine.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


def test_fok_under_self_trade_prevention_is_all_or_nothing() -> None:
    """FIRM2 offers 50 at 100.00 and 100 at 100.02, FIRM1 itself 100 at 100.01 in between; a
    FIRM1 FOK buy of 150 up to 100.02 with cancel-aggressor STP: the FOK check counts 150 of
    other firms' liquidity, matching meets FIRM1's own offer after the first 50 and cancels
    the aggressor. The FOK must be canceled unfilled (it used to fill 50 of 150)."""
    k = kernel()
    for n, (session, qty, ticks) in enumerate([("C2", 50, 0), ("C1", 100, 1), ("C2", 100, 2)]):
        sell = NewOrder(
            session, f"s{n}", "AAPL", Side.SELL, OrdType.LIMIT, TimeInForce.DAY, qty,
            MID + ticks * TICK,
        )  # fmt: skip
        k.handle(sell, n + 1)
    fok = NewOrder(
        "C3", "f1", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.FOK, 150, MID + 2 * TICK,
        stp=StpMode.CANCEL_AGGRESSOR,
    )  # fmt: skip
    events = k.handle(fok, 10)
    filled = sum(e.last_qty for e in events if isinstance(e, OrderFilled) and e.aggressor)
    assert filled in (0, 150), f"FOK filled {filled} of 150"


# -- the book alone, sortedcontainers style -------------------------------------------------------


def test_book_stress_seeded_actions_keep_every_invariant() -> None:
    """Seeded random adds, removes and reductions straight on OrderBook, with
    check_invariants() after each, and the best prices checked against a plain model."""
    rng = random.Random(20261201)
    book = OrderBook("AAPL")
    model: dict[int, Order] = {}
    next_id = 1
    for step in range(3000):
        roll = rng.random()
        if roll < 0.45 or not model:  # the book hovers around a hundred orders
            side = rng.choice([Side.BUY, Side.SELL])
            # keep the book uncrossed as the matching engine does: bids below, asks above
            price = MID + (-rng.randint(1, 20) if side is Side.BUY else rng.randint(0, 19)) * TICK
            order = Order(
                next_id, "C1", "FIRM1", "", f"o{next_id}", "AAPL", side, OrdType.LIMIT,
                TimeInForce.DAY, price, rng.randint(1, 500), step, StpMode.CANCEL_RESTING,
            )  # fmt: skip
            book.add(order)
            model[next_id] = order
            next_id += 1
        elif roll < 0.8:
            oid = rng.choice(sorted(model))
            book.remove(model.pop(oid))
        else:
            order = model[rng.choice(sorted(model))]
            by = rng.randint(1, order.leaves_qty)
            if by == order.leaves_qty:
                book.remove(model.pop(order.order_id))
            else:
                book.reduce(order, by)
                order.qty -= by
        book.check_invariants()
        for side, pick in ((Side.BUY, max), (Side.SELL, min)):
            prices = [o.price for o in model.values() if o.side is side]
            best = book.best(side)
            assert (best.price if best else None) == (pick(prices) if prices else None)
    assert set(book.orders) == set(model)
