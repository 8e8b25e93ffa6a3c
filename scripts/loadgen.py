"""FIX load generator: acknowledged orders per second and send-to-first-report latency.

Starts each target server itself (free loopback port, fresh temporary data directory), logs
on CLIENT1 and CLIENT2 (FIX.4.4, ResetSeqNumFlag=Y) over raw sockets and runs three modes:

  throughput  N orders with W in flight (closed loop), acknowledged orders/s and latency
  latency     one order in flight at a time, latency
  open loop   orders sent on a fixed schedule at R orders/s whatever the replies; latency is
              measured from the scheduled send time (no coordinated omission)

On the venue targets that have drop copy, a DROPCOPY session (all firms) logs on first, in
a child process, and reads every copy live, as a compliance desk would. bare-durable is the
durable floor: bare plus an append and fdatasync of each order before its report; its sync
times per mode feed the open-loop ratio.

Every order rests (buys below, sells above the reference price, within 5%), so each order is
answered by exactly one report. The ack of an order is the first ExecutionReport for its
ClOrdID. Warm-up orders run before each mode and are left out of the figures.

    .venv/bin/python scripts/loadgen.py                      # bare, venue, venue-nojournal
    .venv/bin/python scripts/loadgen.py --targets bare --json out.json
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import platform
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import orjson

from venue.testing.resources import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Target:
    """A server to measure: its command line ({port}, {data_dir} filled in) and extra env."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    drop_copy: bool = False  # has the DROPCOPY session: a reader logs on and takes every copy


BARE = (sys.executable, str(ROOT / "scripts" / "bare_acceptor.py"))
VENUE = (str(BIN / "venue"), "run")
SERVE = ("--port", "{port}", "--data-dir", "{data_dir}")

# The servers, by name. Adjust here when commands or settings change.
TARGETS: dict[str, Target] = {
    "bare": Target(
        (*BARE, *SERVE),
        note="QuickFIX acceptor, one report per order, nothing else",
    ),
    "venue": Target(
        (*VENUE, *SERVE),
        note="the venue, journal durable (fsync, the default)",
        drop_copy=True,
    ),
    "venue-nojournal": Target(
        (*VENUE, *SERVE),
        env={"VENUE_JOURNAL__FSYNC": "false"},
        note="the venue, journal without fsync",
        drop_copy=True,
    ),
    "venue-nohop": Target(
        (*VENUE, *SERVE),
        env={"VENUE_FIX_HOP": "false"},
        note="the venue with clients' sockets handed to QuickFIX (dup2), no framing hop",
        drop_copy=True,
    ),
    "venue-nochecks": Target(
        (*VENUE, *SERVE),
        env={"VENUE_REFERENCE_CONFIG": str(ROOT / "scripts" / "bench_nochecks.toml")},
        note="the venue without pre-trade limits (collar, size, credit, throttle)",
        drop_copy=True,
    ),
    "venue-nodropcopy": Target(
        (*VENUE, *SERVE),
        env={"VENUE_REFERENCE_CONFIG": str(ROOT / "scripts" / "bench_nodropcopy.toml")},
        note="the venue without drop-copy sessions (each report sent once, as bare does)",
    ),
    "bare-durable": Target(
        (*BARE, *SERVE, "--durable"),
        note="the durable floor: bare + append and fdatasync of each order before its report",
    ),
    "bare-copy": Target(
        (*BARE, *SERVE, "--copy-to", "DROPCOPY"),
        note="bare that also sends each report to a live DROPCOPY (the venue's second message)",
        drop_copy=True,
    ),
    "bare-nolog": Target(
        (*BARE, *SERVE, "--no-log"),
        note="bare with FileStore but without the message log",
    ),
    "bare-redacted": Target(
        (*BARE, *SERVE, "--redacted-log"),
        note="bare with the log that blanks passwords on both sessions (as with credentials)",
    ),
    "venue-nolog": Target(
        (*VENUE, *SERVE),
        env={"VENUE_FIX_MESSAGE_LOG": "false"},
        note="the venue with FileStore but without the message log",
        drop_copy=True,
    ),
    "bare-nofiles": Target(
        (*BARE, *SERVE, "--memory-store", "--no-log"),
        note="diagnosis: bare without FileStore and FileLog (not the venue's settings)",
    ),
}

# Run by default (the rest only when named with --targets).
DEFAULT_TARGETS = ("bare", "bare-durable", "bare-copy", "venue", "venue-nojournal")
# The ratio lines compare these targets: venue/bare, venue/durable floor, durable/non-durable.
BASELINE = "bare"
DURABLE_FLOOR = "bare-durable"
COPY_FLOOR = "bare-copy"
DURABLE = "venue"
NON_DURABLE = "venue-nojournal"
NO_CHECKS = "venue-nochecks"
NO_DROP_COPY = "venue-nodropcopy"

