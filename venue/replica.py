"""The snapshot replica: a second kernel, in its own process, that writes the periodic
snapshots so that the kernel thread never stops for one (issue 11).

It starts from the newest snapshot, tails the records the venue has released (as the SQL
projection does: `released` bounds what is durable) and applies each by replay, exactly as
recovery does (`Kernel.handle` with the record's timestamp, the replayed events compared
with the recorded ones). Every `every` records it writes a snapshot of its own state in the
format and directory the venue uses, so recovery reads it like any other. The venue itself
still writes one at start (when needed) and at stop, with the replica stopped.

It runs at the lowest CPU priority (niced and SCHED_IDLE): on two cores it must not take
a core from the order path. Replay runs with the garbage collector off and the heap frozen
(venue.heap), so that no full collection scans the whole book.

Nothing depends on it: if it dies, the venue restarts it (it starts again from the newest
snapshot) and recovery falls back to an older snapshot and a longer journal. If the venue
dies, the replica dies with it (PR_SET_PDEATHSIG, and the end of the pipe): a replica left
behind must not write snapshots beside the next venue's. A replay that diverges from the
journal is logged and the replica writes nothing more (a wrong snapshot would be worse than
an old one); recovery would then report the same record.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path

import orjson

from venue import heap
from venue.child import ChildProcess, die_with_parent
from venue.domain.events import same_state
from venue.domain.reference import Reference
from venue.journal import RELEASED, RecordMarker, decode_record, latest_snapshot, read_records
from venue.journal.snapshot import SnapshotWriter, encode_state
from venue.kernel import Kernel

log = logging.getLogger("venue.replica")

IDLE_WAIT = 0.05  # seconds between looks at the journal when it has nothing new
NICENESS = 10  # as the SQL projection: the order path comes first on a busy box
STOP_CHECK = 256  # records between looks at the stop pipe while catching up
FREEZE_EVERY = 0.5  # seconds between heap freezes (venue.heap), as `venue run` does


class Diverged(RuntimeError):
    """Replay gave other events than the journal recorded."""


def replicate(
    reference: Reference,
    journal_dir: Path,
    snapshot_dir: Path,
    every: int,
    stop: Connection,
    keep: int = 2,
) -> int:
    """Follow the journal and write a snapshot after every `every` records, until `stop` is
    readable (a message or the end of the pipe). Returns the last record applied."""
    found = latest_snapshot(snapshot_dir)
    while found is None:  # the venue writes one before it starts the replica
        if stop.poll(IDLE_WAIT):
            return 0
        found = latest_snapshot(snapshot_dir)
    after, payload = found
    kernel = Kernel.restore(reference, orjson.loads(payload))
    del payload
    # Replay makes next to no cyclic garbage (venue.heap): the collector off, the heap
    # frozen after each pass (full collections would scan the whole book).
    collecting = gc.isenabled()
    heap.settle()
    gc.disable()
    frozen_at = time.monotonic()
    taken = after
    log.info("snapshot replica: from the snapshot at record %d", after)
    writer = SnapshotWriter(snapshot_dir, keep=keep)
    released = RecordMarker(journal_dir / RELEASED)
    try:
        while not stop.poll():
            for record_no, record in read_records(
                journal_dir, after=after, upto=released.read(default=0)
            ):
                ts, command, recorded = decode_record(record)
                if not same_state(kernel.handle(command, ts), recorded):
                    raise Diverged(f"journal record {record_no}: replay gave other events")
                after = record_no
                if after - taken >= every:
                    if stop.poll():
                        return after
                    _write(writer, kernel, after)
                    taken = after
                elif record_no % STOP_CHECK == 0 and stop.poll():
                    return after
            if time.monotonic() - frozen_at >= FREEZE_EVERY:
                heap.freeze()
                frozen_at = time.monotonic()
            stop.poll(IDLE_WAIT)
    finally:
        released.close()
        if collecting:
            gc.enable()
    return after


def _write(writer: SnapshotWriter, kernel: Kernel, record_no: int) -> None:
    started = time.perf_counter()
    state = kernel.export_state()
    payload = encode_state(state)
    writer.write_now(record_no, payload)
    log.info(
        "snapshot at record %d written by the replica: %d live orders, %d bytes in %.3fs",
        record_no, len(state["resting"]), len(payload), time.perf_counter() - started,
    )  # fmt: skip


def _main(
    reference: Reference, journal_dir: str, snapshot_dir: str, every: int, stop: Connection
) -> None:
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the parent ended before the line above
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the venue decides when this one stops
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Linux SCHED_IDLE on top: a venue thread that wakes takes the core from the replica
    # at once (niced only, it ran out its slice first: the order path's p99 felt it,
    # scripts/bench_snapshot.py). On a saturated box it falls behind; snapshots come later.
    os.nice(NICENESS)
    if hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        replicate(reference, Path(journal_dir), Path(snapshot_dir), every, stop)
    except Diverged as exc:
        log.error("snapshot replica stopped: %s; it writes no more snapshots", exc)
        stop.poll(None)


class SnapshotReplica(ChildProcess):
    """Runs `replicate` in a child process; restarted, it begins from the newest snapshot."""

    name = "venue-snapshots"
    what = "snapshot replica"
    stop_timeout = 10.0  # a snapshot is written atomically: even the kill leaves no damage

    def __init__(
        self, reference: Reference, journal_dir: Path, snapshot_dir: Path, every: int
    ) -> None:
        super().__init__(_main, (reference, str(journal_dir), str(snapshot_dir), every))
