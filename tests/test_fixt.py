"""FIX 5.0 SP2 over FIXT 1.1, over TCP against the live venue: logon, order entry, rejects,
drop copy (both ways between 4.4 and FIXT), catch-up, busts, expiry (spec/fixt.md).

CLIENT5 (FIRM1) and CLIENT6 (FIRM2) enter orders on FIXT.1.1, DROPCOPY5 copies every firm;
CLIENT1, CLIENT2 and DROPCOPY are the FIX 4.4 sessions beside them on the same port.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import quickfix as fix
import quickfix50sp2 as fix50
import sqlalchemy as sa
from fixclient import FixClient, Message
from test_venue_risk import quiet, reports_handed_over
from venue_fixtures import fresh_front_door, shared_venue

from venue.app import Venue, now_us
from venue.domain.commands import BustTrade, ExpireDayOrders, SessionDisconnected
from venue.domain.events import Event, OrderFilled
from venue.domain.reference import Instrument, Reference, SessionInfo
from venue.domain.values import PRICE_SCALE, Side
from venue.fix.codec import decode, encode, encode_copy, parse
from venue.kernel import Kernel

FIXT = "FIXT.1.1"
DICTIONARIES = Path(__file__).resolve().parent.parent / "venue" / "fix" / "dictionaries"
MICROS = re.compile(r"\d{8}-\d\d:\d\d:\d\d\.\d{6}")


def fixt(port: int, sender: str, **kwargs: object) -> FixClient:
    return FixClient.connect(port, sender=sender, begin_string=FIXT, **kwargs)  # type: ignore[arg-type]


def assert_fix50sp2(msg: Message) -> None:
    """What every application message on a FIXT session must be: FIXT.1.1 transport, the
    session's default application version (no ApplVerID of its own, none in the body), no
    tag 5.0 SP2 removed, microsecond timestamps."""
    assert msg[8] == FIXT, msg
    assert 1128 not in msg and 1137 not in msg, msg  # ApplVerID, DefaultApplVerID
    assert 20 not in msg, msg  # ExecTransType: gone since 4.3
    assert MICROS.fullmatch(msg[52]), msg[52]
    if 60 in msg:
        assert MICROS.fullmatch(msg[60]), msg[60]


def reports(client: FixClient, quiet: float = 0.5) -> list[Message]:
    return [m for m in client.drain(quiet) if m.get(35) in ("8", "9")]


def collect(client: FixClient, count: int, timeout: float = 10.0) -> list[Message]:
    """Application messages until `count` ExecutionReports/cancel rejects have arrived."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += reports(client, quiet=0.3)
    assert len(got) >= count, f"{client.sender}: {len(got)} of {count} reports: {got}"
    return got


# -- codec: every report the venue sends, valid in the venue's FIX 5.0 SP2 dictionary --------

TS = 1_700_000_000_123_456


@functools.cache
def _dictionaries() -> tuple[fix.DataDictionary, fix.DataDictionary]:
    """FIXT11.xml and FIX50SP2.xml, read once (the second takes about a second)."""
    return (
        fix.DataDictionary(str(DICTIONARIES / "FIXT11.xml")),
        fix.DataDictionary(str(DICTIONARIES / "FIX50SP2.xml")),
    )


def _validated(text: str) -> dict[str, str]:
    """Complete `text` as QuickFIX does on send and validate its body against FIX50SP2.xml."""
    assert text.startswith(f"8={FIXT}\x019=0\x0135=") and text.endswith("\x0110=000\x01")
    message = fix.Message()
    message.setString(text, False)
    header = message.getHeader()
    for tag, value in ((49, "VENUE"), (56, "DROPCOPY5"), (34, "7"), (52, "20231114-22:13:20.1")):
        header.setField(tag, value)
    transport, application = _dictionaries()
    application.validate(fix.Message(message.toString(), transport, application, True), True)
    return parse(message.toString())


