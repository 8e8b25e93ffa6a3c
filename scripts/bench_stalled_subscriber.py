"""A market-data subscriber that stops reading under load (issue 12).

Starts `venue run` (as scripts/soak_memory.py does: real process, loopback, fresh data
directory, fsync on, scripts/bench_nochecks.toml), logs on CLIENT1 (buys) and CLIENT2
(sells) sending soak_memory's balanced mix open loop at --rate orders/s on AAPL, and
MDFEED1 subscribed to AAPL at full depth (bids, offers, trades). MDFEED1 reads for
--stall-at seconds, then stops reading for --stall seconds, then reads again (or, if the
venue cut it off as a slow consumer, logs on again and subscribes again).

Prints every 10 s: the venue's RSS, orders sent, what MDFEED1 has read and whether it is
connected; at the end: order-entry latency (send to first report) p50/p99 before, during
and after the stall, and the venue's log lines about slow consumers.

    .venv/bin/python scripts/bench_stalled_subscriber.py                    # 1,000/s, 100 s
    .venv/bin/python scripts/bench_stalled_subscriber.py --cap-mb 4 --no-hop
"""

from __future__ import annotations

import os
import select
import socket
import sys
import tempfile
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import VENUE, Target, frame, running, utc_stamp  # noqa: E402
from soak_memory import REFERENCE, Client, rss_mb  # noqa: E402


