"""Order-entry throughput with market-data sessions subscribed vs none, and the time from
a trade's reports to its X entry.

Starts the venue in-process (fresh temporary data directory, SQLite, journal fsync as
configured) with four market-data sessions MDFEED1..MDFEED4 (MDFEED2 on FIX 4.2, the others
FIX 4.4). Runs, in short alternating rounds (`--rounds`) so a shared machine's load falls
on both alike: no market-data session logged on; 1 subscribed; 4 subscribed. A subscribed
session asks for every symbol at full depth (bids, offers, trades, statistics) and is read
by its own thread, in a child process (reading in the venue's process would take its
interpreter lock, a cost a real subscriber does not put on the venue). In every run CLIENT1
and CLIENT2 send crossing orders (closed loop, `--window` in flight): every pair rests a
level and trades it away, so each order changes the book.

Prints orders acknowledged per second per run, the ratio of the 4-subscriber runs to the
runs with none, and the trade-to-X time measured inside the venue
(MarketDataService.trade_latencies: from the later of the trade's two fill reports handed
to QuickFIX, Venue._release, to each X carrying the trade handed to QuickFIX, one sample
per subscriber). With no subscriber no X is sent, so there is no such time. Figures depend
on the machine and its load: say what else ran.

    PYTHONPATH=. .venv/bin/python scripts/bench_marketdata.py --orders 6000 --rounds 2
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixclient import FixClient  # noqa: E402

from venue.app import Venue  # noqa: E402
from venue.config import VenueSettings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FEEDS = [f"MDFEED{n}" for n in range(1, 5)]
SYMBOLS = ["AAPL", "MSFT", "IBM", "TSLA", "SPY"]


def configs(tmp: Path) -> tuple[Path, Path]:
    toml = (ROOT / "fix_config" / "venue.toml").read_text()
    cfg = (ROOT / "fix_config" / "acceptor.cfg").read_text()
    for name in FEEDS[2:]:
        toml += f'\n[sessions.{name}]\nrole = "market_data"\n'
        cfg += (f"\n[SESSION]\nBeginString=FIX.4.4\nTargetCompID={name}\n"
                "DataDictionary=${venue_dict_dir}/FIX44MD.xml\n")  # fmt: skip
    toml = toml.replace("max_orders_per_second = 20000", "max_orders_per_second = 1000000")
    (tmp / "venue.toml").write_text(toml)
    (tmp / "acceptor.cfg").write_text(cfg)
    return tmp / "venue.toml", tmp / "acceptor.cfg"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Reader(threading.Thread):
    """Reads a market-data session as fast as it can, counting X messages."""

    def __init__(self, client: FixClient) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.x = 0
        self.w = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for msg in self.client.drain(0.05):
                self.x += msg.get(35) == "X"
                self.w += msg.get(35) == "W"


def read_feeds(port: int, names: list[str], ready, stop, result) -> None:
    """A child process: the market-data sessions, subscribed and read, so that reading
    them does not take the venue's interpreter lock. Puts the X count when told to stop."""
    readers = []
    for name in names:
        begin = "FIX.4.2" if name == "MDFEED2" else "FIX.4.4"
        md = FixClient.connect(port, sender=name, begin_string=begin)
        types = "012478" if name == "MDFEED2" else "012478B"
        fields = [(262, "all"), (263, "1"), (264, "0"), (267, str(len(types)))]
        fields += [(269, t) for t in types]
        fields += [(146, str(len(SYMBOLS)))] + [(55, s) for s in SYMBOLS]
        md.send("V", fields)
        readers.append(Reader(md))
    for reader in readers:
        reader.start()
    for reader in readers:  # each has its W's before the load starts
        deadline = time.monotonic() + 10
        while reader.w < len(SYMBOLS) and time.monotonic() < deadline:
            time.sleep(0.01)
    ready.set()
    stop.wait()
    for reader in readers:
        reader.stop.set()
    result.put(sum(r.x for r in readers))


