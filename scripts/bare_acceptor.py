"""A bare QuickFIX-Python acceptor: one ExecutionReport (New) per NewOrderSingle, nothing else.

It is the yardstick for scripts/loadgen.py: the same QuickFIX engine, sessions, store and log
settings as the venue (rendered from fix_config/acceptor.cfg), with the cheapest possible
application on top. Each order is read once with ``toString()``; the reply is built as one
string and handed to QuickFIX with ``Message.setString`` and ``Session.sendToTarget``.

    python scripts/bare_acceptor.py --port 9878 --data-dir /tmp/bare

With ``--durable`` it is the durable floor: each order's text is appended to a file and
fdatasync'd before its report (one sync per order, no group commit), and the sync times are
written to ``DATA_DIR/fsync_us.json`` every second and at stop, by ClOrdID prefix
(scripts/loadgen.py gives each phase its own). With ``--copy-to DROPCOPY`` each report also
goes, as a drop copy (PossResend 797=Y, OnBehalfOf 115=the client), to that session while it
is logged on: the QuickFIX cost of the venue's second message per order, without the venue.

Prints ``listening on 127.0.0.1:PORT`` once accepting; stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import string
import sys
import threading
import time
from pathlib import Path

import quickfix as fix

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "fix_config" / "acceptor.cfg"
SOH = "\x01"


def dict_dir() -> Path:
    """Where the quickfix wheel installed its data dictionaries."""
    return Path(sys.prefix) / "share" / "quickfix"


def settings_for(template: Path, port: int, data_dir: Path) -> tuple[fix.SessionSettings, str]:
    """Render the venue's settings template the way the venue does; returns (settings, how)."""
    try:
        from venue.fix.application import render_settings
    except Exception as exc:  # any failure (the venue mid-change): same rules, by hand
        how = f"own renderer ({type(exc).__name__} importing venue.fix.application)"
    else:
        return render_settings(template, port=port, data_dir=data_dir), "venue renderer"
    text = string.Template(template.read_text()).substitute(
        port=port, data_dir=data_dir, dict_dir=dict_dir()
    )
    fix_dir = data_dir / "fix"
    for sub in ("store", "log"):
        (fix_dir / sub).mkdir(parents=True, exist_ok=True)
    rendered = fix_dir / "acceptor.cfg"
    rendered.write_text(text)
    return fix.SessionSettings(str(rendered)), how


def field(text: str, tag: str) -> str:
    """Value of the first `tag` in a raw FIX string (tag given as "\\x01NN=")."""
    start = text.find(tag)
    if start < 0:
        return ""
    start += len(tag)
    return text[start : text.find(SOH, start)]


class BareApplication(fix.Application):
    """Answers each NewOrderSingle with one ExecutionReport New; ignores everything else."""

    def __init__(self, journal: int | None = None, copy_to: str | None = None) -> None:
        super().__init__()
        self.journal = journal  # fd of the append-only file, when durable
        self.copy_to = copy_to  # CompID of a drop-copy session, or None
        self.copy_session: fix.SessionID | None = None  # while copy_to is logged on
        self.syncs: dict[str, list[int]] = {}  # ClOrdID prefix -> fdatasync times, ns
        self.next_id = 0
        self.second = -1
        self.second_text = ""

    def utc_now(self) -> str:
        """UTCTimestamp with microseconds; the date-time part is formatted once a second."""
        second, micros = divmod(time.time_ns() // 1000, 1_000_000)
        if second != self.second:
            self.second = second
            self.second_text = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second))
        return f"{self.second_text}.{micros:06d}"

    def onCreate(self, session_id: fix.SessionID) -> None:  # noqa: N802
        pass

    def onLogon(self, session_id: fix.SessionID) -> None:  # noqa: N802
        if session_id.getTargetCompID().getValue() == self.copy_to:
            self.copy_session = fix.SessionID(
                session_id.getBeginString().getValue(),
                session_id.getSenderCompID().getValue(),
                session_id.getTargetCompID().getValue(),
            )

    def onLogout(self, session_id: fix.SessionID) -> None:  # noqa: N802
        if session_id.getTargetCompID().getValue() == self.copy_to:
            self.copy_session = None

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        pass

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        pass

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        pass

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:  # noqa: N802
        text = message.toString()
        if "\x0135=D\x01" not in text:
            return
        self.next_id += 1
        n = self.next_id
        cl_ord_id = field(text, "\x0111=")
        symbol = field(text, "\x0155=")
        side = field(text, "\x0154=")
        qty = field(text, "\x0138=")
        price = field(text, "\x0144=")
        if self.journal is not None:
            os.write(self.journal, text.encode())
            started = time.perf_counter_ns()
            os.fdatasync(self.journal)
            spent = time.perf_counter_ns() - started
            self.syncs.setdefault(cl_ord_id.partition("-")[0], []).append(spent)
        now = self.utc_now()
        trans_type = "20=0\x01" if text.startswith("8=FIX.4.2") else ""  # required in 4.2
        reply = (
            f"35=8\x0137=O{n}\x0117=E{n}\x01{trans_type}150=0\x0139=0\x0111={cl_ord_id}"
            f"\x0155={symbol}\x0154={side}\x0138={qty}\x0144={price}"
            f"\x0114=0\x01151={qty}\x016=0\x0160={now}\x01"
        )
        out = fix.Message()
        out.setString(reply, False)
        fix.Session.sendToTarget(out, session_id)
        copy_session = self.copy_session
        if copy_session is not None:
            origin = session_id.getTargetCompID().getValue()
            copy = fix.Message()
            copy.setString(f"35=8\x01115={origin}\x01797=Y\x01{reply[5:]}", False)
            fix.Session.sendToTarget(copy, copy_session)