def test_every_report_and_its_drop_copy_is_valid_fix50sp2() -> None:
    tick = PRICE_SCALE // 100
    aapl = Instrument("AAPL", tick, reference_price=190 * PRICE_SCALE, collar_bps=1000)
    sessions = {
        name: SessionInfo(name, firm)
        for name, firm in (("CLIENT5", "FIRM1"), ("CLIENT6", "FIRM2"), ("CLIENT7", "FIRM1"))
    }
    kernel = Kernel(Reference({"AAPL": aapl}, sessions))
    events: list[Event] = []

    def send(session: str, msg_type: str, **tags: str) -> list[Event]:
        fields = {"35": msg_type, "55": "AAPL", "54": "1", "60": "20231114-22:13:20.000"}
        fields.update({tag.lstrip("_"): value for tag, value in tags.items()})
        out = kernel.handle(decode(fields, session), TS)
        events.extend(out)
        return out

    order = {"_40": "2", "_38": "100", "_59": "0"}
    send("CLIENT5", "D", _11="b1", _44="190", **order)
    send("CLIENT6", "D", _11="s1", _54="2", _44="190", **{**order, "_38": "40"})  # fill
    send("CLIENT5", "G", _11="b2", _41="b1", _44="189.99", **order)  # replace
    send("CLIENT5", "H", _11="b2")  # status
    send("CLIENT5", "H", _11="nosuch")  # status of an unknown order
    send("CLIENT5", "D", _11="x1", _44="190.001", **order)  # 103=18
    send("CLIENT5", "D", _11="x2", _44="250", **order)  # 103=16
    send("CLIENT5", "G", _11="x3", _41="b2", _44="250", **order)  # 102=8
    send("CLIENT5", "F", _11="x4", _41="nosuch")  # 102=1
    send("CLIENT7", "D", _11="stp", _54="2", _44="189.99", _7928="D", **{**order, "_38": "10"})
    send("CLIENT6", "D", _11="ioc", _54="2", _44="189.99", **{**order, "_59": "3"})  # fills
    trade = next(e for e in reversed(events) if isinstance(e, OrderFilled))
    events.extend(kernel.handle(BustTrade("ops", trade.trade_id, "erroneous"), TS))
    send("CLIENT5", "D", _11="day", _44="180", **order)
    events.extend(kernel.handle(ExpireDayOrders(TS + 1), TS + 1))
    send("CLIENT5", "D", _11="gtc", _44="180", **{**order, "_59": "1"})
    send("CLIENT5", "q", _11="mc", _530="7")  # mass cancel: report and cancel
    # a buy stop above the last trade, triggered by a trade at its stop price (150=L)
    send("CLIENT5", "D", _11="stop", _40="3", _99="190.50", _38="10", _59="0")
    send("CLIENT6", "D", _11="s2", _54="2", _44="190.50", **{**order, "_38": "20"})
    send("CLIENT7", "D", _11="b3", _44="190.50", **{**order, "_38": "10"})

    seen = set()
    for event in events:
        text = encode(event, FIXT)
        if text is None:
            continue
        m = _validated(text)
        seen.add((m["35"], m.get("150", "")))
        copy = encode_copy(event, FIXT, "CLIENT5")
        if copy is not None:
            c = _validated(copy)
            assert c["115"] == "CLIENT5"
            assert c.get("797") == ("Y" if c["35"] == "8" else None)
    wanted = {("8", t) for t in "0F548CDHIL"} | {("9", ""), ("r", "")}
    assert wanted <= seen, wanted - seen
    codes = {(m["35"], m.get("103") or m.get("102")) for e in events
             if (t := encode(e, FIXT)) and (m := parse(t))["35"] in "89"}  # fmt: skip
    assert {("8", "18"), ("8", "16"), ("9", "8"), ("9", "1")} <= codes


# -- logon ----------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def logon_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    yield from shared_venue(tmp_path_factory.mktemp("fixt-logon"))


