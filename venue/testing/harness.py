"""The venue in one process, without sockets: FIX text in, FIX text out, in milliseconds.

In the spirit of h11's ConnectionPair. What runs is the live venue's own code between a
decoded message and the encoded report:

    FIX text --FixGateway._from_app--> Command --Venue._process--> kernel.handle,
    journal.append (a real journal, fsync off), Venue._release / _copy / the drop-copy catch-up
    --codec.encode--> FIX text, collected per session by FakeGateway

What it replaces is QuickFIX's session layer (logon, sequence numbers, data-dictionary
checks, resend) and the gatekeeper: those are proved against the live venue only. Two
QuickFIX behaviours are modelled because the venue relies on them: a message sent to a
session that is logged out is stored and delivered at its next logon with PossDupFlag(43)=Y,
and an application message type the venue does not handle gets BusinessMessageReject 380=3.

The clock is injected (Clock): throttle windows and the end of the day move only when the
test says so. Operator commands go through the real `venue ctl` CLI and control socket.
SQL (`sql()`) is the projection process's own loop (venue.projection.follow), run here on
what is journaled so far, into the venue's database (SQLite in the data directory).

    h = Harness(tmp_path)
    h.logon("CLIENT1")
    h.send("CLIENT1", "D", {11: "a1", 55: "AAPL", 54: "1", 38: "100", 40: "2", 44: "190"})
    [ack] = h.received("CLIENT1")             # {tag: value}, header included
    h.close()
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import quickfix
import simplefix

from venue.app import Venue, _Waiter
from venue.config import VenueSettings
from venue.domain.commands import Command, ExpireDayOrders
from venue.domain.events import Event
from venue.domain.reference import Role
from venue.fix.application import FixGateway
from venue.fix.codec import business_reject, parse
from venue.journal import Journal

Message = dict[int, str]
VENUE_COMP_ID = "VENUE"


class Clock:
    """Microseconds since the epoch; moves only when told (advance) or set."""

    def __init__(self, start_us: int | None = None) -> None:
        self.now = time.time_ns() // 1000 if start_us is None else start_us

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> int:
        self.now += round(seconds * 1_000_000)
        return self.now


def target_of(session_id: Any) -> str:
    """The counterparty's CompID of a quickfix.SessionID."""
    return str(session_id.getTargetCompID().getValue())


def begin_strings(acceptor_config: Path) -> dict[str, str]:
    """Session CompID -> BeginString, from the [SESSION] blocks of the acceptor template."""
    out: dict[str, str] = {}
    block: dict[str, str] | None = None
    for raw in [*Path(acceptor_config).read_text().splitlines(), "[END]"]:
        line = raw.strip()
        if line.startswith("["):
            if block is not None and "TargetCompID" in block:
                out[block["TargetCompID"]] = block.get("BeginString", "FIX.4.4")
            block = {} if line.upper() == "[SESSION]" else None
        elif block is not None and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            block[key.strip()] = value.strip()
    return out


def _stamp(ts_us: int) -> str:
    seconds, micros = divmod(ts_us, 1_000_000)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(seconds)) + f".{micros // 1000:03d}"


class FakeGateway:
    """Stands where FixGateway stands: what the venue sends, per session, as {tag: value}.

    Messages to a logged-on session are delivered at once; to a logged-out one they are
    stored (as QuickFIX's store would) and delivered at its next logon with PossDupFlag=Y.
    Outbound messages get the header QuickFIX would add: 49, 56, 34 (per session), 52.
    It also carries the attributes FixGateway._from_app reads (_roles, _begin_strings,
    _submit, _send), so the live gateway's inbound code runs on it unchanged.
    """

    def __init__(
        self, begin_strings: Mapping[str, str], roles: Mapping[str, Role], clock: Clock
    ) -> None:
        self._begin_strings = dict(begin_strings)
        self._roles = dict(roles)
        # Market-data requests of market_data sessions are not served here (no feed thread);
        # those of other sessions get the live venue's 380=6.
        self._market_data: Any = lambda _session, _text: None
        self._clock = clock
        self._submit: Any = None  # set by the harness: the venue's inbox.put
        self.online: set[str] = set()
        self.delivered: dict[str, list[Message]] = {s: [] for s in begin_strings}
        self.stored: dict[str, list[Message]] = {s: [] for s in begin_strings}
        self.next_seq: dict[str, int] = dict.fromkeys(begin_strings, 1)
        self.sent_text: dict[str, list[str]] = {s: [] for s in begin_strings}  # as encoded
        self._lock = threading.Lock()

    # -- what Venue calls

    def begin_string(self, session: str) -> str:
        return self._begin_strings[session]

    def logged_on(self, session: str) -> bool:
        return session in self.online

    def timestamp_digits(self, session: str) -> int | None:
        """No TimestampPrecision setting here: the codec's default for the version."""
        return None

    def send(self, session: str, text: str) -> None:
        if session not in self._begin_strings:
            raise KeyError(session)
        self._send(session, text)

    # -- what FixGateway._from_app calls (its session_id is the session's name here)

    _market_data_request = FixGateway._market_data_request  # the live venue's own routing

    def _send(self, session_id: Any, text: str) -> None:
        with self._lock:
            session = session_id if isinstance(session_id, str) else target_of(session_id)
            self.sent_text[session].append(text)
            fields = {int(t): v for t, v in parse(text).items()}
            msg: Message = {8: fields.pop(8), 9: fields.pop(9, "0"), 35: fields.pop(35)}
            seq = self.next_seq[session]
            self.next_seq[session] = seq + 1
            msg.update({49: VENUE_COMP_ID, 56: session, 34: str(seq), 52: _stamp(self._clock())})
            fields.pop(10, None)
            msg.update(fields)
            if session in self.online:
                self.delivered[session].append(msg)
            else:
                self.stored[session].append(msg)

    def come_online(self, session: str) -> None:
        """Logon: what was stored while away is resent (PossDupFlag=Y, OrigSendingTime)."""
        with self._lock:
            self.online.add(session)
            for msg in self.stored[session]:
                resent = {**msg, 43: "Y", 122: msg[52], 52: _stamp(self._clock())}
                self.delivered[session].append(resent)
            self.stored[session].clear()

    def go_offline(self, session: str) -> None:
        with self._lock:
            self.online.discard(session)