SENDERS = ("CLIENT1", "CLIENT2")
DROP_COPY_SENDER = "DROPCOPY"  # FIX.4.4, entitled to every firm
TARGET_COMP_ID = "VENUE"
BEGIN_STRING = b"FIX.4.4"
HEARTBEAT_SECONDS = 30
# Reference prices in cents; the orders rest 0.2% to 4% away from them.
REFERENCE_CENTS = {"AAPL": 19000, "MSFT": 42000, "IBM": 18000, "TSLA": 25000, "SPY": 50000}
PRICE_STEPS = 20
ORDER_QTY = 100

LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
SOH = b"\x01"


# --------------------------------------------------------------------------- FIX framing


def frame(body: bytes) -> bytes:
    """Wrap a body (from 35= up to the last SOH) with BeginString, BodyLength and CheckSum."""
    msg = b"8=%s\x019=%d\x01%s" % (BEGIN_STRING, len(body), body)
    return msg + b"10=%03d\x01" % (sum(msg) & 255)


_second = [-1, b""]  # the last second formatted, and its text


def utc_stamp() -> bytes:
    """FIX UTCTimestamp, milliseconds; the date-time part is formatted once a second."""
    second, millis = divmod(time.time_ns() // 1_000_000, 1000)
    if second != _second[0]:
        _second[:] = [second, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()]
    return b"%s.%03d" % (_second[1], millis)


def order_tails() -> list[bytes]:
    """The order terms after TransactTime, cycled through: 5 symbols x 2 sides x steps."""
    tails = []
    for step in range(1, PRICE_STEPS + 1):
        for symbol, ref in REFERENCE_CENTS.items():
            offset = max(1, ref * 2 * step // 1000)  # 0.2% per step, whole cents
            for side, cents in ((b"1", ref - offset), (b"2", ref + offset)):
                price = b"%d.%02d" % divmod(cents, 100)
                tails.append(
                    b"\x0155=%s\x0154=%s\x0138=%d\x0140=2\x0144=%s\x0159=0\x01"
                    % (symbol.encode(), side, ORDER_QTY, price)
                )
    return tails


TAILS = order_tails()
TAIL_SUMS = [sum(t) for t in TAILS]


# --------------------------------------------------------------------------- phases


@dataclass
class Phase:
    """One measured (or warm-up) batch of orders: ClOrdID prefix, send and ack times."""

    name: str
    prefix: bytes
    count: int
    start: list[int] = field(init=False)
    ack: list[int] = field(init=False)
    next: int = 0
    acked: int = 0
    rejects: int = 0
    errors: int = 0
    texts: list[str] = field(default_factory=list)
    send_lag: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start = [0] * self.count
        self.ack = [0] * self.count
        self.prefix_sum = sum(self.prefix)
        self.prefix_len = len(self.prefix)

    def note(self, text: str) -> None:
        if len(self.texts) < 5:
            self.texts.append(text)

    def stalled(self, seconds: float) -> TimeoutError:
        """The error for "no report for `seconds`", with what the server said last."""
        said = "; ".join(self.texts) or "no reject received"
        return TimeoutError(
            f"phase {self.name}: no report for {seconds:g}s after {self.acked}/{self.count} "
            f"acks ({said})"
        )

    def latencies_ns(self) -> list[int]:
        return sorted(a - s for s, a in zip(self.start, self.ack, strict=True) if a)

    def span_ns(self) -> int:
        return max(self.ack) - min(self.start)


class FixClient:
    """One FIX.4.4 initiator session over a raw socket, built for speed, not for generality."""

    def __init__(self, port: int, sender: str) -> None:
        self.sender = sender
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(30)
        self.seq = 0
        self.inbuf = b""
        self.logged_on = False
        self.logged_out = False
        self.admin_texts: list[str] = []
        self.sender_b = sender.encode()
        self.mid_a = b"\x0149=%s\x0152=" % self.sender_b
        self.mid_b = b"\x0156=%s\x0111=" % TARGET_COMP_ID.encode()
        self.const_sum = sum(b"35=D\x0134=") + sum(self.mid_a) + sum(self.mid_b) + sum(b"\x0160=")
        # body length -> checksum contribution of "8=FIX.4.4\x019=LEN\x01"
        self.head_sums: dict[int, int] = {}
        self._out: list[bytes] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    # ---- sending

    def admin(self, msg_type: bytes, fields: bytes = b"", seq: int | None = None) -> None:
        """Send a session-level message; `fields` is "tag=value\\x01..." after the header."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        body = b"35=%s\x0134=%d\x0149=%s\x0152=%s\x0156=%s\x01%s" % (
            msg_type,
            seq,
            self.sender_b,
            utc_stamp(),
            TARGET_COMP_ID.encode(),
            fields,
        )
        self.sock.sendall(frame(body))

    def orders(self, phase: Phase, count: int, stamp: bytes, stamp_sum: int) -> list[int]:
        """Build `count` new orders of `phase` into the batch; returns their indexes."""
        out = self._out
        indexes = []
        prefix = phase.prefix
        fixed = self.const_sum + phase.prefix_sum + 2 * stamp_sum
        head_sums = self.head_sums
        for _ in range(count):
            i = phase.next
            phase.next += 1
            self.seq += 1
            seq_b = b"%d" % self.seq
            num_b = b"%d" % i
            t = i % len(TAILS)
            tail = TAILS[t]
            body = b"35=D\x0134=%s%s%s%s%s%s\x0160=%s%s" % (
                seq_b,
                self.mid_a,
                stamp,
                self.mid_b,
                prefix,
                num_b,
                stamp,
                tail,
            )
            n = len(body)
            hs = head_sums.get(n)
            if hs is None:
                hs = head_sums[n] = sum(b"8=%s\x019=%d\x01" % (BEGIN_STRING, n))
            check = (hs + fixed + sum(seq_b) + sum(num_b) + TAIL_SUMS[t]) & 255
            out.append(b"8=%s\x019=%d\x01%s10=%03d\x01" % (BEGIN_STRING, n, body, check))
            indexes.append(i)
        return indexes

    def begin(self) -> None:
        """Start a batch: orders() appends to it, flush() writes it in one sendall."""
        self._out = []

    def flush(self) -> None:
        if self._out:
            self.sock.sendall(b"".join(self._out))
            self._out = []

    # ---- receiving

    def feed(self, data: bytes, now: int, phase: Phase | None) -> int:
        """Frame and scan received bytes; record acks of `phase`; returns new acks."""
        buf = self.inbuf + data if self.inbuf else data
        find = buf.find
        size = len(buf)
        pos = 0
        new = 0
        while True:
            end = find(b"\x0110=", pos)
            if end < 0 or end + 8 > size:
                break
            t = find(b"\x0135=", pos, end) + 4
            if buf[t] == 56 and buf[t + 1] == 1:  # 35=8 ExecutionReport
                c = find(b"\x0111=", t, end) + 4
                cl_ord_id = buf[c : find(SOH, c, end)] if c > 3 else b""
                if phase is not None and cl_ord_id.startswith(phase.prefix):
                    i = int(cl_ord_id[phase.prefix_len :])
                    if not phase.ack[i]:
                        phase.ack[i] = now
                        new += 1
                        x = find(b"\x01150=", t, end)
                        if x > 0 and buf[x + 5] == 56:  # ExecType 8 Rejected
                            phase.rejects += 1
                            phase.note(self._text(buf, pos, end))
            else:
                self._session_message(buf, pos, end, t, phase)
            pos = end + 8
        self.inbuf = buf[pos:]
        return new

    @staticmethod
    def _value(buf: bytes, start: int, end: int, tag: bytes) -> bytes:
        x = buf.find(b"\x01%s=" % tag, start, end)
        if x < 0:
            return b""
        x += len(tag) + 2
        return buf[x : buf.find(SOH, x, end + 1)]

    def _text(self, buf: bytes, start: int, end: int) -> str:
        mt = self._value(buf, start, end, b"35").decode()
        text = self._value(buf, start, end, b"58").decode(errors="replace")
        return f"{self.sender} 35={mt}: {text or buf[start:end].decode(errors='replace')}"

    def _session_message(
        self, buf: bytes, start: int, end: int, t: int, phase: Phase | None
    ) -> None:
        msg_type = buf[t : buf.find(SOH, t, end)]
        if msg_type == b"0":
            return
        if msg_type == b"1":  # TestRequest: answer with its TestReqID
            test_req_id = self._value(buf, start, end, b"112")
            self.admin(b"0", b"112=%s\x01" % test_req_id)
        elif msg_type == b"A":
            self.logged_on = True
        elif msg_type == b"5":
            self.logged_out = True
            if not self.logged_on:
                self.admin_texts.append(self._text(buf, start, end))
        elif msg_type == b"2":  # ResendRequest: gap-fill everything (orders are not resent)
            begin = int(self._value(buf, start, end, b"7") or b"1")
            self.admin(b"4", b"43=Y\x01123=Y\x0136=%d\x01" % (self.seq + 1), seq=begin)
            self.admin_texts.append(self._text(buf, start, end))
        else:  # 3 Reject, j BusinessMessageReject, 9 OrderCancelReject, anything else
            if phase is not None:
                phase.errors += 1
                phase.note(self._text(buf, start, end))
            else:
                self.admin_texts.append(self._text(buf, start, end))

    def receive(self, phase: Phase | None) -> int:
        """One blocking recv (up to the socket timeout); returns new acks."""
        data = self.sock.recv(65536)
        now = time.perf_counter_ns()
        if not data:
            raise ConnectionError(f"{self.sender}: connection closed by the server")
        return self.feed(data, now, phase)

    # ---- session

    def logon(self, timeout: float = 10.0) -> None:
        self.admin(b"A", b"98=0\x01108=%d\x01141=Y\x01" % HEARTBEAT_SECONDS)
        deadline = time.monotonic() + timeout
        while not self.logged_on:
            if self.logged_out or time.monotonic() > deadline:
                raise ConnectionError(
                    f"{self.sender}: logon refused or timed out {self.admin_texts}"
                )
            self.receive(None)

    def logout(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(OSError):
            self.admin(b"5")
            deadline = time.monotonic() + timeout
            while not self.logged_out and time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                self.receive(None)
        self.sock.close()


# --------------------------------------------------------------------------- the three modes


def wait_readable(clients: list[FixClient], timeout: float) -> list[FixClient]:
    ready, _, _ = select.select(clients, [], [], timeout)
    return ready


def run_closed(clients: list[FixClient], phase: Phase, in_flight: int, stall_s: float) -> None:
    """Keep `in_flight` orders outstanding, spread over the sessions, until all are acked."""
    per_client = [
        in_flight // len(clients) + (k < in_flight % len(clients)) for k in range(len(clients))
    ]
    stamp = utc_stamp()
    stamp_sum = sum(stamp)
    for client, k in zip(clients, per_client, strict=True):
        client.begin()
        idx = client.orders(phase, min(k, phase.count - phase.next), stamp, stamp_sum)
        now = time.perf_counter_ns()
        client.flush()
        for i in idx:
            phase.start[i] = now
    last_progress = time.monotonic()
    while phase.acked < phase.count:
        ready = wait_readable(clients, 1.0)
        if not ready:
            if time.monotonic() - last_progress > stall_s:
                raise phase.stalled(stall_s)
            continue
        stamp = utc_stamp()
        stamp_sum = sum(stamp)
        for client in ready:
            new = client.receive(phase)
            if not new:
                continue
            last_progress = time.monotonic()
            phase.acked += new
            more = min(new, phase.count - phase.next)
            if more:
                client.begin()
                idx = client.orders(phase, more, stamp, stamp_sum)
                now = time.perf_counter_ns()
                client.flush()
                for i in idx:
                    phase.start[i] = now


def one_order(client: FixClient, phase: Phase) -> None:
    """Send the phase's next order and read until its ack."""
    stamp = utc_stamp()
    client.begin()
    (i,) = client.orders(phase, 1, stamp, sum(stamp))
    phase.start[i] = time.perf_counter_ns()
    client.flush()
    while not phase.ack[i]:
        phase.acked += client.receive(phase)


def run_one_by_one(clients: list[FixClient], phase: Phase, stall_s: float) -> None:
    """One order in flight: send, wait for its ack, next (sessions in turn)."""
    for client in clients:
        client.sock.settimeout(stall_s)
    try:
        for k in range(phase.count):
            one_order(clients[k % len(clients)], phase)
    except TimeoutError as exc:
        raise phase.stalled(stall_s) from exc
    finally:
        for client in clients:
            client.sock.settimeout(30)


def run_open(clients: list[FixClient], phase: Phase, rate: float, stall_s: float) -> None:
    """Send on a fixed schedule whatever the replies; start time = scheduled send time."""
    interval = 1e9 / rate
    t0 = time.perf_counter_ns() + 1_000_000
    turn = 0
    last_progress = time.monotonic()
    while phase.acked < phase.count:
        now = time.perf_counter_ns()
        due = min(phase.count, int((now - t0) / interval) + 1) if now >= t0 else 0
        if due > phase.next:
            stamp = utc_stamp()
            stamp_sum = sum(stamp)
            for client in clients:
                client.begin()
            first = phase.next
            while phase.next < due:
                clients[turn].orders(phase, 1, stamp, stamp_sum)
                turn = (turn + 1) % len(clients)
            sent = time.perf_counter_ns()
            for client in clients:
                client.flush()
            for i in range(first, due):
                phase.start[i] = t0 + int(i * interval)
                phase.send_lag.append(sent - phase.start[i])
        if phase.next < phase.count:
            timeout = max(0.0, (t0 + phase.next * interval - time.perf_counter_ns()) / 1e9)
        else:
            timeout = 1.0
        ready = wait_readable(clients, timeout)
        for client in ready:
            new = client.receive(phase)
            if new:
                phase.acked += new
                last_progress = time.monotonic()
        stalled = time.monotonic() - last_progress > stall_s
        if not ready and phase.next >= phase.count and stalled:
            raise phase.stalled(stall_s)


# --------------------------------------------------------------------------- drop copy


def read_copies(port: int, ready: Any, done: Any, count: Any) -> None:
    """In a child process: log DROPCOPY on, read every copy until `done`, count them."""
    client = FixClient(port, DROP_COPY_SENDER)
    client.logon()
    ready.set()
    client.sock.settimeout(0.2)
    copies = 0
    while not done.is_set():
        try:
            data = client.sock.recv(1 << 20)
        except TimeoutError:
            continue
        if not data:
            break
        copies += data.count(b"\x0135=8\x01")
        client.feed(data, 0, None)  # answers TestRequests
    count.value = copies
    client.logout()


@contextlib.contextmanager
def copy_reader(port: int) -> Iterator[Any]:
    """A live drop-copy session for the run (its own process, so the load generator's own
    timing is not shared with it); yields the shared count, final once the block ends."""
    ctx = multiprocessing.get_context("fork")
    ready, done, count = ctx.Event(), ctx.Event(), ctx.Value("q", -1)
    proc = ctx.Process(target=read_copies, args=(port, ready, done, count), daemon=True)
    proc.start()
    try:
        if not ready.wait(15):
            raise TimeoutError(f"{DROP_COPY_SENDER} did not log on")
        yield count
    finally:
        done.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log: Path

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def running(
    name: str, target: Target, keep: bool, start_timeout: float, parent: Path | None = None
) -> Iterator[Server]:
    """Start a target on a free port with a fresh data dir; stop it (and clean up) after."""
    workdir = Path(tempfile.mkdtemp(prefix=f"loadgen-{name}-", dir=parent))
    data_dir = workdir / "data"
    log = workdir / "server.log"
    port = free_port()
    argv = [a.format(port=port, data_dir=data_dir) for a in target.argv]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **target.env}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
    server = Server(name, proc, port, workdir, log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{server.tail()}")
            match = LISTENING.search(log.read_bytes())
            if match and int(match.group(1)) == port:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not listening after {start_timeout}s:\n{server.tail()}")
            time.sleep(0.05)
        yield server
    finally:
        stop(proc)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL the process group if it does not stop in time."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


# --------------------------------------------------------------------------- one target


@dataclass
class Params:
    orders: int
    in_flight: int
    latency_orders: int
    rate: float
    open_orders: int
    warmup: int
    pause: float
    stall: float


def percentile(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile, in microseconds."""
    if not sorted_ns:
        return float("nan")
    k = max(0, min(len(sorted_ns) - 1, math.ceil(round(q * len(sorted_ns), 6)) - 1))
    return sorted_ns[k] / 1000


def cpu_sample(server_pid: int) -> tuple[float, float, float, float]:
    """(wall, server CPU s, client CPU s, whole machine busy CPU s) now."""
    tick = os.sysconf("SC_CLK_TCK")
    server = machine_busy = 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        server = (int(fields[11]) + int(fields[12])) / tick  # utime + stime, all threads
    with contextlib.suppress(OSError):
        cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        machine_busy = (sum(cpu[:8]) - cpu[3] - cpu[4]) / tick  # all but idle and iowait
    return time.perf_counter(), server, time.process_time(), machine_busy


def cpu_use(before: tuple[float, ...], after: tuple[float, ...]) -> dict[str, int]:
    """CPU used during a mode, in % of one core: server, client, everything else."""
    wall, server, client, busy = (a - b for a, b in zip(after, before, strict=True))
    if wall <= 0:
        return {"server_cpu_pct": 0, "client_cpu_pct": 0, "other_cpu_pct": 0}
    return {
        "server_cpu_pct": round(100 * server / wall),
        "client_cpu_pct": round(100 * client / wall),
        "other_cpu_pct": max(0, round(100 * (busy - server - client) / wall)),
    }


def summarize(target: str, mode: str, phase: Phase) -> dict[str, Any]:
    lat = phase.latencies_ns()
    span = phase.span_ns() / 1e9
    row = {
        "target": target,
        "mode": mode,
        "orders": phase.count,
        "acked": phase.acked,
        "duration_s": round(span, 3),
        "orders_per_s": round(phase.acked / span, 1) if span > 0 else 0.0,
        "p50_us": percentile(lat, 0.50),
        "p99_us": percentile(lat, 0.99),
        "p999_us": percentile(lat, 0.999),
        "max_us": lat[-1] / 1000 if lat else float("nan"),
        "rejects": phase.rejects,
        "errors": phase.errors,
        "texts": phase.texts,
    }
    if phase.send_lag:
        lag = sorted(phase.send_lag)
        row["send_lag_p99_us"] = percentile(lag, 0.99)
    return row


def run_target(name: str, server: Server, p: Params, echo: Callable[[str], None]) -> list[dict]:
    """Log on both sessions and run warm-up + throughput, latency, open loop."""
    run_id = b"%x" % (time.time_ns() // 1_000_000 % 0xFFFFFF)
    clients = [FixClient(server.port, sender) for sender in SENDERS]
    rows = []
    try:
        for client in clients:
            client.logon()

        def phase(tag: str, count: int) -> Phase:
            return Phase(tag, b"%s%s-" % (run_id, tag.encode()), count)

        modes: list[tuple[str, int, Callable[[Phase], None]]] = [
            ("throughput", p.orders, lambda ph: run_closed(clients, ph, p.in_flight, p.stall)),
            ("latency", p.latency_orders, lambda ph: run_one_by_one(clients, ph, p.stall)),
            (
                f"open {p.rate:g}/s",
                p.open_orders,
                lambda ph: run_open(clients, ph, p.rate, p.stall),
            ),
        ]
        for k, (mode, count, run) in enumerate(modes):
            if count <= 0:
                continue
            if p.warmup > 0:
                run(phase(f"W{k}", p.warmup))
            time.sleep(p.pause)  # let background work (journal, SQL) settle between modes
            measured = phase(f"M{k}", count)
            before = cpu_sample(server.proc.pid)
            run(measured)
            row = summarize(name, mode, measured)
            row["prefix"] = measured.prefix.decode().rstrip("-")
            row.update(cpu_use(before, cpu_sample(server.proc.pid)))
            rows.append(row)
            echo(
                f"  {name:<16} {mode:<14} {row['orders_per_s']:>9,.0f}/s  "
                f"p50 {row['p50_us']:,.0f} us  p99 {row['p99_us']:,.0f} us"
            )
            for text in row["texts"]:
                echo(f"    ! {text}")
            time.sleep(p.pause)
    finally:
        for client in clients:
            client.logout()
    for client in clients:
        for text in client.admin_texts:
            echo(f"    ! {text}")
    return rows


# --------------------------------------------------------------------------- report


def fs_type(path: Path) -> str:
    """File system type of the mount holding `path` (ext4, xfs, tmpfs, ...)."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best):
                best, kind = mount, parts[2]
    return kind


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def ratios(rows: list[dict]) -> list[tuple[str, float | None, str | None, bool | None]]:
    """(label, value, target text, met) for each acceptance ratio that can be computed."""
    by = {(r["target"], r["mode"].split()[0]): r for r in rows}

    def ratio(a: str, b: str, mode: str, key: str) -> float | None:
        ra, rb = by.get((a, mode)), by.get((b, mode))
        if not ra or not rb or not rb[key]:
            return None
        return ra[key] / rb[key]

    out: list[tuple[str, float | None, str | None, bool | None]] = []
    v = ratio(DURABLE, BASELINE, "throughput", "orders_per_s")
    out.append((f"{DURABLE}/{BASELINE} throughput", v, ">= 0.80", None if v is None else v >= 0.8))
    v = ratio(DURABLE, DURABLE_FLOOR, "latency", "p50_us")
    out.append(
        (
            f"{DURABLE}/{DURABLE_FLOOR} p50, 1 in flight",
            v,
            "<= 1.20",
            None if v is None else v <= 1.2,
        )
    )
    venue, bare, floor = (by.get((t, "open")) for t in (DURABLE, BASELINE, DURABLE_FLOOR))
    v = None
    if venue and bare and floor and floor.get("fsync"):
        v = venue["p99_us"] / (bare["p99_us"] + floor["fsync"]["p99_us"])
    out.append(
        (
            f"{DURABLE} open-loop p99 / ({BASELINE} p99 + fdatasync p99)",
            v,
            "<= 1.50",
            None if v is None else v <= 1.5,
        )
    )
    v = ratio(COPY_FLOOR, BASELINE, "throughput", "orders_per_s")
    out.append((f"{COPY_FLOOR}/{BASELINE} throughput", v, None, None))
    v = ratio(DURABLE, COPY_FLOOR, "throughput", "orders_per_s")
    out.append((f"{DURABLE}/{COPY_FLOOR} throughput", v, None, None))
    v = ratio(NO_DROP_COPY, BASELINE, "throughput", "orders_per_s")
    out.append((f"{NO_DROP_COPY}/{BASELINE} throughput", v, None, None))
    v = ratio(DURABLE, NON_DURABLE, "throughput", "orders_per_s")
    out.append(("durable/non-durable throughput", v, None, None))
    v = ratio(DURABLE, NO_CHECKS, "throughput", "orders_per_s")
    out.append(("checks on/off throughput", v, None, None))
    return out


def print_report(rows: list[dict], echo: Callable[[str], None]) -> list[tuple]:
    header = (
        f"{'target':<16} {'mode':<14} {'orders':>7} {'secs':>7} {'orders/s':>9} "
        f"{'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'max us':>8} {'rej':>4} {'err':>4} "
        f"{'cpu srv':>7} {'cli':>4} {'other':>5}"
    )
    echo(header)
    echo("-" * len(header))
    for r in rows:
        echo(
            f"{r['target']:<16} {r['mode']:<14} {r['acked']:>7} {r['duration_s']:>7.2f} "
            f"{r['orders_per_s']:>9,.0f} {r['p50_us']:>8,.0f} {r['p99_us']:>8,.0f} "
            f"{r['p999_us']:>9,.0f} {r['max_us']:>8,.0f} {r['rejects']:>4} {r['errors']:>4} "
            f"{r['server_cpu_pct']:>6}% {r['client_cpu_pct']:>3}% {r['other_cpu_pct']:>4}%"
        )
    lags = [r for r in rows if "send_lag_p99_us" in r]
    if lags:
        echo(
            "open loop client send lag p99 (scheduled -> written): "
            + ", ".join(f"{r['target']} {r['send_lag_p99_us']:,.0f} us" for r in lags)
        )
    busy = [
        f"{r['target']} {r['mode']} ({r['other_cpu_pct']}%)"
        for r in rows
        if r["other_cpu_pct"] > 25
    ]
    if busy:
        echo("WARNING: other processes used the CPU during: " + ", ".join(busy))
    echo("")
    found = ratios(rows)
    for label, value, goal, met in found:
        shown = "n/a" if value is None else f"{value:.2f}"
        if goal is None:
            echo(f"{label} = {shown}")
        else:
            echo(f"{label} = {shown} (target {goal}){'  MISSED' if met is False else ''}")
    return found


# --------------------------------------------------------------------------- CLI


def measure(
    name: str, server: Server, p: Params, echo: Callable[[str], None], copies: bool
) -> list[dict]:
    """run_target, with a live drop-copy reader if asked; the durable floor's sync times."""
    with contextlib.ExitStack() as stack:
        count = stack.enter_context(copy_reader(server.port)) if copies else None
        rows = run_target(name, server, p, echo)
    if count is not None:
        sent = sum(r["acked"] for r in rows) + 3 * p.warmup
        echo(f"  {DROP_COPY_SENDER} read {count.value:,} copies (>= {sent:,} expected, live)")
        for row in rows:
            row["drop_copies_read"] = count.value
    if name == DURABLE_FLOOR:
        syncs = floor_sync_times(server.workdir / "data" / "fsync_us.json", rows)
        for row in rows:
            row["fsync"] = syncs.get(row["prefix"])
            if row["fsync"]:
                f = row["fsync"]
                echo(
                    f"  {name} fdatasync in {row['mode']}: p50 {f['p50_us']:,.0f} us, "
                    f"p99 {f['p99_us']:,.0f} us, max {f['max_us']:,.0f} us ({f['count']:,})"
                )
    return rows


def floor_sync_times(path: Path, rows: list[dict], timeout: float = 10.0) -> dict:
    """The durable floor's fdatasync times by ClOrdID prefix (it rewrites the file every
    second), once every measured mode is in it."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            syncs = orjson.loads(path.read_bytes())
            if all(syncs.get(r["prefix"], {}).get("count", 0) >= r["acked"] for r in rows):
                return dict(syncs)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: the floor's sync times of every mode did not appear")
        time.sleep(0.2)


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: unwind like Ctrl-C."""
    raise KeyboardInterrupt


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--targets",
    default=",".join(DEFAULT_TARGETS),
    show_default=True,
    help=f"Comma-separated, from: {', '.join(TARGETS)}.",
)
@click.option("--orders", default=20_000, show_default=True, help="Throughput orders.")
@click.option("--in-flight", default=200, show_default=True, help="Throughput window.")
@click.option("--latency-orders", default=5_000, show_default=True, help="One-in-flight orders.")
@click.option("--rate", default=2_000.0, show_default=True, help="Open-loop orders per second.")
@click.option("--open-orders", default=10_000, show_default=True, help="Open-loop orders.")
@click.option("--warmup", default=1_000, show_default=True, help="Warm-up orders before each mode.")
@click.option("--pause", default=1.0, show_default=True, help="Seconds of quiet between modes.")
@click.option(
    "--stall",
    default=15.0,
    show_default=True,
    help="Give up after this many seconds without an ack.",
)
@click.option(
    "--start-timeout",
    default=60.0,
    show_default=True,
    help="Seconds to wait for a server to listen.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=tempfile.gettempdir,
    show_default="the system temp dir",
    help="Where the servers' data dirs go (their journal fsyncs hit this disk).",
)
@click.option(
    "--copies/--no-copies",
    default=True,
    show_default=True,
    help=f"Log {DROP_COPY_SENDER} on to the venue targets and read its copies (live drop copy).",
)
@click.option("--keep", is_flag=True, help="Keep the servers' temporary data dirs and logs.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the figures to this file.",
)
def main(
    targets: str,
    orders: int,
    in_flight: int,
    latency_orders: int,
    rate: float,
    open_orders: int,
    warmup: int,
    pause: float,
    stall: float,
    start_timeout: float,
    work_dir: Path,
    copies: bool,
    keep: bool,
    json_path: Path | None,
) -> None:
    """FIX load generator: orders/s and latency p50/p99/p99.9 for each target."""
    names = [t.strip() for t in targets.split(",") if t.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise click.BadParameter(
            f"unknown {unknown}; known: {', '.join(TARGETS)}", param_hint="--targets"
        )
    params = Params(orders, in_flight, latency_orders, rate, open_orders, warmup, pause, stall)
    echo = click.echo
    # SIGTERM unwinds like Ctrl-C, so the servers are always stopped.
    signal.signal(signal.SIGTERM, interrupt)

    m = machine()
    echo(
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, Linux {m['kernel']}, "
        f"load average {m['loadavg_1min']} at start"
    )
    echo(
        f"load: throughput {orders:,} orders, {in_flight} in flight; latency {latency_orders:,} "
        f"orders, 1 in flight; open loop {open_orders:,} orders at {rate:g}/s; "
        f"{warmup:,} warm-up orders before each mode (excluded); sessions {', '.join(SENDERS)} "
        f"FIX.4.4; resting limit orders of {ORDER_QTY} on {', '.join(REFERENCE_CENTS)}; "
        + (f"{DROP_COPY_SENDER} logged on and live" if copies else "no drop-copy session")
    )
    for name in names:
        env = " ".join(f"{k}={v}" for k, v in TARGETS[name].env.items())
        echo(f"target {name}: {TARGETS[name].note}{'  [' + env + ']' if env else ''}")
    work_dir = work_dir.resolve()
    echo(f"server data dirs under {work_dir} ({fs_type(work_dir)})")
    echo("")

    rows: list[dict] = []
    failed: dict[str, str] = {}
    try:
        for name in names:
            try:
                target = TARGETS[name]
                with running(name, target, keep, start_timeout, work_dir) as server:
                    echo(f"{name}: listening on 127.0.0.1:{server.port}, data in {server.workdir}")
                    try:
                        rows += measure(name, server, params, echo, copies and target.drop_copy)
                    except (OSError, TimeoutError, ValueError) as exc:
                        raise RuntimeError(
                            f"{exc}\n--- {name} log tail ---\n{server.tail()}"
                        ) from exc
            except (OSError, RuntimeError, TimeoutError) as exc:
                failed[name] = str(exc)
                echo(f"{name}: FAILED: {exc}")
    except KeyboardInterrupt:
        echo("interrupted; servers stopped")
        sys.exit(130)

    echo("")
    found = print_report(rows, echo)
    if json_path:
        doc = {
            "machine": m,
            "params": params.__dict__,
            "work_dir": {"path": str(work_dir), "fs": fs_type(work_dir)},
            "targets": {n: {"argv": list(TARGETS[n].argv), "env": TARGETS[n].env} for n in names},
            "results": rows,
            "ratios": [{"name": a, "value": v, "target": g, "met": ok} for a, v, g, ok in found],
            "failed": failed,
        }
        json_path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        echo(f"wrote {json_path}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