class TestLogon:
    """Logons only, on one venue; each test at a fresh front door (no session logged on)."""

    @pytest.fixture(autouse=True)
    def fresh(self, logon_venue: Venue) -> None:
        fresh_front_door(logon_venue)

    def test_fixt_logon_with_default_appl_ver_id_9_is_answered_on_fixt(self, logon_venue):
        venue = logon_venue
        client = fixt(venue.settings.port, "CLIENT5")
        logon = client.received[0]
        assert (logon[35], logon[8], logon[1137]) == ("A", FIXT, "9")
        assert (logon[49], logon[56]) == ("VENUE", "CLIENT5")
        assert MICROS.fullmatch(logon[52])
        assert venue.gateway.begin_string("CLIENT5") == FIXT
        client.logout()

    @pytest.mark.parametrize(
        ("sender", "begin_string", "appl_ver_id", "why"),
        [
            ("CLIENT5", FIXT, None, "DefaultApplVerID(1137) is required: use 9 (FIX.5.0SP2)"),
            ("CLIENT5", FIXT, "8", "DefaultApplVerID(1137) is 8, which is not served here"),
            ("CLIENT5", FIXT, "FIX.5.0SP2", "DefaultApplVerID(1137) is FIX.5.0SP2, which is not"),
            ("CLIENT5", "FIX.4.4", None, "session CLIENT5 is configured for FIXT.1.1, not FIX.4.4"),
            ("DROPCOPY5", "FIX.4.4", None, "session DROPCOPY5 is configured for FIXT.1.1"),
            ("CLIENT1", FIXT, "9", "session CLIENT1 is configured for FIX.4.4, not FIXT.1.1"),
        ],
        ids=[
            "no-1137",
            "1137-fix50sp1",
            "1137-as-begin-string",
            "fixt-as-44",
            "dc5-as-44",
            "44-as-fixt",
        ],
    )
    def test_logon_in_the_wrong_version_gets_a_logout_saying_why(
        self, logon_venue, sender, begin_string, appl_ver_id, why
    ):
        venue = logon_venue
        client = FixClient(venue.settings.port, sender, begin_string, "VENUE", 30)
        client.default_appl_ver_id = appl_ver_id
        with pytest.raises(ConnectionError, match="logon refused"):
            client.reconnect(reset=True, timeout=10)
        [logout] = [m for m in client.received if m.get(35) == "5"]
        assert why in logout[58]
        client.close()
        assert not venue.gateway.logged_on(sender)


# -- order entry ----------------------------------------------------------------------------


def test_order_entry_round_trip_on_fixt_against_a_44_session(venue_factory):
    venue = venue_factory()
    port = venue.settings.port
    c5 = fixt(port, "CLIENT5")
    c2 = FixClient.connect(port, sender="CLIENT2")

    c5.new_order("b1", "AAPL", "1", 100, price="190.00", Account="ACC5")
    ack = c5.expect("8", ExecType="0", OrdStatus="0", ClOrdID="b1", LeavesQty="100", Account="ACC5")
    assert_fix50sp2(ack)

    c2.new_order("s1", "AAPL", "2", 40, price="190.00")
    c2.expect("8", ExecType="0")
    fill2 = c2.expect("8", ExecType="F", OrdStatus="2", LastQty="40", LastLiquidityInd="2")
    assert fill2[8] == "FIX.4.4"
    fill5 = c5.expect(
        "8", ExecType="F", OrdStatus="1", LastQty="40", LastPx="190", CumQty="40",
        LeavesQty="60", AvgPx="190", LastLiquidityInd="1",
    )  # fmt: skip
    assert_fix50sp2(fill5)

    c5.replace("b2", "b1", "AAPL", "1", 80, price="189.99")
    replaced = c5.expect(
        "8", ExecType="5", OrdStatus="1", ClOrdID="b2", OrigClOrdID="b1", OrderQty="80",
        Price="189.99", CumQty="40", LeavesQty="40",
    )  # fmt: skip
    assert_fix50sp2(replaced)
    assert replaced[37] == ack[37]

    c5.status("b2", "AAPL", "1")
    status = c5.expect("8", ExecType="I", OrdStatus="1", ClOrdID="b2", LeavesQty="40")
    assert_fix50sp2(status)

    c5.cancel("b3", "b2", "AAPL", "1")
    canceled = c5.expect(
        "8", ExecType="4", OrdStatus="4", ClOrdID="b3", OrigClOrdID="b2", LeavesQty="0"
    )
    assert_fix50sp2(canceled)

    c5.cancel("b4", "b3", "AAPL", "1")  # done: too late
    late = c5.expect("9", ClOrdID="b4", OrigClOrdID="b3", CxlRejResponseTo="1", OrdStatus="4")
    assert_fix50sp2(late)
    c5.cancel("b5", "nosuch", "AAPL", "1")
    unknown = c5.expect("9", ClOrdID="b5", CxlRejResponseTo="1", CxlRejReason="1")
    assert_fix50sp2(unknown)
    assert 797 not in late and 797 not in unknown
    c5.status("nosuch", "AAPL", "1")
    c5.expect("8", ExecType="I", OrdStatus="8", OrdRejReason="5", OrderID="NONE")
    quiet(c5, venue=venue)


