"""Randomized tests of the kernel: invariants after every step, replay determinism.

In the manner of sortedcontainers' stress tests: a fixed seed, many random actions,
`check_invariants()` after each one, plus a hypothesis state machine over the same actions.
"""

from __future__ import annotations

import dataclasses
import random

from core_helpers import SYMBOLS, cancel, kernel, new, px, query, reference, replace
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from venue.domain.commands import BustTrade, MassCancel, OperatorAction, SessionDisconnected
from venue.domain.events import OrderFilled, OrderRestated, OrderTriggered, TradeExecuted
from venue.domain.reference import StpMode
from venue.domain.values import OrdStatus, OrdType, Side, TimeInForce
from venue.kernel import Kernel

SESSIONS = ("C1", "C2", "C3", "C4")
TIFS = (TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK)


def random_control(rng: random.Random, session: str, symbol: str, n: int):
    roll = rng.random()
    if roll < 0.3:
        return MassCancel(session, f"m{n}", rng.choice(["1", "7"]), symbol)
    if roll < 0.5:
        return SessionDisconnected(session)
    if roll < 0.6:
        return BustTrade("ops", rng.randint(1, 50))
    action = rng.choice(["halt", "resume", "kill", "release", "cancel_all", "set_limit"])
    scope = {"halt": "instrument", "resume": "instrument"}.get(action) or rng.choice(
        ["session", "firm", "venue", "instrument"]
    )
    key = {"instrument": symbol, "session": session, "firm": "FIRM1", "venue": ""}[scope]
    if action == "set_limit":
        scope, key = "firm", "FIRM1"
        return OperatorAction("ops", action, scope, "stp_mode", rng.choice("RABD"))
    return OperatorAction("ops", action, scope, key)


def random_command(rng: random.Random, k: Kernel, n: int, controls: bool = True):
    session = rng.choice(SESSIONS)
    symbol = rng.choice(SYMBOLS)
    side = rng.choice("BS")
    mine = [o for o in k.live.values() if o.session == session]
    roll = rng.random()
    if mine and roll < 0.2:
        o = rng.choice(mine)
        return cancel(f"c{n}", o.cl_ord_id, o.side.name[0], session, o.symbol)
    if mine and roll < 0.4:
        o = rng.choice(mine)
        price = f"{rng.randint(95, 105)}.{rng.choice(['00', '50'])}"
        cmd = replace(
            f"r{n}", o.cl_ord_id, o.side.name[0], rng.randint(1, 300), price, session, o.symbol
        )
        if o.max_floor is not None and rng.random() < 0.9:
            cmd = dataclasses.replace(cmd, max_floor=rng.randint(1, cmd.qty))
        if o.ord_type.is_stop:
            stop_px = px(f"{rng.randint(95, 105)}.{rng.choice(['00', '50'])}")
            cmd = dataclasses.replace(
                cmd,
                ord_type=o.ord_type,
                price=cmd.price if o.ord_type is OrdType.STOP_LIMIT else None,
                stop_px=stop_px if o.is_parked else o.stop_px,
            )
        return cmd
    if roll < 0.43 and controls:
        return random_control(rng, session, symbol, n)
    if roll < 0.45:
        return query(rng.choice([o.cl_ord_id for o in mine] or ["none"]), side, session, symbol)
    price = None if rng.random() < 0.05 else f"{rng.randint(95, 105)}.{rng.choice(['00', '50'])}"
    qty = rng.randint(-1, 300) if rng.random() < 0.02 else rng.randint(1, 300)
    order = new(f"n{n}", side, qty, price, session, symbol, tif=rng.choice(TIFS))
    if rng.random() < 0.15:  # a stop or stop-limit; many are through the last price
        stop_px = px(f"{rng.randint(95, 105)}.{rng.choice(['00', '50'])}")
        kind = OrdType.STOP if price is None else OrdType.STOP_LIMIT
        tif = rng.choice((TimeInForce.DAY, TimeInForce.GTC))
        order = dataclasses.replace(order, ord_type=kind, stop_px=stop_px, tif=tif)
    elif price is not None and rng.random() < 0.1:
        order = dataclasses.replace(order, post_only=True)
    elif price is None and rng.random() < 0.3:  # market-to-limit
        order = dataclasses.replace(order, ord_type=OrdType.MARKET_TO_LIMIT)
    elif price is not None and rng.random() < 0.15 and qty > 0:  # an iceberg
        order = dataclasses.replace(order, max_floor=rng.randint(0, qty))
    if order.tif is TimeInForce.IOC and order.ord_type is not OrdType.STOP and rng.random() < 0.4:
        order = dataclasses.replace(order, min_qty=rng.randint(1, max(order.qty, 1)))
    elif rng.random() < 0.1:  # GTD, mostly by a time soon after now
        order = dataclasses.replace(
            order, tif=TimeInForce.GTD, expire_ts=k.last_ts + rng.randint(-2, 60)
        )
    if rng.random() < 0.2:
        order = dataclasses.replace(order, stp=rng.choice(list(StpMode)))
    return order


