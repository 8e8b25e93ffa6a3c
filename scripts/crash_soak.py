"""Crash soak: kill -9 the venue at random moments under FIX traffic, restart it on the same
data directory, and check that nothing any client or drop copy was told is lost.

    .venv/bin/python scripts/crash_soak.py --rounds 8 --db sqlite
    .venv/bin/python scripts/crash_soak.py --rounds 8 --db postgres     # VENUE_TEST_PG_URL
    .venv/bin/python scripts/crash_soak.py --rounds 20 --seed 7 --keep  # keep the data dir

Each round starts `venue run` (a subprocess in its own process group) on the same data
directory, logs on CLIENT1, CLIENT2 (FIX 4.4), CLIENT3 (FIX 4.2) and the drop copy DROPCOPY
-- ResetSeqNumFlag only on the very first logon, afterwards sequence numbers must resume --
collects what the venue resends (PossDupFlag=Y), sends a seeded random mix of resting
orders, crossing orders, cancels and replaces on AAPL, MSFT and IBM (prices within 3% of
the reference prices, well inside the 10% collar; Day, GTC and IOC), now and then drops one
client's connection (cancel on disconnect), and kills the venue with SIGKILL at a random
moment: with requests still in flight, a few milliseconds after a send, or once every
request is answered. Sometimes only the venue process dies (its SQL projection child then
finishes on its own), sometimes the whole process group. Snapshots are taken every 40
journal records, so restarts recover from a snapshot plus the journal after it. After the
last round the venue is started once more, every session collects what it missed, each
order the clients believe open is queried with OrderStatusRequest, and the venue is stopped
cleanly (SIGTERM). Then the checks (PASS/FAIL):

  journal backs reports   every ExecutionReport / OrderCancelReject a client received is an
                          event of the journal: same ExecID (seq), OrderID, ClOrdID, kind
  sql backs reports       the same against SQL: executions (exec_id), order_events (cancel
                          rejects have no ExecID: matched by session and ClOrdID)
  journal reports reached every report event the journal holds for a client reached it
    clients               (possibly through a resend after a restart)
  trades match fills      every fill a client received is in `trades` with its price and
                          quantity, and every trade in `trades` was reported to both sides
  books match reports     the open orders (OrderID -> ClOrdID, LeavesQty) rebuilt from the
                          reports equal the venue's: its OrderStatusRequest answers, the SQL
                          `orders` table and a kernel rebuilt by replaying the journal
  replay is exact         replaying the whole journal gives exactly the recorded events, and
                          the snapshot written at the clean stop equals the replayed state
  ids never repeat        ExecID, OrderID and trade id never name two different things;
                          journal seqs run 1, 2, 3, ... across every restart
  seqnums resume          no sequence reset after the first logon, the venue's numbers never
                          went back, every number received or gap-filled
  drop copy mirrors       DROPCOPY got a copy (797=Y, 115=origin, same ids and quantities)
    journal               of every report event the journal holds, and nothing else

A problem that comes only from a report lost in a crash's release window (the journal
write was done, then the process died before QuickFIX stored the report) is listed with
"[release window]": a known venue bug, kept apart so that anything else stands out.

It prints one line per round (messages, kill mode, recovery time from the venue's
"recovered: ..." log line), the totals, and one line per check, and exits 1 if a check
failed. tests/test_crash.py runs the same loop (`run_soak`) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import make_url, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fixclient import FixClient, FixTimeout  # noqa: E402

from venue.config import FIX_CONFIG_DIR, load_reference  # noqa: E402
from venue.domain import events as ev  # noqa: E402
from venue.fix.codec import COPIED_EVENTS  # noqa: E402
from venue.journal import decode_record, latest_snapshot, read_records  # noqa: E402
from venue.kernel import Kernel  # noqa: E402
from venue.store.db import make_engine  # noqa: E402
from venue.store.models import executions, order_events, orders, projector_state, trades  # noqa: E402
from venue.testing.resources import free_port, scratch_database  # noqa: E402

VENUE_BIN = Path(sys.executable).parent / "venue"
SESSIONS = (("CLIENT1", "FIX.4.4"), ("CLIENT2", "FIX.4.4"), ("CLIENT3", "FIX.4.2"))
DROP_COPY = "DROPCOPY"  # entitled to every firm
REFERENCE_CENTS = {"AAPL": 19000, "MSFT": 42000, "IBM": 18000}  # reference prices, in cents
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RECOVERED = re.compile(
    r"recovered: snapshot at record (\d+) \+ (\d+) journal records replayed, (\d+) live orders, "
    r"last seq (\d+) \(([\d.]+)s\)"
)

Message = dict[int, str]

# What a report is, in the words of executions.exec_type (venue/store/projector.py).
KIND_OF_EVENT = {
    ev.OrderAccepted: "new",
    ev.OrderRejected: "rejected",
    ev.OrderFilled: "trade",
    ev.OrderCanceled: "canceled",
    ev.OrderReplaced: "replaced",
    ev.OrderExpired: "expired",
    ev.OrderRestated: "restated",
    ev.OrderTradeCanceled: "trade_cancel",
    ev.OrderStatusReported: "status",
    ev.CancelRejected: "cancel_reject",
}
_KIND_44 = {
    "0": "new", "F": "trade", "4": "canceled", "5": "replaced", "8": "rejected",
    "C": "expired", "D": "restated", "H": "trade_cancel", "I": "status",
}  # fmt: skip
_KIND_42 = {**_KIND_44, "1": "trade", "2": "trade"}
# Header fields that may differ between the first sending of a report and its resend.
_TRANSPORT_TAGS = {8, 9, 10, 34, 43, 52, 97, 122}


def report_kind(msg: Message) -> str | None:
    """The kind of an ExecutionReport or OrderCancelReject; None for any other message."""
    msg_type = msg.get(35)
    if msg_type == "9":
        return "cancel_reject"
    if msg_type != "8":
        return None
    if msg.get(8) == "FIX.4.2":
        if msg.get(20) == "3":
            return "status"
        if msg.get(20) == "1":
            return "trade_cancel"
        return _KIND_42.get(msg.get(150, ""), "?" + msg.get(150, ""))
    return _KIND_44.get(msg.get(150, ""), "?" + msg.get(150, ""))


def _content(msg: Message) -> dict[int, str]:
    return {t: v for t, v in msg.items() if t not in _TRANSPORT_TAGS}


# -- results ------------------------------------------------------------------------------


@dataclass
class Check:
    """One check's outcome. `known` holds the problems that come from reports lost in a
    crash's release window (journaled, then the process died before QuickFIX stored the
    report): a known venue bug, reported apart so that anything else stands out."""

    name: str
    detail: str = ""
    problems: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.known

    def line(self) -> str:
        status = "PASS" if self.ok else "FAIL"
        text = f"{status}  {self.name}: {self.detail}"
        for label, items in (("", self.problems), ("[release window] ", self.known)):
            for problem in items[:8]:
                text += f"\n        {label}{problem}"
            if len(items) > 8:
                text += f"\n        {label}... and {len(items) - 8} more"
        return text


@dataclass
class Restart:
    """One start of the venue: what its log said about recovery."""

    number: int
    seconds: float  # the venue's own figure, from "recovered: ... (N.NNs)"
    snapshot_record: int
    replayed: int
    live_orders: int
    last_seq: int
    start_seconds: float  # from spawning the process to "listening on"


@dataclass
class SoakResult:
    backend: str
    rounds: int = 0
    orders: int = 0  # NewOrderSingles sent
    messages: int = 0  # application messages sent (D, F, G, H)
    trades: int = 0
    restarts: list[Restart] = field(default_factory=list)
    kills: dict[str, int] = field(default_factory=dict)
    disconnects: int = 0
    resent: int = 0  # application messages received with PossDupFlag=Y
    unanswered: int = 0  # requests never answered (lost with a crash before the journal)
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)  # the lines printed while it ran

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def summary(self, with_log: bool = True) -> str:
        """Totals, recovery times and one line per check (after the round lines)."""
        times = [r.seconds for r in self.restarts]
        lines = [
            *(self.log if with_log else []),
            f"backend {self.backend}: {self.rounds} rounds, {self.orders} orders "
            f"({self.messages} messages), {self.trades} trades, {len(self.restarts)} starts "
            f"({len(self.restarts) - 1} after a kill), kills {self.kills}, "
            f"{self.disconnects} client disconnects, {self.resent} reports resent "
            f"(PossDupFlag=Y), {self.unanswered} requests never answered, "
            f"{self.seconds:.1f}s",
        ]
        if times:
            lines.append(
                "recovery (venue log) per start: "
                + ", ".join(f"{r.seconds:.2f}s/{r.replayed} rec" for r in self.restarts)
                + f"; max {max(times):.2f}s"
            )
        lines += [c.line() for c in self.checks]
        lines.append("RESULT: " + ("PASS" if self.ok else "FAIL"))
        return "\n".join(lines)


class SoakError(RuntimeError):
    """The soak could not go on (the venue did not start, a client could not log on)."""


# -- the venue process --------------------------------------------------------------------


class VenueProcess:
    """`venue run` in its own process group; its output goes to one log file per start.

    command: what to run instead of `venue run` (it gets --port and --data-dir too).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        env: dict[str, str],
        log_dir: Path,
        command: tuple[str, ...] = (str(VENUE_BIN), "run"),
    ) -> None:
        self.command = command
        self.data_dir = data_dir
        self.port = port
        self.env = env
        self.log_dir = log_dir
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.groups: list[int] = []  # every process group started (for the final cleanup)
        self.log_path: Path | None = None

    def start(self, timeout: float = 60.0) -> Restart:
        self.starts += 1
        self.log_path = self.log_dir / f"venue-{self.starts:02d}.log"
        argv = [*self.command, "--port", str(self.port), "--data-dir", str(self.data_dir)]
        began = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        self.groups.append(self.proc.pid)
        deadline = began + timeout
        while True:
            output = self.log_path.read_text(errors="replace")
            if "listening on" in output:
                break
            if self.proc.poll() is not None:
                raise SoakError(f"venue exited with {self.proc.returncode}:\n{output[-3000:]}")
            if time.monotonic() > deadline:
                raise SoakError(f"venue did not listen within {timeout}s:\n{output[-3000:]}")
            time.sleep(0.05)
        started = time.monotonic() - began
        match = RECOVERED.search(output)
        if match is None:
            raise SoakError(f"no 'recovered:' line in {self.log_path}")
        snap, replayed, live, last_seq, seconds = match.groups()
        return Restart(
            self.starts, float(seconds), int(snap), int(replayed), int(live), int(last_seq),
            started,
        )  # fmt: skip

    def kill(self, whole_group: bool) -> None:
        """SIGKILL the venue (and, if whole_group, its SQL projection child too)."""
        assert self.proc is not None
        if whole_group:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def cleanup(self) -> None:
        """Kill whatever is left of every process group this object started."""
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.wait(10)