def test_fixt_rejects_use_fix50sp2_reason_codes_where_44_has_only_99(venue_factory):
    venue = venue_factory()
    port = venue.settings.port
    c5 = fixt(port, "CLIENT5")
    c1 = FixClient.connect(port, sender="CLIENT1")
    cases = [
        ("190.001", "18", "price 190.001 is not a multiple of the tick 0.01"),
        ("250.00", "16", "price 250 outside collar 171-209"),
    ]
    for n, (price, code, text) in enumerate(cases):
        c5.new_order(f"x{n}", "AAPL", "1", 100, price=price)
        rejected = c5.expect("8", ExecType="8", OrdStatus="8", OrdRejReason=code)
        assert text in rejected[58]
        assert_fix50sp2(rejected)
        c1.new_order(f"x{n}", "AAPL", "1", 100, price=price)
        c1.expect("8", ExecType="8", OrdRejReason="99")
    c5.new_order("x9", "XYZ", "1", 100, price="10")
    c5.expect("8", ExecType="8", OrdRejReason="1")  # as on 4.4
    c5.send("D", [(11, "x10"), (55, "AAPL"), (54, "1"), (60, c5.utc_now()), (40, "2"),
                  (38, "100"), (44, "190"), (7928, "Z")])  # SelfTradePrevention  # fmt: skip
    c5.expect("8", ExecType="8", OrdRejReason="11")

    c5.new_order("r1", "AAPL", "1", 100, price="190.00")
    c5.expect("8", ExecType="0", ClOrdID="r1")
    for n, (price, code) in enumerate([("190.005", "18"), ("250.00", "8")]):
        c5.replace(f"r{n + 2}", "r1", "AAPL", "1", 100, price=price)
        refused = c5.expect("9", OrigClOrdID="r1", CxlRejResponseTo="2", CxlRejReason=code)
        assert_fix50sp2(refused)
        assert refused[39] == "0"  # the order is unchanged
    quiet(c5, venue=venue)


def test_fixt_mass_cancel_is_reported_with_mass_action_report_id(venue_factory):
    venue = venue_factory()
    c5 = fixt(venue.settings.port, "CLIENT5")
    for n in range(2):
        c5.new_order(f"m{n}", "MSFT", "1", 10, price="420.00")
        c5.expect("8", ExecType="0", ClOrdID=f"m{n}")
    c5.send("q", [(11, "mc1"), (530, "7"), (60, c5.utc_now())])
    report = c5.expect("r", ClOrdID="mc1")
    assert (report[530], report[531], report[533]) == ("7", "7", "2")
    assert report[1369] and report[37]
    assert_fix50sp2(report)
    venue.execute(SessionDisconnected("NOBODY"))  # a no-op: every report is handed over,
    c5.sync()  # and has arrived once the TestRequest is answered
    canceled = [m for m in c5.received if m.get(35) == "8" and m[150] == "4"]
    assert sorted(m[11] for m in canceled) == ["m0", "m1"]
    for m in canceled:
        assert_fix50sp2(m)


def test_unsupported_message_gets_the_venues_business_reject_without_appl_ver_id(
    venue_factory,
):
    venue = venue_factory()
    c5 = fixt(venue.settings.port, "CLIENT5")
    seq = c5.send("V", [(262, "md1"), (263, "0"), (264, "1"), (146, "1"), (55, "AAPL"),
                        (267, "1"), (269, "0")])  # fmt: skip
    # MarketDataRequest is served on market_data sessions only: 380=6 here (not authorized).
    reject = c5.expect("j", RefMsgType="V", BusinessRejectReason="6", RefSeqNum=str(seq))
    # QuickFIX's own reject here would carry DefaultApplVerID(1137) in the body, which a
    # 5.0 SP2 client rejects as a tag not defined for BusinessMessageReject.
    assert_fix50sp2(reject)
    assert "MsgType(35)=V" in reject[58]
    c5.new_order("after", "AAPL", "1", 1, price="190.00")  # the session goes on
    c5.expect("8", ExecType="0", ClOrdID="after")


def test_application_message_of_another_appl_ver_id_gets_a_session_reject(venue_factory):
    venue = venue_factory()
    c5 = fixt(venue.settings.port, "CLIENT5")
    fields = [(11, "v1"), (55, "AAPL"), (54, "1"), (60, c5.utc_now()), (40, "2"), (38, "1"),
              (44, "190")]  # fmt: skip
    seq = c5.send("D", [(1128, "8"), *fields])  # ApplVerID FIX.5.0SP1: not served
    reject = c5.expect("3", RefSeqNum=str(seq), RefTagID="1128", SessionRejectReason="5")
    assert reject[372] == "D"
    quiet(c5, venue=venue)  # no order
    c5.send("D", [(1128, "9"), *fields])  # FIX.5.0SP2 named explicitly: fine
    c5.expect("8", ExecType="0", ClOrdID="v1")


