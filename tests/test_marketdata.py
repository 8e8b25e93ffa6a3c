"""Market data over TCP (spec/market-data.md): MDFEED1 (FIX 4.4) and MDFEED2 (FIX 4.2) are
a stock QuickFIX initiator validating every message it receives against the venue's
dictionary for its version (FIX44MD.xml, FIX42MD.xml); a message it refuses never reaches
the test and shows up as a Reject it sent. Orders come from CLIENT1/CLIENT2 (simplefix).
"""

from __future__ import annotations

import functools
import random
import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix
from fixclient import FixClient, Message

from venue.domain.commands import ExpireDayOrders, OperatorAction
from venue.domain.values import PRICE_SCALE, Side, format_price
from venue.marketdata.book import Level

DICTIONARIES = Path(__file__).resolve().parent.parent / "venue" / "fix" / "dictionaries"
SEQ = 20083  # MDSeqNum
ALL_44 = "012478B"
ALL_42 = "012478"

INITIATOR = """\
[DEFAULT]
ConnectionType=initiator
TargetCompID=VENUE
SocketConnectHost=127.0.0.1
SocketConnectPort={port}
HeartBtInt=30
ReconnectInterval=1
StartTime=00:00:00
EndTime=00:00:00
ResetOnLogon=Y
FileStorePath={tmp}/store
FileLogPath={tmp}/log
UseDataDictionary=Y
ValidateUserDefinedFields=Y
ValidateFieldsOutOfOrder=Y
ValidateFieldsHaveValues=Y
AllowUnknownMsgFields=N
CheckLatency=Y
MaxLatency=120

[SESSION]
BeginString=FIX.4.4
SenderCompID=MDFEED1
DataDictionary={dicts}/FIX44MD.xml

[SESSION]
BeginString=FIX.4.2
SenderCompID=MDFEED2
DataDictionary={dicts}/FIX42MD.xml

[SESSION]
BeginString=FIXT.1.1
DefaultApplVerID=FIX.5.0SP2
SenderCompID=MDFEED5
TransportDataDictionary={dicts}/FIXT11.xml
AppDataDictionary={dicts}/FIX50SP2.xml
TimestampPrecision=6
"""


def wait_until(condition: Callable[[], bool], what: Callable[[], str], timeout=15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what()}")
        time.sleep(0.02)


def groups(text: str) -> list[tuple[int, str]]:
    return [(int(t), v) for t, _, v in (f.partition("=") for f in text.split("\x01")[:-1])]


@functools.cache
def parsed_dictionaries() -> tuple[dict[str, fix.DataDictionary], fix.DataDictionary]:
    """The MD sessions' dictionaries and FIXT's, parsed once for all tests (FIX50SP2.xml
    takes about a second); only read (to parse what arrives), so sharing them is safe."""
    dicts = {
        "MDFEED1": fix.DataDictionary(str(DICTIONARIES / "FIX44MD.xml")),
        "MDFEED2": fix.DataDictionary(str(DICTIONARIES / "FIX42MD.xml")),
        "MDFEED5": fix.DataDictionary(str(DICTIONARIES / "FIX50SP2.xml")),
    }
    return dicts, fix.DataDictionary(str(DICTIONARIES / "FIXT11.xml"))