# -- one client -----------------------------------------------------------------------------


@dataclass
class OrderView:
    """An order as its owner knows it from the reports it received (the latest one wins)."""

    order_id: str
    exec_id: int
    cl_ord_id: str
    symbol: str
    side: str
    qty: int
    price: str | None
    leaves: int
    status: str


class Trader:
    """One FIX session and everything it received."""

    def __init__(self, sender: str, begin_string: str, port: int) -> None:
        self.sender = sender
        self.begin_string = begin_string
        self.client = FixClient(port, sender, begin_string, "VENUE", heartbeat=30)
        self.processed = 0  # how much of client.received is looked at
        self.reports: dict[int, Message] = {}  # ExecID -> the report (first copy)
        # (originating session, ClOrdID) -> OrderCancelReject (they carry no ExecID); the
        # originating session is our own, or OnBehalfOfCompID(115) on a drop copy.
        self.cancel_rejects: dict[tuple[str, str], Message] = {}
        self.status_answers: dict[str, Message] = {}  # ClOrdID -> the latest status answer
        self.duplicates: list[str] = []  # an ExecID received twice with different content
        self.unexpected: list[Message] = []  # session rejects, business rejects, ...
        self.pending: dict[str, str] = {}  # ClOrdID of a request not yet answered -> MsgType
        self.sent_new: dict[str, tuple[str, str]] = {}  # NewOrderSingle ClOrdID -> symbol, side
        self.logons: list[tuple[int, int, bool]] = []  # (venue's seq, our next_in, reset)
        self.resent = 0
        self.counter = 0

    # -- connection ---------------------------------------------------------------------

    def logon(self, reset: bool) -> None:
        expected = 1 if reset else self.client.next_in
        # FixClient asks for a resend only once per gap; a gap left open by a crash must be
        # asked for again on the new connection.
        self.client._resend_until = 0
        deadline = time.monotonic() + 15.0
        while True:
            try:
                logon = self.client.reconnect(reset=reset, timeout=10.0)
                break
            except (OSError, ConnectionError, FixTimeout) as exc:
                # Right after a disconnect the venue may not have noticed it yet.
                if time.monotonic() > deadline:
                    raise SoakError(f"{self.sender}: logon failed: {exc}") from exc
                time.sleep(0.5)
        self.logons.append((int(logon[34]), expected, logon.get(141) == "Y"))
        self.absorb()

    def catch_up(self, timeout: float = 15.0) -> None:
        """Receive until every venue message up to its Logon is in (resends included)."""
        target = self.logons[-1][0]
        deadline = time.monotonic() + timeout
        while self.client.next_in <= target and time.monotonic() < deadline:
            self.pump(0.1)
        if self.client.next_in <= target:
            raise SoakError(
                f"{self.sender}: resend incomplete: next expected {self.client.next_in}, "
                f"venue Logon was {target}"
            )

    def pump(self, timeout: float) -> bool:
        """Receive for up to timeout; False when the connection is gone."""
        alive = True
        try:
            self.client.receive(timeout)
            while True:
                self.client.receive(0.0 if self.client._ready else 0.01)
        except FixTimeout:
            pass
        except (ConnectionError, OSError):
            alive = False
        self.absorb()
        return alive

    def drain_dead(self, timeout: float = 5.0) -> None:
        """Read what the dead venue left in the socket, up to the end of the stream."""
        deadline = time.monotonic() + timeout
        while self.client._sock is not None and time.monotonic() < deadline:
            if not self.pump(0.2):
                break
        self.client.close()

    # -- sending --------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{self.sender[-1]}{prefix}{self.counter}"

    def new_order(self, symbol: str, side: str, qty: int, price: str, tif: str) -> None:
        cl = self.next_id("N")
        self.sent_new[cl] = (symbol, side)
        self.pending[cl] = "D"
        self.client.new_order(cl, symbol, side, qty, price=price, tif=tif)

    def cancel(self, order: OrderView) -> None:
        cl = self.next_id("C")
        self.pending[cl] = "F"
        self.client.cancel(cl, order.cl_ord_id, order.symbol, order.side, order_id=order.order_id)

    def replace(self, order: OrderView, qty: int, price: str) -> None:
        cl = self.next_id("R")
        self.pending[cl] = "G"
        self.client.replace(
            cl, order.cl_ord_id, order.symbol, order.side, qty, price=price, tif="1",
            order_id=order.order_id,
        )  # fmt: skip

    def query(self, order: OrderView) -> None:
        self.pending["?" + order.cl_ord_id] = "H"
        self.client.status(order.cl_ord_id, order.symbol, order.side, order_id=order.order_id)

    # -- receiving ------------------------------------------------------------------------

    def absorb(self) -> None:
        """Look at everything received since the last call."""
        received = self.client.received
        for msg in received[self.processed :]:
            self._absorb(msg)
        self.processed = len(received)

    def _absorb(self, msg: Message) -> None:
        msg_type = msg.get(35)
        if msg_type in ("0", "1", "2", "4", "5", "A"):
            return
        if msg.get(43) == "Y":
            self.resent += 1
        kind = report_kind(msg)
        if kind is None:
            self.unexpected.append(msg)
            return
        cl = msg.get(11, "")
        if kind == "cancel_reject":
            self.cancel_rejects.setdefault((msg.get(115, self.sender), cl), msg)
            self.pending.pop(cl, None)
            return
        exec_id = int(msg[17])
        first = self.reports.setdefault(exec_id, msg)
        if first is not msg and _content(first) != _content(msg):
            self.duplicates.append(f"ExecID {exec_id}: {first} then {msg}")
        if kind == "status":
            self.status_answers[cl] = msg
            self.pending.pop("?" + cl, None)
        else:
            self.pending.pop(cl, None)

    def orders(self) -> dict[str, OrderView]:
        """OrderID -> the order as the latest report about it says (status answers aside)."""
        out: dict[str, OrderView] = {}
        for exec_id in sorted(self.reports):
            msg = self.reports[exec_id]
            if report_kind(msg) == "status" or msg.get(37) in (None, "NONE"):
                continue
            out[msg[37]] = OrderView(
                msg[37], exec_id, msg.get(11, ""), msg.get(55, ""), msg.get(54, ""),
                int(msg.get(38, "0")), msg.get(44), int(msg.get(151, "0")), msg.get(39, ""),
            )  # fmt: skip
        return out

    def open_orders(self) -> dict[str, OrderView]:
        return {oid: o for oid, o in self.orders().items() if o.leaves > 0}