def test_fixt_drop_copy_session_cannot_enter_orders(venue_factory):
    venue = venue_factory()
    copy = fixt(venue.settings.port, "DROPCOPY5")
    copy.new_order("d1", "AAPL", "1", 100, price="190.00")
    reject = copy.expect("j", RefMsgType="D", BusinessRejectReason="6", BusinessRejectRefID="d1")
    assert_fix50sp2(reject)


def test_fixt_session_gets_missed_reports_resent_and_day_orders_canceled_on_disconnect(
    venue_factory,
):
    venue = venue_factory()
    port = venue.settings.port
    c5 = fixt(port, "CLIENT5")
    c6 = fixt(port, "CLIENT6")
    c5.new_order("gtc", "AAPL", "1", 10, price="190.00", tif="1")
    c5.expect("8", ExecType="0", ClOrdID="gtc")
    c5.logout()  # a Logout: not a disconnect, orders stay
    c6.new_order("hit", "AAPL", "2", 10, price="190.00")
    c6.expect("8", ExecType="0")
    c6.expect("8", ExecType="F")
    # CLIENT6's fill can arrive before CLIENT5's is handed over (it then went out live,
    # after the logon below, not resent): wait until the kernel released every report.
    reports_handed_over(venue)
    c5.reconnect(reset=False)
    fill = c5.expect("8", ExecType="F", ClOrdID="gtc", OrdStatus="2")
    assert fill[43] == "Y" and MICROS.fullmatch(fill[122])  # resent: PossDup, OrigSendingTime
    assert_fix50sp2(fill)

    c5.new_order("day", "AAPL", "1", 10, price="189.00", tif="0")
    c5.expect("8", ExecType="0", ClOrdID="day")
    c5.close()  # dropped without a Logout: its Day orders are canceled
    c5.reconnect(reset=False)
    canceled = c5.expect("8", ExecType="4", OrdStatus="4", ClOrdID="day")
    assert_fix50sp2(canceled)


# -- drop copy ------------------------------------------------------------------------------


def test_dropcopy5_copies_44_and_fixt_sessions_and_dropcopy_copies_fixt_as_44(venue_factory):
    venue = venue_factory()
    port = venue.settings.port
    copy5 = fixt(port, "DROPCOPY5")
    copy44 = FixClient.connect(port, sender="DROPCOPY")
    c5 = fixt(port, "CLIENT5")
    c1 = FixClient.connect(port, sender="CLIENT1")
    c2 = FixClient.connect(port, sender="CLIENT2")

    c5.new_order("f1", "AAPL", "1", 50, price="190.00")
    c5.expect("8", ExecType="0")
    c2.new_order("f2", "AAPL", "2", 50, price="190.00")
    c2.expect("8", ExecType="0")
    c2.expect("8", ExecType="F")
    c5.expect("8", ExecType="F")
    c1.new_order("f3", "AAPL", "1", 10, price="190.001")
    c1.expect("8", ExecType="8", OrdRejReason="99")
    c5.new_order("f4", "AAPL", "1", 10, price="190.001")
    c5.expect("8", ExecType="8", OrdRejReason="18")
    c5.cancel("f5", "nosuch", "AAPL", "1")
    c5.expect("9")

    originals = {
        m[17]: m for c in (c5, c1, c2) for m in c.received if m.get(35) == "8"
    }  # every ExecutionReport, by ExecID
    expected = len(originals) + 1  # and the cancel reject
    for copy, version in ((copy5, FIXT), (copy44, "FIX.4.4")):
        got = collect(copy, expected)
        execs = {m[17]: m for m in got if m[35] == "8"}
        assert set(execs) == set(originals), copy.sender
        for exec_id, m in execs.items():
            assert m[8] == version and m[797] == "Y"
            assert m[115] == originals[exec_id][56]  # the originating session
            assert (m[150], m[39], m[11]) == (originals[exec_id][150], originals[exec_id][39],
                                              originals[exec_id][11])  # fmt: skip
            if version == FIXT:
                assert_fix50sp2(m)
        [cxl] = [m for m in got if m[35] == "9"]
        assert cxl[8] == version and cxl[115] == "CLIENT5" and cxl[434] == "1"
        reject_codes = {m[11]: m.get(103) for m in execs.values() if m[150] == "8"}
        # each copy in its receiver's version: 5.0 SP2's 18 for both, 4.4's 99 for both
        want = "18" if version == FIXT else "99"
        assert reject_codes == {"f3": want, "f4": want}
    [cxl5] = [m for m in copy5.received if m.get(35) == "9"]
    assert 797 not in cxl5  # 5.0 SP2 defines CopyMsgIndicator on ExecutionReport only
    assert_fix50sp2(cxl5)