def check_events(events) -> None:
    """What every batch of events must satisfy on its own."""
    fills: dict[int, int] = {}
    for e in events:
        snap = getattr(e, "order", None)
        if snap is not None and snap.ord_type is not None:
            assert snap.cum_qty + snap.leaves_qty == snap.qty or snap.status.is_done, e
            assert snap.leaves_qty == 0 or not snap.status.is_done, e
            assert 0 <= snap.cum_qty <= snap.qty or snap.status is OrdStatus.REJECTED, e
        if isinstance(e, OrderFilled):
            fills[e.trade_id] = fills.get(e.trade_id, 0) + e.last_qty
        if isinstance(e, TradeExecuted):
            assert e.buy_firm != e.sell_firm, f"self-trade: {e}"
        if isinstance(e, OrderRestated):
            assert e.order.leaves_qty > 0
        if snap is not None and getattr(snap, "max_floor", None) is not None:
            # an iceberg never shows more than its peak (the book checks the level totals)
            assert snap.display_qty <= snap.max_floor, e
    trades = {e.trade_id: e.qty for e in events if isinstance(e, TradeExecuted)}
    assert {t: 2 * q for t, q in trades.items()} == fills, "each trade fills both sides"
    check_all_or_nothing(events)
    check_no_trade_through(events)
    check_stop_triggers(events)


def check_no_trade_through(events) -> None:
    """An aggressor never trades beyond its limit; a post-only order is never one."""
    for e in events:
        if isinstance(e, OrderFilled) and e.aggressor:
            assert not e.order.post_only, f"post-only order took liquidity: {e}"
        if isinstance(e, OrderFilled) and e.aggressor and e.order.price is not None:
            if e.order.side is Side.BUY:
                assert e.last_px <= e.order.price, e
            else:
                assert e.last_px >= e.order.price, e


def _triggers(snap, price: int) -> bool:
    return price >= snap.stop_px if snap.side is Side.BUY else price <= snap.stop_px


def check_stop_triggers(events) -> None:
    """A stop triggers only after a trade at or through its stop price and is reported
    before its first fill. Stops enter in batches: the first batch is every stop the
    command's own trades triggered, the next every stop the previous batch's trades
    triggered, and so on; within a batch, in accept order (order id)."""
    trades = [(i, e.price) for i, e in enumerate(events) if isinstance(e, TradeExecuted)]
    triggered = []  # (event index, index of the first trade through the stop, order id)
    for i, e in enumerate(events):
        if isinstance(e, OrderTriggered):
            first = next((j for j, p in trades if j < i and _triggers(e.order, p)), None)
            assert first is not None, f"stop triggered without a trade through it: {e}"
            assert e.order.cum_qty == 0
            triggered.append((i, first, e.order.order_id))
    while triggered:
        formed_at = triggered[0][0]
        batch = [t for t in triggered if t[1] < formed_at]
        assert batch == triggered[: len(batch)], f"a stop entered out of its batch: {triggered}"
        ids = [t[2] for t in batch]
        assert ids == sorted(ids), f"stops of one batch not in accept order: {ids}"
        triggered = triggered[len(batch) :]