# -- the soak ---------------------------------------------------------------------------------


class Soak:
    def __init__(
        self,
        work_dir: Path,
        database_url: str | None,
        port: int,
        seed: int,
        time_budget: float,
        say: Callable[[str], None],
    ) -> None:
        self.work_dir = work_dir
        self.data_dir = work_dir / "data"
        self.database_url = database_url or f"sqlite:///{self.data_dir / 'venue.db'}"
        self.port = port
        self.rng = random.Random(seed)
        self.time_budget = time_budget
        self._say = say
        backend = make_url(self.database_url).get_backend_name()
        self.result = SoakResult("postgresql" if backend.startswith("postgres") else backend)
        env = dict(os.environ)
        env.update(
            {
                "VENUE_DATABASE_URL": self.database_url,
                # Snapshots every 40 records (by the snapshot replica), so that crashes also
                # hit recovery from a snapshot plus a journal tail (and kills land in
                # snapshot writes).
                "VENUE_JOURNAL__SNAPSHOT_EVERY": "40",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.venue = VenueProcess(self.data_dir, port, env, work_dir)
        self.traders = [Trader(s, b, port) for s, b in SESSIONS]
        self.copy = Trader(DROP_COPY, "FIX.4.4", port)  # receives only
        self.sessions = [*self.traders, self.copy]

    def say(self, line: str) -> None:
        self.result.log.append(line)
        self._say(line)

    # -- the loop ------------------------------------------------------------------------

    def run(self, rounds: int) -> SoakResult:
        began = time.monotonic()
        try:
            for number in range(1, rounds + 1):
                self._start(first=number == 1)
                self._round(number)
                self.result.rounds = number
                if time.monotonic() - began > self.time_budget:
                    self.say(f"time budget of {self.time_budget:.0f}s spent: no more rounds")
                    break
            self._start(first=False)
            self._finish()
            self.result.seconds = time.monotonic() - began
            self._check()
        finally:
            self.venue.cleanup()
            for session in self.sessions:
                session.client.close()
        self.result.seconds = time.monotonic() - began
        return self.result

    def _start(self, first: bool) -> None:
        restart = self.venue.start()
        self.result.restarts.append(restart)
        for session in self.sessions:
            session.logon(reset=first)
        for session in self.sessions:
            session.catch_up()
        self._settle(3.0)
        for trader in self.traders:  # what is still unanswered was lost with the crash
            self.result.unanswered += len(trader.pending)
            trader.pending.clear()

    def _round(self, number: int) -> None:
        rng = self.rng
        actions = rng.randint(5, 60)
        disconnect_at = rng.randint(0, actions - 1) if rng.random() < 0.25 else -1
        burst = rng.randint(1, 8)
        for i in range(actions):
            if i == disconnect_at:
                self._disconnect(rng.choice(self.traders))
            self._act(rng.choice(self.traders))
            burst -= 1
            if burst == 0:
                self._settle(5.0)
                burst = rng.randint(1, 8)
        mode = rng.choice(("in flight", "in flight", "after a pause", "settled"))
        if mode == "settled":
            self._settle(5.0)
        elif mode == "after a pause":
            time.sleep(rng.uniform(0.0, 0.01))
        whole_group = rng.random() < 0.5
        self.venue.kill(whole_group)
        how = f"{mode}, {'process group' if whole_group else 'venue only'}"
        self.result.kills[how] = self.result.kills.get(how, 0) + 1
        for session in self.sessions:
            session.drain_dead()
        restart = self.result.restarts[-1]
        self.say(
            f"round {number}: {actions} messages, killed {how}; this start recovered in "
            f"{restart.seconds:.2f}s (snapshot at record {restart.snapshot_record} + "
            f"{restart.replayed} records, {restart.live_orders} live orders), listening after "
            f"{restart.start_seconds:.1f}s"
        )

    def _disconnect(self, trader: Trader) -> None:
        """The client drops its connection (cancel on disconnect) and logs on again."""
        self._settle(5.0)
        trader.client.close()
        self.result.disconnects += 1
        time.sleep(0.2)
        trader.logon(reset=False)
        trader.catch_up()

    def _act(self, trader: Trader) -> None:
        rng = self.rng
        live = list(trader.open_orders().values())
        roll = rng.random()
        self.result.messages += 1
        if live and roll < 0.15:
            trader.cancel(rng.choice(live))
        elif live and roll < 0.3:
            order = rng.choice(live)
            qty = max(100, order.qty + rng.choice((-100, 0, 100, 200)))
            price = order.price or self._price(order.symbol, order.side, rng.random() < 0.3)
            if rng.random() < 0.5:
                price = self._price(order.symbol, order.side, rng.random() < 0.3)
            trader.replace(order, qty, price)
        else:
            symbol = rng.choice(list(REFERENCE_CENTS))
            side = rng.choice("12")
            crossing = rng.random() < 0.35
            tif = rng.choice("013") if crossing else rng.choice("001")
            qty = rng.randint(1, 6) * 100
            trader.new_order(symbol, side, qty, self._price(symbol, side, crossing), tif)
            self.result.orders += 1

    def _price(self, symbol: str, side: str, crossing: bool) -> str:
        """A limit price within 3% of the reference: resting away from it, or crossing."""
        ref = REFERENCE_CENTS[symbol]
        offset = self.rng.randint(5, 300) * ref // 10000  # 0.05% .. 3%
        away = -offset if side == "1" else offset
        cents = ref - away if crossing else ref + away
        return f"{cents // 100}.{cents % 100:02d}"

    def _settle(self, timeout: float) -> None:
        """Pump every client until every request is answered (or timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            for session in self.sessions:
                session.pump(0.02)
            if not any(t.pending for t in self.traders) or time.monotonic() > deadline:
                return

    def _finish(self) -> None:
        """After the last start: query every open order, then stop the venue cleanly."""
        for trader in self.traders:
            for order in trader.open_orders().values():
                trader.query(order)
                self.result.messages += 1
        self._settle(15.0)
        self.result.unanswered += sum(len(t.pending) for t in self.traders)
        self.venue.terminate()
        deadline = time.monotonic() + 60
        assert self.venue.proc is not None
        while self.venue.proc.poll() is None and time.monotonic() < deadline:
            for session in self.sessions:
                if session.client._sock is not None:
                    session.pump(0.05)
                else:
                    time.sleep(0.02)
        if self.venue.proc.poll() is None:
            raise SoakError("venue did not stop within 60s of SIGTERM")
        for session in self.sessions:
            session.drain_dead(1.0)
        output = self.venue.log_path.read_text(errors="replace") if self.venue.log_path else ""
        if self.venue.proc.returncode != 0 or "venue stopped" not in output:
            raise SoakError(f"unclean stop ({self.venue.proc.returncode}):\n{output[-3000:]}")

    # -- the checks -----------------------------------------------------------------------

    def _check(self) -> None:
        journal = JournalView.read(self.data_dir / "journal")
        sql = SqlView.read(self.database_url, journal.last_seq)
        evidence = Evidence(
            self.traders, self.copy, journal, sql, self.result.restarts, self.data_dir / "snapshots"
        )
        self.result.trades = len(sql.trades)
        self.result.resent = sum(t.resent for t in self.sessions)
        self.result.checks = [check(evidence) for check in CHECKS]


# -- what the venue holds -----------------------------------------------------------------------


@dataclass
class JournalView:
    """Every record of the journal, decoded, and the kernel rebuilt by replaying them."""

    records: list[tuple[int, int, Any, list[Any]]]  # (record_no, ts, command, events)
    events: dict[int, Any]  # seq -> event
    seqs: list[int]  # every event's seq, in journal order
    kernel: Kernel
    diverged: list[str]

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    @classmethod
    def read(cls, journal_dir: Path) -> JournalView:
        reference = load_reference(FIX_CONFIG_DIR / "venue.toml")
        kernel = Kernel(reference)
        records, events, seqs, diverged = [], {}, [], []
        for record_no, payload in read_records(journal_dir):
            ts, command, recorded = decode_record(payload)
            records.append((record_no, ts, command, recorded))
            for event in recorded:
                seqs.append(event.seq)
                events.setdefault(event.seq, event)
            replayed = kernel.handle(command, ts)
            if replayed != recorded and len(diverged) < 20:
                diverged.append(f"record {record_no}: {command!r} replayed differently")
        return cls(records, events, seqs, kernel, diverged)

    def report_events(self, session: str) -> dict[int, Any]:
        """seq -> event, for every event that sends `session` an ER or a cancel reject."""
        out = {}
        for seq, event in self.events.items():
            if type(event) in KIND_OF_EVENT and ev.report_session(event) == session:
                out[seq] = event
        return out


@dataclass
class SqlView:
    executions: dict[int, Any]
    cancel_rejects: dict[tuple[str, str], Any]  # (session, ClOrdID) -> order_events row
    trades: dict[int, Any]
    open_orders: dict[int, Any]
    last_seq: int

    @classmethod
    def read(cls, url: str, journal_last_seq: int, timeout: float = 60.0) -> SqlView:
        engine = make_engine(url)
        try:
            deadline = time.monotonic() + timeout
            while True:  # a projection orphaned by a kill may still be catching up
                with engine.connect() as conn:
                    last = conn.execute(select(projector_state.c.last_seq)).scalar() or 0
                if last >= journal_last_seq or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            with engine.connect() as conn:
                execs = {r.exec_id: r for r in conn.execute(select(executions))}
                rejects = {
                    (r.session, r.cl_ord_id): r
                    for r in conn.execute(
                        select(order_events).where(order_events.c.event_type == "CancelRejected")
                    )
                }
                trade_rows = {r.trade_id: r for r in conn.execute(select(trades))}
                open_rows = {
                    r.order_id: r
                    for r in conn.execute(select(orders).where(orders.c.status.in_(("0", "1"))))
                }
        finally:
            engine.dispose()
        return cls(execs, rejects, trade_rows, open_rows, last)


# -- checks ---------------------------------------------------------------------------------------


@dataclass
class Evidence:
    """Everything the checks look at, gathered after the venue's clean stop."""

    traders: list[Trader]  # the order-entry sessions
    copy: Trader  # the drop-copy session
    journal: JournalView
    sql: SqlView
    restarts: list[Restart]
    snapshot_dir: Path
    # The release window of each crash: the report events a killed run journaled at or
    # after the last report it got out to any session. A report lost there was journaled,
    # then the process died before QuickFIX stored it; the venue does not send it after the
    # restart (a known bug).
    tail: set[int] = field(default_factory=set)
    # The report events of the release windows that never reached their order-entry client.
    window: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rejects = {
            (x.session, x.cl_ord_id): s
            for s, x in self.journal.events.items()
            if type(x) is ev.CancelRejected
        }
        by_client: set[int] = set()
        for trader in self.traders:
            by_client.update(trader.reports)
            by_client.update(rejects[key] for key in trader.cancel_rejects if key in rejects)
        by_anyone = by_client | set(self.copy.reports)
        by_anyone.update(rejects[key] for key in self.copy.cancel_rejects if key in rejects)
        bounds = [r.last_seq for r in self.restarts]
        for begin, end in zip(bounds, bounds[1:], strict=False):  # the killed runs
            reports = [
                s
                for s, x in self.journal.events.items()
                if begin < s <= end and type(x) in KIND_OF_EVENT
            ]
            got_out = max((s for s in reports if s in by_anyone), default=begin)
            self.tail.update(s for s in reports if s >= got_out)
        self.window = {s: self.journal.events[s] for s in sorted(self.tail) if s not in by_client}

    @property
    def window_orders(self) -> set[int]:
        return {x.order.order_id for x in self.window.values() if getattr(x, "order", None)}


def _order_id(msg: Message) -> int | None:
    text = msg.get(37, "NONE")
    return None if text == "NONE" else int(text)


def _reject_matches(event: Any, msg: Message) -> str | None:
    if not isinstance(event, ev.CancelRejected):
        return f"is a {type(event).__name__}"
    if (event.orig_cl_ord_id or "NONE") != msg.get(41):
        return f"OrigClOrdID {event.orig_cl_ord_id} != {msg.get(41)}"
    if event.response_to != msg.get(434):
        return f"CxlRejResponseTo {event.response_to} != {msg.get(434)}"
    order_id = None if event.order is None else event.order.order_id
    if order_id != _order_id(msg):
        return f"OrderID {order_id} != {msg.get(37)}"
    return None


def check_journal_backs_reports(e: Evidence) -> Check:
    """Every report a client received is an event of the journal, the same in substance."""
    check = Check("journal backs reports")
    rejects = {
        (x.session, x.cl_ord_id): x
        for x in e.journal.events.values()
        if type(x) is ev.CancelRejected
    }
    count = 0
    for trader in e.traders:
        for exec_id, msg in trader.reports.items():
            count += 1
            event = e.journal.events.get(exec_id)
            where = f"{trader.sender} ExecID {exec_id}"
            if event is None:
                check.problems.append(f"{where}: no journal event with this seq")
                continue
            kind = KIND_OF_EVENT.get(type(event))
            if kind != report_kind(msg):
                check.problems.append(f"{where}: journal has {type(event).__name__}, report {kind}")
                continue
            snapshot = getattr(event, "order", None)
            if ev.report_session(event) != trader.sender:
                check.problems.append(f"{where}: journal event is for {ev.report_session(event)}")
            elif snapshot is not None and (
                snapshot.order_id != _order_id(msg) or snapshot.cl_ord_id != msg.get(11)
            ):
                check.problems.append(
                    f"{where}: journal OrderID/ClOrdID {snapshot.order_id}/{snapshot.cl_ord_id}"
                    f", report {msg.get(37)}/{msg.get(11)}"
                )
        for (origin, cl), msg in trader.cancel_rejects.items():
            count += 1
            event = rejects.get((origin, cl))
            problem = "not in the journal" if event is None else _reject_matches(event, msg)
            if problem:
                check.problems.append(f"{trader.sender} cancel reject {cl}: {problem}")
    check.detail = f"{count} reports received"
    return check


def check_sql_backs_reports(e: Evidence) -> Check:
    """Every report a client received is in SQL: executions, or order_events (cancel rejects)."""
    check = Check("sql backs reports")
    count = 0
    for trader in e.traders:
        for exec_id, msg in trader.reports.items():
            count += 1
            kind = report_kind(msg)
            where = f"{trader.sender} ExecID {exec_id} ({kind})"
            row = e.sql.executions.get(exec_id)
            if row is None:
                if kind == "status" and msg.get(37) == "NONE":
                    continue  # an unknown order's status: no execution row by design
                check.problems.append(f"{where}: no executions row")
                continue
            wrong = []
            if row.session != trader.sender:
                wrong.append(f"session {row.session}")
            if row.order_id != _order_id(msg):
                wrong.append(f"order_id {row.order_id} != {msg.get(37)}")
            if row.cl_ord_id != msg.get(11):
                wrong.append(f"cl_ord_id {row.cl_ord_id} != {msg.get(11)}")
            if row.exec_type != kind:
                wrong.append(f"exec_type {row.exec_type} != {kind}")
            if row.leaves_qty != int(msg[151]) or row.cum_qty != int(msg[14]):
                wrong.append(f"cum/leaves {row.cum_qty}/{row.leaves_qty} != {msg[14]}/{msg[151]}")
            if kind == "trade" and (
                row.last_qty != int(msg[32]) or row.last_px != Decimal(msg[31])
            ):
                wrong.append(f"last {row.last_qty}@{row.last_px} != {msg[32]}@{msg[31]}")
            if wrong:
                check.problems.append(f"{where}: " + ", ".join(wrong))
        for (origin, cl), msg in trader.cancel_rejects.items():
            count += 1
            row = e.sql.cancel_rejects.get((origin, cl))
            if row is None:
                check.problems.append(f"{trader.sender} cancel reject {cl}: not in order_events")
            elif row.order_id != _order_id(msg) or (row.orig_cl_ord_id or "NONE") != msg.get(41):
                check.problems.append(
                    f"{trader.sender} cancel reject {cl}: order_events has "
                    f"{row.order_id}/{row.orig_cl_ord_id}, report {msg.get(37)}/{msg.get(41)}"
                )
    if e.sql.last_seq != e.journal.last_seq:
        check.problems.append(f"SQL at seq {e.sql.last_seq}, journal at {e.journal.last_seq}")
    check.detail = f"{count} reports received, SQL at seq {e.sql.last_seq}"
    return check


def check_journal_reports_reached_clients(e: Evidence) -> Check:
    """Every report event the journal holds for a client reached it (resends included)."""
    check = Check("journal reports reached clients")
    count = 0
    for trader in e.traders:
        for seq, event in sorted(e.journal.report_events(trader.sender).items()):
            count += 1
            if type(event) is ev.CancelRejected:
                arrived = (trader.sender, event.cl_ord_id) in trader.cancel_rejects
            else:
                arrived = seq in trader.reports
            if arrived:
                continue
            snap = getattr(event, "order", None)
            what = f" (order {snap.order_id} {snap.cl_ord_id})" if snap is not None else ""
            problem = f"{trader.sender}: {type(event).__name__} seq {seq}{what} never arrived"
            (check.known if seq in e.window else check.problems).append(problem)
    check.detail = f"{count} report events in the journal"
    return check


def check_trades_match_fills(e: Evidence) -> Check:
    """Fills received are trades in SQL (price, quantity, order); every trade told to both."""
    check = Check("trades match fills")
    fills_by_trade: dict[int, list[tuple[str, int]]] = {}
    fills = 0
    for trader in e.traders:
        for exec_id, msg in trader.reports.items():
            if report_kind(msg) != "trade":
                continue
            fills += 1
            where = f"{trader.sender} fill ExecID {exec_id}"
            row = e.sql.executions.get(exec_id)
            trade = None if row is None else e.sql.trades.get(row.trade_id)
            if trade is None:
                check.problems.append(f"{where}: no trade in SQL")
                continue
            fills_by_trade.setdefault(trade.trade_id, []).append((trader.sender, exec_id))
            side_order = trade.buy_order_id if msg[54] == "1" else trade.sell_order_id
            if (
                trade.qty != int(msg[32])
                or trade.price != Decimal(msg[31])
                or side_order != int(msg[37])
                or trade.status != "active"
            ):
                check.problems.append(
                    f"{where}: {msg[32]}@{msg[31]} order {msg[37]} but trade {trade.trade_id} "
                    f"is {trade.qty}@{trade.price} {trade.buy_order_id}/{trade.sell_order_id} "
                    f"{trade.status}"
                )
    lost_orders = e.window_orders
    for trade_id, trade in sorted(e.sql.trades.items()):
        told = fills_by_trade.get(trade_id, [])
        if len(told) != 2:
            problem = f"trade {trade_id}: {len(told)} of 2 sides were told ({told})"
            sides = {trade.buy_order_id, trade.sell_order_id}
            (check.known if sides & lost_orders else check.problems).append(problem)
    check.detail = f"{fills} fills received, {len(e.sql.trades)} trades in SQL"
    return check


def _model(traders: list[Trader]) -> dict[int, tuple[str, str, int]]:
    """OrderID -> (session, ClOrdID, LeavesQty) of every order the reports say is open."""
    return {
        int(oid): (t.sender, o.cl_ord_id, o.leaves)
        for t in traders
        for oid, o in t.open_orders().items()
    }


def check_books_match_reports(e: Evidence) -> Check:
    """The open orders rebuilt from the reports are the venue's: its status answers, the SQL
    orders table and the kernel rebuilt by replaying the journal."""
    check = Check("books match reports")
    model = _model(e.traders)
    answers: dict[int, Any] = {}
    for trader in e.traders:
        for order in trader.open_orders().values():
            answer = trader.status_answers.get(order.cl_ord_id)
            if answer is None or answer.get(37) == "NONE":
                answers[int(order.order_id)] = None
            elif int(answer.get(151, "0")) > 0:
                answers[int(answer[37])] = (trader.sender, answer.get(11, ""), int(answer[151]))
    kernel = e.journal.kernel
    views = {
        "status answers": answers,
        "SQL orders": {
            oid: (r.session, r.cl_ord_id, r.leaves_qty) for oid, r in e.sql.open_orders.items()
        },
        "replayed kernel": {
            oid: (o.session, o.cl_ord_id, o.leaves_qty) for oid, o in kernel.live.items()
        },
    }
    lost_orders = e.window_orders
    for name, view in views.items():
        for oid in sorted(set(model) | set(view)):
            if model.get(oid) != view.get(oid):
                problem = f"order {oid}: reports say {model.get(oid)}, {name} {view.get(oid)}"
                (check.known if oid in lost_orders else check.problems).append(problem)
    try:
        kernel.check_invariants()
    except AssertionError as exc:
        check.problems.append(f"replayed kernel breaks an invariant: {exc}")
    check.detail = f"{len(model)} open orders; status answers, SQL and journal replay compared"
    return check


def check_replay_is_exact(e: Evidence) -> Check:
    """Replaying the whole journal gives the recorded events, and the snapshot written at the
    clean stop holds the same state as the replay."""
    check = Check("replay is exact", problems=list(e.journal.diverged))
    snapshot = latest_snapshot(e.snapshot_dir)
    last_record = e.journal.records[-1][0] if e.journal.records else 0
    if snapshot is None:
        check.problems.append("no snapshot after the clean stop")
    else:
        record_no, payload = snapshot
        replayed = orjson.loads(orjson.dumps(e.journal.kernel.export_state()))
        stored = orjson.loads(payload)
        if record_no != last_record:
            check.problems.append(
                f"newest snapshot at record {record_no}, journal ends {last_record}"
            )
        elif stored != replayed:
            keys = [k for k in replayed if stored.get(k) != replayed[k]]
            check.problems.append(f"snapshot at record {record_no} differs from replay in {keys}")
    check.detail = f"{len(e.journal.records)} records, {len(e.journal.seqs)} events replayed"
    return check


def check_ids_never_repeat(e: Evidence) -> Check:
    """ExecID, OrderID and trade id never name two different things, across restarts."""
    check = Check("ids never repeat")
    seqs = e.journal.seqs
    if seqs != list(range(1, len(seqs) + 1)):
        at = next(i for i, s in enumerate(seqs) if s != i + 1)
        check.problems.append(
            f"journal seqs are not 1, 2, 3...: position {at + 1} holds {seqs[at]}"
        )
    order_ids: dict[int, tuple[str, str]] = {}
    trade_ids: list[int] = []
    for event in e.journal.events.values():
        if type(event) in (ev.OrderAccepted, ev.OrderRejected):
            key = (event.order.session, event.order.cl_ord_id)
            first = order_ids.setdefault(event.order.order_id, key)
            if first != key:
                check.problems.append(f"OrderID {event.order.order_id} given to {first} and {key}")
        elif type(event) is ev.TradeExecuted:
            trade_ids.append(event.trade_id)
    if trade_ids != list(range(1, len(trade_ids) + 1)):
        check.problems.append(f"trade ids are not 1, 2, 3...: {trade_ids}")
    # What the clients saw: an ExecID and an OrderID in one session only; a new order's
    # ClOrdID answered with one OrderID.
    exec_owner: dict[int, str] = {}
    order_owner: dict[str, str] = {}
    for trader in e.traders:
        check.problems += trader.duplicates
        new_ids: dict[str, set[str]] = {}
        for exec_id, msg in trader.reports.items():
            if exec_owner.setdefault(exec_id, trader.sender) != trader.sender:
                check.problems.append(
                    f"ExecID {exec_id} sent to {exec_owner[exec_id]} and {trader.sender}"
                )
            oid = msg.get(37, "NONE")
            if oid != "NONE" and order_owner.setdefault(oid, trader.sender) != trader.sender:
                check.problems.append(
                    f"OrderID {oid} reported to {order_owner[oid]} and {trader.sender}"
                )
            if msg.get(11) in trader.sent_new and report_kind(msg) in ("new", "rejected"):
                new_ids.setdefault(msg[11], set()).add(oid)
        for cl, ids in new_ids.items():
            if len(ids) != 1:
                check.problems.append(f"{trader.sender}: new order {cl} acknowledged as {ids}")
    check.detail = (
        f"{len(seqs)} seqs, {len(order_ids)} OrderIDs, {len(trade_ids)} trade ids, "
        f"{sum(len(t.reports) for t in e.traders)} ExecIDs received"
    )
    return check


def _covered(trader: Trader) -> set[int]:
    numbers: set[int] = set()
    for msg in trader.client.received:
        seq = int(msg.get(34, "0"))
        if msg.get(35) == "4" and msg.get(123) == "Y":
            numbers.update(range(seq, int(msg[36])))
        else:
            numbers.add(seq)
    return numbers


def check_seqnums_resume(e: Evidence) -> Check:
    """No sequence reset after the first logon, the venue's numbers never went back, every
    number received or gap-filled, no session-level or business reject."""
    check = Check("seqnums resume")
    logons = 0
    for trader in [*e.traders, e.copy]:
        for i, (venue_seq, expected, reset) in enumerate(trader.logons):
            logons += 1
            if reset != (i == 0):
                check.problems.append(f"{trader.sender} logon {i + 1}: ResetSeqNumFlag={reset}")
            if venue_seq < expected:
                check.problems.append(
                    f"{trader.sender} logon {i + 1}: venue's Logon is {venue_seq}, "
                    f"we had seen up to {expected - 1} (numbers went back)"
                )
        last = trader.client.next_in - 1
        missing = sorted(set(range(1, last + 1)) - _covered(trader))
        if missing:
            check.problems.append(f"{trader.sender}: never received nor gap-filled: {missing[:20]}")
        for msg in trader.unexpected:
            check.problems.append(f"{trader.sender}: unexpected message {msg}")
    check.detail = f"{logons} logons; " + ", ".join(
        f"{t.sender} received up to {t.client.next_in - 1}" for t in [*e.traders, e.copy]
    )
    return check


def check_drop_copy_mirrors_the_journal(e: Evidence) -> Check:
    """The drop copy (entitled to every firm) received a copy of every ExecutionReport and
    OrderCancelReject the journal holds, each the same as the original, and nothing else."""
    check = Check("drop copy mirrors journal")
    copy = e.copy
    originals = {exec_id: msg for t in e.traders for exec_id, msg in t.reports.items()}
    for exec_id, msg in copy.reports.items():
        event = e.journal.events.get(exec_id)
        where = f"copy ExecID {exec_id}"
        if event is None or type(event) not in COPIED_EVENTS:
            check.problems.append(f"{where}: journal has {type(event).__name__}")
            continue
        origin = ev.report_session(event)
        if msg.get(115) != origin or msg.get(797) != "Y":
            check.problems.append(f"{where}: 115={msg.get(115)} 797={msg.get(797)}, from {origin}")
        original = originals.get(exec_id)
        if original is not None:
            differ = [t for t in (37, 11, 14, 151, 31, 32) if original.get(t) != msg.get(t)]
            if differ:
                check.problems.append(f"{where}: tags {differ} differ from {origin}'s report")
    rejects = {
        (x.session, x.cl_ord_id): s
        for s, x in e.journal.events.items()
        if type(x) is ev.CancelRejected
    }
    for key in copy.cancel_rejects:
        if key not in rejects:
            check.problems.append(f"copy of cancel reject {key}: not in the journal")
    copied = 0
    for seq, event in sorted(e.journal.events.items()):
        if type(event) not in COPIED_EVENTS:
            continue
        copied += 1
        if type(event) is ev.CancelRejected:
            arrived = (event.session, event.cl_ord_id) in copy.cancel_rejects
        else:
            arrived = seq in copy.reports
        if not arrived:
            problem = f"{type(event).__name__} seq {seq} of {ev.report_session(event)}: no copy"
            (check.known if seq in e.tail else check.problems).append(problem)
    received = len(copy.reports) + len(copy.cancel_rejects)
    check.detail = f"{copied} copied events in the journal, {received} copies received"
    return check


CHECKS = (
    check_journal_backs_reports,
    check_sql_backs_reports,
    check_journal_reports_reached_clients,
    check_trades_match_fills,
    check_books_match_reports,
    check_replay_is_exact,
    check_ids_never_repeat,
    check_seqnums_resume,
    check_drop_copy_mirrors_the_journal,
)


# -- entry points ---------------------------------------------------------------------------------


def run_soak(
    work_dir: Path,
    database_url: str | None = None,
    rounds: int = 8,
    port: int | None = None,
    seed: int = 1,
    time_budget: float = 60.0,
    say: Callable[[str], None] = print,
) -> SoakResult:
    """Run the crash loop in work_dir (data dir, venue logs) and return the figures and checks.

    database_url None means SQLite in the data dir. At most `rounds` rounds, fewer if
    time_budget seconds are spent (the final restart and the checks come on top).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    soak = Soak(work_dir, database_url, port or free_port(), seed, time_budget, say)
    return soak.run(rounds)


def fresh_pg_database() -> contextlib.AbstractContextManager[str]:
    """A new database on the server named by VENUE_TEST_PG_URL, dropped afterwards."""
    return scratch_database(prefix="venue_soak")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="kill/restart rounds (8)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random traffic (1)")
    parser.add_argument(
        "--time-budget", type=float, default=120.0, help="no new round after this many s (120)"
    )
    parser.add_argument("--work-dir", type=Path, help="where the data dir goes (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and venue logs")
    args = parser.parse_args()

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="crash-soak-"))
    print(f"crash soak: {args.rounds} rounds on {args.db}, seed {args.seed}, in {work_dir}")
    try:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(fresh_pg_database()) if args.db == "postgres" else None
            result = run_soak(
                work_dir, url, args.rounds, seed=args.seed, time_budget=args.time_budget
            )
        print(result.summary(with_log=False))
    finally:
        if not args.keep and args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
        elif args.keep:
            print(f"kept {work_dir}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
