"""Call-auction uncross benchmark: one `uncross` of a book collected during a call.
Prints figures; asserts nothing about time.

    .venv/bin/python scripts/bench_uncross.py                   # 100,000 orders, best of 3
    .venv/bin/python scripts/bench_uncross.py --orders 1000000 --rounds 1
    .venv/bin/python scripts/bench_uncross.py --levels 100000   # a price level per order

The book (a fixed seed): limit orders at --levels prices (default 1,001: the cents within 5%
either side of a reference of 100.00; 100000 gives nearly one price per order), buys and
sells alike, so the middle of the book is crossed as after a pre-open
call; --market-pct of them (default 2) are market orders; quantities 1-1,000 in lots of 1;
time priority random. The uncross runs in this process on AuctionOrder values built
beforehand (what the kernel hands over); the time is `uncross` alone, best of --rounds,
and `indicative` (the figure a call recomputes on each change) is timed the same way.

--kernel N adds the whole auction in the kernel (phases, issue 14): N orders of the same
kind entered one by one during a pre-open call (each accepted, resting, and the indicative
recomputed from the price levels after it, as the venue does), then `venue ctl phase ...
auction`'s command: the uncross, every TradeExecuted and OrderFilled, the leftovers
canceled, the phase change and the kernel's bookkeeping of all of it. No journal, FIX or
SQL.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time
from collections.abc import Callable

from venue.domain.commands import NewOrder, OperatorAction
from venue.domain.reference import Instrument, Reference, SessionInfo
from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce
from venue.kernel import Kernel
from venue.matching.auction import AuctionOrder, indicative, uncross

REFERENCE = 100 * PRICE_SCALE


def book(n: int, market_pct: float, levels: int, seed: int = 14) -> list[AuctionOrder]:
    rng = random.Random(seed)
    step = REFERENCE // 10 // (levels - 1)  # levels prices spread over +-5% of the reference
    low = REFERENCE - step * (levels // 2)
    out = []
    for key in range(1, n + 1):
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        market = rng.random() * 100 < market_pct
        price = None if market else low + step * rng.randrange(levels)
        out.append(AuctionOrder(key, side, price, rng.randint(1, 1_000), rng.getrandbits(40)))
    return out


def kernel_auction(orders: list[AuctionOrder]) -> tuple[float, float, int]:
    """Enter the orders in a pre-open call, then run the auction command. Returns the
    milliseconds per order entered, the auction command's milliseconds and its events."""
    sessions = {f"C{i}": SessionInfo(f"C{i}", f"FIRM{i}") for i in range(4)}
    kernel = Kernel(
        Reference({"X": Instrument("X", PRICE_SCALE // 100, reference_price=REFERENCE)}, sessions)
    )
    ts = 1_800_000_000_000_000
    kernel.handle(OperatorAction("bench", "phase", "instrument", "X", value="pre-open"), ts)
    commands = [
        NewOrder(f"C{o.key % 4}", f"o{o.key}", "X", o.side,
                 OrdType.MARKET if o.price is None else OrdType.LIMIT, TimeInForce.DAY, o.qty,
                 o.price)
        for o in orders
    ]  # fmt: skip
    gc.collect()
    start = time.perf_counter()
    for command in commands:
        ts += 1
        kernel.handle(command, ts)
    entered = (time.perf_counter() - start) * 1000 / len(commands)
    start = time.perf_counter()
    events = kernel.handle(
        OperatorAction("bench", "phase", "instrument", "X", value="auction"), ts + 1
    )
    auction = (time.perf_counter() - start) * 1000
    kernel.check_invariants()
    return entered, auction, len(events)


def best_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--market-pct", type=float, default=2.0)
    parser.add_argument("--levels", type=int, default=1001, help="distinct limit prices")
    parser.add_argument(
        "--kernel", type=int, default=0, help="also the whole auction in the kernel, N orders"
    )
    args = parser.parse_args()

    orders = book(args.orders, args.market_pct, args.levels)
    reference = REFERENCE
    result, fills = uncross(orders, reference)
    load_before = os.getloadavg()
    uncross_ms = best_ms(lambda: uncross(orders, reference), args.rounds)
    indicative_ms = best_ms(lambda: indicative(orders, reference), args.rounds)
    load = os.getloadavg()
    markets = sum(o.price is None for o in orders)
    levels = len({o.price for o in orders if o.price is not None})
    price = "none" if result.price is None else f"{result.price / PRICE_SCALE:.2f}"
    side = result.surplus_side.name if result.surplus_side else "-"
    print(f"orders {len(orders):,} ({markets:,} market, {levels:,} price levels)")
    print(
        f"price {price} volume {result.volume:,} surplus {result.surplus:,} {side}, "
        f"fills {len(fills):,}"
    )
    print(f"uncross {uncross_ms:.1f} ms, indicative {indicative_ms:.1f} ms (best of {args.rounds})")
    if args.kernel:
        entered, auction, events = kernel_auction(book(args.kernel, args.market_pct, args.levels))
        print(
            f"kernel: {args.kernel:,} orders entered in a call at {entered * 1000:.0f} us each "
            f"(indicative included); the auction command {auction:.0f} ms, {events:,} events"
        )
        load = os.getloadavg()
    before = " ".join(f"{x:.2f}" for x in load_before)
    after = " ".join(f"{x:.2f}" for x in load)
    print(f"load average (1/5/15 min) before {before}, after {after}, cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