def check_all_or_nothing(events) -> None:
    """A FOK order ends the command filled in full or without any fill, an IOC with MinQty
    without any fill or with at least MinQty; self-trade prevention and all order types
    included."""
    last = {}
    for e in events:
        snap = getattr(e, "order", None)
        if type(e).__name__ in ("OrderTradeCanceled", "OrderStatusReported"):
            continue  # a bust later takes fills back; a status answer changes nothing
        if snap is not None and (snap.tif is TimeInForce.FOK or snap.min_qty is not None):
            last[snap.order_id] = snap
    for snap in last.values():
        if snap.status is OrdStatus.REJECTED:
            continue
        assert snap.status.is_done, f"FOK or MinQty IOC left live: {snap}"
        if snap.tif is TimeInForce.FOK:
            assert snap.cum_qty in (0, snap.qty), f"FOK partly filled: {snap}"
        if snap.min_qty is not None:
            assert snap.cum_qty == 0 or snap.cum_qty >= snap.min_qty, f"MinQty broken: {snap}"


def test_random_commands_keep_every_invariant_and_replay_identically():
    rng = random.Random(20261122)
    k = kernel()
    log = []
    for n in range(4000):
        command = random_command(rng, k, n)
        ts = 1_000_000 + n * rng.randint(0, 3)
        events = k.handle(command, ts)
        log.append((command, ts, events))
        check_events(events)
        k.check_invariants()
    assert any(isinstance(e, TradeExecuted) for _, _, events in log for e in events)

    replayed = kernel()
    for command, ts, events in log:
        assert replayed.handle(command, ts) == events
    assert (replayed.counters.seq, replayed.counters.order_id, replayed.counters.trade_id) == (
        k.counters.seq,
        k.counters.order_id,
        k.counters.trade_id,
    )


def test_random_order_types_without_operator_actions_keep_every_invariant():
    """The same mix without halts, kill switches and busts, so that far more orders trade:
    stops trigger and cascade, FOKs meet self-trade prevention."""
    rng = random.Random(131)
    k = kernel()
    log = []
    seen: set[str] = set()
    hidden = False
    for n in range(3000):
        command = random_command(rng, k, n, controls=False)
        events = k.handle(command, n)
        log.append((command, n, events))
        seen.update(type(e).__name__ for e in events)
        hidden = hidden or any(
            getattr(e, "order", None) is not None
            and e.order.max_floor is not None
            and not e.order.status.is_done
            and e.order.leaves_qty > e.order.display_qty
            for e in events
        )
        check_events(events)
        k.check_invariants()
    assert {"OrderTriggered", "TradeExecuted", "OrderRestated", "OrderExpired"} <= seen
    assert hidden, "no iceberg ever rested with hidden quantity"
    replayed = kernel()
    for command, ts, events in log:
        assert replayed.handle(command, ts) == events
    restored = Kernel.restore(reference(), k.export_state())
    restored.check_invariants()
    assert restored.export_state() == k.export_state()


def test_done_orders_never_come_back():
    rng = random.Random(7)
    k = kernel()
    done: set[int] = set()
    for n in range(2000):
        for e in k.handle(random_command(rng, k, n), n):
            snap = getattr(e, "order", None)
            if snap is None or type(e).__name__ in (
                "OrderStatusReported",
                "CancelRejected",
                "OrderTradeCanceled",
            ):
                continue
            assert snap.order_id not in done, f"event for finished order: {e}"
            if snap.status.is_done:
                done.add(snap.order_id)
    assert not done & set(k.live)
    assert all(o.status in (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED) for o in k.live.values())


class KernelMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.k = kernel()
        self.n = 0

    @rule(seed=st.integers(0, 2**32 - 1))
    def act(self, seed: int) -> None:
        self.n += 1
        rng = random.Random(seed)
        check_events(self.k.handle(random_command(rng, self.k, self.n), self.n))

    @invariant()
    def book_is_consistent(self) -> None:
        self.k.check_invariants()


TestKernelMachine = KernelMachine.TestCase
TestKernelMachine.settings = settings(max_examples=60, stateful_step_count=60, deadline=None)


def test_restoring_a_snapshot_at_any_point_gives_the_same_future():
    import orjson

    from venue.domain.commands import ExpireDayOrders

    rng = random.Random(99)
    k = kernel()
    never_restored = kernel()
    for n in range(3000):
        if n % 250 == 249:
            state = orjson.loads(orjson.dumps(k.export_state()))
            restored = Kernel.restore(k.reference, state)
            restored.check_invariants()
            assert restored.export_state() == k.export_state()
            k = restored
        command = ExpireDayOrders(n - 50) if n % 700 == 699 else random_command(rng, k, n)
        events = k.handle(command, n)
        assert events == never_restored.handle(command, n)
        check_events(events)
