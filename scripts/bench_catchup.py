"""Order latency while a drop-copy session catches up on 100,000 missed copies (issue 11).

1. Builds a data directory in-process (a child process): a venue (fsync on) takes
   --pairs new orders and their cancels from CLIENT3 and CLIENT6 (logged off) through its
   inbox, as the gateway puts them: 2 x --pairs journaled reports DROPCOPY (never logged on)
   has missed. SQL is brought up to date and a snapshot taken at the stop, so neither
   weighs on what follows.
2. Twice, each time on a fresh copy of that directory, starts `venue run` and sends orders
   on CLIENT1, one in flight (each rests: one ack), and measures send to ack:
   - "with": after 200 orders DROPCOPY logs on (a reader in another process) and catches
     up; orders go on until it has every backlog copy, then 500 more;
   - "without": the same number of orders, nobody logs on.
   The reader checks every copy came once and in order (ExecIDs strictly increasing, the
   count equal to the journal's copies: backlog + every CLIENT1 order).

    .venv/bin/python scripts/bench_catchup.py                  # 50,000 pairs: 100,000 copies
    .venv/bin/python scripts/bench_catchup.py --pairs 5000
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import (  # noqa: E402
    VENUE,
    FixClient,
    Phase,
    Target,
    frame,
    one_order,
    percentile,
    running,
    utc_stamp,
)

WARMUP = 200
AFTER = 500


def build(data_dir: Path, pairs: int) -> None:
    """The missed backlog, written by a real venue through its inbox (child process)."""
    from venue.app import Venue
    from venue.config import VenueSettings
    from venue.domain.commands import NewOrder
    from venue.domain.values import PRICE_SCALE, OrdType, Side, TimeInForce
    from venue.testing.resources import free_port, missed_copies_backlog

    venue = Venue(VenueSettings(port=free_port(), data_dir=data_dir))
    venue.start()
    commands = missed_copies_backlog(pairs)
    started = time.perf_counter()
    for k in range(0, len(commands) - 1, 2000):  # in slices: the throttle is per second
        for command in commands[k : k + 2000]:
            venue.inbox.put(command)
        venue.execute(NewOrder("CLIENT3", f"sync{k}", "MSFT", Side.BUY, OrdType.LIMIT,
                               TimeInForce.DAY, 1, 400 * PRICE_SCALE))  # fmt: skip
    took = time.perf_counter() - started
    venue.wait_until_projected(timeout=600)
    venue.stop()
    print(f"built: {len(commands)} commands journaled in {took:.1f}s", flush=True)


def read_copies(port: int, go: EventType, finish: EventType, backlog: int, out: Connection) -> None:
    """DROPCOPY (child process): log on when told, read every copy, check them."""
    go.wait()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    seq = 1
    body = b"35=A\x0134=1\x0149=DROPCOPY\x0152=%s\x0156=VENUE\x0198=0\x01108=60\x01141=Y\x01"
    started = time.perf_counter()
    sock.sendall(frame(body % utc_stamp()))
    buf = b""
    last_exec = -1
    copies = backlog_copies = 0
    in_order = True
    caught_up_at = None
    sock.settimeout(0.5)
    want = None  # the total, once the parent sends it; then at most 30 s more
    deadline = 0.0
    while want is None or (copies < want and time.monotonic() < deadline):
        if want is None and finish.is_set():
            want, deadline = out.recv(), time.monotonic() + 30
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            continue
        if not data:
            break
        buf += data
        pos = 0
        while (end := buf.find(b"\x0110=", pos)) >= 0 and end + 8 <= len(buf):
            msg = buf[pos:end]
            pos = end + 8
            if b"\x0135=8\x01" not in msg:
                if b"\x0135=1\x01" in msg:  # TestRequest
                    seq += 1
                    x = msg.find(b"\x01112=") + 5
                    test_id = msg[x : msg.find(b"\x01", x)]
                    heartbeat = b"35=0\x0134=%d\x0149=DROPCOPY\x0152=%s\x0156=VENUE\x01112=%s\x01"
                    sock.sendall(frame(heartbeat % (seq, utc_stamp(), test_id)))
                continue
            x = msg.find(b"\x0117=") + 4
            exec_id = int(msg[x : msg.find(b"\x01", x)])
            in_order &= exec_id > last_exec
            last_exec = exec_id
            copies += 1
            if b"\x0111=bk" in msg:
                backlog_copies += 1
                if backlog_copies == backlog:
                    caught_up_at = time.perf_counter() - started
                    out.send(("caught_up", caught_up_at))
        buf = buf[pos:]
    sock.close()
    out.send(("done", {"copies": copies, "in_order": in_order, "caught_up_s": caught_up_at}))


def measure(data_dir: Path, with_logon: bool, orders: int, backlog: int) -> dict:
    """Orders one in flight on CLIENT1 against `venue run` on data_dir."""
    target = Target((*VENUE, "--port", "{port}", "--data-dir", str(data_dir)))
    ctx = multiprocessing.get_context("spawn")
    with running("catchup", target, keep=True, start_timeout=120) as server:
        go, finish = ctx.Event(), ctx.Event()
        mine, theirs = ctx.Pipe()
        reader = ctx.Process(target=read_copies, args=(server.port, go, finish, backlog, theirs))
        if with_logon:
            reader.start()
        client = FixClient(server.port, "CLIENT1")
        client.logon()
        phase = Phase("lat", b"L", orders if orders else 1_000_000)
        caught_up_s = None
        caught_at = None  # order index when the reader had every backlog copy
        logon_at = None
        k = 0
        began = time.monotonic()
        while True:
            if k == WARMUP and with_logon:
                logon_at = k
                go.set()
            if with_logon and caught_at is None and mine.poll():
                kind, value = mine.recv()
                caught_up_s, caught_at = value, k
            if orders and k >= orders:
                break
            if not orders and caught_at is not None and k >= caught_at + AFTER:
                break
            if not orders and time.monotonic() - began > 600:
                raise SystemExit("the drop copy did not catch up within 600 s")
            one_order(client, phase)
            k += 1
        client.logout()
        result: dict = {"orders": k, "rejects": phase.rejects}
        if with_logon:
            # every copy in the journal: the backlog, build's sync orders, and each CLIENT1
            # order's ack and its cancel when CLIENT1 logged out (cancel on disconnect)
            syncs = len(range(0, backlog - 1, 2000))
            result["expected"] = backlog + syncs + 2 * k
            mine.send(result["expected"])
            finish.set()
            kind, checked = mine.recv()
            while kind != "done":
                kind, checked = mine.recv()
            reader.join(30)
            result.update(checked, caught_up_s=caught_up_s, logon_at=logon_at, caught_at=caught_at)
        lat = [a - s for s, a in zip(phase.start[:k], phase.ack[:k], strict=True)]
        result["all"] = lat[WARMUP:]
        result["window"] = lat[WARMUP : caught_at if caught_at is not None else k]
        log = server.log.read_text(errors="replace")
        result["venue_log"] = [line for line in log.splitlines() if "DROPCOPY" in line]
    return result


def figures(lat_ns: list[int]) -> str:
    s = sorted(lat_ns)
    return (
        f"n={len(s)} p50={percentile(s, 0.5):.0f} µs p99={percentile(s, 0.99):.0f} µs "
        f"max={s[-1] / 1000:.0f} µs"
    )


@click.command()
@click.option("--pairs", default=50_000, show_default=True, help="missed orders (+ cancels)")
def main(pairs: int) -> None:
    backlog = 2 * pairs
    root = Path(tempfile.mkdtemp(prefix="bench-catchup-"))
    try:
        built = root / "built"
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=build, args=(built, pairs))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit("building the backlog failed")
        shutil.copytree(built, root / "with")
        shutil.copytree(built, root / "without")
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
        with_ = measure(root / "with", True, 0, backlog)
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
        without = measure(root / "without", False, with_["orders"], backlog)
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
        expected = with_["expected"]
        print(f"backlog: {backlog} missed copies")
        print(
            f"catch-up: {with_['caught_up_s']:.2f}s from logon to the last backlog copy "
            f"(orders {with_['logon_at']}..{with_['caught_at']} sent meanwhile)"
        )
        for line in with_["venue_log"]:
            print(f"  venue: {line.split(' - ')[-1] if ' - ' in line else line}")
        ok = with_["in_order"] and with_["copies"] == expected
        print(
            f"copies received: {with_['copies']} (expected {expected}), ExecIDs strictly "
            f"increasing: {with_['in_order']} -> {'OK' if ok else 'FAILED'}"
        )
        print(f"with logon, during catch-up:    {figures(with_['window'])}")
        print(f"with logon, whole run:          {figures(with_['all'])}")
        print(f"without logon, same orders:     {figures(without['all'])}")
        window = len(with_["window"])
        print(f"without logon, first {window}:      {figures(without['all'][:window])}")
        print(f"uptime: {os.popen('uptime').read().strip()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
