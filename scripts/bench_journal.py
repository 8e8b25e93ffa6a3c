"""Journal figures: appends/s and records/s by batch size with fsync on and off, and the cost
of encoding and decoding one record. A few seconds in all.

    .venv/bin/python scripts/bench_journal.py
    .venv/bin/python scripts/bench_journal.py --dir /mnt/journal-disk --seconds 1

fsync figures depend on the disk under --dir (default: the system's temporary directory); the
file system type is printed with them. A tmpfs makes fsync free and the figures meaningless.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import orjson

from venue.domain.commands import NewOrder
from venue.domain.events import OrderAccepted, OrderFilled, OrderSnapshot, TradeExecuted
from venue.domain.serde import to_plain
from venue.domain.values import PRICE_SCALE, OrdStatus, OrdType, Side, TimeInForce
from venue.journal import Journal, decode_record, encode_record

PAYLOAD_BYTES = 400
BATCHES = (1, 10, 100)
TS = 1_767_225_600_000_000


def file_system(path: Path) -> str:
    """Type of the file system holding path, from /proc/self/mounts ("?" if unknown)."""
    best, kind = "", "?"
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                _, mount, fs_type, *_ = line.split()
                inside = str(path).startswith(mount.rstrip("/") + "/") or str(path) == mount
                if inside and len(mount) > len(best):
                    best, kind = mount, fs_type
    except OSError:
        pass
    return kind


def bench_appends(directory: Path, fsync: bool, batch: int, seconds: float) -> tuple[int, float]:
    """Append batches of ~400-byte payloads for about `seconds`. Returns (appends, elapsed)."""
    payloads = [b"x" * PAYLOAD_BYTES] * batch
    with Journal.open(directory, fsync=fsync) as journal:
        journal.append(payloads)  # warm up: the segment exists and has blocks
        appends = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            journal.append(payloads)
            appends += 1
            if appends % 8 == 0 and time.perf_counter() >= deadline:
                break
        return appends, time.perf_counter() - start


def records() -> dict[str, tuple[int, NewOrder, list]]:
    """A resting limit order (one event) and an order that crosses once (four events)."""
    px = 190 * PRICE_SCALE
    buy = NewOrder(
        "CLIENT1", "ORD-000123", "AAPL", Side.BUY, OrdType.LIMIT, TimeInForce.DAY, 100, px, "ACC-1"
    )

    def snapshot(order_id: int, cum: int, status: OrdStatus) -> OrderSnapshot:
        return OrderSnapshot(
            order_id, "CLIENT1", "FIRM1", "ACC-1", "ORD-000123", "", "AAPL", Side.BUY,
            OrdType.LIMIT, TimeInForce.DAY, px, 100, cum, 100 - cum, cum * px, status, TS,
        )  # fmt: skip

    resting = [OrderAccepted(1, TS, snapshot(7, 0, OrdStatus.NEW))]
    partial = snapshot(7, 40, OrdStatus.PARTIALLY_FILLED)
    crossing = [
        *resting,
        TradeExecuted(
            2, TS, 1, "AAPL", px, 40, Side.BUY, 7, 3, "FIRM1", "FIRM2", "CLIENT1", "CLIENT2"
        ),
        OrderFilled(3, TS, partial, 1, px, 40, True),
        OrderFilled(4, TS, partial, 1, px, 40, False),
    ]
    return {
        "resting order, 1 event": (TS, buy, resting),
        "crossing order, 4 events": (TS, buy, crossing),
    }


def per_call_us(fn: Callable[[], object], number: int = 500) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def codec_figures(ts: int, command: NewOrder, events: list) -> tuple[int, float, float, float]:
    """(payload bytes, encode us, decode us, us to build the same bytes through to_plain)."""
    payload = encode_record(ts, command, events)
    return (
        len(payload),
        per_call_us(lambda: encode_record(ts, command, events)),
        per_call_us(lambda: decode_record(payload)),
        per_call_us(lambda: orjson.dumps([ts, to_plain(command), [to_plain(e) for e in events]])),
    )


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--seconds", type=float, default=0.3, help="per configuration")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=args.dir))
    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.platform()}")
    print(f"python {platform.python_version()}, journal in {base} ({file_system(base)})")
    print()
    try:
        print(f"append, payloads of {PAYLOAD_BYTES} bytes")
        print(f"{'fsync':>6} {'batch':>6} {'appends/s':>12} {'records/s':>12} {'us/append':>10}")
        for fsync in (True, False):
            for batch in BATCHES:
                directory = base / f"fsync-{fsync}-batch-{batch}"
                appends, elapsed = bench_appends(directory, fsync, batch, args.seconds)
                shutil.rmtree(directory)
                rate = appends / elapsed
                print(
                    f"{'on' if fsync else 'off':>6} {batch:>6} {rate:>12,.0f} "
                    f"{rate * batch:>12,.0f} {elapsed / appends * 1e6:>10.1f}"
                )
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print()
    print("codec, per record")
    print(f"{'record':<26} {'bytes':>6} {'encode us':>10} {'decode us':>10} {'to_plain us':>12}")
    for name, (ts, command, events) in records().items():
        size, encode, decode, via_serde = codec_figures(ts, command, events)
        print(f"{name:<26} {size:>6} {encode:>10.1f} {decode:>10.1f} {via_serde:>12.1f}")
    print("(to_plain us: the same bytes built through serde.to_plain, for comparison)")


if __name__ == "__main__":
    main()
