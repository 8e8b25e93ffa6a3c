"""Memory soak: does the venue's RSS stay flat under a long balanced load with a bounded book?

Starts `venue run` (real process, real QuickFIX, loopback, fresh data directory, journal
fsync on, the reference data of scripts/bench_nochecks.toml so that no credit or throttle
limit ends the run), logs on CLIENT1 (buys) and CLIENT2 (sells) and sends orders open loop
at --rate orders/s for --minutes, in a balanced mix: passive orders that rest a few ticks
away from 100.00, aggressive ones that cross and trade against them, and cancels of the
oldest resting orders whenever more than --book of them rest. So the book stays at about
--book orders while the venue sees rate x duration orders.

Prints, once a minute: RSS of the venue process (and of its SQL projection child), orders
sent, reports received, resting orders, the worst gap between two reports while requests
were outstanding and the worst send-to-report latency of that minute. At the end: every
snapshot the venue logged (records, bytes, time on the kernel thread, time to encode and
write), the restart time on the data left behind, and the target: RSS after the last
minute within 10% of RSS after minute 2.

The floor (on by default, --no-floor to leave it out): in the same run, a bare QuickFIX
acceptor (scripts/bare_acceptor.py: the venue's acceptor.cfg, FileStore and message log, one
ExecutionReport per NewOrderSingle, nothing kept) gets one NewOrderSingle per report the
venue sent, so its FileStore stores as many outbound messages each minute as the venue's.
Its RSS growth is what QuickFIX's store and log cost for that traffic; each minute prints the
venue's growth, the floor's, and the venue's minus the floor's (what the venue itself adds).

    .venv/bin/python scripts/soak_memory.py                       # 2,000/s for 10 minutes
    .venv/bin/python scripts/soak_memory.py --rate 1000 --minutes 3
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import (  # noqa: E402
    BARE,
    LISTENING,
    VENUE,
    Target,
    frame,
    free_port,
    running,
    stop,
    utc_stamp,
)

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "scripts" / "bench_nochecks.toml"
SYMBOL = b"AAPL"
MID_CENTS = 10_000
QTY = 100
SOH = b"\x01"
SNAP_TAKEN = re.compile(rb"snapshot at record (\d+) taken: .*?([\d.]+) ms on the kernel thread")
SNAP_WRITTEN = re.compile(rb"snapshot at record (\d+) written: (\d+) bytes, .*? in ([\d.]+)s")
HEAP = re.compile(rb"heap: (\d+) objects frozen, .*")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of /proc/<pid>/status in MB (VmRSS, RssAnon: heap, RssFile: mapped)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class Client:
    """One FIX.4.4 session over a raw socket; tracks its resting orders from the reports."""

    def __init__(self, port: int, sender: str, side: bytes) -> None:
        self.sender, self.side = sender.encode(), side
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seq = 0
        self.inbuf = b""
        self.n = 0
        self.resting: dict[bytes, None] = {}  # ClOrdID -> None, oldest first
        self.canceling: set[bytes] = set()
        self.sent_at: dict[bytes, float] = {}
        self.reports = 0
        self.rejects = 0
        self.fills = 0
        self.logged_on = False
        self.texts: deque[str] = deque(maxlen=3)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, msg_type: bytes, fields: bytes) -> None:
        self.seq += 1
        body = b"35=%s\x0134=%d\x0149=%s\x0152=%s\x0156=VENUE\x01%s" % (
            msg_type, self.seq, self.sender, utc_stamp(), fields,
        )  # fmt: skip
        self.sock.sendall(frame(body))

    def logon(self) -> None:
        self.send(b"A", b"98=0\x01108=30\x01141=Y\x01")
        deadline = time.monotonic() + 10
        while not self.logged_on:
            if time.monotonic() > deadline:
                raise ConnectionError(f"{self.sender!r}: no logon answer {list(self.texts)}")
            self.receive(time.monotonic())

    def new_order(self, ticks_away: int, now: float) -> None:
        """ticks_away > 0: passive (rests); < 0: crosses the other side by that much."""
        self.n += 1
        cl = b"%s-%d" % (self.sender, self.n)
        sign = -1 if self.side == b"1" else 1
        cents = MID_CENTS + sign * ticks_away
        self.sent_at[cl] = now
        self.send(
            b"D",
            b"11=%s\x0155=%s\x0154=%s\x0160=%s\x0138=%d\x0140=2\x0144=%d.%02d\x0159=0\x01"
            % (cl, SYMBOL, self.side, utc_stamp(), QTY, *divmod(cents, 100)),
        )

    def cancel_oldest(self, now: float) -> bool:
        for orig in self.resting:
            if orig not in self.canceling:
                break
        else:
            return False
        self.canceling.add(orig)
        self.n += 1
        cl = b"%s-%d" % (self.sender, self.n)
        self.sent_at[cl] = now
        self.send(
            b"F",
            b"11=%s\x0141=%s\x0155=%s\x0154=%s\x0160=%s\x01"
            % (cl, orig, SYMBOL, self.side, utc_stamp()),
        )
        return True

    def receive(self, now: float) -> list[float]:
        """Read what is there; returns the latencies (s) of requests answered first now."""
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError(f"{self.sender!r}: connection closed {list(self.texts)}")
        buf = self.inbuf + data
        pos, answered = 0, []
        while (end := buf.find(b"\x0110=", pos)) >= 0 and end + 8 <= len(buf):
            msg = buf[pos:end]
            pos = end + 8
            fields = dict(f.split(b"=", 1) for f in msg.split(SOH) if b"=" in f)
            msg_type = fields.get(b"35")
            if msg_type == b"A":
                self.logged_on = True
            elif msg_type == b"1":
                self.send(b"0", b"112=%s\x01" % fields.get(b"112", b""))
            elif msg_type in (b"8", b"9"):
                self.reports += 1
                cl, status = fields.get(b"11", b""), fields.get(b"39", b"")
                started = self.sent_at.pop(cl, None)
                if started is not None:
                    answered.append(now - started)
                if fields.get(b"150") == b"F":
                    self.fills += 1
                if msg_type == b"9" or fields.get(b"150") == b"8":
                    self.rejects += 1
                    self.texts.append(fields.get(b"58", b"").decode(errors="replace"))
                    self.canceling.discard(fields.get(b"41", b""))
                elif status in (b"0", b"1") and fields.get(b"150") == b"0":
                    self.resting[cl] = None
                elif status in (b"2", b"4", b"C", b"8"):
                    for key in (cl, fields.get(b"41", b"")):
                        self.resting.pop(key, None)
                        self.canceling.discard(key)
            elif msg_type in (b"3", b"5", b"j"):
                self.texts.append(msg.decode(errors="replace"))
        self.inbuf = buf[pos:]
        return answered


class Floor:
    """The bare acceptor's client (CLIENT1 there): one NewOrderSingle per venue report, so
    that the bare acceptor stores one ExecutionReport for each report the venue stored."""

    def __init__(self, port: int, pid: int) -> None:
        self.pid = pid
        self.client = Client(port, "CLIENT1", b"1")
        self.client.logon()
        self.sent = 0

    def keep_up(self, reports: int, now: float) -> None:
        """Send what is owed: as many orders as the venue has sent reports (capped per call
        so that the soak's own sends are not held up)."""
        for _ in range(min(reports - self.sent, 200)):
            self.client.new_order(3, now)
            self.sent += 1

    def drain(self, now: float) -> None:
        self.client.receive(now)
        self.client.sent_at.clear()  # its latencies are not measured
        self.client.resting.clear()


def soak(
    port: int, pid: int, rate: float, seconds: float, book: int, echo, floor: Floor | None = None
) -> tuple[list[float], list[float]]:
    """Returns the venue's RSS after each minute and the floor's (empty without one)."""
    buyer, seller = Client(port, "CLIENT1", b"1"), Client(port, "CLIENT2", b"2")
    for c in (buyer, seller):
        c.logon()
    clients = [buyer, seller]
    # The mix, cycled: passive buy, passive sell, aggressive buy, passive sell, passive buy,
    # aggressive sell (a third of the orders cross), plus a cancel instead of a new passive
    # order whenever that side rests more than half the book.
    pattern = [(buyer, 3), (seller, 3), (buyer, -1), (seller, 2), (buyer, 2), (seller, -1)]
    interval = 1.0 / rate
    start = time.monotonic()
    next_send, next_minute, minute = start, start + 60, 0
    sent = 0
    last_report = start
    worst_gap = worst_latency = 0.0
    rss_by_minute: list[float] = []
    floor_by_minute: list[float] = []
    floor_start = rss_mb(floor.pid) if floor is not None else float("nan")
    venue_start = rss_mb(pid)
    end = start + seconds
    while True:
        now = time.monotonic()
        if now >= end and (minute * 60 >= seconds or seconds % 60):
            break
        while next_send <= now and next_send < end:
            client, ticks = pattern[sent % len(pattern)]
            if ticks > 0 and len(client.resting) > book // 2 and client.cancel_oldest(now):
                pass
            else:
                # aggressive: 3 to 5 ticks through the middle, so it reaches the other
                # side's passive orders (which rest 2 or 3 ticks away)
                client.new_order(ticks if ticks > 0 else -(3 + (sent // 6) % 3), now)
            sent += 1
            next_send += interval
        outstanding = any(c.sent_at for c in clients)
        if floor is not None:
            floor.keep_up(buyer.reports + seller.reports, now)
        timeout = max(0.0, min(next_send, next_minute, end) - time.monotonic())
        watched: list[Client] = clients if floor is None else [*clients, floor.client]
        ready, _, _ = select.select(watched, [], [], timeout)
        now = time.monotonic()
        if floor is not None and floor.client in ready:
            floor.drain(now)
            ready.remove(floor.client)
        if not ready and outstanding:
            worst_gap = max(worst_gap, now - last_report)
        for client in ready:
            answered = client.receive(now)
            if answered or outstanding:
                worst_gap = max(worst_gap, now - last_report)
            if answered:
                worst_latency = max(worst_latency, *answered)
            last_report = now
        if not outstanding:
            last_report = now
        if now >= next_minute:
            minute += 1
            next_minute += 60
            rss = rss_mb(pid)
            rss_by_minute.append(rss)
            child = ", ".join(f"{rss_mb(c):.0f}" for c in children(pid)) or "-"
            echo(
                f"minute {minute:2d}: venue RSS {rss:7.1f} MB (anon {rss_mb(pid, 'RssAnon'):.1f}, "
                f"file {rss_mb(pid, 'RssFile'):.1f}; children {child} MB), "
                f"{sent:,} orders sent, {buyer.reports + seller.reports:,} reports, "
                f"{len(buyer.resting) + len(seller.resting)} resting, "
                f"rejects {buyer.rejects + seller.rejects}, worst report gap "
                f"{worst_gap * 1000:.0f} ms, worst latency {worst_latency * 1000:.0f} ms"
            )
            if floor is not None:
                floor_rss = rss_mb(floor.pid)
                floor_by_minute.append(floor_rss)
                grew = rss - (rss_by_minute[-2] if minute > 1 else venue_start)
                floor_grew = floor_rss - (floor_by_minute[-2] if minute > 1 else floor_start)
                echo(
                    f"           floor RSS {floor_rss:7.1f} MB ({floor.sent:,} orders, "
                    f"{floor.client.reports:,} reports stored); this minute: venue "
                    f"{grew:+.1f} MB, floor {floor_grew:+.1f} MB, venue minus floor "
                    f"{grew - floor_grew:+.1f} MB"
                )
            if buyer.texts or seller.texts:
                echo(f"           last rejects: {list(buyer.texts) + list(seller.texts)}")
            worst_gap = worst_latency = 0.0
    echo(
        f"end: {sent:,} orders and cancels sent, {buyer.reports + seller.reports:,} reports, "
        f"{buyer.fills + seller.fills:,} fills, rejects {buyer.rejects + seller.rejects} "
        f"{list(buyer.texts) + list(seller.texts)}"
    )
    for client in clients if floor is None else [*clients, floor.client]:
        client.send(b"5", b"")
        client.sock.close()
    return rss_by_minute, floor_by_minute


@click.command()
@click.option("--rate", default=2000.0, show_default=True, help="orders (and cancels) per second")
@click.option("--minutes", default=10.0, show_default=True, help="duration of the load")
@click.option("--book", default=600, show_default=True, help="resting orders to keep about")
@click.option(
    "--retention", default=None, type=int, help="VENUE_RETENTION__DONE_ORDERS and __TRADES"
)
@click.option("--no-fsync", is_flag=True, help="journal without fsync")
@click.option(
    "--floor/--no-floor", default=True, show_default=True,
    help="measure a bare QuickFIX acceptor storing as many reports, alongside",
)  # fmt: skip
@click.option(
    "--env", "extra", multiple=True, help="KEY=VALUE for the venue (e.g. MALLOC_ARENA_MAX=2)"
)
def main(
    rate: float, minutes: float, book: int, retention: int | None, no_fsync: bool,
    floor: bool, extra: tuple[str, ...],
) -> None:  # fmt: skip
    env = {"VENUE_REFERENCE_CONFIG": str(REFERENCE), "VENUE_FIX_MESSAGE_LOG": "true"}
    for item in extra:
        key, _, value = item.partition("=")
        env[key] = value
    if retention is not None:
        env["VENUE_RETENTION__DONE_ORDERS"] = env["VENUE_RETENTION__TRADES"] = str(retention)
    if no_fsync:
        env["VENUE_JOURNAL__FSYNC"] = "false"
    target = Target((*VENUE, "--port", "{port}", "--data-dir", "{data_dir}"), env=env)
    echo = lambda text: print(text, flush=True)  # noqa: E731
    echo(
        f"soak: {rate:g} orders/s for {minutes:g} min, book ~{book}, retention "
        f"{retention or 'default'}, fsync {'off' if no_fsync else 'on'}, env {list(extra)}; "
        f"{os.cpu_count()} CPUs (shared: other work on the box slows it)"
    )
    bare = Target((*BARE, "--port", "{port}", "--data-dir", "{data_dir}"), env=env)
    # keep=True: the data directory is restarted on below, then removed.
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(running("soak", target, keep=True, start_timeout=60))
        started_rss = rss_mb(server.proc.pid)
        echo(f"venue pid {server.proc.pid}, RSS at start {started_rss:.1f} MB")
        floor_client = None
        if floor:
            floor_server = stack.enter_context(running("floor", bare, keep=False, start_timeout=60))
            floor_client = Floor(floor_server.port, floor_server.proc.pid)
            echo(
                f"floor (bare QuickFIX acceptor) pid {floor_server.proc.pid}, RSS at start "
                f"{rss_mb(floor_server.proc.pid):.1f} MB"
            )
        rss, floor_rss = soak(
            server.port, server.proc.pid, rate, minutes * 60, book, echo, floor_client
        )
        log = server.log.read_bytes()
        data_dir = server.workdir / "data"
    taken = {int(r): float(ms) for r, ms in SNAP_TAKEN.findall(log)}
    for record, size, seconds in SNAP_WRITTEN.findall(log):
        ms = taken.get(int(record))
        echo(
            f"snapshot at record {int(record):,}: {int(size) / 1e6:.2f} MB, "
            f"{'-' if ms is None else f'{ms:.1f} ms'} on the kernel thread, "
            f"encoded and written in {float(seconds):.3f} s on the snapshot thread"
        )
    for frozen in HEAP.findall(log)[-3:]:
        echo(f"heap: {int(frozen):,} objects frozen")
    try:
        took, recovered = restart(target, data_dir, env)
        echo(f"restart on the soak's data: listening after {took:.1f} s ({recovered})")
    finally:
        shutil.rmtree(server.workdir, ignore_errors=True)
    if len(rss) >= 2:
        two, last = rss[1], rss[-1]
        change = (last - two) / two * 100
        verdict = "met" if abs(change) <= 10 else "NOT met"
        echo(
            f"RSS after minute 2 {two:.1f} MB, after minute {len(rss)} {last:.1f} MB: "
            f"{change:+.1f}% (target within 10%: {verdict})"
        )
        if len(floor_rss) == len(rss):
            minutes_run = len(rss) - 2
            floor_grew = floor_rss[-1] - floor_rss[1]
            own = (last - two) - floor_grew
            per_minute = f"{own / minutes_run:+.1f} MB a minute" if minutes_run else "-"
            echo(
                f"floor (QuickFIX store and log alone) after minute 2 {floor_rss[1]:.1f} MB, "
                f"after minute {len(rss)} {floor_rss[-1]:.1f} MB: {floor_grew:+.1f} MB; venue "
                f"minus floor from minute 2: {own:+.1f} MB ({per_minute}, "
                f"{own / two * 100:+.1f}% of minute 2's RSS)"
            )


def restart(target: Target, data_dir: Path, env: dict[str, str]) -> tuple[float, str]:
    """Start the venue again on data_dir: seconds until it listens, and its recovery line."""
    port = free_port()
    argv = [a.format(port=port, data_dir=data_dir) for a in target.argv]
    log = data_dir.parent / "restart.log"
    began = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )  # fmt: skip
    try:
        while not LISTENING.search(text := log.read_bytes()):
            if proc.poll() is not None or time.monotonic() - began > 600:
                raise RuntimeError(f"restart failed:\n{text[-2000:].decode(errors='replace')}")
            time.sleep(0.05)
        took = time.monotonic() - began
        match = re.search(rb"recovered: [^\n]*", text)
        return took, match.group(0).decode() if match else "no recovery line"
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