class Subscriber:
    """MDFEED1 over a raw socket: subscribes, reads when told to, counts bytes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.read_bytes = 0
        self.cuts = 0
        self.sock: socket.socket | None = None
        self.connect()

    def connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.seq = 0
        self.send(b"A", b"98=0\x01108=30\x01141=Y\x01")
        answer = b""
        while b"\x0110=" not in answer:  # the venue's Logon, before anything else is sent
            if not (data := self.sock.recv(4096)):
                raise ConnectionError(f"MDFEED1: logon refused: {answer!r}")
            answer += data
        self.read_bytes += len(answer)
        self.send(
            b"V",
            b"262=s1\x01263=1\x01264=0\x01265=1\x01267=3\x01269=0\x01269=1\x01269=2\x01"
            b"146=1\x0155=AAPL\x01",
        )
        self.sock.setblocking(False)

    def send(self, msg_type: bytes, fields: bytes) -> None:
        assert self.sock is not None
        self.seq += 1
        self.last_send = time.monotonic()
        body = b"35=%s\x0134=%d\x0149=MDFEED1\x0152=%s\x0156=VENUE\x01%s" % (
            msg_type, self.seq, utc_stamp(), fields,
        )  # fmt: skip
        self.sock.sendall(frame(body))

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def drain(self) -> None:
        """Read what is there (answering nothing: heartbeats are 30 s apart)."""
        if self.sock is None:
            return
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # cut off
                self.sock.close()
                self.sock = None
                self.cuts += 1
                return
            self.read_bytes += len(data)


def percentiles(values: list[float]) -> str:
    if not values:
        return "no orders"
    values = sorted(values)
    p50 = values[len(values) // 2] * 1000
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))] * 1000
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(values):,} orders)"


def run(port: int, pid: int, rate: float, seconds: float, stall_at: float, stall: float,
        book: int, echo) -> dict[str, list[float]]:  # fmt: skip
    buyer, seller = Client(port, "CLIENT1", b"1"), Client(port, "CLIENT2", b"2")
    for c in (buyer, seller):
        c.logon()
    md = Subscriber(port)
    clients = [buyer, seller]
    pattern = [(buyer, 3), (seller, 3), (buyer, -1), (seller, 2), (buyer, 2), (seller, -1)]
    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    interval = 1.0 / rate
    start = time.monotonic()
    next_send, next_print, sent = start, start + 10, 0
    end = start + seconds
    while (now := time.monotonic()) < end:
        elapsed = now - start
        phase = (
            "before" if elapsed < stall_at else "during" if elapsed < stall_at + stall else "after"
        )
        while next_send <= now:
            client, ticks = pattern[sent % len(pattern)]
            if not (ticks > 0 and len(client.resting) > book // 2 and client.cancel_oldest(now)):
                client.new_order(ticks if ticks > 0 else -(3 + (sent // 6) % 3), now)
            sent += 1
            next_send += interval
        reading = phase != "during"
        if reading and md.sock is None:
            md.connect()  # cut off during the stall: log on and subscribe again
        if md.sock is not None and now - md.last_send > 10:
            md.send(b"0", b"")  # it stops reading, not sending: QuickFIX keeps it logged on
        watch = [*clients, md] if reading and md.sock is not None else clients
        timeout = max(0.0, min(next_send, next_print) - time.monotonic())
        ready, _, _ = select.select(watch, [], [], timeout)
        now = time.monotonic()
        for c in ready:
            if c is md:
                md.drain()
            else:
                phases[phase] += c.receive(now)
        if now >= next_print:
            next_print += 10
            echo(
                f"t={now - start:5.0f} s [{phase:6}] venue RSS {rss_mb(pid):7.1f} MB, "
                f"{sent:,} orders sent, MDFEED1 read {md.read_bytes / 1e6:.1f} MB, "
                f"{'connected' if md.sock is not None else 'cut off'} "
                f"({md.cuts} cut{'s' if md.cuts != 1 else ''})"
            )
    for c in clients:
        c.send(b"5", b"")
        c.sock.close()
    return phases


@click.command()
@click.option("--rate", default=1000.0, show_default=True, help="orders (and cancels) per second")
@click.option("--seconds", default=100.0, show_default=True, help="duration of the load")
@click.option("--stall-at", default=20.0, show_default=True, help="MDFEED1 stops reading then")
@click.option("--stall", default=60.0, show_default=True, help="for this many seconds")
@click.option("--book", default=600, show_default=True, help="resting orders to keep about")
@click.option("--cap-mb", default=None, type=int, help="VENUE_FIX_SEND_BUFFER_MB (default 16)")
@click.option("--no-hop", is_flag=True, help="VENUE_FIX_HOP=false: QuickFIX holds the bytes")
def main(rate: float, seconds: float, stall_at: float, stall: float, book: int,
         cap_mb: int | None, no_hop: bool) -> None:  # fmt: skip
    # soak_memory's reference data, plus the market-data session
    reference = Path(tempfile.mkdtemp(prefix="stalled-ref-")) / "venue.toml"
    reference.write_text(REFERENCE.read_text() + '\n[sessions.MDFEED1]\nrole = "market_data"\n')
    env = {"VENUE_REFERENCE_CONFIG": str(reference)}
    if cap_mb is not None:
        env["VENUE_FIX_SEND_BUFFER_MB"] = str(cap_mb)
    if no_hop:
        env["VENUE_FIX_HOP"] = "false"
    target = Target((*VENUE, "--port", "{port}", "--data-dir", "{data_dir}"), env=env)
    echo = lambda text: print(text, flush=True)  # noqa: E731
    echo(
        f"stalled subscriber: {rate:g} orders/s for {seconds:g} s, MDFEED1 (AAPL, full depth)"
        f" stops reading at {stall_at:g} s for {stall:g} s; hop {'off' if no_hop else 'on'}, "
        f"cap {cap_mb or 16} MB; {os.cpu_count()} CPUs (shared: other work slows it)"
    )
    with running("stalled", target, keep=False, start_timeout=60) as server:
        echo(f"venue pid {server.proc.pid}, RSS at start {rss_mb(server.proc.pid):.1f} MB")
        phases = run(server.port, server.proc.pid, rate, seconds, stall_at, stall, book, echo)
        log = server.log.read_bytes()
    reference.unlink()
    reference.parent.rmdir()
    for name, values in phases.items():
        echo(f"order entry {name:6}: {percentiles(values)}")
    for line in log.splitlines():
        if b"slow consumer" in line or (b"MDFEED1" in line and b"logged" in line):
            echo(line.decode(errors="replace"))


if __name__ == "__main__":
    main()
