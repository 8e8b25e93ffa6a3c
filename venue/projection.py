"""The SQL projection as its own process: tail the journal, apply events to SQL.

It runs beside the venue (started by `venue run`) so that SQL work never competes with the
order path for the interpreter lock. It reads only what the journal holds, so after any
crash it simply resumes from the last event sequence SQL has (`projector_state`); applying
an event twice changes nothing. The parent holds one end of a pipe: a message or the end
of the pipe (the parent died) tells the child to apply what is journaled and exit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from pathlib import Path

from venue.domain.events import Event
from venue.journal import RELEASED, RecordMarker, decode_record, read_records, record_last_seq
from venue.store.db import make_engine
from venue.store.projector import SqlProjector

log = logging.getLogger("venue.projection")

BATCH = 5000  # events per SQL transaction at most
IDLE_WAIT = 0.05  # seconds between looks at the journal when it has nothing new
NICENESS = 10  # added to this process's nice value: lower CPU priority than the venue


def follow(journal_dir: Path, db_url: str, stop: Connection) -> None:
    """Apply every journaled event to SQL, in order, until `stop` is readable (a message or
    end of file), then apply what the journal holds and return."""
    engine = make_engine(db_url)
    projector = SqlProjector(engine)
    last = projector.last_seq()
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
                    last = _apply(projector, pending, stop)
                    pending = []
            if pending:
                last = _apply(projector, pending, stop)
            if stopping:
                return
            stop.poll(IDLE_WAIT)
    finally:
        released.close()
        engine.dispose()


class Stopped(Exception):
    """Asked to stop while SQL kept failing; the journal still has every event."""


def _apply(projector: SqlProjector, events: list[Event], stop: Connection) -> int:
    """Apply, retrying while the database fails (nothing is skipped); give up only when
    asked to stop (the next start catches up from the journal)."""
    while True:
        try:
            return projector.apply(events)
        except Exception:
            log.exception("SQL projection failed; retrying in 1s (the journal keeps everything)")
            if stop.poll(1.0):
                raise Stopped from None


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


class ProjectionProcess:
    """Runs `follow` in a child process (spawned, so no threads or locks are inherited)."""

    def __init__(self, journal_dir: Path, db_url: str) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._journal_dir = str(journal_dir)
        self._db_url = db_url
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stop: Connection | None = None
        self._stopped = False

    def start(self) -> None:
        reader, self._stop = self._ctx.Pipe(duplex=False)
        self._process = self._ctx.Process(
            target=_main, args=(self._journal_dir, self._db_url, reader),
            name="venue-projection", daemon=True,
        )  # fmt: skip
        self._process.start()
        reader.close()

    def ensure_running(self) -> None:
        """Restart the projection if it died (it resumes from SQL's last seq)."""
        if self._process is not None and not self._process.is_alive() and not self._stopped:
            log.error("SQL projection exited with %s; restarting", self._process.exitcode)
            self.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let it apply everything journaled so far, then end."""
        self._stopped = True
        if self._stop is not None:
            self._stop.close()
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()