def write_sync_times(syncs: dict[str, list[int]], path: Path) -> None:
    """p50, p99, max (µs) and count of the fdatasync times of each ClOrdID prefix."""
    out = {}
    for prefix, times in syncs.items():
        times.sort()
        n = len(times)
        out[prefix] = {
            "count": n,
            "p50_us": times[(n - 1) // 2] / 1000,
            "p99_us": times[max(0, -(-n * 99 // 100) - 1)] / 1000,
            "max_us": times[-1] / 1000,
        }
    part = path.with_suffix(".part")
    part.write_text(json.dumps(out, indent=1))
    part.replace(path)


def keep_writing(syncs: dict[str, list[int]], path: Path, stop: threading.Event) -> None:
    """Every second, the sync times so far (a reader need not wait for the stop)."""
    while not stop.wait(1.0):
        snapshot = {prefix: list(times) for prefix, times in list(syncs.items())}
        write_sync_times(snapshot, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--memory-store", action="store_true", help="diagnosis: no FileStore")
    parser.add_argument("--no-log", action="store_true", help="diagnosis: no message log")
    parser.add_argument(
        "--redacted-log",
        action="store_true",
        help="diagnosis: every session's log blanks passwords (as for sessions with one)",
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="the durable floor: append + fdatasync each order before its report",
    )
    parser.add_argument(
        "--copy-to", metavar="COMPID", help="also send each report to this session (drop copy)"
    )
    args = parser.parse_args(argv)

    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings, how = settings_for(args.template, args.port, data_dir)
    print(f"settings from {args.template} ({how})", flush=True)

    # Block the stop signals before QuickFIX starts its threads (they inherit the mask), so
    # that only the main thread receives them, in sigwait below.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    journal = None
    if args.durable:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        journal = os.open(data_dir / "orders.log", flags, 0o600)
    app = BareApplication(journal, args.copy_to)
    writing = threading.Event()
    if journal is not None:
        threading.Thread(
            target=keep_writing, args=(app.syncs, data_dir / "fsync_us.json", writing), daemon=True
        ).start()
    # The venue's factories: FileStore and its message log (the flags are for diagnosis).
    store = fix.MemoryStoreFactory() if args.memory_store else fix.FileStoreFactory(settings)
    if args.no_log:
        log = None
    else:
        from venue.fix.message_log import MessageLogFactory

        redacted = ("CLIENT1", "CLIENT2") if args.redacted_log else ()
        log = MessageLogFactory(settings, data_dir / "fix" / "log", redacted)
    acceptor = fix.SocketAcceptor(app, store, settings, log)
    acceptor.start()  # binds the listening socket before it returns
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    received = signal.sigwait(stop_signals)
    acceptor.stop()
    writing.set()
    if journal is not None:
        os.close(journal)
        write_sync_times(app.syncs, data_dir / "fsync_us.json")
    print(f"stopped on {signal.Signals(received).name}, {app.next_id} orders answered", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