def test_dropcopy5_catches_up_and_sees_busts_and_expiries_on_fixt(venue_factory):
    venue = venue_factory()
    port = venue.settings.port
    copy = fixt(port, "DROPCOPY5")
    copy.logout()
    c5 = fixt(port, "CLIENT5")
    c6 = fixt(port, "CLIENT6")
    for n in range(3):
        c5.new_order(f"g{n}b", "IBM", "1", 10, price="180.00")
        c5.expect("8", ExecType="0")
        c6.new_order(f"g{n}s", "IBM", "2", 10, price="180.00")
        c6.expect("8", ExecType="0")
        c6.expect("8", ExecType="F")
        c5.expect("8", ExecType="F")
    sent = sorted((m[17] for c in (c5, c6) for m in c.received if m.get(35) == "8"), key=int)
    copy.reconnect(reset=False)
    got = collect(copy, len(sent))
    # de-duplicate on ExecID: copies racing the Logon answer come again through resend
    assert list(dict.fromkeys(m[17] for m in got)) == sent
    assert all(m[797] == "Y" and m[8] == FIXT for m in got)

    fill_5 = [m for m in c5.received if m.get(150) == "F"][-1]
    venue.wait_until_projected()
    with venue.db.connect() as conn:
        trade_ids = conn.execute(sa.text("select trade_id from trades order by 1")).scalars()
        last_trade = list(trade_ids)[-1]
    assert venue.execute(BustTrade("ops", last_trade, "erroneous trade"))[-1].ok
    bust_5 = c5.expect("8", ExecType="H")
    bust_6 = c6.expect("8", ExecType="H")
    assert bust_5[19] == fill_5[17] and "erroneous trade" in bust_5[58]
    assert_fix50sp2(bust_5)
    assert_fix50sp2(bust_6)

    c5.new_order("day1", "IBM", "1", 5, price="179.00", tif="0")
    c5.expect("8", ExecType="0", ClOrdID="day1")
    venue.execute(ExpireDayOrders(now_us() + 1))
    expired = c5.expect("8", ExecType="C", OrdStatus="C", ClOrdID="day1", LeavesQty="0")
    assert_fix50sp2(expired)

    copies = collect(copy, 4)  # two busts, the ack, the expiry
    assert sorted(m[150] for m in copies if m[11] != "day1") == ["H", "H"]
    assert [m[150] for m in copies if m[11] == "day1"] == ["0", "C"]
    assert all(m[8] == FIXT and m[797] == "Y" for m in copies)


# -- a stock QuickFIX initiator, full validation against the published dictionaries --------

INITIATOR_SETTINGS = """\
[DEFAULT]
ConnectionType=initiator
BeginString=FIXT.1.1
DefaultApplVerID=FIX.5.0SP2
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
TransportDataDictionary={dicts}/FIXT11.xml
AppDataDictionary={dicts}/FIX50SP2.xml
ValidateUserDefinedFields=Y
ValidateFieldsOutOfOrder=Y
ValidateFieldsHaveValues=Y
AllowUnknownMsgFields=N
CheckLatency=Y
MaxLatency=120
TimestampPrecision=6

[SESSION]
SenderCompID=CLIENT5

[SESSION]
SenderCompID=DROPCOPY5
"""