class Feed(fix.Application):  # type: ignore[misc]
    """The validating initiator: what each MD session received, the Rejects it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.app: dict[str, list[list[tuple[int, str]]]] = {
            "MDFEED1": [], "MDFEED2": [], "MDFEED5": [],
        }  # fmt: skip
        self.admin_out: list[str] = []
        self.logged_on: set[str] = set()
        self.ids: dict[str, fix.SessionID] = {}
        dicts, self.transport = parsed_dictionaries()
        self.dicts = dict(dicts)

    def onCreate(self, session_id: fix.SessionID) -> None:
        self.ids[session_id.getSenderCompID().getValue()] = session_id

    def onLogon(self, session_id: fix.SessionID) -> None:
        with self.lock:
            self.logged_on.add(session_id.getSenderCompID().getValue())

    def onLogout(self, session_id: fix.SessionID) -> None:
        with self.lock:
            self.logged_on.discard(session_id.getSenderCompID().getValue())

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        with self.lock:
            self.admin_out.append(message.toString())

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            fields = groups(message.toString())
            with self.lock:
                self.app[session_id.getSenderCompID().getValue()].append(fields)
        except Exception as exc:
            print("fromApp failed:", exc)

    # -- for the tests ------------------------------------------------------------------

    def rejects(self) -> list[str]:
        with self.lock:
            sent = list(self.admin_out)
        return [m.replace("\x01", "|") for m in sent if re.search("\x0135=[3j]\x01", m)]

    def send(self, comp_id: str, msg_type: str, body: list[tuple[int, object]]) -> None:
        begin = {"MDFEED1": "FIX.4.4", "MDFEED2": "FIX.4.2", "MDFEED5": "FIXT.1.1"}[comp_id]
        text = f"8={begin}\x019=0\x0135={msg_type}\x01"
        text += "".join(f"{t}={v}\x01" for t, v in body) + "10=000\x01"
        message = fix.Message()
        if comp_id == "MDFEED5":
            message.setString(text, False, self.transport, self.dicts[comp_id])
        else:
            message.setString(text, False, self.dicts[comp_id])
        assert fix.Session.sendToTarget(message, self.ids[comp_id])

    def request(self, comp_id: str, req_id: str, kind: str, depth: int, types: str,
                symbols: list[str], **extra: str) -> None:  # fmt: skip
        body: list[tuple[int, object]] = [(262, req_id), (263, kind), (264, depth)]
        body += [(int(t), v) for t, v in extra.items()]
        body += [(267, len(types))] + [(269, t) for t in types]
        body += [(146, len(symbols))] + [(55, s) for s in symbols]
        self.send(comp_id, "V", body)

    def received(self, comp_id: str) -> list[list[tuple[int, str]]]:
        with self.lock:
            return list(self.app[comp_id])

    def wait(self, comp_id: str, n: int, start: int = 0) -> list[list[tuple[int, str]]]:
        """Messages start..start+n of the session, once they have all arrived."""
        wait_until(
            lambda: len(self.received(comp_id)) >= start + n,
            lambda: (
                f"{start + n} messages on {comp_id}, got {self.received(comp_id)}; "
                f"rejects sent: {self.rejects()}"
            ),
        )
        return self.received(comp_id)[start : start + n]


def exec_type(value: str) -> Callable[[Message], bool]:
    return lambda m: m.get(35) == "8" and m.get(150) == value


def tag(msg: list[tuple[int, str]], number: int) -> str | None:
    return next((v for t, v in msg if t == number), None)


def entries(msg: list[tuple[int, str]]) -> list[dict[int, str]]:
    """The NoMDEntries group of a W or X, one dict per entry (269 or 279 starts one)."""
    out: list[dict[int, str]] = []
    start = 279 if tag(msg, 35) == "X" else 269
    inside = False
    for t, v in msg:
        if t == 268:
            inside = True
            continue
        if not inside:
            continue
        if t == start:
            out.append({})
        if t in (10, 387, 779):  # body fields QuickFIX puts after the group
            continue
        if out and t != SEQ or (out and t == SEQ and tag(msg, 35) == "X"):
            out[-1][t] = v
    return out


class Rebuilt:
    """A consumer: the book from a W and the X entries after it, checking the sequence
    (MDSeqNum on 4.x; on 5.0 SP2 RptSeq(83), the W's on each of its entries)."""

    def __init__(self, w: list[tuple[int, str]], seq_tag: int = SEQ) -> None:
        self.seq_tag = seq_tag
        self.seq = int(tag(w, seq_tag))  # type: ignore[arg-type]
        self.sides: dict[str, dict[str, tuple[int, int]]] = {"0": {}, "1": {}}
        self.trades: list[tuple[str, int]] = []
        for e in entries(w):
            if e[269] in "01" and e[271] != "0":  # size 0: the empty book's entry
                self.sides[e[269]][e[270]] = (int(e[271]), int(e[346]))

    def apply(self, x: list[tuple[int, str]]) -> None:
        for e in entries(x):
            seq = int(e[self.seq_tag])
            if e[269] in "478B":  # a statistic: the number of the trade that changed it
                assert seq == self.seq, f"{self.seq} then {e}"
                continue
            assert seq == self.seq + 1, f"gap: {self.seq} then {e}"
            self.seq = seq
            if e[269] == "2":
                self.trades.append((e[270], int(e[271])))
            elif e[269] in "01":
                levels = self.sides[e[269]]
                if e[279] == "2":
                    del levels[e[270]]
                else:
                    levels[e[270]] = (int(e[271]), int(e[346]))


def last_seq(md: Feed, comp_id: str, symbol: str) -> int:
    seqs = [int(e[SEQ]) for m in md.received(comp_id) if tag(m, 35) == "X"
            for e in entries(m) if e.get(55) == symbol]  # fmt: skip
    return max(seqs, default=0)


def caught_up(venue, md: Feed, comp_id: str, symbol: str) -> int:
    """Wait until the session has every entry of the symbol the book has produced."""
    venue.marketdata.sync()
    target = venue.marketdata.book.seq(symbol)
    wait_until(lambda: last_seq(md, comp_id, symbol) >= target,
               lambda: f"{comp_id} at {target}: {md.received(comp_id)}")  # fmt: skip
    return target


@pytest.fixture
def feed(venue_factory, tmp_path):
    venue = venue_factory()
    settings_file = tmp_path / "md-initiator.cfg"
    settings_file.write_text(
        INITIATOR.format(port=venue.settings.port, tmp=tmp_path / "qf", dicts=DICTIONARIES)
    )
    settings = fix.SessionSettings(str(settings_file))
    app = Feed()
    store, logs = fix.FileStoreFactory(settings), fix.FileLogFactory(settings)
    initiator = fix.SocketInitiator(app, store, settings, logs)
    initiator.start()
    try:
        wait_until(lambda: app.logged_on == {"MDFEED1", "MDFEED2", "MDFEED5"}, lambda: "logons")
        yield venue, app
    finally:
        initiator.stop(True)  # force: a plain stop polls once a second for the logouts
    assert app.rejects() == [], "the initiator refused messages of the venue"


def test_subscription_gets_w_then_x_that_rebuild_the_book_and_agree_with_the_reports(feed):
    venue, md = feed
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c2 = FixClient.connect(venue.settings.port, sender="CLIENT2")
    c1.new_order("b1", "AAPL", "1", 100, price="190.00")
    c1.expect("8", ExecType="0")
    # The feed follows the reports: the ack can reach CLIENT1 just before the book has it.
    wait_until(lambda: venue.marketdata.book.seq("AAPL") == 1, lambda: "the bid in the book")
    md.request("MDFEED1", "r1", "1", 0, ALL_44, ["AAPL", "MSFT"])
    md.request("MDFEED2", "r2", "1", 0, ALL_42, ["AAPL"])
    w1, w1b = md.wait("MDFEED1", 2)
    (w2,) = md.wait("MDFEED2", 1)
    assert [tag(w1, 35), tag(w1, 262), tag(w1, 55)] == ["W", "r1", "AAPL"]
    assert tag(w1b, 55) == "MSFT" and entries(w1b) == [{269: "0", 271: "0"}]  # empty
    assert entries(w1) == [{269: "0", 270: "190", 271: "100", 346: "1", 290: "1"}]
    assert tag(w2, 35) == "W" and tag(w2, 262) == "r2" and tag(w2, SEQ) == tag(w1, SEQ)
    books = {"MDFEED1": Rebuilt(w1), "MDFEED2": Rebuilt(w2)}

    c1.new_order("b2", "AAPL", "1", 50, price="190.00")
    c1.new_order("b3", "AAPL", "1", 70, price="189.50")
    c2.new_order("s1", "AAPL", "2", 120, price="190.00")
    c2.expect("8", ExecType="0")
    fills = [c2.expect("8", ExecType="F") for _ in range(2)]
    c1.cancel("x3", "b3", "AAPL", "1")
    c1.wait_for(exec_type("4"))
    wait_until(
        lambda: (
            venue.marketdata.book.levels("AAPL", Side.BUY) == (Level(190 * PRICE_SCALE, 30, 1),)
        ),
        lambda: "the cancel in the book",
    )
    target = caught_up(venue, md, "MDFEED1", "AAPL")
    for msg in md.received("MDFEED1")[2:]:
        assert tag(msg, 35) == "X" and tag(msg, 262) == "r1"
        books["MDFEED1"].apply(msg)
    assert books["MDFEED1"].seq == target
    book = books["MDFEED1"]
    assert book.sides == {"0": {"190": (30, 1)}, "1": {}}
    assert [(Decimal(p), q) for p, q in book.trades] == [
        (Decimal(f[31]), int(f[32])) for f in fills
    ]
    caught_up(venue, md, "MDFEED2", "AAPL")
    for msg in md.received("MDFEED2")[1:]:
        assert tag(msg, 35) == "X" and tag(msg, 262) == "r2"
        books["MDFEED2"].apply(msg)
    assert books["MDFEED2"].sides == book.sides and books["MDFEED2"].seq == book.seq
    stats = {e[269]: e for m in md.received("MDFEED1")[2:] for e in entries(m)}
    assert stats["7"][270] == "190" and stats["B"][271] == "120"
    c1.close()
    c2.close()


def test_each_reject_has_its_md_req_rej_reason_on_44_and_42(feed):
    venue, md = feed
    cases = [
        (["NOPE"], dict(depth=0, types="01"), "0"),
        (["AAPL"], dict(depth=-1, types="01"), "5"),
        (["AAPL"], dict(depth=0, types="01", **{"265": "0"}), "6"),
        (["AAPL"], dict(depth=0, types="9"), "8"),  # VWAP: not served
        (["AAPL"], dict(depth=0, types="3"), "8"),  # index value: not served
        (["AAPL"], dict(depth=0, types="01", **{"266": "N"}), "7"),
    ]
    for comp_id in ("MDFEED1", "MDFEED2"):
        for n, (symbols, terms, _reason) in enumerate(cases):
            depth, types = terms.pop("depth"), terms.pop("types")
            md.request(comp_id, f"bad{n}", "1", depth, types, symbols, **terms)
            terms.update(depth=depth, types=types)
        got = md.wait(comp_id, len(cases))
        assert [(tag(m, 35), tag(m, 262), tag(m, 281)) for m in got] == [
            ("Y", f"bad{n}", reason) for n, (_, _, reason) in enumerate(cases)
        ]
        assert all(tag(m, 58) for m in got)
    # MDReqID in use: 1, and the first subscription keeps running
    md.request("MDFEED1", "dup", "1", 0, "01", ["AAPL"])
    md.request("MDFEED1", "dup", "1", 0, "01", ["MSFT"])
    w, y = md.wait("MDFEED1", 2, len(cases))
    assert (tag(w, 35), tag(y, 35), tag(y, 281)) == ("W", "Y", "1")
    # too many: 50 per session in the demo config; 10 requests of 5 symbols fill it
    symbols = ["AAPL", "MSFT", "IBM", "TSLA", "SPY"]
    for n in range(9):
        md.request("MDFEED1", f"many{n}", "1", 0, "0", symbols)
    md.request("MDFEED1", "one-too-many", "1", 0, "0", symbols)
    last = md.wait("MDFEED1", 1, len(cases) + 2 + 9 * 5)[0]
    assert (tag(last, 35), tag(last, 262), tag(last, 281)) == ("Y", "one-too-many", "2")
    # unsubscribing an MDReqID that is not a subscription: Y with Text, no reason code
    md.request("MDFEED1", "never", "2", 0, "01", ["AAPL"])
    (no_sub,) = md.wait("MDFEED1", 1, len(cases) + 2 + 9 * 5 + 1)
    assert (tag(no_sub, 35), tag(no_sub, 262), tag(no_sub, 281)) == ("Y", "never", None)
    assert "not a subscription" in tag(no_sub, 58)  # type: ignore[operator]
    # unsubscribe by MDReqID, then the id is free again
    md.request("MDFEED1", "dup", "2", 0, "01", ["AAPL"])
    md.request("MDFEED1", "dup", "1", 0, "01", ["AAPL"])
    (again,) = md.wait("MDFEED1", 1, len(cases) + 2 + 9 * 5 + 2)
    assert (tag(again, 35), tag(again, 262)) == ("W", "dup")


def test_market_data_requests_from_other_roles_get_business_reject(feed):
    venue, md = feed
    request = [(262, "m1"), (263, "1"), (264, "0"), (267, "1"), (269, "0"), (146, "1"),
               (55, "AAPL")]  # fmt: skip
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c1.send("V", request)
    reject = c1.expect("j")
    assert (reject[380], reject[372], reject[379]) == ("6", "V", "m1")
    assert "not authorized for market data" in reject[58]
    c3 = FixClient.connect(venue.settings.port, sender="CLIENT3", begin_string="FIX.4.2")
    c3.send("V", request)
    reject = c3.expect("j")
    assert reject[380] == "0" and "not authorized for market data" in reject[58]
    c1.close()
    c3.close()


def test_top_of_book_shows_the_next_level_once_the_touch_trades_away(feed):
    venue, md = feed
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c2 = FixClient.connect(venue.settings.port, sender="CLIENT2")
    c1.new_order("b1", "IBM", "1", 10, price="180.00")
    c1.new_order("b2", "IBM", "1", 20, price="179.00")
    for _ in range(2):
        c1.wait_for(exec_type("0"))
    wait_until(lambda: venue.marketdata.book.seq("IBM") == 2, lambda: "both bids")
    md.request("MDFEED1", "top", "1", 1, "012", ["IBM"])
    (w,) = md.wait("MDFEED1", 1)
    assert [(e[270], e[271], e[290]) for e in entries(w)] == [("180", "10", "1")]
    c2.new_order("s1", "IBM", "2", 10, price="180.00")
    c2.wait_for(exec_type("F"))
    caught_up(venue, md, "MDFEED1", "IBM")
    x = [e for m in md.received("MDFEED1")[1:] for e in entries(m)]
    levels = [(e[279], e[270], e.get(271)) for e in x if e[269] == "0"]
    assert levels == [("2", "180", None), ("0", "179", "20")]
    assert [(e[270], e[271]) for e in x if e[269] == "2"] == [("180", "10")]
    c1.close()
    c2.close()


def test_snapshot_only_request_gets_one_w_and_no_updates(feed):
    venue, md = feed
    md.request("MDFEED2", "once", "0", 0, "01", ["TSLA"])
    (w,) = md.wait("MDFEED2", 1)
    assert tag(w, 35) == "W" and tag(w, 262) == "once"
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c1.new_order("b1", "TSLA", "1", 5, price="250.00")
    c1.wait_for(exec_type("0"))
    wait_until(lambda: venue.marketdata.book.seq("TSLA") == 1, lambda: "the bid")
    venue.marketdata.sync()
    time.sleep(0.3)
    assert len(md.received("MDFEED2")) == 1
    c1.close()


def test_security_list_definition_and_status_and_halt_as_unsolicited_f(feed):
    venue, md = feed
    md.send("MDFEED1", "x", [(320, "l1"), (559, "4")])
    md.send("MDFEED1", "x", [(320, "l2"), (559, "0"), (55, "MSFT")])
    all_, one = md.wait("MDFEED1", 2)
    assert tag(all_, 35) == "y" and tag(all_, 560) == "0" and tag(all_, 146) == "6"
    assert [v for t, v in all_ if t == 55] == ["AAPL", "MSFT", "IBM", "TSLA", "SPY", "ACME"]
    assert tag(one, 55) == "MSFT" and tag(one, 561) == "1"
    assert tag(one, 58) == "MinPriceIncrement=0.01 RoundLot=1"
    md.send("MDFEED2", "c", [(320, "d1"), (321, "3")])
    defs = md.wait("MDFEED2", 6)
    assert [(tag(d, 35), tag(d, 323), tag(d, 393)) for d in defs] == [("d", "4", "6")] * 6
    md.send("MDFEED1", "x", [(320, "l3"), (559, "0"), (55, "NOPE")])
    md.send("MDFEED2", "c", [(320, "d2"), (321, "0"), (55, "IBM")])
    md.send("MDFEED2", "c", [(320, "d3"), (321, "0"), (55, "NOPE")])
    (none,) = md.wait("MDFEED1", 1, 2)
    assert (tag(none, 35), tag(none, 320), tag(none, 560), tag(none, 146)) == ("y", "l3", "2", None)
    one_def, no_def = md.wait("MDFEED2", 2, 6)
    assert (tag(one_def, 323), tag(one_def, 55), tag(one_def, 58)) == (
        "1", "IBM", "MinPriceIncrement=0.01 RoundLot=1",
    )  # fmt: skip
    assert (tag(no_def, 320), tag(no_def, 323), tag(no_def, 55)) == ("d3", "6", None)
    md.send("MDFEED1", "e", [(324, "s1"), (55, "AAPL"), (263, "0")])
    md.send("MDFEED2", "e", [(324, "s2"), (55, "AAPL"), (263, "0")])
    (f1,) = md.wait("MDFEED1", 1, 3)
    (f2,) = md.wait("MDFEED2", 1, 8)
    assert (tag(f1, 35), tag(f1, 326), tag(f1, 325)) == ("f", "17", "N")
    assert (tag(f2, 35), tag(f2, 326)) == ("f", "17")
    venue.execute(OperatorAction("ops", "halt", "instrument", "AAPL"))
    (h1,) = md.wait("MDFEED1", 1, 4)
    (h2,) = md.wait("MDFEED2", 1, 9)
    assert (tag(h1, 326), tag(h1, 325), tag(h1, 327)) == ("2", "Y", "M") and tag(h1, 58)
    assert (tag(h2, 326), tag(h2, 327), tag(h2, 58)) == ("2", "M", None)  # no Text on 4.2
    # asked while halted: the reason too (Text on 4.4; 4.2's f has none)
    md.send("MDFEED1", "e", [(324, "s3"), (55, "AAPL"), (263, "0")])
    md.send("MDFEED2", "e", [(324, "s4"), (55, "AAPL"), (263, "0")])
    (q1,) = md.wait("MDFEED1", 1, 5)
    (q2,) = md.wait("MDFEED2", 1, 10)
    assert (tag(q1, 324), tag(q1, 326), tag(q1, 325), tag(q1, 327)) == ("s3", "2", "N", "M")
    assert tag(q1, 58) == tag(h1, 58)
    assert (tag(q2, 326), tag(q2, 327), tag(q2, 58)) == ("2", "M", None)
    venue.execute(OperatorAction("ops", "resume", "instrument", "AAPL"))
    (r1,) = md.wait("MDFEED1", 1, 6)
    assert tag(r1, 326) == "3"


def test_a_consumer_past_its_queue_bound_is_resynchronised_with_a_fresh_w(feed):
    venue, md = feed
    venue.marketdata.queue_bound = 5
    md.request("MDFEED1", "slow", "1", 0, "01", ["SPY"])
    (w,) = md.wait("MDFEED1", 1)
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    for n in range(8):
        c1.new_order(f"b{n}", "SPY", "1", 1, price=f"{490 + n}.00")
    for _ in range(8):
        c1.wait_for(exec_type("0"))
    # one mass cancel: eight deletes in one batch, more than the bound
    c1.send("q", [(11, "mc"), (530, "7"), (60, c1.utc_now())])
    c1.wait_for(lambda m: m.get(35) == "r")
    wait_until(lambda: venue.marketdata.book.seq("SPY") == 16, lambda: "the cancels")
    venue.marketdata.sync()
    # the adds may already have overrun the bound (a W at seq 8): wait for the one at 16
    wait_until(lambda: tag(md.received("MDFEED1")[-1], 35) == "W"
               and tag(md.received("MDFEED1")[-1], SEQ) == "16",
               lambda: f"a resync W: {md.received('MDFEED1')}")  # fmt: skip
    assert venue.marketdata.resyncs >= 1
    last = md.received("MDFEED1")[-1]
    assert tag(last, SEQ) == "16" and entries(last) == [{269: "0", 271: "0"}]
    c1.close()


def test_sequences_continue_above_the_last_after_a_restart(venue_factory, tmp_path):
    venue = venue_factory()
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c1.new_order("b1", "AAPL", "1", 10, price="190.00", tif="1")
    c1.wait_for(exec_type("0"))
    wait_until(lambda: venue.marketdata.book.seq("AAPL") == 1, lambda: "the bid")
    before = venue.marketdata.book.seq("AAPL")
    c1.close()
    venue.stop()
    again = venue_factory()
    assert again.marketdata.book.seq("AAPL") > before
    assert again.marketdata.book.levels("AAPL", Side.BUY) == (Level(190 * PRICE_SCALE, 10, 1),)


def test_market_data_is_gap_filled_not_resent_after_a_reconnect(venue_factory):
    venue = venue_factory()
    md = FixClient.connect(venue.settings.port, sender="MDFEED1")
    md.send("V", [(262, "r1"), (263, "1"), (264, "0"), (267, "1"), (269, "0"), (146, "1"),
                  (55, "AAPL")])  # fmt: skip
    w = md.expect("W")
    md.close()  # no Logout: the client "missed" the W
    md.next_in = int(w[34])
    wait_until(lambda: not venue.gateway.logged_on("MDFEED1"), lambda: "MDFEED1 gone")
    md.reconnect(reset=False)  # the venue's Logon is ahead: the client asks for a resend
    got = md.sync()  # the venue answers the ResendRequest before the TestRequest after it
    assert not [m for m in got if m.get(35) == "W"], got
    gap_fills = [m for m in got if m.get(35) == "4" and m.get(123) == "Y"]
    assert gap_fills and int(gap_fills[0][36]) > int(w[34])
    # the subscription ended with the session: subscribing again gets a fresh W
    md.send("V", [(262, "r1"), (263, "1"), (264, "0"), (267, "1"), (269, "0"), (146, "1"),
                  (55, "AAPL")])  # fmt: skip
    assert md.expect("W")[262] == "r1"
    md.close()


def test_fixt_feed_uses_rpt_seq_last_update_time_aggressor_side_and_halt_reason_int(feed):
    venue, md = feed
    md.request("MDFEED5", "f1", "1", 0, ALL_44, ["MSFT"])
    (w,) = md.wait("MDFEED5", 1)
    assert tag(w, 35) == "W" and tag(w, 779) and entries(w) == [{269: "J", 83: "0"}]
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c2 = FixClient.connect(venue.settings.port, sender="CLIENT2")
    c1.new_order("b1", "MSFT", "1", 10, price="420.00")
    c2.new_order("s1", "MSFT", "2", 4, price="420.00")
    c2.wait_for(exec_type("F"))
    wait_until(lambda: venue.marketdata.book.seq("MSFT") == 3, lambda: "bid and trade")
    venue.marketdata.sync()
    wait_until(lambda: sum(len(entries(m)) for m in md.received("MDFEED5")[1:]) >= 7,
               lambda: f"X on MDFEED5: {md.received('MDFEED5')}")  # fmt: skip
    x = [e for m in md.received("MDFEED5")[1:] for e in entries(m)]
    book_entries = [e for e in x if e[269] in "012"]
    assert [int(e[83]) for e in book_entries] == [1, 2, 3]
    trade = next(e for e in x if e[269] == "2")
    assert (trade[270], trade[271], trade[2446]) == ("420", "4", "2")  # the seller aggressed
    md.send("MDFEED5", "x", [(320, "l5"), (559, "0"), (55, "MSFT")])
    md.request("MDFEED5", "bad", "1", 0, "01", ["NOPE"])
    venue.execute(OperatorAction("ops", "halt", "instrument", "MSFT"))
    # The halt's f may come before the Y: the request is answered on another thread.
    wait_until(lambda: sorted(tag(m, 35) for m in md.received("MDFEED5")[-3:]) == ["Y", "f", "y"],
               lambda: f"y, Y and f on MDFEED5: {md.received('MDFEED5')}")  # fmt: skip
    last = {tag(m, 35): m for m in md.received("MDFEED5")[-3:]}
    y, rej, f = last["y"], last["Y"], last["f"]
    assert (tag(y, 35), tag(y, 969), tag(y, 561)) == ("y", "0.01", "1")
    assert (tag(rej, 35), tag(rej, 281)) == ("Y", "0")
    assert (tag(f, 326), tag(f, 327)) == ("2", "3") and tag(f, 58)
    c1.close()
    c2.close()


def test_trade_to_x_time_is_taken_per_subscription_that_gets_the_trade(feed):
    venue, md = feed
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c2 = FixClient.connect(venue.settings.port, sender="CLIENT2")
    c1.new_order("b0", "IBM", "1", 5, price="180.00")
    c2.new_order("s0", "IBM", "2", 5, price="180.00")  # a trade nobody is subscribed to
    c2.wait_for(exec_type("F"))
    wait_until(lambda: venue.marketdata.book.seq("IBM") == 3, lambda: "the first trade")
    assert venue.marketdata.trade_latencies() == []
    md.request("MDFEED1", "t1", "1", 0, "012", ["IBM"])
    md.request("MDFEED2", "t2", "1", 0, "2", ["IBM"])
    md.request("MDFEED5", "t5", "1", 0, "01", ["IBM"])  # no trades asked for: no sample
    md.wait("MDFEED1", 1), md.wait("MDFEED2", 1), md.wait("MDFEED5", 1)
    c1.new_order("b1", "IBM", "1", 5, price="180.00")
    c2.new_order("s1", "IBM", "2", 3, price="180.00")
    c2.wait_for(exec_type("F"))
    # bid 4, trade 5, the bid's level changes 6: the reports can come before the feed has it
    wait_until(lambda: venue.marketdata.book.seq("IBM") == 6, lambda: "the second trade")
    caught_up(venue, md, "MDFEED1", "IBM")
    times = venue.marketdata.trade_latencies()
    assert len(times) == 2 and all(0 < t < 10**10 for t in times), times
    assert venue.marketdata.trade_latencies() == []  # taken once
    c1.close()
    c2.close()


def test_the_trading_days_end_deletes_each_statistic_in_an_x_valid_on_every_version(feed):
    venue, md = feed
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c2 = FixClient.connect(venue.settings.port, sender="CLIENT2")
    c1.new_order("b1", "MSFT", "1", 4, price="420.00")
    c2.new_order("s1", "MSFT", "2", 4, price="420.00")
    c2.wait_for(exec_type("F"))
    wait_until(lambda: venue.marketdata.book.seq("MSFT") == 3, lambda: "the trade")
    kinds = {"MDFEED1": "478B", "MDFEED2": "478", "MDFEED5": "478B"}
    for comp_id, types in (("MDFEED1", ALL_44), ("MDFEED2", ALL_42), ("MDFEED5", ALL_44)):
        md.request(comp_id, "d1", "1", 0, types, ["MSFT"])
        (w,) = md.wait(comp_id, 1)
        assert {e[269] for e in entries(w)} >= set(kinds[comp_id]), w
    venue.execute(ExpireDayOrders(time.time_ns() // 1000))  # what the scheduler sends
    for comp_id, stats in kinds.items():
        (x,) = md.wait(comp_id, 1, 1)
        assert tag(x, 35) == "X" and tag(x, 262) == "d1"
        assert [(e[279], e[269]) for e in entries(x)] == [("2", k) for k in stats], x
        md.request(comp_id, "d2", "0", 0, ALL_42, ["MSFT"])
        (again,) = md.wait(comp_id, 1, 2)
        assert not {e[269] for e in entries(again)} & set("2478B"), again  # a new day
    c1.close()
    c2.close()


def test_md_req_id_in_use_keeps_the_first_running_and_the_limit_counts_a_symbol_once(feed):
    venue, md = feed
    for comp_id in ("MDFEED1", "MDFEED2"):
        md.request(comp_id, "dup", "1", 0, "01", ["AAPL"])
        md.request(comp_id, "dup", "1", 0, "01", ["MSFT"])
        w, y = md.wait(comp_id, 2)
        assert (tag(w, 35), tag(w, 55)) == ("W", "AAPL")
        assert (tag(y, 35), tag(y, 262), tag(y, 281)) == ("Y", "dup", "1") and tag(y, 58)
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c1.new_order("b1", "AAPL", "1", 10, price="190.00")
    c1.wait_for(exec_type("0"))
    for comp_id in ("MDFEED1", "MDFEED2"):  # the first subscription still runs
        (x,) = md.wait(comp_id, 1, 2)
        assert tag(x, 35) == "X" and tag(x, 262) == "dup"
        assert [(e[279], e[55], e[270]) for e in entries(x)] == [("0", "AAPL", "190")]
    # 50 per session (demo config), one MDReqID for one symbol counts one: 1 so far; a
    # symbol named twice in a request is one; snapshots (263=0) do not count
    symbols = ["AAPL", "MSFT", "IBM", "TSLA", "SPY"]
    for comp_id in ("MDFEED1", "MDFEED2"):
        md.request(comp_id, "twice", "1", 0, "0", ["IBM", "IBM"])
        md.request(comp_id, "snap", "0", 0, "0", symbols)
        for n in range(9):  # 1 + 1 + 45 = 47
            md.request(comp_id, f"many{n}", "1", 0, "0", symbols)
        md.request(comp_id, "to-50", "1", 0, "0", symbols[:3])  # exactly the limit: served
        md.request(comp_id, "the-51st", "1", 0, "0", ["SPY"])
        got = md.wait(comp_id, 1 + 5 + 45 + 3 + 1, 3)
        assert [tag(m, 35) for m in got] == ["W"] * 54 + ["Y"], got[-1]
        assert [tag(m, 262) for m in got[-4:-1]] == ["to-50"] * 3
        assert (tag(got[-1], 262), tag(got[-1], 281)) == ("the-51st", "2")
        assert "limit of 50" in tag(got[-1], 58)  # type: ignore[operator]
    # every Y on 4.2 carries a value FIX 4.2 defines (the initiator validates them too)
    assert {tag(m, 281) for m in md.received("MDFEED2") if tag(m, 35) == "Y"} == {"1", "2"}
    c1.close()


def test_order_messages_from_a_market_data_session_get_business_reject(feed):
    venue, md = feed
    order = [(11, "o1"), (21, "1"), (55, "AAPL"), (54, "1"), (60, "20261202-10:00:00"),
             (38, "10"), (40, "2"), (44, "190")]  # fmt: skip
    md.send("MDFEED1", "D", order)
    md.send("MDFEED2", "D", order)
    (j44,) = md.wait("MDFEED1", 1)
    (j42,) = md.wait("MDFEED2", 1)
    assert (tag(j44, 35), tag(j44, 380), tag(j44, 372)) == ("j", "6", "D")
    assert (tag(j42, 35), tag(j42, 380), tag(j42, 372)) == ("j", "0", "D")
    for reject in (j44, j42):
        assert "not authorized to enter orders" in tag(reject, 58)  # type: ignore[operator]
    assert venue.kernel.live == {}


def test_depth_two_shows_the_third_level_once_the_touch_trades_away(feed):
    venue, md = feed
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c2 = FixClient.connect(venue.settings.port, sender="CLIENT2")
    for n, (qty, price) in enumerate([(10, "180.00"), (5, "180.00"), (20, "179.00"),
                                      (30, "178.00")]):  # fmt: skip
        c1.new_order(f"b{n}", "IBM", "1", qty, price=price)
        c1.wait_for(exec_type("0"))
    wait_until(lambda: venue.marketdata.book.seq("IBM") == 4, lambda: "the bids")
    md.request("MDFEED2", "two", "1", 2, "01", ["IBM"])
    (w,) = md.wait("MDFEED2", 1)
    assert [(e[270], e[271], e[346], e[290]) for e in entries(w)] == [
        ("180", "15", "2", "1"), ("179", "20", "1", "2"),
    ]  # fmt: skip  # the level's sum and its number of orders
    c1.cancel("x0", "b0", "IBM", "1")  # one of two at 180: a change, not a delete
    c1.wait_for(exec_type("4"))
    wait_until(lambda: venue.marketdata.book.seq("IBM") == 5, lambda: "the cancel")
    (x,) = md.wait("MDFEED2", 1, 1)
    assert [(e[279], e[270], e[271], e[346]) for e in entries(x)] == [("1", "180", "5", "1")]
    c2.new_order("s1", "IBM", "2", 5, price="180.00")  # takes the last order at the touch
    c2.wait_for(exec_type("F"))
    wait_until(lambda: venue.marketdata.book.seq("IBM") == 7, lambda: "the trade")
    venue.marketdata.sync()
    (x,) = md.wait("MDFEED2", 1, 2)
    got = [(e[279], e[269], e[270], e.get(271)) for e in entries(x)]
    assert got == [("2", "0", "180", None), ("0", "0", "178", "30")], got
    c1.close()
    c2.close()


def test_after_a_restart_the_w_is_above_every_number_before_and_the_x_continues_it(
    venue_factory,
):
    venue = venue_factory()
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    md = FixClient.connect(venue.settings.port, sender="MDFEED1")
    subscribe = [(262, "r"), (263, "1"), (264, "0"), (267, "2"), (269, "0"), (269, "1"),
                 (146, "1"), (55, "AAPL")]  # fmt: skip
    md.send("V", subscribe)
    md.expect("W")
    for n in range(3):
        c1.new_order(f"b{n}", "AAPL", "1", 10, price=f"18{n}.00", tif="1")
        c1.wait_for(exec_type("0"))
    seqs = [int(md.expect("X")[SEQ]) for _ in range(3)]
    assert seqs == [1, 2, 3]
    c1.close()
    md.close()
    venue.stop()
    venue = venue_factory()
    md = FixClient.connect(venue.settings.port, sender="MDFEED1")
    md.send("V", subscribe)
    w = md.expect("W")
    assert int(w[SEQ]) > 3
    c1 = FixClient.connect(venue.settings.port, sender="CLIENT1")
    c1.cancel("x0", "b0", "AAPL", "1")
    c1.wait_for(exec_type("4"))
    assert int(md.expect("X")[SEQ]) == int(w[SEQ]) + 1
    c1.close()
    md.close()


def test_a_random_stream_over_tcp_rebuilds_the_venues_book_on_every_version(feed):
    venue, md = feed
    seq_tags = {"MDFEED1": SEQ, "MDFEED2": SEQ, "MDFEED5": 83}
    for comp_id in seq_tags:
        md.request(comp_id, "rnd", "1", 0, "012", ["TSLA"])
    books = {comp_id: Rebuilt(md.wait(comp_id, 1)[0], seq_tags[comp_id]) for comp_id in seq_tags}
    clients = [FixClient.connect(venue.settings.port, sender=s) for s in ("CLIENT1", "CLIENT2")]
    rng = random.Random(20261202)
    orders: list[tuple[FixClient, str, str]] = []  # (client, ClOrdID, side), not yet replaced
    for n in range(160):
        r = rng.random()
        if r < 0.6 or not orders:
            client, side = rng.choice(clients), rng.choice("12")
            price = f"{249.85 + 0.05 * rng.randint(0, 6):.2f}"
            client.new_order(f"o{n}", "TSLA", side, rng.randint(1, 20), price=price)
            orders.append((client, f"o{n}", side))
        elif r < 0.8:
            client, cl, side = orders.pop(rng.randrange(len(orders)))
            client.cancel(f"c{n}", cl, "TSLA", side)
        else:
            client, cl, side = orders.pop(rng.randrange(len(orders)))
            price = f"{249.85 + 0.05 * rng.randint(0, 6):.2f}"
            client.replace(f"r{n}", cl, "TSLA", side, rng.randint(1, 20), price=price)
    for client in clients:  # the venue takes each session's messages in order
        client.status("last", "TSLA", "1")
        client.wait_for(lambda m: m.get(35) == "8" and m.get(11) == "last", timeout=30)
    venue.marketdata.sync()
    target = venue.marketdata.book.seq("TSLA")
    assert target > 100  # a stream that moved the book
    for comp_id, book in books.items():
        tag_ = seq_tags[comp_id]
        wait_until(
            lambda c=comp_id, t=tag_: (
                max((int(e[t]) for m in md.received(c)[1:] for e in entries(m)), default=0)
                >= target
            ),
            lambda c=comp_id: f"{c} at {target}",
        )
        for msg in md.received(comp_id)[1:]:
            book.apply(msg)
        assert book.seq == target, comp_id
    sides = venue.kernel.engines["TSLA"].book
    expected = {
        key: {format_price(lv.price): (lv.qty, len(lv.orders)) for lv in sides.levels(side)}
        for key, side in (("0", Side.BUY), ("1", Side.SELL))
    }
    assert expected["0"] or expected["1"]
    for comp_id, book in books.items():
        assert book.sides == expected, comp_id
    assert books["MDFEED1"].trades == books["MDFEED2"].trades == books["MDFEED5"].trades
    assert len(books["MDFEED1"].trades) > 10
    for client in clients:
        client.close()
