"""A stock QuickFIX initiator (the Python binding) with full validation against the venue's
published dictionaries trades on FIX 4.2 and 4.4 and receives drop copies, and never
rejects anything the venue sends: no Reject (35=3) and no Logout with a Text from it.

This is what a client that loads `venue dictionaries --out DIR` sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import quickfix as fix

from venue.app import Venue
from venue.fix.application import dictionary_dir

SESSIONS = {
    "CLIENT1": "FIX.4.4",
    "CLIENT2": "FIX.4.4",
    "CLIENT3": "FIX.4.2",
    "DROPCOPY": "FIX.4.4",
}


def _settings(path: Path, port: int, store: Path) -> fix.SessionSettings:
    lines = [
        "[DEFAULT]",
        "ConnectionType=initiator",
        "TargetCompID=VENUE",
        "SocketConnectHost=127.0.0.1",
        f"SocketConnectPort={port}",
        "HeartBtInt=30",
        "ReconnectInterval=1",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "ResetOnLogon=Y",
        f"FileStorePath={store}",
        "UseDataDictionary=Y",
        "ValidateUserDefinedFields=Y",
        "ValidateFieldsOutOfOrder=Y",
        "ValidateFieldsHaveValues=Y",
        "CheckLatency=N",
    ]
    for sender, begin in SESSIONS.items():
        name = begin.replace(".", "")
        lines += [
            "[SESSION]",
            f"BeginString={begin}",
            f"SenderCompID={sender}",
            f"DataDictionary={dictionary_dir() / f'{name}.xml'}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return fix.SessionSettings(str(path))


class Recorder(fix.Application):
    """Everything received (application messages) and every admin message sent."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.received: list[tuple[str, dict[str, str]]] = []  # (sender, fields)
        self.admin_sent: list[tuple[str, str]] = []  # (sender, raw)
        self.logged_on: set[str] = set()

    def onCreate(self, session_id: fix.SessionID) -> None:
        pass

    def onLogon(self, session_id: fix.SessionID) -> None:
        with self.lock:
            self.logged_on.add(session_id.getSenderCompID().getValue())

    def onLogout(self, session_id: fix.SessionID) -> None:
        with self.lock:
            self.logged_on.discard(session_id.getSenderCompID().getValue())

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        with self.lock:
            self.admin_sent.append((session_id.getSenderCompID().getValue(), message.toString()))

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        fields = dict(f.split("=", 1) for f in message.toString().split("\x01") if f)
        with self.lock:
            self.received.append((session_id.getSenderCompID().getValue(), fields))

    # -- helpers for the test -------------------------------------------------------------

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate():
                    return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; received {self.received}")

    def find(self, sender: str, **want: str) -> list[dict[str, str]]:
        wanted = {k.lstrip("_"): v for k, v in want.items()}
        return [
            f
            for s, f in self.received
            if s == sender and all(f.get(t) == v for t, v in wanted.items())
        ]

    def expect(self, sender: str, **want: str) -> dict[str, str]:
        self.wait(f"{sender} {want}", lambda: bool(self.find(sender, **want)))
        return self.find(sender, **want)[-1]


def _send(sender: str, body: str) -> None:
    begin = SESSIONS[sender]
    message = fix.Message()
    message.setString(f"8={begin}\x019=0\x01{body}10=000\x01".replace("|", "\x01"), False)
    fix.Session.sendToTarget(message, fix.SessionID(begin, sender, "VENUE"))


def _now() -> str:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime()) + ".000"


def _order(sender: str, cl_ord_id: str, side: str, qty: int, price: str, extra: str = "") -> None:
    handl = "21=1|" if SESSIONS[sender] == "FIX.4.2" else ""
    _send(
        sender,
        f"35=D|11={cl_ord_id}|{handl}55=AAPL|54={side}|60={_now()}|38={qty}|40=2|44={price}|"
        f"59=0|{extra}",
    )


