"""Order-entry throughput with market-data sessions subscribed vs none (one short run each).

Starts the venue in-process (fresh temporary data directory, SQLite, journal fsync as
configured) with four market-data sessions MDFEED1..MDFEED4 (MDFEED2 on
FIX 4.2, the others FIX 4.4). Run A: no market-data
session logged on. Run B: all four logged on, each subscribed to every symbol at full depth
(bids, offers, trades, statistics) and read by its own thread. In both runs CLIENT1 and
CLIENT2 send crossing orders (closed loop, `--window` in flight per client): every pair
rests a level and trades it away, so each order changes the book.

Prints orders acknowledged per second for each run and the ratio B/A, plus the X messages
the subscribers received. Figures depend on the machine and its load: say what else ran.

    PYTHONPATH=. .venv/bin/python scripts/bench_marketdata.py --orders 4000
"""

from __future__ import annotations

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
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for msg in self.client.drain(0.05):
                self.x += msg.get(35) == "X"


def run(subscribed: bool, orders: int, window: int, echo) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        reference, acceptor = configs(tmp)
        settings = VenueSettings(
            port=free_port(), data_dir=tmp / "data",
            reference_config=reference, acceptor_config=acceptor,
        )  # fmt: skip
        venue = Venue(settings)
        venue.start()
        readers: list[Reader] = []
        try:
            port = venue.settings.port
            if subscribed:
                for name in FEEDS:
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
            buyer = FixClient.connect(port, sender="CLIENT1")
            seller = FixClient.connect(port, sender="CLIENT2")
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
            if subscribed:
                venue.marketdata.sync(30)
                time.sleep(0.5)
            x = sum(r.x for r in readers)
            echo(f"  {'4 MD sessions' if subscribed else 'no MD session'}: {orders} orders "
                 f"in {elapsed:.2f}s = {orders / elapsed:,.0f} orders/s; X received {x}; "
                 f"resyncs {venue.marketdata.resyncs}")  # fmt: skip
            return orders / elapsed, x
        finally:
            for reader in readers:
                reader.stop.set()
            venue.stop()


@click.command()
@click.option("--orders", default=4000, show_default=True)
@click.option("--window", default=32, show_default=True, help="orders in flight in total")
def main(orders: int, window: int) -> None:
    echo = click.echo
    echo(f"bench_marketdata: {orders} orders, {window} in flight")
    base, _ = run(False, orders, window, echo)
    with_md, _ = run(True, orders, window, echo)
    echo(f"ratio with 4 subscribed / none: {with_md / base:.2f}")


if __name__ == "__main__":
    main()