class _InProcessVenue(Venue):
    """The live Venue's state and kernel-thread work, without QuickFIX, SQL or threads."""

    def __init__(self, settings: VenueSettings, clock: Clock) -> None:
        self._init_state(settings)
        self.clock = clock
        sessions = self.reference.sessions.values()
        versions = begin_strings(settings.acceptor_config)
        self.fake = FakeGateway(
            {s.session: versions.get(s.session, "FIX.4.4") for s in sessions},
            {s.session: s.role for s in sessions},
            clock,
        )
        self.gateway = self.fake  # type: ignore[assignment]
        self.control = None
        self._threads = []


class Harness:
    """One venue in this process. Every call that feeds it runs the kernel's work at once
    (a batch per message, as on a quiet live venue), so after it returns every report is in
    received()."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Clock | None = None,
        fsync: bool = False,
        **settings: Any,
    ) -> None:
        settings.setdefault("journal", {"fsync": fsync})
        self.data_dir = Path(data_dir)
        self.clock = clock or Clock()
        self.settings = VenueSettings(data_dir=self.data_dir, **settings)
        self.venue = _InProcessVenue(self.settings, self.clock)
        self.gateway = self.venue.fake
        self.gateway._submit = self.venue.inbox.put
        self._in_seq: dict[str, int] = {}
        self._kernel_lock = threading.Lock()  # the control thread and the test's thread
        self._control: Any = None
        self._control_lock = threading.Lock()
        self._db: Any = None  # the SQL engine, made by the first sql()
        venue = self.venue
        venue.journal = Journal.open(
            venue.journal_dir, fsync=self.settings.journal.fsync,
            segment_bytes=self.settings.journal.segment_mb << 20,
        )  # fmt: skip
        venue._recover()
        venue._release_unsent()

    # -- sessions

    def begin_string(self, session: str) -> str:
        return self.gateway._begin_strings.get(session, "FIX.4.4")

    def logon(self, session: str) -> None:
        """The session logs on (from the second logon on: what it missed is resent)."""
        if session not in self.gateway._begin_strings:
            raise KeyError(f"no session {session} is configured")
        self._in_seq.setdefault(session, 1)
        self.gateway.come_online(session)
        self.venue._logged_on(session)
        self.pump()
        # A drop-copy session's catch-up runs on its own thread and ends with a fence in
        # the inbox: pump until it is live (or its thread gave up).
        job = self.venue._catch_ups.get(session)
        while job is not None and not job.done and job.thread is not None:
            alive = job.thread.is_alive()
            self.pump()
            if not alive:
                break
            time.sleep(0.0002)

    def logout(self, session: str) -> None:
        """Logout or disconnect: the same to the venue (cancel on disconnect)."""
        self.gateway.go_offline(session)
        self.venue._logged_out(session)
        self.pump()
        job = self.venue._catch_ups.get(session)
        if job is not None and job.thread is not None:
            job.thread.join()

    disconnect = logout

    # -- messages

    def text(self, session: str, msg_type: str, fields: Iterable[tuple[int, str]]) -> str:
        """The message as the client puts it on the wire (header, BodyLength, CheckSum)."""
        msg = simplefix.FixMessage()
        seq = self._in_seq.get(session, 1)
        self._in_seq[session] = seq + 1
        msg.append_pair(8, self.begin_string(session), header=True)
        msg.append_pair(35, msg_type, header=True)
        msg.append_pair(49, session, header=True)
        msg.append_pair(56, VENUE_COMP_ID, header=True)
        msg.append_pair(34, str(seq), header=True)
        msg.append_pair(52, _stamp(self.clock()), header=True)
        for tag, value in fields:
            msg.append_pair(tag, value)
        return cast(bytes, msg.encode()).decode("utf-8", "surrogateescape")

    def send(
        self, session: str, msg_type: str, fields: Mapping[int, str] | Iterable[tuple[int, str]]
    ) -> None:
        """One message from a logged-on session, through the live gateway's inbound code."""
        if session not in self.gateway.online:
            raise RuntimeError(f"{session} is not logged on")
        items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        self.send_text(session, self.text(session, msg_type, items))

    def send_text(self, session: str, text: str) -> None:
        session_id = quickfix.SessionID(self.begin_string(session), VENUE_COMP_ID, session)
        unsupported = FixGateway._from_app(cast(FixGateway, self.gateway), text, session_id)
        if unsupported:  # what QuickFIX answers to UnsupportedMessageType
            fields = parse(text)
            self.gateway._send(
                session,
                business_reject(
                    self.begin_string(session), fields.get("34", ""), fields.get("35", ""),
                    "", "3", "Unsupported Message Type",
                ),
            )  # fmt: skip
        self.pump()

    def received(self, session: str) -> list[Message]:
        """Everything delivered to the session since the last call (and clears it)."""
        out = self.gateway.delivered[session]
        self.gateway.delivered[session] = []
        return out

    @property
    def kernel(self) -> Any:
        return self.venue.kernel

    def serve_control(self) -> None:
        """Start the control socket (`venue ctl --data-dir` works against this harness).
        Safe from several threads at once: the first starts it."""
        from venue.control import ControlServer

        with self._control_lock:
            if self._control is None:
                self._control = ControlServer(self.venue.data_dir, self.execute)
                # ControlServer.start() polls for shutdown every 0.5 s: a test would wait that
                # long at close(); the same server loop, polling faster.
                server = self._control._server
                threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
                ).start()

    # -- SQL

    def sql(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query once SQL holds every event journaled so far: the projection
        process's loop (follow) runs here until it has applied them, then returns."""
        import multiprocessing

        from sqlalchemy import text

        from venue.projection import follow
        from venue.store import make_engine, migrate

        if self._db is None:
            self._db = make_engine(self.settings.db_url)
            migrate(self._db)
        stop, told = multiprocessing.Pipe(duplex=False)
        told.close()  # end of file: apply what is journaled, then return
        try:
            follow(self.venue.journal_dir, self.settings.db_url, stop)
        finally:
            stop.close()
        with self._db.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query), params)]

    # -- the kernel thread's work, run here

    def pump(self) -> None:
        """Run what is in the inbox through Venue._process, one batch, as the kernel
        thread does."""
        with self._kernel_lock:
            batch: list[Command | _Waiter | object] = []
            while True:
                try:
                    batch.append(self.venue.inbox.get_nowait())
                except queue.Empty:
                    break
            if batch and not self.venue._process(batch):
                raise RuntimeError("journal write failed")

    def execute(self, command: Command) -> list[Event]:
        """Run one command as operator requests and the scheduler do (Venue.execute)."""
        waiter = _Waiter(command)
        self.venue.inbox.put(waiter)
        self.pump()
        assert waiter.done.is_set()
        return waiter.events

    def end_of_day(self) -> list[Event]:
        """The trading day ends now (what the scheduler sends at the configured time)."""
        return self.execute(ExpireDayOrders(self.clock() + 1))

    def ctl(self, *args: str, operator: str = "harness") -> str:
        """`venue ctl ARGS` through the real CLI and control socket; returns its output and
        raises AssertionError if it failed."""
        code, output = self.run_ctl(*args, operator=operator)
        if code != 0:
            raise AssertionError(f"venue ctl {' '.join(args)} failed: {output}")
        return output

    def run_ctl(self, *args: str, operator: str = "harness") -> tuple[int, str]:
        """`venue ctl ARGS` (the CLI in this process): its exit code and output."""
        from click.testing import CliRunner

        from venue.cli import main as venue_cli

        self.serve_control()
        data_dir = str(self.venue.data_dir)
        result = CliRunner().invoke(
            venue_cli, ["ctl", "--data-dir", data_dir, "--operator", operator, *args]
        )
        return result.exit_code, result.output

    # -- life cycle

    def close(self) -> None:
        """Stop as Venue.stop does, minus the adapters: snapshot if due, close the files."""
        venue = self.venue
        if self._control is not None:
            self._control.stop()
            self._control = None
        venue._stop_catch_ups()
        venue._snapshots.wait()
        if venue.journal is not None:
            if venue._last_record > venue._snapshot_record:
                venue._snapshot()
            venue.journal.close()
            venue.journal = None
        venue._released.close()
        for mark in venue._copy_marks.values():
            mark.close()
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def restart(self) -> Harness:
        """Close, then recover a new venue from the same data directory (as after a stop)."""
        self.close()
        return Harness(self.data_dir, clock=self.clock, **self._overrides())

    def _overrides(self) -> dict[str, Any]:
        keep = self.settings.model_dump(exclude={"data_dir"}, exclude_unset=True)
        return keep

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
