"""Randomized tests of the kernel: invariants after every step, replay determinism.

In the manner of sortedcontainers' stress tests: a fixed seed, many random actions,
`check_invariants()` after each one. The hypothesis state machine, whose failures shrink,
is in test_kernel_stateful.py.
"""

from __future__ import annotations

import dataclasses
import random

from core_helpers import SYMBOLS, cancel, kernel, new, query, replace

from venue.domain.commands import BustTrade, MassCancel, OperatorAction, SessionDisconnected
from venue.domain.events import OrderFilled, OrderRestated, TradeExecuted
from venue.domain.reference import StpMode
from venue.domain.values import OrdStatus, TimeInForce
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


def random_command(rng: random.Random, k: Kernel, n: int):
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
        return replace(
            f"r{n}", o.cl_ord_id, o.side.name[0], rng.randint(1, 300), price, session, o.symbol
        )
    if roll < 0.43:
        return random_control(rng, session, symbol, n)
    if roll < 0.45:
        return query(rng.choice([o.cl_ord_id for o in mine] or ["none"]), side, session, symbol)
    price = None if rng.random() < 0.05 else f"{rng.randint(95, 105)}.{rng.choice(['00', '50'])}"
    qty = rng.randint(-1, 300) if rng.random() < 0.02 else rng.randint(1, 300)
    order = new(f"n{n}", side, qty, price, session, symbol, tif=rng.choice(TIFS))
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
    trades = {e.trade_id: e.qty for e in events if isinstance(e, TradeExecuted)}
    assert {t: 2 * q for t, q in trades.items()} == fills, "each trade fills both sides"


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
