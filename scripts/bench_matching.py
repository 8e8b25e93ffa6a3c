"""Matching-core benchmark: a plain limit-order stream through the kernel, with and without
stops and icebergs resting. Prints figures; asserts nothing about time.

    .venv/bin/python scripts/bench_matching.py                  # 50k orders, 3 rounds each
    .venv/bin/python scripts/bench_matching.py --orders 20000 --rounds 5

The stream is the same in every case (a fixed seed): new Day limit orders of four firms,
buys and sells priced 99.00-101.00 so that about half of them trade. The "resting" case
first parks --stops stop orders that this stream never triggers (buy stops above 150, sell
stops below 50) and rests --icebergs icebergs outside the stream's range (asks at
110-120, bids at 80-90, peak 10 of 1000), so what it measures is what their presence
costs every plain order: the stop trigger check after each trade, the larger book.
The kernel runs in this process, without journal, FIX or SQL; the best round is printed.

The floor (issue 11: the kernel at least 0.25x of it, CPU time): a bare price-time book, a
SortedDict of price -> deque per side and nothing else (no validation, risk, self-trade
prevention, order state or events beyond one tuple per fill), on the same stream.
`--stream liquibook` uses liquibook's benchmark stream instead: buys at 18.80-18.89 and
sells at 18.84-18.93 in turn, 100-1,000 lots.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import time
from collections import deque

from sortedcontainers import SortedDict

from venue.domain.commands import NewOrder
from venue.domain.reference import Instrument, Reference, SessionInfo
from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce
from venue.kernel import Kernel

CENT = PRICE_SCALE // 100
SESSIONS = ("C1", "C2", "C3", "C4")


def reference() -> Reference:
    return Reference(
        {"AAPL": Instrument("AAPL", CENT)},
        {s: SessionInfo(s, f"FIRM{i}") for i, s in enumerate(SESSIONS)},
    )


def stream(n: int, seed: int = 7) -> list[NewOrder]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        price = (9_900 + rng.randint(0, 200)) * CENT
        out.append(
            NewOrder(
                rng.choice(SESSIONS), f"o{i}", "AAPL", side, OrdType.LIMIT, TimeInForce.DAY,
                rng.randint(1, 100), price,
            )
        )  # fmt: skip
    return out


def liquibook_stream(n: int, seed: int = 7) -> list[NewOrder]:
    """liquibook's benchmark: buys 18.80-18.89 and sells 18.84-18.93 in turn, 100-1,000."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        buy = i % 2 == 0
        cents = (1_880 if buy else 1_884) + rng.randint(0, 9)
        out.append(
            NewOrder(
                SESSIONS[i % 4], f"o{i}", "AAPL", Side.BUY if buy else Side.SELL, OrdType.LIMIT,
                TimeInForce.DAY, rng.randint(1, 10) * 100, cents * CENT,
            )
        )  # fmt: skip
    return out


class BareBook:
    """The floor: price-time matching of limit orders and nothing else."""

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()  # -price -> deque of [order_id, qty]
        self.asks: SortedDict = SortedDict()  # price -> deque of [order_id, qty]

    def add(self, order_id: int, buy: bool, price: int, qty: int) -> list[tuple]:
        fills = []
        opposite, key = (self.asks, 1) if buy else (self.bids, -1)
        while qty and opposite:
            best, level = opposite.peekitem(0)
            if (best > price) if buy else (-best < price):
                break
            maker = level[0]
            take = min(qty, maker[1])
            fills.append((maker[0], order_id, best * key, take))
            qty -= take
            maker[1] -= take
            if not maker[1]:
                level.popleft()
                if not level:
                    del opposite[best]
        if qty:
            side, at = (self.bids, -price) if buy else (self.asks, price)
            level = side.get(at)
            if level is None:
                level = side[at] = deque()
            level.append([order_id, qty])
        return fills


def run_bare(orders: list[NewOrder]) -> tuple[float, int]:
    book = BareBook()
    gc.collect()
    trades = 0
    started = time.process_time()
    for i, cmd in enumerate(orders):
        assert cmd.price is not None
        trades += len(book.add(i, cmd.side is Side.BUY, cmd.price, cmd.qty))
    return time.process_time() - started, trades


def resting(stops: int, icebergs: int) -> list[NewOrder]:
    rng = random.Random(11)
    out = []
    for i in range(stops):
        buy = i % 2 == 0
        stop_px = (15_000 + rng.randint(0, 5_000) if buy else 1_000 + rng.randint(0, 3_900)) * CENT
        out.append(
            NewOrder(
                SESSIONS[i % 4], f"st{i}", "AAPL", Side.BUY if buy else Side.SELL, OrdType.STOP,
                TimeInForce.GTC, 10, None, stop_px=stop_px,
            )
        )  # fmt: skip
    for i in range(icebergs):
        buy = i % 2 == 0
        price = (8_000 + rng.randint(0, 1_000) if buy else 11_000 + rng.randint(0, 1_000)) * CENT
        cmd = NewOrder(
            SESSIONS[i % 4], f"ice{i}", "AAPL", Side.BUY if buy else Side.SELL, OrdType.LIMIT,
            TimeInForce.GTC, 1_000, price,
        )  # fmt: skip
        out.append(dataclasses.replace(cmd, max_floor=10))
    return out


def run(orders: list[NewOrder], setup: list[NewOrder]) -> tuple[float, int]:
    kernel = Kernel(reference())
    ts = 1
    for cmd in setup:
        kernel.handle(cmd, ts)
        ts += 1
    gc.collect()
    trades = 0
    started = time.process_time()
    for cmd in orders:
        trades += sum(1 for e in kernel.handle(cmd, ts) if type(e).__name__ == "TradeExecuted")
        ts += 1
    took = time.process_time() - started
    engine = kernel.engines["AAPL"]
    parked = getattr(engine, "parked", ())  # absent before stops existed (a baseline run)
    assert len(parked) == sum(1 for c in setup if c.ord_type is OrdType.STOP)
    return took, trades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stops", type=int, default=1_000)
    parser.add_argument("--icebergs", type=int, default=200)
    parser.add_argument("--stream", choices=("plain", "liquibook"), default="plain")
    args = parser.parse_args()
    orders = (liquibook_stream if args.stream == "liquibook" else stream)(args.orders)
    cases = {"plain book": []}
    if args.stream == "plain":  # liquibook's prices would trigger the resting stops
        cases[f"{args.stops} stops + {args.icebergs} icebergs resting"] = resting(
            args.stops, args.icebergs
        )
    best: dict[str, float] = {}
    bare = float("inf")
    bare_trades = 0
    for _ in range(args.rounds):  # interleaved, so that a noisy moment hits every case
        for name, setup in cases.items():
            took, trades = run(orders, setup)
            best[name] = min(best.get(name, took), took)
        took, bare_trades = run_bare(orders)
        bare = min(bare, took)
    print(f"stream {args.stream}, {args.orders:,} orders; CPU time, best of {args.rounds}")
    base = None
    for name, took in best.items():
        rate = args.orders / took
        base = base or rate
        print(
            f"{name:40s} {rate:10,.0f} orders/s  ({took:.3f} s for {args.orders:,}, "
            f"{trades:,} trades; {100 * (rate / base - 1):+.1f}% vs plain)"
        )
    print(
        f"{'bare book (floor)':40s} {args.orders / bare:10,.0f} orders/s  ({bare:.3f} s, "
        f"{bare_trades:,} fills)"
    )
    ratio = bare / best["plain book"]
    print(f"kernel / bare book = {ratio:.3f} (issue 11 target >= 0.25)")


if __name__ == "__main__":
    main()
