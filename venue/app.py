"""Wiring: the only module that knows every piece.

    FIX gateway (QuickFIX thread) --Command--> inbox --> kernel thread:
        take a batch -> kernel.handle each -> journal.append(batch) [durable]
        -> send reports
    SQL projection process: tails the journal, applies events to SQL (venue.projection)
    snapshot replica process: replays the released journal, writes the periodic snapshots
        (venue.replica), so the kernel thread snapshots only at start and stop

The kernel thread is the single writer of venue state. Nothing is sent before the journal
write holding it returns (fsync'ed unless the journal is configured not to). Operator
requests and the end-of-day scheduler enter through the same inbox.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson

from venue import datadir, heap
from venue.config import VenueSettings, load_reference
from venue.control import ControlServer
from venue.domain.commands import (
    Command,
    ExpireDayOrders,
    ExpireOrders,
    ScheduleTick,
    SessionDisconnected,
)
from venue.domain.events import (
    CancelRejected,
    Event,
    OrderFilled,
    OrderRejected,
    report_session,
    same_state,
)
from venue.domain.reference import Role
from venue.dropcopy.catchup import Copies, CopyEncoder, firm_of, record_copies
from venue.fix.application import FixGateway, render_settings
from venue.fix.codec import COPIED_EVENTS, copy_of_report, encode, encode_copy
from venue.fix.gatekeeper import spare_port
from venue.journal import (
    RELEASED,
    Journal,
    RecordMarker,
    decode_record,
    encode_record,
    latest_snapshot,
    read_records,
)
from venue.journal.snapshot import SnapshotWriter, encode_state, snapshot_records
from venue.kernel import Kernel, Retention, first_step_after
from venue.marketdata.service import MarketDataService, max_subscriptions_of
from venue.metrics import VenueMetrics
from venue.projection import ProjectionProcess
from venue.replica import SnapshotReplica
from venue.status import kernel_status
from venue.store.db import make_engine, migrate
from venue.store.projector import SqlProjector

log = logging.getLogger("venue")

BATCH_MAX = 512
# A drop-copy catch-up joins the live stream once at most this many journal records are
# left for the kernel thread to copy (the rest is read and sent by the catch-up thread).
CATCH_UP_TAIL = 32
# While a catch-up thread runs, a thread waiting for the GIL (the kernel, QuickFIX's, the
# hop) gets it within this many seconds instead of the default 5 ms (sys.setswitchinterval).
CATCH_UP_SWITCH_S = 0.0002
# And after each CATCH_UP_SLICE_S of work it sleeps CATCH_UP_REST_S: the CPU (two cores
# here) goes to the order path, at the cost of a slower catch-up.
CATCH_UP_SLICE_S = 0.001
CATCH_UP_REST_S = 0.001
# A catch-up of more records than this reads and encodes them in a child process
# (venue/dropcopy/catchup.py); a shorter one in its thread (no process to start). The
# thread then only sends, so it rests longer: at the rate of the in-thread path, copies
# cost the order path less (the hop, QuickFIX's store and the reader scale with the rate).
CATCH_UP_CHILD_RECORDS = 5_000
CATCH_UP_CHILD_REST_S = 0.002
_STOP = object()
_REJECTS = frozenset((OrderRejected, CancelRejected))


class RecoveryError(RuntimeError):
    """The data directory cannot be recovered safely: the venue refuses to start."""


class ReplayDiverged(RecoveryError):
    """Replaying the journal gave different events than were recorded."""


class _CatchUp:
    """A drop-copy session logged on: send it what it missed, then copy to it live."""

    __slots__ = ("session",)

    def __init__(self, session: str) -> None:
        self.session = session


class _CatchUpJob:
    """One catch-up of a drop-copy session, run on its own thread (Venue._run_catch_up).

    The thread sends the copies of journal records up to the last released one, then puts
    itself in the kernel inbox as a fence and waits for the answer: the kernel thread sends
    the short tail itself and makes the session live in the same step (done), or, if the
    tail is still long, lets the thread go on (answer set, done not)."""

    __slots__ = (
        "answer", "done", "encoder", "encoder_failed", "lock", "previous", "sent", "session",
        "stop", "thread", "upto",
    )  # fmt: skip

    def __init__(self, session: str, previous: _CatchUpJob | None) -> None:
        self.session = session
        self.previous = previous  # its thread may still write the mark: joined first
        self.stop = threading.Event()  # logout or venue stop
        self.answer = threading.Event()
        self.lock = threading.Lock()  # held by the kernel thread while it makes it live
        self.done = False
        self.upto = -1  # last record whose copies were handed to QuickFIX (-1: mark unread)
        self.sent = 0  # copies handed to QuickFIX
        self.thread: threading.Thread | None = None
        self.encoder: CopyEncoder | None = None  # the child for a long catch-up
        self.encoder_failed = False  # then the rest is read in the thread


class _Waiter:
    """A command whose caller waits for its events (operator requests, the scheduler)."""

    __slots__ = ("command", "done", "events")

    def __init__(self, command: Command) -> None:
        self.command = command
        self.done = threading.Event()
        self.events: list[Event] = []


class _Query:
    """A read-only look at the kernel's state, taken on the kernel thread (venue.status)."""

    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: dict = {}