class Feeds:
    """read_feeds in a child process (spawned: a fresh interpreter)."""

    def __init__(self, port: int, names: list[str]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.ready, self._stop, self.result = ctx.Event(), ctx.Event(), ctx.Queue()
        self.process = ctx.Process(
            target=read_feeds, args=(port, names, self.ready, self._stop, self.result)
        )
        self.process.start()
        if not self.ready.wait(60):
            raise RuntimeError("the market-data readers did not get their snapshots")

    def stop(self) -> int:
        self._stop.set()
        x = int(self.result.get(timeout=30))
        self.process.join(10)
        return x


def percentile(values: list[int], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1e6  # ms


def run(feeds: int, orders: int, window: int, echo) -> tuple[float, list[int]]:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        reference, acceptor = configs(tmp)
        settings = VenueSettings(
            port=free_port(), data_dir=tmp / "data",
            reference_config=reference, acceptor_config=acceptor,
        )  # fmt: skip
        venue = Venue(settings)
        venue.start()
        feed = Feeds(venue.settings.port, FEEDS[:feeds]) if feeds else None
        try:
            port = venue.settings.port
            buyer = FixClient.connect(port, sender="CLIENT1")
            seller = FixClient.connect(port, sender="CLIENT2")
            venue.marketdata.trade_latencies()  # forget anything before the load
            started = time.perf_counter()
            acked = 0
            sent = 0
            in_flight = 0
            while acked < orders:
                while in_flight < window and sent < orders:
                    symbol = SYMBOLS[(sent // 2) % len(SYMBOLS)]
                    price = "190.00" if symbol == "AAPL" else None
                    price = price or {"MSFT": "420.00", "IBM": "180.00", "TSLA": "250.00",
                                      "SPY": "500.00"}[symbol]  # fmt: skip
                    if sent % 2 == 0:
                        buyer.new_order(f"b{sent}", symbol, "1", 10, price=price)
                    else:
                        seller.new_order(f"s{sent}", symbol, "2", 10, price=price)
                    sent += 1
                    in_flight += 1
                for client in (buyer, seller):
                    for msg in client.drain(0.0005):
                        if msg.get(35) == "8" and msg.get(150) in ("0", "8"):
                            acked += 1
                            in_flight -= 1
            elapsed = time.perf_counter() - started
            latencies: list[int] = []
            x = 0
            if feed is not None:
                venue.marketdata.sync(30)
                latencies = venue.marketdata.trade_latencies()
                time.sleep(0.5)
                x = feed.stop()
                feed = None
            times = "no X without a subscriber"
            if latencies:
                p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
                times = f"trade->X p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(latencies)} samples)"
            echo(f"  {feeds} MD sessions: {orders} orders in {elapsed:.2f}s = "
                 f"{orders / elapsed:,.0f} orders/s; X received {x}; resyncs "
                 f"{venue.marketdata.resyncs}; {times}")  # fmt: skip
            buyer.close()
            seller.close()
            return orders / elapsed, latencies
        finally:
            if feed is not None:
                feed.stop()
            venue.stop()


@click.command()
@click.option("--orders", default=6000, show_default=True, help="orders per run")
@click.option("--rounds", default=2, show_default=True, help="rounds of 0, 4 and 1 subscribers")
@click.option("--window", default=32, show_default=True, help="orders in flight in total")
def main(orders: int, rounds: int, window: int) -> None:
    echo = click.echo
    echo(f"bench_marketdata: {rounds} rounds of {orders} orders per run, {window} in flight")
    rates: dict[int, list[float]] = {0: [], 1: [], 4: []}
    latencies: dict[int, list[int]] = {0: [], 1: [], 4: []}
    for n in range(rounds):
        echo(f"round {n + 1}")
        for feeds in (0, 4, 1):
            rate, times = run(feeds, orders, window, echo)
            rates[feeds].append(rate)
            latencies[feeds] += times
    total = {k: sum(v) / len(v) for k, v in rates.items()}
    echo(f"mean orders/s: none {total[0]:,.0f}, 1 subscribed {total[1]:,.0f}, "
         f"4 subscribed {total[4]:,.0f}")  # fmt: skip
    per_round = ", ".join(f"{b / a:.2f}" for a, b in zip(rates[0], rates[4], strict=True))
    echo(f"ratio with 4 subscribed / none: {total[4] / total[0]:.2f} (per round: {per_round})")
    for feeds in (1, 4):
        if latencies[feeds]:
            echo(f"trade->X with {feeds} subscribed, all rounds: "
                 f"p50 {percentile(latencies[feeds], 50):.2f} ms, "
                 f"p99 {percentile(latencies[feeds], 99):.2f} ms "
                 f"({len(latencies[feeds])} samples)")  # fmt: skip
    echo("trade->X with none subscribed: no X is sent")


if __name__ == "__main__":
    main()
