"""CPU per order of the venue's own order path, in process (venue/testing/harness.py).

What runs per order is the live venue's code between FIX text in and FIX text out:
FixGateway._from_app (parse, bounds, decode), Venue._process (kernel.handle, journal
record, journal append with fsync off, metrics), _release (report encode, drop copies),
market-data publish (a no-op in the harness: no feed thread) and the markers. QuickFIX's
session layer and sockets are not in it. The harness's FakeGateway stands where QuickFIX
stands: its send parses each outgoing text back into a dict. That cost is timed alone on
the same texts and subtracted ("venue" column); "total" includes it.

Loads, each on a fresh venue per round:
    rest     limit orders that rest (loadgen's order tails: 5 symbols, 2 sides, prices
             0.2-4% away from the reference): one ack, one copy
    cross    with --orders sells resting on AAPL at 190.00 x 100, buys of 100 at 190.00,
             each filling one resting sell: ack + 2 fills, 3 copies
each with the DROPCOPY session logged on (live copies to it; DROPCOPY1/5 logged off: owed)
and without any drop-copy session logged on.

    .venv/bin/python scripts/bench_orderpath.py                    # 5,000 orders, best of 5
    .venv/bin/python scripts/bench_orderpath.py --orders 2000 --rounds 3 --loads rest
    .venv/bin/python scripts/bench_orderpath.py --profile cross-copy   # cProfile one load

Figures are CPU time (time.process_time) over the timed orders, best round; print `uptime`
with them (the box is shared).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import quickfix

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402

from venue.fix.application import FixGateway  # noqa: E402
from venue.testing.harness import VENUE_COMP_ID, Harness  # noqa: E402

TRADERS = ("CLIENT1", "CLIENT2")
COPY = "DROPCOPY"
WARMUP = 500
STAMP = "20261204-18:00:00.000"


def fields_of(body: str) -> list[tuple[int, str]]:
    return [(int(t), v) for t, _, v in (kv.partition("=") for kv in body.split("\x01") if kv)]


class Run:
    """One fresh venue with its sessions logged on and the order texts built in advance."""

    def __init__(self, copies: bool) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="bench-orderpath-")
        self.h = Harness(Path(self.dir.name))
        self.sessions = [*TRADERS, COPY] if copies else list(TRADERS)
        for session in self.sessions:
            self.h.logon(session)
        self.ids = {
            s: quickfix.SessionID(self.h.begin_string(s), VENUE_COMP_ID, s) for s in TRADERS
        }
        self.gateway = cast(FixGateway, self.h.gateway)

    def text(self, session: str, body: str) -> tuple[str, Any, str]:
        return session, self.ids[session], self.h.text(session, "D", fields_of(body))

    def feed(self, texts: list[tuple[str, Any, str]]) -> None:
        """What Harness.send_text does, with the SessionIDs made beforehand."""
        h, gateway, sessions = self.h, self.gateway, self.sessions
        for _, session_id, text in texts:
            FixGateway._from_app(gateway, text, session_id)
            h.pump()
            for session in sessions:
                h.received(session)

    def close(self) -> None:
        self.h.close()
        self.dir.cleanup()


def resting(run: Run, n: int, prefix: str) -> list[tuple[str, Any, str]]:
    tails = loadgen.TAILS
    return [
        run.text(
            TRADERS[i % 2],
            f"11={prefix}{i}\x0160={STAMP}{tails[i % len(tails)].decode()}",
        )
        for i in range(n)
    ]


def crossing(run: Run, n: int, prefix: str) -> list[tuple[str, Any, str]]:
    """Rests n sells now (not timed); returns n buys that each fill one of them."""
    order = "\x0155=AAPL\x0154={}\x0138=100\x0140=2\x0144=190.00\x0159=0\x01"
    sells = [
        run.text("CLIENT2", f"11={prefix}s{i}\x0160={STAMP}{order.format(2)}") for i in range(n)
    ]
    run.feed(sells)
    return [
        run.text("CLIENT1", f"11={prefix}b{i}\x0160={STAMP}{order.format(1)}") for i in range(n)
    ]


LOADS: dict[str, tuple[Callable[[Run, int, str], list[tuple[str, Any, str]]], bool]] = {
    "rest-copy": (resting, True),
    "rest-nocopy": (resting, False),
    "cross-copy": (crossing, True),
    "cross-nocopy": (crossing, False),
}


def fake_gateway_cost(run: Run, start: dict[str, int]) -> float:
    """CPU seconds of FakeGateway._send alone on the texts the timed orders produced."""
    gateway = run.h.gateway
    sent = [(s, t) for s, texts in gateway.sent_text.items() for t in texts[start.get(s, 0) :]]
    t0 = time.process_time()
    for session, text in sent:
        gateway._send(session, text)
    took = time.process_time() - t0
    for session in gateway.delivered:
        gateway.delivered[session] = []
    return took


def one_round(
    load: str, n: int, profile: cProfile.Profile | None = None
) -> tuple[float, float, int]:
    """(CPU seconds of n orders, of which the fake gateway's sends, messages sent)."""
    make, copies = LOADS[load]
    run = Run(copies)
    try:
        run.feed(resting(run, WARMUP, "w"))  # warm the caches, the book has some depth
        texts = make(run, n, "m")
        start = {s: len(t) for s, t in run.h.gateway.sent_text.items()}
        gc.collect()
        if profile is not None:
            profile.enable()
        t0 = time.process_time()
        run.feed(texts)
        cpu = time.process_time() - t0
        if profile is not None:
            profile.disable()
        sent = sum(len(t) - start.get(s, 0) for s, t in run.h.gateway.sent_text.items())
        fake = fake_gateway_cost(run, start)
        return cpu, fake, sent
    finally:
        run.close()


def child_round(tree: str, load: str, n: int) -> tuple[float, float, int]:
    """One round in a fresh interpreter importing venue from `tree` (PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run(
        [sys.executable, __file__, "--one", load, "--orders", str(n)],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    answer = json.loads(out.splitlines()[-1])
    if Path(answer["venue"]).resolve().is_relative_to(Path(tree).resolve()) is False:
        raise SystemExit(f"{tree}: the child imported venue from {answer['venue']}")
    return answer["cpu"], answer["fake"], answer["sent"]


def best(rounds: list[tuple[float, float, int]]) -> tuple[float, float, int]:
    """The least CPU of the rounds, less the least fake-gateway time (the same sends each
    round: its least is its best estimate; taking it from the same round would favour a
    round whose fake part happened to be slow)."""
    return min(r[0] for r in rounds), min(r[1] for r in rounds), rounds[0][2]


def row(label: str, load: str, n: int, best: tuple[float, float, int]) -> float:
    cpu, fake, sent = best
    venue = (cpu - fake) / n
    print(
        f"{label:<10} {load:<13} {sent / n:>10.1f} {cpu / n * 1e6:>9.1f} {fake / n * 1e6:>10.1f} "
        f"{venue * 1e6:>9.1f} {1 / venue:>14,.0f}",
        flush=True,
    )
    return venue


def loadavg() -> str:
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000, help="timed orders per round")
    parser.add_argument("--rounds", type=int, default=5, help="best of this many rounds")
    parser.add_argument("--loads", default=",".join(LOADS), help=f"of {','.join(LOADS)}")
    parser.add_argument("--profile", metavar="LOAD", help="cProfile one round of LOAD instead")
    parser.add_argument(
        "--compare", metavar="TREE",
        help="also run another checkout's venue (e.g. a worktree of main), rounds alternating",
    )  # fmt: skip
    parser.add_argument("--one", metavar="LOAD", help=argparse.SUPPRESS)  # child of --compare
    args = parser.parse_args()
    n = args.orders
    if args.one:
        import venue

        cpu, fake, sent = one_round(args.one, n)
        print(json.dumps({"cpu": cpu, "fake": fake, "sent": sent, "venue": venue.__file__}))
        return
    print(loadavg())
    if args.profile:
        profile = cProfile.Profile()
        one_round(args.profile, n, profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(35)
        return
    print(f"{n} timed orders per round, best of {args.rounds} (CPU time, process_time)")
    print(
        f"{'venue':<10} {'load':<13} {'msgs/order':>10} {'total us':>9} {'fake gw us':>10} "
        f"{'venue us':>9} {'venue orders/s':>14}"
    )
    here = str(Path(__file__).resolve().parent.parent)
    for load in args.loads.split(","):
        if not args.compare:
            rounds = [one_round(load, n) for _ in range(args.rounds)]
            row("this", load, n, best(rounds))
            continue
        trees = {"other": args.compare, "this": here}
        got: dict[str, list[tuple[float, float, int]]] = {name: [] for name in trees}
        for i in range(args.rounds):
            order = list(trees) if i % 2 == 0 else list(trees)[::-1]
            for name in order:
                got[name].append(child_round(trees[name], load, n))
        other = row("other", load, n, best(got["other"]))
        this = row("this", load, n, best(got["this"]))
        print(f"{'':<10} {load:<13} this/other venue CPU per order: {this / other:.2f}")
    print(loadavg())


if __name__ == "__main__":
    main()