def test_validating_quickfix_client_never_rejects_what_the_venue_sends(
    venue_factory: Callable[..., Venue], tmp_path: Path
) -> None:
    venue = venue_factory()
    host, port = venue.gateway.address
    settings = _settings(tmp_path / "initiator.cfg", port, tmp_path / "store")
    app = Recorder()
    store = fix.MemoryStoreFactory()
    initiator = fix.SocketInitiator(app, store, settings)
    initiator.start()
    try:
        app.wait("every session logged on", lambda: app.logged_on == set(SESSIONS))
        # FIX 4.4 order entry: new, partial fill (both sides), status with 790, replace,
        # cancel, cancel of an unknown order (a cancel reject and its drop copy), STP tag.
        _order("CLIENT1", "b1", "1", 100, "190.00", "7928=R|")
        app.expect("CLIENT1", _35="8", _11="b1", _150="0")
        _order("CLIENT2", "s1", "2", 40, "190.00")
        app.expect("CLIENT2", _35="8", _11="s1", _150="F", _39="2")
        app.expect("CLIENT1", _35="8", _11="b1", _150="F", _39="1")
        _send("CLIENT1", "35=H|11=b1|55=AAPL|54=1|790=q1|")
        status = app.expect("CLIENT1", _35="8", _11="b1", _150="I")
        assert status["790"] == "q1"
        _send("CLIENT1", f"35=G|11=b2|41=b1|55=AAPL|54=1|60={_now()}|38=80|40=2|44=189.00|59=0|")
        app.expect("CLIENT1", _35="8", _11="b2", _150="5")
        _send("CLIENT1", f"35=F|11=b3|41=b2|55=AAPL|54=1|60={_now()}|38=80|")
        app.expect("CLIENT1", _35="8", _11="b3", _150="4")
        _send("CLIENT1", f"35=F|11=x1|41=nope|55=AAPL|54=1|60={_now()}|38=1|")
        app.expect("CLIENT1", _35="9", _11="x1", _434="1")
        # FIX 4.2 order entry: new, fill, status, unknown cancel.
        _order("CLIENT3", "c1", "1", 10, "191.00")
        app.expect("CLIENT3", _35="8", _11="c1", _150="0", _20="0")
        _order("CLIENT2", "s2", "2", 10, "191.00")
        app.expect("CLIENT3", _35="8", _11="c1", _150="2", _39="2")
        _send("CLIENT3", "35=H|11=c1|55=AAPL|54=1|")
        app.expect("CLIENT3", _35="8", _11="c1", _20="3")
        _send("CLIENT3", f"35=F|11=x2|41=nope|55=AAPL|54=1|60={_now()}|38=1|")
        app.expect("CLIENT3", _35="9", _11="x2")
        # Drop copy (4.4) of both versions' reports, cancel rejects included.
        copy9 = app.expect("DROPCOPY", _35="9", _11="x2", _115="CLIENT3")
        assert "797" not in copy9
        app.expect("DROPCOPY", _35="9", _11="x1", _115="CLIENT1")
        fill_copy = app.expect("DROPCOPY", _35="8", _11="c1", _115="CLIENT3", _150="F")
        assert fill_copy["797"] == "Y"
        # Timestamps per version: milliseconds on FIX 4.2, microseconds on 4.4.
        with app.lock:
            for sender, fields in app.received:
                digits = 3 if SESSIONS[sender] == "FIX.4.2" else 6
                for tag in ("52", "60"):
                    assert len(fields[tag].rpartition(".")[2]) == digits, (sender, tag, fields)
        time.sleep(0.5)  # anything still in flight is validated too
    finally:
        initiator.stop(True)  # force: a plain stop polls once a second for the logouts
    with app.lock:
        rejects = [(s, m) for s, m in app.admin_sent if "\x0135=3\x01" in m]
        logouts = [(s, m) for s, m in app.admin_sent if "\x0135=5\x01" in m and "\x0158=" in m]
    assert rejects == [], rejects
    assert logouts == [], logouts
