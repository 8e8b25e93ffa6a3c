"""Journal replay speed, stage by stage: what bounds recovery (issue 11: 300k records/s).

Builds a journal in a temporary directory from bench_matching's stream (new Day limit orders
of four firms priced 99.00-101.00, about half of them trading), through the kernel and the
journal's own encoder, batches of 100, fsync off. Then reads it back in four ways, each
round on a fresh kernel, and prints records/s for the best round:

    read      read_records alone (framing and CRC checks)
    decode    + decode_record (msgpack -> command and events)
    replay    + kernel.handle of each command (the state rebuilt)
    recover   + same_state against the recorded events: what Venue._recover does

Each with the garbage collector on (as recovery runs) and off (as the snapshot replica).
The kernel runs in this process; asserts nothing about time.

    .venv/bin/python scripts/bench_replay.py                  # 50,000 orders, 3 rounds
    .venv/bin/python scripts/bench_replay.py --orders 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_matching import reference, stream  # noqa: E402

from venue.domain.events import same_state  # noqa: E402
from venue.journal import Journal, decode_record, encode_record, read_records  # noqa: E402
from venue.kernel import Kernel  # noqa: E402

BATCH = 100


def build(directory: Path, orders: int) -> int:
    """Journal the stream's records; returns how many."""
    kernel = Kernel(reference())
    journal = Journal.open(directory, fsync=False)
    ts = 1_700_000_000_000_000
    batch: list[bytes] = []
    count = 0
    for command in stream(orders):
        ts += 1
        batch.append(encode_record(ts, command, kernel.handle(command, ts)))
        if len(batch) == BATCH:
            journal.append(batch)
            count += len(batch)
            batch = []
    if batch:
        journal.append(batch)
        count += len(batch)
    journal.close()
    return count


def read_only(directory: Path) -> int:
    return sum(1 for _ in read_records(directory))


def decode_only(directory: Path) -> int:
    n = 0
    for _, payload in read_records(directory):
        decode_record(payload)
        n += 1
    return n


def replay(directory: Path, check: bool = False) -> int:
    """Each command through a fresh kernel; check: and its events compared with the
    recorded ones, as Venue._recover does."""
    kernel = Kernel(reference())
    n = 0
    for _, payload in read_records(directory):
        ts, command, recorded = decode_record(payload)
        events = kernel.handle(command, ts)
        if check and not same_state(events, recorded):
            raise SystemExit(f"replay diverged at record {n + 1}")
        n += 1
    return n


def recover(directory: Path) -> int:
    return replay(directory, check=True)


def best(how: Callable[[Path], int], directory: Path, rounds: int, collect: bool) -> float:
    rates = []
    for _ in range(rounds):
        gc.collect()
        if not collect:
            gc.disable()
        started = time.process_time()
        n = how(directory)
        took = time.process_time() - started
        gc.enable()
        rates.append(n / took)
    return max(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        records = build(work, args.orders)
        size = sum(p.stat().st_size for p in work.iterdir() if p.is_file())
        print(
            f"journal: {records:,} records ({args.orders:,} orders), {size / records:.0f} "
            f"bytes a record; load average {os.getloadavg()[0]:.2f}; CPU time, best of "
            f"{args.rounds}",
            flush=True,
        )
        for name, how in (
            ("read", read_only),
            ("decode", decode_only),
            ("replay", replay),
            ("recover", recover),
        ):
            on = best(how, work, args.rounds, collect=True)
            off = best(how, work, args.rounds, collect=False)
            print(
                f"{name:<8} {on:>10,.0f} records/s (collector on)  {off:>10,.0f} (off)",
                flush=True,
            )
        print(f"load average {os.getloadavg()[0]:.2f} at the end")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
