"""How long one durable append takes on this disk, four ways (the floor under the venue's
latency: a report leaves only after its journal write is on disk).

    .venv/bin/python scripts/bench_fsync.py --dir var/fsync-bench --appends 2000

Each way writes `--appends` records of `--bytes` bytes one at a time and makes each durable
before the next, like the venue's journal with one order in flight:

  append + fdatasync       what the journal does (the file grows, so ext4 also commits
                           the new size in its own journal)
  prezeroed + fdatasync    overwrite a file already written with zeros (no size change)
  fallocate + fdatasync    overwrite space reserved with posix_fallocate
  prezeroed + O_DSYNC      the same overwrite, the kernel syncing each write itself

Prints p50 / p99 / max per way. Run it on the disk the venue's data directory is on.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path


def measure(fd: int, write: Callable[[int, int], None], count: int) -> list[int]:
    took = []
    for i in range(count):
        started = time.perf_counter_ns()
        write(fd, i)
        took.append(time.perf_counter_ns() - started)
    os.close(fd)
    return sorted(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="a directory on the disk to test")
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--bytes", type=int, default=200, help="bytes per record")
    args = parser.parse_args()
    directory: Path = args.dir
    directory.mkdir(parents=True, exist_ok=True)
    record = b"x" * args.bytes
    size = args.appends * args.bytes + 4096

    def fresh(name: str) -> Path:
        path = directory / name
        path.unlink(missing_ok=True)
        return path

    def prezeroed(flags: int = 0) -> int:
        path = fresh("prezeroed.bin")
        with open(path, "wb") as f:
            f.write(bytes(size))
            f.flush()
            os.fsync(f.fileno())
        return os.open(path, os.O_WRONLY | flags)

    def fallocated() -> int:
        fd = os.open(fresh("fallocated.bin"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.posix_fallocate(fd, 0, size)
        os.fsync(fd)
        return fd

    def append(fd: int, _: int) -> None:
        os.write(fd, record)
        os.fdatasync(fd)

    def overwrite(fd: int, i: int) -> None:
        os.pwrite(fd, record, i * len(record))
        os.fdatasync(fd)

    def overwrite_dsync(fd: int, i: int) -> None:
        os.pwrite(fd, record, i * len(record))

    ways = [
        ("append + fdatasync", lambda: os.open(
            fresh("append.bin"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), append),
        ("prezeroed + fdatasync", prezeroed, overwrite),
        ("fallocate + fdatasync", fallocated, overwrite),
        ("prezeroed + O_DSYNC", lambda: prezeroed(os.O_DSYNC), overwrite_dsync),
    ]  # fmt: skip
    print(
        f"{args.appends} durable writes of {args.bytes} bytes each, one at a time, in {directory}"
    )
    for name, opener, write in ways:
        took = measure(opener(), write, args.appends)
        p50, p99, top = (
            t / 1000 for t in (took[len(took) // 2], took[len(took) * 99 // 100], took[-1])
        )
        print(f"  {name:24s} p50 {p50:7.1f} us   p99 {p99:7.1f} us   max {top:8.1f} us")
    for name in ("append.bin", "prezeroed.bin", "fallocated.bin"):
        (directory / name).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
