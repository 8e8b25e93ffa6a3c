"""The SQL projection as its own process: tail the journal, apply events to SQL.

It runs beside the venue (started by `venue run`) so that SQL work never competes with the
order path for the interpreter lock. It reads only what the journal holds, so after any
crash it simply resumes from the last event sequence SQL has (`projector_state`); applying
an event twice changes nothing. The parent holds one end of a pipe: a message or the end
of the pipe (the parent died) tells the child to apply what is journaled and exit.

A database that is down is waited for (retried every second). An event the database
refuses for itself (a value a column cannot hold: a "poison" event) is never skipped, since
SQL must not get a hole, but it is reported loudly: the projection applies everything before
it, logs the event's seq and the error at ERROR every minute, and writes the status file
<data_dir>/projection-status.json (`state` "poisoned", `poison_seq`, `error`, `failures`),
which `venue ready` reads and fails on. The FIX edge bounds (venue/fix/bounds.py) keep
client input from producing such an event; this is the alarm for a bug that still would.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from venue.child import ChildProcess
from venue.domain.events import Event
from venue.journal import RELEASED, RecordMarker, decode_record, read_records, record_last_seq
from venue.store.db import make_engine
from venue.store.projector import SqlProjector

log = logging.getLogger("venue.projection")

BATCH = 5000  # events per SQL transaction at most
IDLE_WAIT = 0.05  # seconds between looks at the journal when it has nothing new
NICENESS = 10  # added to this process's nice value: lower CPU priority than the venue
POISON_RETRY = 5.0  # seconds between tries of a poison event (an operator may fix the schema)
POISON_LOG_EVERY = 60.0  # seconds between ERROR lines about the same poison event
STATUS_FILE = "projection-status.json"  # in the data directory

# Failures of the connection or server, not of the data: wait and retry.
_TRANSIENT = (OperationalError, InterfaceError, DisconnectionError)


class Status:
    """The projection's health, as a small JSON file written atomically on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, object] = {}

    def set(self, **state: object) -> None:
        if state == self.state:
            return
        self.state = state
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**state, "updated": time.time()}, sort_keys=True))
        os.replace(tmp, self.path)


def read_status(data_dir: Path) -> dict[str, object] | None:
    """The projection's last written status (None: it never wrote one)."""
    try:
        return json.loads((Path(data_dir) / STATUS_FILE).read_text())  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


def follow(
    journal_dir: Path, db_url: str, stop: Connection, status_path: Path | None = None
) -> None:
    """Apply every journaled event to SQL, in order, until `stop` is readable (a message or
    end of file), then apply what the journal holds and return."""
    engine = make_engine(db_url)
    projector = SqlProjector(engine)
    status = Status(status_path or journal_dir.parent / STATUS_FILE)
    last = projector.last_seq()
    status.set(state="ok", last_seq=last)
    after = 0
    # Only records the venue has released: they are on disk. One written but not yet
    # synced could still vanish in a power cut, and SQL must never run ahead of the journal
    # (the sequence numbers would then be given again to other events).
    released = RecordMarker(journal_dir / RELEASED)
    try:
        while True:
            stopping = stop.poll()
            pending: list[Event] = []
            upto = released.read(default=0)
            for record_no, payload in read_records(journal_dir, after=after, upto=upto):
                after = record_no
                if record_last_seq(payload) <= last:  # already in SQL (catching up)
                    continue
                pending.extend(e for e in decode_record(payload)[2] if e.seq > last)
                if len(pending) >= BATCH:
                    last = _apply(projector, pending, stop, status)
                    pending = []
            if pending:
                last = _apply(projector, pending, stop, status)
            if stopping:
                return
            stop.poll(IDLE_WAIT)
    finally:
        released.close()
        engine.dispose()


class Stopped(Exception):
    """Asked to stop while SQL kept failing; the journal still has every event."""


def _apply(projector: SqlProjector, events: list[Event], stop: Connection, status: Status) -> int:
    """Apply, retrying while the database fails (nothing is skipped); give up only when
    asked to stop (the next start catches up from the journal). A poison event is found,
    everything before it applied, and reported (module docstring)."""
    failures = 0
    logged = 0.0
    while True:
        try:
            last = projector.apply(events)
        except _TRANSIENT as exc:
            failures += 1
            log.exception("SQL projection failed; retrying in 1s (the journal keeps everything)")
            status.set(state="db_unavailable", error=_one_line(exc), failures=failures)
            wait = 1.0
        except Exception as exc:
            failures += 1
            seq = _poison_seq(projector, events)
            now = time.monotonic()
            if now - logged >= POISON_LOG_EVERY:
                logged = now
                log.error(
                    "SQL projection cannot apply event seq %s (%s); SQL stays at seq %s until it "
                    "can (the journal keeps everything; `venue ready` fails meanwhile)",
                    seq, _one_line(exc), projector.last_seq(),
                )  # fmt: skip
            status.set(
                state="poisoned", poison_seq=seq, error=_one_line(exc), failures=failures,
                last_seq=projector.last_seq(),
            )  # fmt: skip
            wait = POISON_RETRY
        else:
            status.set(state="ok", last_seq=last)
            return last
        if stop.poll(wait):
            raise Stopped from None


def _poison_seq(projector: SqlProjector, events: list[Event]) -> int | None:
    """Apply the events one by one up to the first the database refuses; its seq."""
    for event in events:
        try:
            projector.apply([event])
        except Exception:
            return event.seq
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


def _main(journal_dir: str, db_url: str, stop: Connection) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when this process stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The order path comes first: when the cores are busy, SQL waits (it catches up from
    # the journal as soon as they are not).
    os.nice(NICENESS)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        follow(Path(journal_dir), db_url, stop)
    except Stopped:
        log.warning("SQL projection stopped behind the journal; it catches up on the next start")


class ProjectionProcess(ChildProcess):
    """Runs `follow` in a child process; restarted, it resumes from SQL's last seq."""

    name = "venue-projection"
    what = "SQL projection"
    stop_timeout = 30.0  # it applies everything journaled so far, then ends
    kill_on_timeout = False

    def __init__(self, journal_dir: Path, db_url: str) -> None:
        super().__init__(_main, (str(journal_dir), db_url))
        self._journal_dir = str(journal_dir)

    def status(self) -> dict[str, object] | None:
        """The projection's health as it last wrote it (see read_status): `state` ok,
        db_unavailable or poisoned, `failures` (a counter), `last_seq`, `poison_seq`."""
        return read_status(Path(self._journal_dir).parent)