def now_us() -> int:
    return time.time_ns() // 1000


class Venue:
    def __init__(self, settings: VenueSettings) -> None:
        self._init_state(settings)
        self.db = make_engine(settings.db_url)
        migrate(self.db)
        self.projection = ProjectionProcess(self.journal_dir, settings.db_url)
        self.replica: SnapshotReplica | None = None
        if settings.journal.snapshot_by == "replica":
            self.replica = SnapshotReplica(
                self.reference, self.journal_dir, self.snapshot_dir,
                every=settings.journal.snapshot_every,
            )  # fmt: skip
        # Clients connect to the gatekeeper on host:port; QuickFIX listens on a spare port
        # for its hand-overs (see venue/fix/gatekeeper.py).
        fix_settings = render_settings(
            settings.acceptor_config, port=spare_port(), data_dir=self.data_dir
        )
        sessions = self.reference.sessions.values()
        self.gateway = FixGateway(
            fix_settings,
            submit=self._inbound,
            roles={s.session: s.role for s in sessions},
            on_logon=self._logged_on,
            on_logout=self._logged_out,
            credentials={
                s.session: (s.username, s.password_hash) for s in sessions if s.password_hash
            },
            message_log=settings.fix_message_log,
            listen=(settings.host, settings.port),
            market_data=self.marketdata.request,
            hop=settings.fix_hop,
            send_buffer=settings.fix_send_buffer_mb << 20,
        )
        self.control: ControlServer | None = None
        self._threads: list[threading.Thread] = []

    def _init_state(self, settings: VenueSettings) -> None:
        """What the kernel thread's work needs, without sockets, SQL or QuickFIX (the
        in-process harness, venue/testing/harness.py, builds the venue with only this)."""
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        datadir.prepare(self.data_dir, settings.group_access)  # 0700 / 0600, see datadir.py
        self.reference = load_reference(settings.reference_config)
        self.retention = Retention(settings.retention.done_orders, settings.retention.trades)
        self.kernel = Kernel(self.reference, self.retention)
        self.inbox: queue.SimpleQueue[Command | _Waiter | object] = queue.SimpleQueue()
        self.clock: Callable[[], int] = now_us  # the timestamp of each command, in µs
        self.metrics = VenueMetrics()
        self._logged_on_now: set[str] = set()
        self._fills_sent: dict[int, int] = {}  # trade id -> its last fill report handed over
        self._sent_counters: dict[str, Any] = {}
        self._reject_counters: dict[Any, Any] = {}
        self._command_counters: dict[type, Any] = {}
        # Commands handled since the last journal batch, by type: counted at its commit.
        self._handled: dict[type, int] = {}
        self._kernel_depth = self.metrics.queue_depth.labels("kernel")
        # Session -> (BeginString, TimestampPrecision or None), read from the gateway once.
        self._formats: dict[str, tuple[str, int | None]] = {}
        # Inbound-to-report: perf_counter when QuickFIX's thread handed the command over,
        # by id(command), taken off by the kernel thread (venue_inbound_to_report_seconds).
        self._arrivals: dict[int, float] = {}
        self.journal_dir = self.data_dir / "journal"
        self.snapshot_dir = self.data_dir / "snapshots"
        self._snapshots = SnapshotWriter(self.snapshot_dir, keep=2)
        # Periodic snapshots: by the replica process (Venue.replica) or on the kernel thread.
        self._snapshot_by_kernel = settings.journal.snapshot_by == "kernel"
        self._replica_after = settings.journal.snapshot_every // 2  # records: see _tend_replica
        self.journal: Journal | None = None
        self._last_record = 0
        self._released_record = 0  # last record whose reports were handed to QuickFIX
        self._snapshot_record = 0
        self._released = RecordMarker(self.journal_dir / RELEASED)
        sessions = self.reference.sessions.values()
        self.drop_copies = {s.session: s for s in sessions if s.role is Role.DROP_COPY}
        # Copies go live to a drop-copy session only once it is logged on and caught up;
        # what it missed comes from the journal (the marker: last record copied to it).
        self._copy_live = dict.fromkeys(self.drop_copies, False)
        self._copy_marks = {
            name: RecordMarker(self.journal_dir / f"copied-{name}") for name in self.drop_copies
        }
        # Copies a drop-copy session is owed (not live: logged off or catching up), counted
        # since this process started; the gauge reads it at scrape time.
        self._copy_owed = dict.fromkeys(self.drop_copies, 0)
        self._entitled: dict[str, tuple[str, ...]] = {}  # firm -> drop copies that see it
        # The latest catch-up of each drop-copy session (its thread may have ended).
        self._catch_ups: dict[str, _CatchUpJob] = {}
        self._catching = 0  # catch-up threads running (the switch interval is lowered)
        self._catching_lock = threading.Lock()
        self._switch_interval = sys.getswitchinterval()
        for name in self.drop_copies:
            self.metrics.dropcopy_lag.labels(name).set_function(partial(self._copy_lag, name))
        self.metrics.snapshot_lag.set_function(lambda: self._snapshots_state()["lag_records"])
        self.metrics.replica_restarts.set_function(
            lambda: self.replica.restarts if self.replica is not None else 0
        )
        # Market data: built from released events on its own thread once started (not in
        # the harness, where publish is then a no-op).
        self.marketdata = MarketDataService(
            self.reference, max_subscriptions=max_subscriptions_of(self.reference)
        )
        self._stopping = threading.Event()
        self.failed = threading.Event()  # set when the venue cannot go on (journal I/O)

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Recover, then serve. If anything fails, everything opened so far is released (a
        QuickFIX session left registered would capture the next venue's messages)."""
        try:
            self._start()
        except BaseException:
            self._abandon()
            raise

    def _start(self) -> None:
        self.journal = Journal.open(
            self.journal_dir,
            fsync=self.settings.journal.fsync,
            segment_bytes=self.settings.journal.segment_mb << 20,
        )
        had_snapshot = self._recover()
        if not had_snapshot or self.kernel.retention != self.retention:
            # Every journal record after a snapshot must replay with the retention the
            # snapshot names: a changed setting (or none yet) gets a snapshot before trading.
            self.kernel.set_retention(self.retention)
            self._snapshot()
        self._release_unsent()
        self.marketdata.start(self.gateway, self.kernel)  # seeded from the recovered kernel
        self.projection.start()
        self._threads = [
            threading.Thread(target=self._run_kernel, name="kernel", daemon=True),
            threading.Thread(target=self._run_scheduler, name="scheduler", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._expire_missed_day_end()
        self.control = ControlServer(self.data_dir, self.execute, self.status)
        self.control.start()
        if self.settings.metrics_port is not None:
            self.metrics.serve(self.settings.metrics_port)
        self.gateway.start()

    def _abandon(self) -> None:
        """Undo a start that failed part way."""
        self._stopping.set()
        if self._threads:
            self.inbox.put(_STOP)
            self._threads[0].join(10)
        self._stop_catch_ups()
        for close in (
            lambda: self.control.stop() if self.control is not None else None,
            self.metrics.close,
            self.gateway.close,
            self.marketdata.stop,
            self.projection.stop,
            lambda: self.replica.stop() if self.replica is not None else None,
            lambda: self.journal.close() if self.journal is not None else None,
            self._released.close,
            *(mark.close for mark in self._copy_marks.values()),
            self.db.dispose,
        ):
            try:
                close()
            except Exception:
                log.exception("cleanup after a failed start")

    def stop(self) -> None:
        """Stop taking orders, finish what is queued, snapshot, flush SQL, close the journal.
        Calling it again does nothing."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.gateway.stop()
        if self.control is not None:
            self.control.stop()
        self.inbox.put(_STOP)
        self._threads[0].join()
        self._stop_catch_ups()
        if self.replica is not None:  # before the snapshot below: one writer at a time
            self.replica.stop()
        self._snapshots.wait()
        self.marketdata.stop()
        if self.journal is not None:
            if self._last_record > self._snapshot_record:
                self._snapshot()
            self.journal.close()
        self._released.close()
        for mark in self._copy_marks.values():
            mark.close()
        self.projection.stop()
        self.gateway.close()
        self.metrics.close()
        self.db.dispose()

    def _logged_on(self, session: str) -> None:
        self._logged_on_now.add(session)
        self.metrics.sessions_logged_on.set(len(self._logged_on_now))
        if session in self.drop_copies:
            self.inbox.put(_CatchUp(session))

    def _logged_out(self, session: str) -> None:
        """Cancel on disconnect; not when the venue itself is shutting down."""
        self._logged_on_now.discard(session)
        self.metrics.sessions_logged_on.set(len(self._logged_on_now))
        self.marketdata.session_ended(session)
        if session in self.drop_copies:
            # At once, on this thread (the kernel's next copy must not go to a session
            # that is gone: its mark would pass copies it never got). No lock here: QuickFIX
            # holds the session's mutex in onLogout, and _join_live sends while holding
            # job.lock. _join_live re-checks job.stop after it sets live (stop first here).
            job = self._catch_ups.get(session)
            if job is not None:  # its thread stops after the record it is sending
                job.stop.set()
                job.answer.set()
            self._copy_live[session] = False
        elif not self._stopping.is_set():
            self.inbox.put(SessionDisconnected(session))

    def _inbound(self, command: Command) -> None:
        """A command from a FIX session (QuickFIX's thread): stamp it, queue it."""
        self._arrivals[id(command)] = time.perf_counter()
        self.inbox.put(command)

    def execute(self, command: Command, timeout: float = 10.0) -> list[Event]:
        """Run one command through the kernel and wait until its events are durable."""
        waiter = _Waiter(command)
        self.inbox.put(waiter)
        if not waiter.done.wait(timeout):
            raise TimeoutError(f"kernel did not answer {command!r} within {timeout}s")
        return waiter.events

    def status(self, timeout: float = 5.0) -> dict:
        """Books, halts and limits (taken on the kernel thread) and the FIX sessions."""
        query = _Query()
        self.inbox.put(query)
        if not query.done.wait(timeout):
            raise TimeoutError(f"kernel did not answer a status query within {timeout}s")
        sessions = {s: self.gateway.session_state(s) for s in self.gateway.sessions}
        lag = {name: self._copy_lag(name) for name in self.drop_copies}
        writable = not self.failed.is_set() and os.access(self.journal_dir, os.W_OK)
        return {
            **query.result, "sessions": sessions, "dropcopy_lag": lag, "recovered": True,
            "journal_writable": writable, "fix_address": list(self.gateway.address),
            "snapshots": self._snapshots_state(),
        }  # fmt: skip

    def _snapshots_state(self) -> dict[str, Any]:
        """Who writes the periodic snapshots, the newest one, how far the journal is past
        it and, with the replica, whether its process runs (any thread)."""
        records = snapshot_records(self.snapshot_dir)
        newest = records[-1] if records else 0
        replica = self.replica
        return {
            "by": self.settings.journal.snapshot_by,
            "every": self.settings.journal.snapshot_every,
            "newest_record": newest,
            "journal_record": self._last_record,
            "lag_records": max(0, self._last_record - newest),
            "replica": None if replica is None else {
                "started": replica.started, "running": replica.alive, "pid": replica.pid,
                "restarts": replica.restarts,
            },
        }  # fmt: skip

    def wait_until_projected(self, timeout: float = 10.0) -> int:
        """Block until SQL holds every event the kernel has produced so far; returns its seq."""
        target = self.kernel.counters.seq
        projector = SqlProjector(self.db)
        deadline = time.monotonic() + timeout
        while (last := projector.last_seq()) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"SQL at seq {last}, kernel at {target}")
            time.sleep(0.02)
        return last

    # -- recovery -----------------------------------------------------------------------

    def _recover(self) -> bool:
        """Rebuild the kernel from the latest snapshot plus the journal after it, checking
        that replay gives exactly the recorded events. True if there was a snapshot."""
        started = time.perf_counter()
        snapshot = latest_snapshot(self.snapshot_dir)
        after = 0
        if snapshot is not None:
            after, payload = snapshot
            journal_end = self.journal.last_record_no if self.journal else 0
            if after > journal_end:
                raise RecoveryError(
                    f"snapshot at record {after} is newer than the journal, which ends at "
                    f"record {journal_end}: journal records were lost (fsync off and a power "
                    "loss?). Starting would reuse ids; restore the journal or remove the data."
                )
            self.kernel = Kernel.restore(self.reference, orjson.loads(payload))
            self._snapshot_record = after
        records = 0
        for record_no, payload in read_records(self.journal_dir, after=after):
            ts, command, recorded = decode_record(payload)
            if not same_state(self.kernel.handle(command, ts), recorded):
                raise ReplayDiverged(
                    f"journal record {record_no}: replay gave different events than recorded "
                    "(texts aside); start the version of venue that wrote this journal"
                )
            records += 1
        self._last_record = max(self.journal.last_record_no if self.journal else 0, after)
        log.info(
            "recovered: snapshot at record %d + %d journal records replayed, %d live orders, "
            "last seq %d (%.2fs)",
            after, records, len(self.kernel.live), self.kernel.counters.seq,
            time.perf_counter() - started,
        )  # fmt: skip
        return snapshot is not None

    def _release_unsent(self) -> None:
        """Send the reports of records journaled after the last released batch: a crash
        between the journal write and the sends must not lose them. Clients may get a
        report twice (same ExecID) but never miss one."""
        released = self._released.read(default=self._last_record)
        events: list[Event] = []
        for _, payload in read_records(self.journal_dir, after=released):
            events.extend(decode_record(payload)[2])
        if events:
            log.info("sending %d reports journaled before the last stop but not sent", len(events))
            self._release(events)
        self._released.write(self._last_record)
        self._released_record = self._last_record

    def _snapshot(self) -> None:
        """Write a snapshot now, on this thread (at the start and at the stop)."""
        record = self._last_record
        self._snapshots.write_now(record, encode_state(self.kernel.export_state()))
        self._snapshot_record = record

    def _tend_replica(self, replica: SnapshotReplica) -> None:
        """On the scheduler thread: start the replica once half a snapshot's worth of records
        follows the last snapshot (a venue that journals little never pays for the process),
        restart it if it died."""
        if replica.started:
            replica.ensure_running()
        elif self._last_record - self._snapshot_record >= max(1, self._replica_after):
            replica.start()

    def _snapshot_in_background(self) -> None:
        """On the kernel thread (VENUE_JOURNAL__SNAPSHOT_BY=kernel only; by default the
        replica writes them): take a copy of the state (live orders, counters, retained
        indexes; no encoding), hand it to the snapshot writer's thread and go on."""
        if self._snapshots.busy:
            return  # the previous one is still being written: try again after the next batch
        started = time.perf_counter()
        record, state = self._last_record, self.kernel.export_state()
        took = time.perf_counter() - started
        self._snapshots.submit(record, lambda: encode_state(state))
        self._snapshot_record = record
        log.info(
            "snapshot at record %d taken: %d live orders, %d done, %d trades, "
            "%.1f ms on the kernel thread",
            record, len(state["resting"]), len(state["done"]), len(state["trades"]),
            took * 1000,
        )  # fmt: skip

    # -- trading day --------------------------------------------------------------------

    def last_day_end(self, now: datetime) -> datetime:
        """The most recent end of a trading day at or before `now` (UTC)."""
        end = datetime.combine(now.date(), self.settings.trading_day_end, tzinfo=UTC)
        return end if end <= now else end - timedelta(days=1)

    def _expire_missed_day_end(self) -> None:
        """If the venue was down when a trading day ended, expire that day's orders now."""
        cutoff = self.last_day_end(datetime.now(UTC))
        cutoff_us = int(cutoff.timestamp() * 1_000_000)
        last = self.kernel.last_ts
        if 0 < last < cutoff_us and self.kernel.expired_through < cutoff_us:
            events = self.execute(ExpireDayOrders(cutoff_us))
            log.info("trading day ended %s while down: %d Day orders expired", cutoff, len(events))

    def _run_scheduler(self) -> None:
        while not self._stopping.is_set():
            now = datetime.now(UTC)
            next_end = self.last_day_end(now) + timedelta(days=1)
            if self._stopping.wait(min((next_end - now).total_seconds(), 1.0)):
                return
            self.projection.ensure_running()
            if self.replica is not None:
                self._tend_replica(self.replica)
            if datetime.now(UTC) >= next_end:
                self.execute(ExpireDayOrders(int(next_end.timestamp() * 1_000_000)))
            # GTD orders whose ExpireTime has come (also those due while the venue was down)
            due = self.kernel.next_expiry()
            if due is not None and now_us() >= due:
                self.execute(ExpireOrders())
            # timed calls that end and scheduled phases that begin (spec/auctions.md); read
            # while the kernel thread may change them: a changed dict is read again later
            try:
                due = self.kernel.next_phase_due()
                pending = self.kernel.pending_schedules()
            except RuntimeError:
                continue
            if pending:  # schedules not started yet: a tick at the next step of one
                first = min(first_step_after(s, now_us() - 1_000_000) for s in pending.values())
                due = first if due is None else min(due, first)
            if due is not None and now_us() >= due:
                self.execute(ScheduleTick())

    # -- threads ------------------------------------------------------------------------

    def _run_kernel(self) -> None:
        inbox = self.inbox
        assert self.journal is not None
        stopping = False
        while not stopping:
            batch = [inbox.get()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            stopping = any(item is _STOP for item in batch)
            if not self._process(batch):
                return

    def _process(self, batch: list[Command | _Waiter | object]) -> bool:
        """One batch on the kernel thread: kernel.handle each command, journal them all,
        send their reports and drop copies, wake the waiters. False: the journal failed."""
        snapshot_every = self.settings.journal.snapshot_every
        records: list[bytes] = []
        produced: list[Event] = []
        waiters: list[_Waiter] = []
        arrivals = self._arrivals
        handled = self._handled  # venue_commands_total, counted at each commit
        stamps: list[tuple[int, float]] = []  # (index in produced, arrival) of FIX commands
        for item in batch:
            if item is _STOP:
                continue
            if type(item) is _Query:
                item.result = kernel_status(self.kernel)
                item.done.set()
                continue
            if type(item) is _CatchUp:
                self._start_catch_up(item.session)
                continue
            if type(item) is _CatchUpJob:
                # The fence: everything before it in the inbox is journaled and released
                # first, so the tail the kernel copies ends where live copies begin.
                if not self._commit(records, produced, stamps):
                    return False
                records, produced, stamps = [], [], []
                self._join_live(item)
                continue
            command = item.command if type(item) is _Waiter else item
            kind = type(command)
            handled[kind] = handled.get(kind, 0) + 1
            arrived = arrivals.pop(id(command), None) if arrivals else None
            ts = self.clock()
            try:
                events = self.kernel.handle(command, ts)  # type: ignore[arg-type]
            except Exception:
                # A bug, not bad input. The kernel may be half-changed: make what came
                # before durable, then rebuild it from the journal, without this command.
                log.exception("kernel bug while handling %r; command dropped", command)
                if not self._commit(records, produced, stamps):
                    return False
                records, produced, stamps = [], [], []
                self._rebuild_kernel()
                events = []
            else:
                records.append(encode_record(ts, command, events))  # type: ignore[arg-type]
                if arrived is not None and events:
                    stamps.append((len(produced), arrived))
                produced.extend(events)
                if type(command) is ExpireDayOrders:  # market data: the day's statistics end
                    if not self._commit(records, produced, stamps):
                        return False
                    records, produced, stamps = [], [], []
                    self.marketdata.day_ended(ts)
            if type(item) is _Waiter:
                item.events = events
                waiters.append(item)
        if not self._commit(records, produced, stamps):
            return False
        for waiter in waiters:
            waiter.done.set()
        if self._snapshot_by_kernel and self._last_record - self._snapshot_record >= snapshot_every:
            self._snapshot_in_background()
        return True

    def _commit(
        self, records: list[bytes], events: list[Event], stamps: Sequence[tuple[int, float]] = ()
    ) -> bool:
        """Group commit: journal the records, then release their reports. A journal write
        error stops the venue (nothing unjournaled is ever sent)."""
        if self._handled:
            self._count_commands()
        if not records:
            return True
        assert self.journal is not None
        try:
            self._last_record = self.journal.append(records)
        except OSError:
            log.critical("journal write failed: the venue stops; restart to recover")
            self.failed.set()
            return False
        metrics = self.metrics
        metrics.batch_size.observe(len(records))
        metrics.journal_write.observe(self.journal.last_times[0])
        metrics.journal_fsync.observe(self.journal.last_times[1])
        self._kernel_depth.set(self.inbox.qsize())
        self._release(events, stamps)
        self.marketdata.publish(events, self._fills_sent)  # after the reports: never ahead
        self._fills_sent = {}
        self._released.write(self._last_record)
        self._released_record = self._last_record
        for name, live in self._copy_live.items():
            if live:
                self._copy_marks[name].write(self._last_record)
        return True

    def _rebuild_kernel(self) -> None:
        self._snapshots.wait()
        self.kernel = Kernel(self.reference, self.retention)
        self._recover()

    def _count_commands(self) -> None:
        """venue_commands_total: the commands handled since the last commit, by type."""
        counters = self._command_counters
        for kind, count in self._handled.items():
            counter = counters.get(kind)
            if counter is None:
                counter = counters[kind] = self.metrics.commands.labels(kind.__name__)
            counter.inc(count)
        self._handled.clear()

    def _format(self, session: str) -> tuple[str, int | None]:
        """The session's BeginString and TimestampPrecision (None: the version's default)."""
        found = self._formats.get(session)
        if found is None:
            found = self._formats[session] = (
                self.gateway.begin_string(session), self.gateway.timestamp_digits(session),
            )  # fmt: skip
        return found

    def _release(self, events: list[Event], stamps: Sequence[tuple[int, float]] = ()) -> None:
        """Send the reports of durable events to their sessions and to drop copy. stamps:
        (index of a FIX command's first event, its arrival): observed at its first send.
        Reports sent and rejects are counted once per call, by label."""
        gateway = self.gateway
        formats = self._formats
        copying = bool(self.drop_copies)
        sent: dict[str, int] = {}
        rejects: dict[Any, int] = {}
        marks = iter(stamps)
        mark = next(marks, None)
        arrived: float | None = None
        try:
            for index, event in enumerate(events):
                if mark is not None and mark[0] == index:
                    arrived, mark = mark[1], next(marks, None)
                session = report_session(event)
                if session is None:
                    continue
                kind = type(event)
                try:
                    form = formats.get(session) or self._format(session)
                    text = encode(event, form[0], form[1])
                    if text is not None:
                        gateway.send(session, text)
                        sent[session] = sent.get(session, 0) + 1
                        if arrived is not None:
                            self.metrics.inbound_to_report.observe(time.perf_counter() - arrived)
                            arrived = None
                        if kind in _REJECTS:
                            code = event.code  # type: ignore[union-attr]
                            rejects[code] = rejects.get(code, 0) + 1
                        if kind is OrderFilled:  # market data times its X from here
                            self._fills_sent[event.trade_id] = time.perf_counter_ns()  # type: ignore[union-attr]
                    if copying and kind in COPIED_EVENTS:
                        self._copy(event, session, text, form, sent)
                except Exception:  # a bug: the event is journaled, the report is in the log
                    log.exception("could not send the report of %r to %s", event, session)
        finally:
            for session, count in sent.items():
                self._sent_counter(session).inc(count)
            for code, count in rejects.items():
                self._reject_counter(code).inc(count)

    def _sent_counter(self, session: str) -> Any:
        """venue_reports_sent_total's child for the session's role (bound once per session)."""
        counter = self._sent_counters.get(session)
        if counter is None:
            info = self.reference.sessions.get(session)
            role = info.role.value if info is not None else "unknown"
            counter = self._sent_counters[session] = self.metrics.reports_sent.labels(role)
        return counter

    def _copy_lag(self, session: str) -> int:
        """venue_dropcopy_lag_messages: copies owed while the session is not live."""
        if self._copy_live[session]:
            return 0
        job = self._catch_ups.get(session)
        sent = job.sent if job is not None and not job.done else 0
        return max(0, self._copy_owed[session] - sent)

    def _reject_counter(self, code: Any) -> Any:
        """venue_rejects_total's child for a RejectCode (label: its name, e.g. HALTED)."""
        counter = self._reject_counters.get(code)
        if counter is None:
            counter = self._reject_counters[code] = self.metrics.rejects.labels(code.name)
        return counter

    def _copy(
        self,
        event: Event,
        origin: str,
        report: str | None,
        report_form: tuple[str, int | None],
        sent: dict[str, int],
    ) -> None:
        """Drop copy: each live drop-copy session entitled to the event's firm gets the
        report with 797=Y and 115=origin; the others are owed it. A copy session of the
        report's BeginString and precision gets it made from the report's text, the others
        from one encoding per format. Copies sent are counted into `sent`."""
        firm = firm_of(event)
        entitled = self._entitled.get(firm)
        if entitled is None:
            entitled = self._entitled[firm] = tuple(
                name for name, info in self.drop_copies.items() if info.sees(firm)
            )
        made: dict[tuple[str, int | None], str | None] = {}
        for name in entitled:
            if not self._copy_live[name]:
                self._copy_owed[name] += 1
                continue
            form = self._formats.get(name) or self._format(name)
            if form in made:
                text = made[form]
            elif form == report_form and report is not None:
                text = made[form] = copy_of_report(report, form[0], origin)
            else:
                text = made[form] = encode_copy(event, form[0], origin, form[1])
            if text is not None:
                self.gateway.send(name, text)
                sent[name] = sent.get(name, 0) + 1

    def _copy_records(self, job: _CatchUpJob, end: int) -> None:
        """On the catch-up thread: copy records (job.upto, end] to the session, in order,
        one whole record at a time; stops after the record in hand when asked to. Read and
        encoded by a child process when many, else here."""
        if end - job.upto > CATCH_UP_CHILD_RECORDS and not job.encoder_failed:
            try:
                chunks = self._encoder(job).copies(job.upto, end)
                self._send_copies(job, chunks, CATCH_UP_CHILD_REST_S)
                return
            except (EOFError, OSError):
                log.warning(
                    "drop copy %s: the catch-up encoder process failed after record %d; "
                    "the rest is read here", job.session, job.upto,
                )  # fmt: skip
                self._end_encoder(job)
                job.encoder_failed = True
        info = self.drop_copies[job.session]
        begin, digits = self._format(job.session)
        chunks = (
            [(record_no, record_copies(payload, info, begin, digits))]
            for record_no, payload in read_records(self.journal_dir, after=job.upto, upto=end)
        )
        self._send_copies(job, chunks, CATCH_UP_REST_S)

    def _send_copies(self, job: _CatchUpJob, chunks: Iterable[Copies], rest: float) -> None:
        mark = self._copy_marks[job.session]
        clock = time.perf_counter
        slice_end = clock() + CATCH_UP_SLICE_S
        count = 0
        for chunk in chunks:
            for record_no, texts in chunk:
                self._send_copy_texts(job, texts)
                job.upto = record_no
                if job.stop.is_set():
                    return
                if clock() > slice_end:
                    time.sleep(rest)
                    slice_end = clock() + CATCH_UP_SLICE_S
                count += 1
                if count % 1024 == 0:
                    mark.write(record_no)

    def _encoder(self, job: _CatchUpJob) -> CopyEncoder:
        if job.encoder is None:
            begin, digits = self._format(job.session)
            job.encoder = CopyEncoder(
                self.journal_dir, self.drop_copies[job.session], begin, digits
            )
            job.encoder.start()
        return job.encoder

    @staticmethod
    def _end_encoder(job: _CatchUpJob) -> None:
        if job.encoder is not None:
            job.encoder.stop()
            job.encoder = None

    def _copy_record(self, job: _CatchUpJob, payload: bytes) -> None:
        """Send the copies of one journal record's events to the session catching up."""
        begin, digits = self._format(job.session)
        texts = record_copies(payload, self.drop_copies[job.session], begin, digits)
        self._send_copy_texts(job, texts)

    def _send_copy_texts(self, job: _CatchUpJob, texts: list[str]) -> None:
        for text in texts:
            self.gateway.send(job.session, text)
            self._sent_counter(job.session).inc()
            job.sent += 1

    def _start_catch_up(self, session: str) -> None:
        """On the kernel thread: a drop-copy session logged on; its catch-up runs on its own
        thread (after the previous one's thread has ended: it may still write the mark)."""
        previous = self._catch_ups.get(session)
        if previous is not None:
            previous.stop.set()
            previous.answer.set()
        self._copy_live[session] = False
        job = _CatchUpJob(session, previous)
        job.thread = threading.Thread(
            target=self._run_catch_up, args=(job,), name=f"catch-up {session}", daemon=True
        )
        self._catch_ups[session] = job
        if session not in self._logged_on_now:
            # Logged out before this was handled: _logged_out saw the previous job, not
            # this one. Without this stop the catch-up would end, make a session that is
            # gone live and pass its mark over copies it never got.
            job.stop.set()
        job.thread.start()

    def _run_catch_up(self, job: _CatchUpJob) -> None:
        """The catch-up thread: send every copy the session missed, from the journal, up to
        the last released record, until few are left; then fence (see _join_live)."""
        mark = self._copy_marks[job.session]
        started = time.perf_counter()
        with self._catching_lock:
            if self._catching == 0:
                self._switch_interval = sys.getswitchinterval()
                sys.setswitchinterval(min(CATCH_UP_SWITCH_S, self._switch_interval))
            self._catching += 1
        try:
            self._catch_up(job, mark, started)
        finally:
            self._end_encoder(job)
            with self._catching_lock:
                self._catching -= 1
                if self._catching == 0:
                    sys.setswitchinterval(self._switch_interval)

    def _catch_up(self, job: _CatchUpJob, mark: RecordMarker, started: float) -> None:
        session = job.session
        try:
            if job.previous is not None and job.previous.thread is not None:
                job.previous.thread.join()
            job.previous = None
            job.upto = mark.read(default=0)
            while not job.stop.is_set():
                end = self._released_record
                if end - job.upto > CATCH_UP_TAIL:
                    self._copy_records(job, end)
                    mark.write(job.upto)
                    continue
                job.answer.clear()
                if job.stop.is_set():
                    break
                self.inbox.put(job)  # the fence
                job.answer.wait()
                with job.lock:
                    if job.done:
                        log.info(
                            "drop copy %s caught up: %d reports from the journal in %.2fs",
                            session, job.sent, time.perf_counter() - started,
                        )  # fmt: skip
                        return
        except Exception:
            log.exception("drop copy %s: catch-up failed; retried at its next logon", session)
        with job.lock:
            if not job.done and job.upto >= 0:
                mark.write(job.upto)
        log.info("drop copy %s: catch-up stopped after record %d", session, job.upto)

    def _join_live(self, job: _CatchUpJob) -> None:
        """On the kernel thread, at a catch-up's fence (everything before it released): copy
        the short tail the thread has not sent and make the session live, in one step."""
        session = job.session
        with job.lock:
            current = self._catch_ups.get(session) is job
            if current and not job.stop.is_set() and self._last_record - job.upto <= CATCH_UP_TAIL:
                for _, payload in read_records(
                    self.journal_dir, after=job.upto, upto=self._last_record
                ):
                    self._copy_record(job, payload)
                self._copy_marks[session].write(self._last_record)
                job.upto = self._last_record
                self._copy_live[session] = True
                self._copy_owed[session] = 0
                job.done = True
                if job.stop.is_set():  # logged out meanwhile (see _logged_out)
                    self._copy_live[session] = False
        job.answer.set()  # done, or go on (tail still long), or stopped

    def _stop_catch_ups(self) -> None:
        """Venue stopping: each catch-up thread stops after the record it is sending."""
        jobs = list(self._catch_ups.values())
        for job in jobs:
            job.stop.set()
            job.answer.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(5)
                if job.thread.is_alive():
                    log.warning("drop copy %s: catch-up thread did not stop", job.session)


def run(settings: VenueSettings) -> None:
    """Run until SIGINT/SIGTERM (used by `venue run`)."""
    from venue.console.server import start_child, stop_child

    venue = Venue(settings)
    venue.start()
    console = start_child(venue.data_dir)  # when VENUE_CONSOLE_PORT is set
    heap.settle()
    day_end = venue.last_day_end(datetime.now(UTC))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    host, port = venue.gateway.address
    print(
        f"venue listening on {host}:{port} "
        f"(data in {venue.data_dir}, database {venue.db.url.render_as_string()})",
        flush=True,
    )
    heap_logged = time.monotonic()
    while not done.wait(0.5):
        if venue.failed.is_set():
            venue.gateway.stop(force=True)
            raise SystemExit("venue stopped: journal write failed (see log)")
        heap.freeze()
        if time.monotonic() - heap_logged >= 60:
            heap_logged = time.monotonic()
            log.info(
                "heap: %d objects frozen, %d live orders, %d done orders and %d trades kept",
                heap.frozen(), len(venue.kernel.live), len(venue.kernel._done),
                len(venue.kernel.trades),
            )  # fmt: skip
        latest = venue.last_day_end(datetime.now(UTC))
        if latest != day_end:
            day_end = latest
            freed, took = heap.full_collection()
            log.info("trading day ended: full garbage collection freed %d in %.3fs", freed, took)
    print("venue stopping", flush=True)
    stop_child(console)
    venue.stop()
    print("venue stopped", flush=True)
