"""Order latency while snapshots of a 100,000-order book are written (issue 11).

1. Builds a data directory in a child process: a venue (fsync on) takes --resting GTC limit
   orders that rest on MSFT (venue.testing.resources.resting_book) through its inbox; SQL is
   brought up to date and a snapshot taken at the stop. It also times a replay of those
   records, as recovery and the snapshot replica do them (records/s).
2. For each mode, on a fresh copy of that directory, starts `venue run` and sends --orders
   orders on CLIENT1, one in flight (each rests: one ack), and measures send to ack:
   - "none":    no periodic snapshot (VENUE_JOURNAL__SNAPSHOT_BY=kernel, every 10^12);
   - "replica": the snapshot replica writes one every --every records (the default);
   - "kernel":  the kernel thread takes one every --every records (the behaviour before).
   Modes run in the order given, --rounds times (alternating the order each round). The
   venue's log says how many snapshots were written during the run and when: the orders in
   flight during one are also shown apart. CPU per process (venue, SQL projection,
   replica) over the measured orders, in % of one core.

    .venv/bin/python scripts/bench_snapshot.py                  # 100,000 resting, 8,000 orders
    .venv/bin/python scripts/bench_snapshot.py --resting 20000 --orders 3000 --every 500
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import VENUE, FixClient, Phase, Target, one_order, percentile, running  # noqa: E402

WARMUP = 300
SETTLE_S = 5.0  # after the warm-up: the replica restores the book meanwhile
MODES = {
    "none": {"VENUE_JOURNAL__SNAPSHOT_BY": "kernel", "VENUE_JOURNAL__SNAPSHOT_EVERY": str(10**12)},
    "replica": {"VENUE_JOURNAL__SNAPSHOT_BY": "replica"},
    "kernel": {"VENUE_JOURNAL__SNAPSHOT_BY": "kernel"},
}
WRITTEN = re.compile(r"snapshot at record \d+ (written by the replica|taken)")
KERNEL_MS = re.compile(r"([\d.]+) ms on the kernel thread")
REPLICA_S = re.compile(r"written by the replica: \d+ live orders, (\d+) bytes in ([\d.]+)s")
# When a snapshot was being made, from the log: its end and how long it took.
STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO "
SPANS = (
    re.compile(
        STAMP + r"venue.replica: snapshot at record \d+ written by the replica: .* in ([\d.]+)s",
        re.M,
    ),
    re.compile(STAMP + r"venue: snapshot at record \d+ taken: .*, ([\d.]+) ms on the kernel", re.M),
    re.compile(
        STAMP + r"venue.journal.snapshot: snapshot at record \d+ written: .* in ([\d.]+)s", re.M
    ),
)


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: index 0 is field 3 (state)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def processes(venue_pid: int) -> dict[str, int]:
    """The venue and its children by role: the replica runs SCHED_IDLE (policy 5), the SQL
    projection niced with the normal policy; the rest (resource tracker) is left out."""
    found = {"venue": venue_pid}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat(int(stat.parent.name))
        except (OSError, ValueError):
            continue
        if int(fields[1]) == venue_pid and int(fields[16]) > 0:
            found["replica" if int(fields[38]) == 5 else "projection"] = int(stat.parent.name)
    return found


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """utime + stime of each process so far, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for role, pid in pids.items():
        try:
            fields = _stat(pid)
        except OSError:
            continue
        out[role] = (int(fields[11]) + int(fields[12])) / tick
    return out


def build(data_dir: Path, resting: int) -> None:
    """The book, written by a real venue through its inbox (child process)."""
    from venue.app import Venue
    from venue.config import VenueSettings
    from venue.domain.commands import CancelOrder
    from venue.domain.values import Side
    from venue.testing.resources import free_port, resting_book

    venue = Venue(VenueSettings(port=free_port(), data_dir=data_dir))
    venue.start()
    commands = resting_book(resting)
    started = time.perf_counter()
    for k in range(0, len(commands), 4000):  # 2,000 a session per 0.2 s: under the throttle
        began = time.perf_counter()
        for command in commands[k : k + 4000]:
            venue.inbox.put(command)
        venue.execute(CancelOrder("CLIENT3", f"sync{k}", "none", "MSFT", Side.BUY))
        time.sleep(max(0.0, 0.2 - (time.perf_counter() - began)))
    took = time.perf_counter() - started
    live = len(venue.kernel.live)
    if live != resting:
        raise SystemExit(f"only {live} of {resting} orders rest (rejected: throttle?)")
    venue.wait_until_projected(timeout=600)
    venue.stop()
    print(f"built: {resting} resting orders journaled in {took:.1f}s", flush=True)


def replay_rate(data_dir: Path, collect: bool) -> str:
    """Decode and replay every record of the built journal, as recovery does (collect: the
    garbage collector on) or as the snapshot replica does (off, the heap frozen first)."""
    import gc

    from venue.config import FIX_CONFIG_DIR, load_reference
    from venue.domain.events import same_state
    from venue.journal import decode_record, read_records
    from venue.kernel import Kernel

    kernel = Kernel(load_reference(FIX_CONFIG_DIR / "venue.toml"))
    if not collect:
        gc.freeze()
        gc.disable()
    started = time.perf_counter()
    records = 0
    for _, payload in read_records(data_dir / "journal"):
        ts, command, recorded = decode_record(payload)
        assert same_state(kernel.handle(command, ts), recorded)
        records += 1
    took = time.perf_counter() - started
    gc.enable()
    how = "collector on (recovery)" if collect else "collector off (replica)"
    return f"replay, {how}: {records} records in {took:.2f}s = {records / took:,.0f} records/s"