class Recorder(fix.Application):  # type: ignore[misc]
    """Keeps what the initiator received and what session messages it sent (a Reject it
    sends is a message of ours it refused)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.app: dict[str, list[Message]] = {"CLIENT5": [], "DROPCOPY5": []}
        self.admin_out: list[str] = []
        self.logged_on: set[str] = set()

    @staticmethod
    def _fields(message: fix.Message) -> Message:
        return {int(t): v for t, _, v in (f.partition("=") for f in
                message.toString().split("\x01")[:-1])}  # fmt: skip

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
            self.admin_out.append(message.toString())

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            fields = self._fields(message)
            with self.lock:
                self.app[session_id.getSenderCompID().getValue()].append(fields)
        except Exception as exc:  # an exception escaping a callback ends the process
            print("fromApp failed:", exc)

    def received(self, comp_id: str) -> list[Message]:
        with self.lock:
            return list(self.app[comp_id])

    def rejects(self) -> list[str]:
        """The Rejects (35=3) and business rejects the initiator sent, readable."""
        with self.lock:
            sent = list(self.admin_out)
        return [m.replace("\x01", "|") for m in sent if re.search("\x0135=[3j]\x01", m)]


def wait_until(
    condition: Callable[[], bool], what: str | Callable[[], str], timeout: float = 15.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what if isinstance(what, str) else what()}"
            )
        time.sleep(0.02)


def _transact_time(message: fix.Message) -> None:
    message.setField(fix.TransactTime())  # now, UTC


def test_quickfix_initiator_validating_against_the_venues_dictionaries_rejects_nothing(
    venue_factory, tmp_path
):
    venue = venue_factory()
    port = venue.settings.port
    c2 = FixClient.connect(port, sender="CLIENT2")  # the 4.4 counterparty
    settings_file = tmp_path / "initiator.cfg"
    settings_file.write_text(
        INITIATOR_SETTINGS.format(port=port, tmp=tmp_path / "qf", dicts=DICTIONARIES)
    )
    settings = fix.SessionSettings(str(settings_file))
    recorder = Recorder()
    store = fix.FileStoreFactory(settings)
    logs = fix.FileLogFactory(settings)
    initiator = fix.SocketInitiator(recorder, store, settings, logs)
    oe = fix.SessionID(FIXT, "CLIENT5", "VENUE")
    initiator.start()
    try:
        wait_until(lambda: recorder.logged_on == {"CLIENT5", "DROPCOPY5"}, "both logged on")

        def send(message: fix.Message) -> None:
            assert fix.Session.sendToTarget(message, oe)

        def got(n: int, comp_id: str = "CLIENT5") -> list[Message]:
            """The first n application messages the session passed to the application; a
            message its validation refused never gets there (it sends 35=3 instead)."""
            wait_until(
                lambda: len(recorder.received(comp_id)) >= n,
                lambda: f"{n} messages for {comp_id}; it sent: {recorder.rejects()}",
            )
            return recorder.received(comp_id)

        order = fix50.NewOrderSingle()
        for field in (fix.ClOrdID("q1"), fix.Symbol("AAPL"), fix.Side(fix.Side_BUY),
                      fix.OrdType(fix.OrdType_LIMIT), fix.OrderQty(100), fix.Price(190),
                      fix.TimeInForce(fix.TimeInForce_DAY), fix.Account("QF"),
                      fix.StringField(7928, "R")):  # fmt: skip
            order.setField(field)
        _transact_time(order)
        send(order)
        assert got(1)[0][150] == "0"
        c2.new_order("qs1", "AAPL", "2", 40, price="190.00")
        c2.expect("8", ExecType="0")
        c2.expect("8", ExecType="F")
        assert got(2)[1][150] == "F"

        replace = fix50.OrderCancelReplaceRequest()
        for field in (fix.ClOrdID("q2"), fix.OrigClOrdID("q1"), fix.Symbol("AAPL"),
                      fix.Side(fix.Side_BUY), fix.OrdType(fix.OrdType_LIMIT), fix.OrderQty(80),
                      fix.Price(189.99), fix.TimeInForce(fix.TimeInForce_DAY)):  # fmt: skip
            replace.setField(field)
        _transact_time(replace)
        send(replace)
        assert got(3)[2][150] == "5"

        status = fix50.OrderStatusRequest()
        for field in (fix.ClOrdID("q2"), fix.Symbol("AAPL"), fix.Side(fix.Side_BUY)):
            status.setField(field)
        send(status)
        assert got(4)[3][150] == "I"

        cancel = fix50.OrderCancelRequest()
        for field in (fix.ClOrdID("q3"), fix.OrigClOrdID("nosuch"), fix.Symbol("AAPL"),
                      fix.Side(fix.Side_BUY)):  # fmt: skip
            cancel.setField(field)
        _transact_time(cancel)
        send(cancel)
        assert got(5)[4][35] == "9"

        off_tick = fix50.NewOrderSingle()
        for field in (fix.ClOrdID("q4"), fix.Symbol("AAPL"), fix.Side(fix.Side_BUY),
                      fix.OrdType(fix.OrdType_LIMIT), fix.OrderQty(1),
                      fix.StringField(44, "190.001")):  # fmt: skip
            off_tick.setField(field)
        _transact_time(off_tick)
        send(off_tick)
        assert got(6)[5][103] == "18"

        mass = fix50.OrderMassCancelRequest()
        mass.setField(fix.ClOrdID("q5"))
        mass.setField(fix.MassCancelRequestType(fix.MassCancelRequestType_CANCEL_ALL_ORDERS))
        _transact_time(mass)
        send(mass)
        got(8)  # the report and the cancel of q2, in either order

        request = fix50.MarketDataRequest()
        request.setField(fix.MDReqID("md1"))
        request.setField(fix.SubscriptionRequestType("0"))
        request.setField(fix.MarketDepth(1))
        entry = fix50.MarketDataRequest.NoMDEntryTypes()
        entry.setField(fix.MDEntryType(fix.MDEntryType_BID))
        request.addGroup(entry)
        symbol = fix50.MarketDataRequest.NoRelatedSym()
        symbol.setField(fix.Symbol("AAPL"))
        request.addGroup(symbol)
        send(request)
        received = got(9)
        assert received[8][35] == "j" and received[8][380] == "6"
        assert sorted(m[35] + m.get(150, "") for m in received[6:8]) == ["84", "r"]

        # DROPCOPY5: every report of CLIENT5 but the status answer, and CLIENT2's two
        copies = got(8, "DROPCOPY5")
        c2_execs = {m[17] for m in c2.received if m.get(35) == "8"}
        c5_copied = {m[17] for m in received if m[35] == "8" and m[150] != "I"}
        assert {m[17] for m in copies if m[35] == "8"} == c2_execs | c5_copied
        assert [m[115] for m in copies if m[35] == "9"] == ["CLIENT5"]
        time.sleep(0.5)  # anything late would show here
        assert len(recorder.received("CLIENT5")) == 9
        assert len(recorder.received("DROPCOPY5")) == 8
        for m in recorder.received("CLIENT5") + recorder.received("DROPCOPY5"):
            assert m[8] == FIXT and 1137 not in m
    finally:
        initiator.stop(True)  # force: a plain stop polls once a second for the logouts
    assert recorder.rejects() == []
    events = "".join(p.read_text() for p in (tmp_path / "qf" / "log").glob("*event*.log"))
    assert "Logon" in events or "logon" in events, events  # the log is the one written
    problems = [
        line for line in events.splitlines() if re.search("reject|error|invalid", line, re.I)
    ]
    assert problems == [], problems


def test_fixt_iceberg_with_display_qty_1138_shows_its_peak(venue_factory):
    """5.0 SP2's DisplayQty(1138) is an iceberg's peak as MaxFloor(111) is; both only if equal."""
    venue = venue_factory()
    port = venue.settings.port
    c5 = fixt(port, "CLIENT5")
    c6 = fixt(port, "CLIENT6")
    c5.send("D", [(11, "ice"), (55, "AAPL"), (54, "1"), (60, c5.utc_now()), (40, "2"),
                  (38, "100"), (44, "190"), (59, "1"), (1138, "10")])  # fmt: skip
    ack = c5.expect("8", ExecType="0", ClOrdID="ice")
    assert ack.get(111) == "10" and ack[151] == "100"
    assert_fix50sp2(ack)
    shown = next(iter(venue.kernel.engines["AAPL"].book.levels(Side.BUY)))
    assert shown.qty == 10  # the rest is hidden
    c6.new_order("s1", "AAPL", "2", 30, price="190.00")  # takes three peaks
    c6.expect("8", ClOrdID="s1", ExecType="0")
    done = c6.wait_for(lambda m: m.get(35) == "8" and m.get(39) == "2", 10, "s1 filled")
    assert done[14] == "30" and done[11] == "s1"
    c5.send("D", [(11, "both"), (55, "AAPL"), (54, "1"), (60, c5.utc_now()), (40, "2"),
                  (38, "100"), (44, "190"), (59, "1"), (111, "10"), (1138, "20")])  # fmt: skip
    rejected = c5.wait_for(lambda m: m.get(35) == "8" and m.get(11) == "both", 10, "both")
    assert rejected[150] == "8"
    assert "MaxFloor(111)=10 and DisplayQty(1138)=20 differ" in rejected[58]
