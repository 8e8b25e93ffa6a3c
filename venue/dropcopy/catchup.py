"""Drop-copy catch-up from the journal: the copies one record owes a session, and a child
process that reads and encodes them for a long catch-up.

Reading a record and encoding its copies is most of a catch-up's work and all of it holds
the interpreter lock; done in the venue process it slows every order while a session
catches up on a day of missed copies. `CopyEncoder` does it in a spawned child that sends
the texts back in chunks; the venue's catch-up thread only hands them to QuickFIX (which
sequences and stores them), in journal order, so what the session receives is the same
as from the in-thread path.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

from venue.child import ChildProcess, die_with_parent
from venue.domain.events import Event, report_session
from venue.domain.reference import SessionInfo
from venue.fix.codec import COPIED_EVENTS, encode_copy
from venue.journal import decode_record, read_records

log = logging.getLogger("venue")

CHUNK_RECORDS = 256  # records per message from the child
NICENESS = 15  # the order path comes first; the child is not SCHED_IDLE, so it still ends

Copies = list[tuple[int, list[str]]]  # (record_no, the copy texts of that record)


def firm_of(event: Event) -> str:
    """The firm whose report an event is (drop-copy entitlement)."""
    snapshot = getattr(event, "order", None)
    return snapshot.firm if snapshot is not None else getattr(event, "firm", "")


def record_copies(
    payload: bytes, info: SessionInfo, begin_string: str, digits: int | None
) -> list[str]:
    """The copies a drop-copy session entitled as `info` gets of one journal record."""
    texts = []
    for event in decode_record(payload)[2]:
        if type(event) not in COPIED_EVENTS:
            continue
        origin = report_session(event)
        if origin is not None and info.sees(firm_of(event)):
            text = encode_copy(event, begin_string, origin, digits)
            if text is not None:
                texts.append(text)
    return texts


def copies_between(
    journal_dir: Path,
    info: SessionInfo,
    begin_string: str,
    digits: int | None,
    after: int,
    upto: int,
) -> Iterator[Copies]:
    """Chunks of (record_no, copies) for the records (after, upto], in order."""
    chunk: Copies = []
    for record_no, payload in read_records(journal_dir, after=after, upto=upto):
        chunk.append((record_no, record_copies(payload, info, begin_string, digits)))
        if len(chunk) >= CHUNK_RECORDS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _main(
    requests: Connection,
    journal_dir: str,
    info: SessionInfo,
    begin_string: str,
    digits: int | None,
    stop: Connection,
) -> None:
    """The child: for each (after, upto) asked, send the chunks, then None."""
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            asked = requests.recv()
        except (EOFError, OSError):
            return
        if asked is None:
            return
        after, upto = asked
        try:
            for chunk in copies_between(Path(journal_dir), info, begin_string, digits, after, upto):
                requests.send(chunk)
            requests.send(None)
        except (BrokenPipeError, OSError):
            return


class CopyEncoder(ChildProcess):
    """One session's catch-up reader and encoder, in a child process. `copies(after, upto)`
    yields the chunks; raises EOFError or OSError if the child is gone."""

    name = "venue-catch-up"
    what = "drop-copy catch-up encoder"
    stop_timeout = 2.0

    def __init__(
        self, journal_dir: Path, info: SessionInfo, begin_string: str, digits: int | None
    ) -> None:
        mine, theirs = multiprocessing.get_context("spawn").Pipe(duplex=True)
        self._requests = mine
        super().__init__(_main, (theirs, str(journal_dir), info, begin_string, digits))
        self._theirs: Connection | None = theirs

    def start(self) -> None:
        super().start()
        pid = self.pid
        if pid is not None:  # from here, before its imports: they take a second of CPU
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, pid, NICENESS)
        if self._theirs is not None:
            self._theirs.close()  # the child has its own copy now
            self._theirs = None

    def copies(self, after: int, upto: int) -> Iterator[Copies]:
        self._requests.send((after, upto))
        while True:
            chunk = self._requests.recv()
            if chunk is None:
                return
            yield chunk

    def stop(self, timeout: float | None = None) -> None:
        self._requests.close()
        super().stop(timeout)