def measure(data_dir: Path, mode: str, orders: int, every: int) -> dict:
    """Orders one in flight on CLIENT1 against `venue run` on data_dir."""
    env = {"VENUE_JOURNAL__SNAPSHOT_EVERY": str(every), **MODES[mode]}
    target = Target((*VENUE, "--port", "{port}", "--data-dir", str(data_dir)), env=env)
    with running(f"snapshot-{mode}", target, keep=False, start_timeout=180) as server:
        client = FixClient(server.port, "CLIENT1")
        client.logon()
        phase = Phase("lat", b"L", WARMUP + orders)
        to_wall = time.time_ns() - time.perf_counter_ns()
        log_at = 0
        for k in range(WARMUP + orders):
            if k == WARMUP:
                time.sleep(SETTLE_S)
                log_at = len(server.log.read_text(errors="replace"))
                pids = processes(server.proc.pid)
                cpu_before, wall_before = cpu_seconds(pids), time.monotonic()
                load = Path("/proc/loadavg").read_text().split()[0]
            one_order(client, phase)
        load += "-" + Path("/proc/loadavg").read_text().split()[0]
        wall = time.monotonic() - wall_before
        cpu = {
            role: round(100 * (used - cpu_before.get(role, 0.0)) / wall)
            for role, used in cpu_seconds(pids).items()
        }
        log = server.log.read_text(errors="replace")[log_at:]
        client.logout()
    timed = list(zip(phase.start[WARMUP:], phase.ack[WARMUP:], strict=True))
    lat = sorted(a - s for s, a in timed)
    spans = snapshot_spans(log)
    during = sorted(
        a - s
        for s, a in timed
        if any(s + to_wall < end and a + to_wall > begin for begin, end in spans)
    )
    kernel_ms = [float(m) for m in KERNEL_MS.findall(log)]
    replica = [(int(b), float(s)) for b, s in REPLICA_S.findall(log)]
    return {
        "mode": mode, "lat": lat, "rejects": phase.rejects, "load": load,
        "snapshots": len(WRITTEN.findall(log)), "kernel_ms": kernel_ms, "replica": replica,
        "during": during, "cpu": cpu,
    }  # fmt: skip


def snapshot_spans(log: str) -> list[tuple[int, int]]:
    """(begin, end) in wall-clock ns of each snapshot in the log (kernel: the copy on the
    kernel thread and the writer's encode + write after it)."""
    spans = []
    for pattern in SPANS:
        for stamp, took in pattern.findall(log):
            end = int(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp() * 1e9)
            seconds = float(took) / (1000 if "kernel" in pattern.pattern else 1)
            spans.append((end - int(seconds * 1e9) - 2_000_000, end + 2_000_000))  # ms stamps
    return spans


def spread(s: list[int]) -> str:
    if not s:
        return "n=0"
    return (
        f"n={len(s)} p50={percentile(s, 0.5):.0f} µs p99={percentile(s, 0.99):.0f} µs "
        f"max={s[-1] / 1e6:.1f} ms"
    )


def figures(r: dict) -> str:
    line = (
        f"{r['mode']:8} {spread(r['lat'])}; {r['snapshots']} snapshots in the window; "
        f"load {r['load']}"
    )
    line += "\n" + " " * 10 + "CPU, % of a core: "
    line += ", ".join(f"{role} {pct}" for role, pct in r["cpu"].items())
    if r["snapshots"]:
        line += f"\n{'':10}in flight during a snapshot: {spread(r['during'])}"
    if r["kernel_ms"]:
        line += f"; kernel thread {min(r['kernel_ms']):.1f}-{max(r['kernel_ms']):.1f} ms each"
    if r["replica"]:
        mb = max(b for b, _ in r["replica"]) / 1e6
        line += f"; replica {min(s for _, s in r['replica']):.2f}-"
        line += f"{max(s for _, s in r['replica']):.2f} s each ({mb:.1f} MB)"
    if r["rejects"]:
        line += f"; {r['rejects']} REJECTS"
    return line


@click.command()
@click.option("--resting", default=100_000, show_default=True, help="orders resting on MSFT")
@click.option("--orders", default=8_000, show_default=True, help="measured orders per mode")
@click.option("--every", default=1_000, show_default=True, help="records between snapshots")
@click.option("--modes", default="none,replica,kernel", show_default=True)
@click.option("--rounds", default=1, show_default=True)
def main(resting: int, orders: int, every: int, modes: str, rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    try:
        built = root / "built"
        proc = multiprocessing.get_context("spawn").Process(target=build, args=(built, resting))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit("building the book failed")
        print(replay_rate(built, collect=True), flush=True)
        print(replay_rate(built, collect=False), flush=True)
        order = modes.split(",")
        results = []
        for n in range(rounds):
            for mode in order if n % 2 == 0 else order[::-1]:
                run_dir = root / f"{mode}-{n}"
                shutil.copytree(built, run_dir)
                print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
                results.append(measure(run_dir, mode, orders, every))
                print(figures(results[-1]), flush=True)
                shutil.rmtree(run_dir, ignore_errors=True)
        print(f"uptime: {os.popen('uptime').read().strip()}")
        print(f"resting {resting}, one in flight, snapshot every {every} records:")
        for r in results:
            print("  " + figures(r))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
