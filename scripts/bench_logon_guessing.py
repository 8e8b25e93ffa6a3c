"""Does password guessing slow other sessions' orders? Prints order latency figures.

Starts the venue in-process (temporary data directory, SQLite) with a password on CLIENT2,
then measures CLIENT1's send-to-ack latency, one order in flight at a time, in three
phases: nobody guessing; a guesser trying wrong CLIENT2 passwords as fast as the venue
answers (backoff on: it is soon shut out); the same guesser with the backoff switched off
(every guess costs a scrypt check on the gatekeeper's thread). The issue this answers:
hashing on QuickFIX's acceptor thread raised another session's p99 from 3 to 18 ms.

    .venv/bin/python scripts/bench_logon_guessing.py --orders 2000
"""

from __future__ import annotations

import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixclient import FixClient  # noqa: E402

from venue.app import Venue  # noqa: E402
from venue.config import FIX_CONFIG_DIR, VenueSettings  # noqa: E402
from venue.fix.auth import Backoff, hash_password  # noqa: E402


def reference(path: Path) -> Path:
    text = (FIX_CONFIG_DIR / "venue.toml").read_text()
    hashed = hash_password("s3cret")
    text = text.replace(
        "[sessions.CLIENT2]\n", f'[sessions.CLIENT2]\nusername = "u2"\npassword_hash = "{hashed}"\n'
    )
    path.write_text(text)
    return path


def guess_once(port: int) -> None:
    stamp = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
    body = (
        f"35=A\x0149=CLIENT2\x0156=VENUE\x0134=1\x0152={stamp}\x0198=0\x01108=30\x01"
        "553=u2\x01554=wrong\x01"
    ).encode()
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(head + body + b"10=%03d\x01" % (sum(head + body) % 256))
        while raw.recv(4096):
            pass


def guess(port: int, stop: Any, count: Any) -> None:
    while not stop.is_set():
        guess_once(port)
        with count.get_lock():
            count.value += 1


def latencies(client: FixClient, orders: int, tag: str) -> list[float]:
    out = []
    for i in range(orders):
        cl = f"{tag}-{i}"
        started = time.perf_counter()
        client.new_order(cl, "AAPL", "1", 1, price="180.00")
        client.wait_for(lambda m, cl=cl: m.get(35) == "8" and m.get(11) == cl, 10)
        out.append((time.perf_counter() - started) * 1000)
        if i % 200 == 199:  # keep the book small: cancel what rests
            client.send("q", [(11, f"{cl}-mc"), (530, "7"), (60, client.utc_now())])
    return out


def figures(name: str, values: list[float], guesses: int, seconds: float) -> None:
    values = sorted(values)
    p = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    print(
        f"{name:<28} orders {len(values):>5}  p50 {statistics.median(values):6.2f} ms  "
        f"p99 {p(0.99):6.2f} ms  max {values[-1]:6.2f} ms  guesses answered "
        f"{guesses:>4} ({guesses / seconds:5.1f}/s)"
    )


@click.command()
@click.option("--orders", default=2000, help="orders per phase")
def main(orders: int) -> None:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        port = 0
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        venue = Venue(
            VenueSettings(
                port=port,
                data_dir=Path(tmp) / "data",
                reference_config=reference(Path(tmp) / "venue.toml"),
            )
        )
        venue.start()
        try:
            client = FixClient.connect(port)
            latencies(client, 200, "warm")
            for phase, backoff in (("nobody guessing", None), ("guessing, backoff on", True),
                                   ("guessing, backoff off", False)):  # fmt: skip
                if backoff is False:
                    guard = venue.gateway._guard
                    guard.comp_ids = Backoff(10**9)
                    guard.addresses = Backoff(10**9)
                # The guesser is another process: in this one it would compete for the GIL.
                stop = context.Event()
                count = context.Value("i", 0)
                guesser = context.Process(target=guess, args=(port, stop, count), daemon=True)
                started = time.monotonic()
                if backoff is not None:
                    guesser.start()
                values = latencies(client, orders, phase.replace(" ", "")[:8])
                stop.set()
                if backoff is not None:
                    guesser.join()
                figures(phase, values, count.value, time.monotonic() - started)
            client.close()
        finally:
            venue.stop()


if __name__ == "__main__":
    main()
