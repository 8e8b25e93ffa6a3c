"""The walking venue end to end: the real acceptor on a free loopback port, simplefix
clients over TCP, the real kernel, and (for the SQL tests) SQLite and PostgreSQL.

CLIENT1 (FIRM1, FIX 4.4) and CLIENT2 (FIRM2, FIX 4.4) trade with each other; CLIENT3 is
FIRM1 on FIX 4.2, so it trades with CLIENT2 only (self-trade prevention inside FIRM1).

Starting a venue costs about a second, so each test class shares one (SQLite), and each
test gets a symbol of its own (`sym`: the demo reference data plus instruments T001...,
priced like AAPL around 190.00) and fresh logons, logged out afterwards. That keeps the
tests independent: no book, ClOrdID or message is shared. The class scope matters: QuickFIX
holds one acceptor per session id in a process, so a class's venue must stop before the
SQL tests (the `venue` fixture, SQLite and PostgreSQL) and the bug reproductions start
their own.

A status request (H) is the barrier that proves a negative without sleeping: reports to a
session come in order, so when its answer arrives, any fill that was coming has come.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fix_fixtures import ClientFactory, find_free_port
from fixclient import TAGS, FixClient, Message, describe
from sqlalchemy import select

from venue.app import Venue
from venue.config import VenueSettings
from venue.domain.commands import SessionDisconnected
from venue.store.models import Execution, Order, OrderEvent, ProjectorState, Trade

BUY, SELL = "1", "2"
LIMIT, MARKET = "2", "1"
DAY, GTC, IOC, FOK = "0", "1", "3", "4"
TRANSACT_TIME = re.compile(r"^\d{8}-\d{2}:\d{2}:\d{2}\.\d{6}$")
TRANSACT_TIME_42 = re.compile(r"^\d{8}-\d{2}:\d{2}:\d{2}\.\d{3}$")


# -- helpers --------------------------------------------------------------------------------


def check(msg: Message, **named: str) -> Message:
    """Assert tag values by name (fixclient.TAGS); returns msg for chaining."""
    wrong = {
        name: (want, msg.get(TAGS[name])) for name, want in named.items()
        if msg.get(TAGS[name]) != want
    }  # fmt: skip
    assert not wrong, f"{wrong} in {describe(msg)}"
    return msg


def px(msg: Message, tag: int) -> Decimal:
    return Decimal(msg[tag])


def report(client: FixClient, cl_ord_id: str, timeout: float = 10.0) -> Message:
    """The next ExecutionReport or OrderCancelReject about cl_ord_id (others skipped)."""
    return client.wait_for(
        lambda m: m.get(35) in ("8", "9") and m.get(11) == cl_ord_id, timeout, f"11={cl_ord_id}"
    )


def rest(
    client: FixClient, cl: str, symbol: str, side: str, qty: int, price: str, tif: str = DAY
) -> Message:
    """Enter a limit order that must rest untouched; returns its New report."""
    client.new_order(cl, symbol, side, qty, price=price, tif=tif)
    return check(report(client, cl), ExecType="0", OrdStatus="0", CumQty="0")


def state(client: FixClient, cl: str, symbol: str, side: str) -> Message:
    """The order's current state by OrderStatusRequest (ExecType I; 4.2: ExecTransType 3).

    Also a barrier: every report sent to this session before it has been received."""
    client.status(cl, symbol, side)

    def is_answer(m: Message) -> bool:
        answer = m.get(20) == "3" if client.begin_string == "FIX.4.2" else m.get(150) == "I"
        return m.get(35) == "8" and m.get(11) == cl and answer

    return client.wait_for(is_answer, 5, f"status of {cl}")


def exec_reports(*clients: FixClient) -> list[Message]:
    return [m for c in clients for m in c.received if m.get(35) == "8"]


def assert_consistent(msg: Message) -> None:
    """CumQty + LeavesQty = OrderQty while live; LeavesQty 0 once done; TransactTime UTC,
    microseconds on FIX 4.4 and milliseconds on FIX 4.2."""
    cum, leaves, qty = int(msg[14]), int(msg[151]), int(msg[38])
    if msg[39] in ("2", "4", "8", "C"):
        assert leaves == 0, describe(msg)
    else:
        assert cum + leaves == qty, describe(msg)
    pattern = TRANSACT_TIME_42 if msg.get(8) == "FIX.4.2" else TRANSACT_TIME
    assert pattern.match(msg[60]), describe(msg)
    sent = datetime.strptime(msg[60], "%Y%m%d-%H:%M:%S.%f").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 120, f"not UTC now: {msg[60]}"


# -- fixtures -------------------------------------------------------------------------------

DEMO_REFERENCE = Path(__file__).resolve().parent.parent / "fix_config" / "venue.toml"
TEST_SYMBOLS = [f"T{n:03d}" for n in range(1, 200)]
TEST_INSTRUMENT = """
[instruments.{symbol}]
tick = "0.01"
lot = 1
reference_price = "190.00"
collar_pct = 10
max_order_qty = 100000
max_order_notional = "10000000"
"""
_symbols = iter(TEST_SYMBOLS)


@pytest.fixture(scope="class")
def class_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """One venue per test class (SQLite); the demo reference data plus T001..T199."""
    home = tmp_path_factory.mktemp("venue")
    reference = home / "venue.toml"
    reference.write_text(
        DEMO_REFERENCE.read_text() + "".join(TEST_INSTRUMENT.format(symbol=s) for s in TEST_SYMBOLS)
    )
    settings = VenueSettings(
        port=find_free_port(), data_dir=home / "data", reference_config=reference
    )
    venue = Venue(settings)
    venue.start()
    yield venue
    venue.stop()


@pytest.fixture
def sym() -> str:
    """A symbol no other test trades: an empty book."""
    return next(_symbols)


@pytest.fixture
def logons(class_venue: Venue) -> Iterator[Callable[[str], FixClient]]:
    """logons("CLIENT1") -> a fresh logon (sequence numbers reset) to the class's venue.

    Each is logged out after the test, and its Day orders canceled (cancel on disconnect)
    before the next test logs on, so that no report of this test reaches the next one."""
    made: list[FixClient] = []

    def connect(sender: str) -> FixClient:
        begin_string = "FIX.4.2" if sender == "CLIENT3" else "FIX.4.4"
        client = FixClient.connect(class_venue.settings.port, sender, begin_string)
        made.append(client)
        return client

    yield connect
    for client in made:
        client.logout()
        deadline = time.monotonic() + 5
        while class_venue.gateway.logged_on(client.sender) and time.monotonic() < deadline:
            time.sleep(0.005)
        # What QuickFIX's logout callback queues too (a second one finds nothing left);
        # execute() returns once the cancels are journaled and their reports sent.
        class_venue.execute(SessionDisconnected(client.sender))


@pytest.fixture
def c1(logons: Callable[[str], FixClient]) -> FixClient:
    return logons("CLIENT1")


@pytest.fixture
def c2(logons: Callable[[str], FixClient]) -> FixClient:
    return logons("CLIENT2")


@pytest.fixture
def c3(logons: Callable[[str], FixClient]) -> FixClient:
    return logons("CLIENT3")


def assert_no_resting_buy(c2: FixClient, symbol: str, price: str) -> None:
    """An IOC sell at `price` finds nothing to trade: no buy at or above it rests."""
    c2.new_order("probe", symbol, SELL, 100, price=price, tif=IOC)
    check(report(c2, "probe"), ExecType="0")
    check(report(c2, "probe"), ExecType="4", OrdStatus="4", CumQty="0", LeavesQty="0")


# -- new orders: types and time in force ----------------------------------------------------


class TestNewOrders:
    """Order types and times in force: what rests, what trades, what is canceled."""

    def test_limit_order_rests_and_is_acknowledged_with_a_venue_order_id(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        ack = rest(c1, "b1", sym, BUY, 100, "190.00")

        check(ack, LeavesQty="100", OrderQty="100", Symbol=sym, Side=BUY, TimeInForce=DAY)
        assert ack[37].isdigit() and ack[37] != "b1"
        assert px(ack, 44) == Decimal("190.00") and px(ack, 6) == 0
        assert_consistent(ack)
        # nothing about it goes to another firm (a Heartbeat may)
        assert [m for m in c2.drain(0.2) if m[35] != "0"] == []
        check(state(c1, "b1", sym, BUY), OrdStatus="0", LeavesQty="100", OrderID=ack[37])

    def test_gtc_order_rests_and_trades_like_a_day_order(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        ack = rest(c1, "g1", sym, SELL, 10, "191.00", tif=GTC)

        check(ack, TimeInForce=GTC)
        check(state(c1, "g1", sym, SELL), OrdStatus="0", TimeInForce=GTC, LeavesQty="10")
        c2.new_order("lift", sym, BUY, 10, price="191.00")
        check(c1.expect("8"), ClOrdID="g1", ExecType="F", OrdStatus="2", TimeInForce=GTC)

    def test_market_order_sweeps_levels_at_resting_prices_and_cancels_the_remainder(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        s1 = rest(c2, "s1", sym, SELL, 30, "190.05")
        s2 = rest(c2, "s2", sym, SELL, 20, "190.02")

        c1.new_order("m1", sym, BUY, 80, ord_type=MARKET)

        check(c1.expect("8"), ClOrdID="m1", ExecType="0", OrdStatus="0")
        f1 = check(c1.expect("8"), ExecType="F", OrdStatus="1", LastQty="20", CumQty="20")
        f2 = check(c1.expect("8"), ExecType="F", OrdStatus="1", LastQty="30", CumQty="50")
        end = check(c1.expect("8"), ExecType="4", OrdStatus="4", CumQty="50", LeavesQty="0")
        assert (px(f1, 31), px(f2, 31)) == (Decimal("190.02"), Decimal("190.05"))
        assert px(end, 6) == Decimal("190.038")  # (20 x 190.02 + 30 x 190.05) / 50
        assert "market" in end[58]
        # The other side heard of both trades, at its own prices.
        check(c2.expect("8"), OrderID=s2[37], ExecType="F", OrdStatus="2", LastQty="20")
        check(c2.expect("8"), OrderID=s1[37], ExecType="F", OrdStatus="2", LastQty="30")

    def test_market_order_on_an_empty_book_is_canceled(self, c1: FixClient, sym: str) -> None:
        c1.new_order("m1", sym, SELL, 10, ord_type=MARKET)

        check(c1.expect("8"), ClOrdID="m1", ExecType="0")
        check(c1.expect("8"), ClOrdID="m1", ExecType="4", OrdStatus="4", CumQty="0", LeavesQty="0")

    def test_ioc_order_fills_what_it_can_and_cancels_the_rest(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        rest(c2, "s1", sym, SELL, 40, "190.00")
        rest(c2, "s2", sym, SELL, 40, "190.10")  # beyond the IOC's limit

        c1.new_order("i1", sym, BUY, 100, price="190.05", tif=IOC)

        check(c1.expect("8"), ClOrdID="i1", ExecType="0")
        check(c1.expect("8"), ExecType="F", LastQty="40", CumQty="40", LeavesQty="60")
        end = check(c1.expect("8"), ExecType="4", OrdStatus="4", CumQty="40", LeavesQty="0")
        assert "IOC" in end[58]
        check(c2.expect("8"), ClOrdID="s1", ExecType="F", OrdStatus="2")
        check(state(c2, "s2", sym, SELL), OrdStatus="0", LeavesQty="40")  # untouched

    def test_fok_order_without_enough_liquidity_is_canceled_and_trades_nothing(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        rest(c2, "s1", sym, SELL, 50, "190.00")

        c1.new_order("k1", sym, BUY, 60, price="190.00", tif=FOK)

        check(c1.expect("8"), ClOrdID="k1", ExecType="0")
        end = check(c1.expect("8"), ClOrdID="k1", ExecType="4", CumQty="0", LeavesQty="0")
        assert "FOK" in end[58]
        check(state(c2, "s1", sym, SELL), OrdStatus="0", CumQty="0", LeavesQty="50")

    def test_fok_order_with_enough_liquidity_fills_in_full_across_levels(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        rest(c2, "s1", sym, SELL, 50, "190.00")
        rest(c2, "s2", sym, SELL, 50, "190.01")

        c1.new_order("k1", sym, BUY, 60, price="190.01", tif=FOK)

        check(c1.expect("8"), ClOrdID="k1", ExecType="0")
        first = check(c1.expect("8"), ExecType="F", OrdStatus="1", LastQty="50")
        assert px(first, 31) == Decimal("190.00")
        done = check(c1.expect("8"), ExecType="F", OrdStatus="2", LastQty="10", CumQty="60")
        assert px(done, 31) == Decimal("190.01")
        check(state(c2, "s2", sym, SELL), OrdStatus="1", CumQty="10", LeavesQty="40")


# -- unsupported characteristics, bad and malformed input --------------------------------


UNSUPPORTED = {
    "stop limit IOC": ({"ord_type": "4", "tif": "3"}, {"StopPx": "189.00"}, "TimeInForce(59)=3"),
    "pegged": ({"ord_type": "P"}, {}, "OrdType(40)=P"),
    "at the opening": ({"tif": "2"}, {}, "TimeInForce(59)=2"),
    "expire time without GTD": ({}, {"ExpireTime": "20991231-00:00:00"}, "ExpireTime(126)"),
    "no cross": ({}, {"ExecInst": "A"}, "ExecInst(18)=A"),
    "post only IOC": ({"tif": "3"}, {"ExecInst": "6"}, "ExecInst(18)=6"),
    "iceberg IOC": ({"tif": "3"}, {"MaxFloor": "10"}, "MaxFloor(111)"),
    "minimum quantity on a day order": ({}, {"MinQty": "10"}, "MinQty(110)"),
    "sell short": ({"side": "5"}, {}, "Side(54)=5"),
    "market with a price": ({"ord_type": MARKET}, {}, "Price(44)"),
}


BAD_INPUT = {
    # case: (symbol or None for the test's own, qty, price, OrdRejReason, words of the Text)
    "unknown symbol": ("NOPE", 100, "190.00", "1", ["unknown symbol", "NOPE"]),
    "zero quantity": (None, 0, "190.00", "13", ["OrderQty", "0"]),
    "negative quantity": (None, -5, "190.00", "13", ["OrderQty", "-5"]),
    "fractional quantity": (None, "10.5", "190.00", "13", ["OrderQty", "10.5"]),
    "limit without price": (None, 100, None, "99", ["Price(44)", "required"]),
    "price off the tick": (None, 100, "190.005", "99", ["190.005", "tick", "0.01"]),
    "zero price": (None, 100, "0", "99", ["price", "positive"]),
    "too many decimals": (None, 100, "190.000000001", "99", ["Price(44)", "8 decimals"]),
    "outside the collar": (None, 100, "250.00", "99", ["250", "collar", "171", "209"]),
    "over max quantity": (None, 100_001, "190.00", "3", ["100001", "maximum"]),
}

MALFORMED = {
    # case: (fields replacing or removed from a valid D, RefTagID, SessionRejectReason)
    "side not in the dictionary": ({54: "Z"}, "54", "5"),
    "quantity not a number": ({38: "abc"}, "38", "6"),
    "price not a number": ({44: "1.2.3"}, "44", "6"),
    "time in force not in the dictionary": ({59: "Q"}, "59", "5"),
    "order type missing": ({40: None}, "40", "1"),
    "empty ClOrdID": ({11: ""}, "11", "4"),
}

ODD_INPUT: dict[str, list[tuple[int, str]]] = {
    "huge quantity": [(38, "1" + "0" * 40), (44, "190.00")],
    "huge price": [(38, "1"), (44, "9" * 40 + ".99")],
    "negative price": [(38, "1"), (44, "-190.00")],
    "long ClOrdID and Account": [(38, "1"), (44, "195.00"), (1, "A" * 5000)],
    "equals sign and quotes in Account": [(38, "1"), (44, "195.00"), (1, "a=b'\";--")],
    "user-defined tags": [(38, "1"), (44, "195.00"), (5001, "x"), (9999, "=")],
    "unknown self-trade mode": [(38, "1"), (44, "195.00"), (7928, "Q")],
}


class TestRejects:
    """Unsupported, bad and malformed input: a specific answer, the book unchanged (an IOC
    that would have traded with the rejected order finds nothing), the session still up."""

    @pytest.mark.parametrize("case", list(UNSUPPORTED))
    def test_unsupported_order_characteristic_is_rejected_with_reason_11_naming_it(
        self, c1: FixClient, c2: FixClient, sym: str, case: str
    ) -> None:
        terms, extra, named = UNSUPPORTED[case]
        args = {"side": BUY, "ord_type": LIMIT, "tif": DAY, **terms}
        side = args.pop("side")

        c1.new_order("u1", sym, side, 100, price="190.00", **args, **extra)

        rej = check(c1.expect("8"), ClOrdID="u1", ExecType="8", OrdStatus="8", OrdRejReason="11")
        assert named in rej[58] and "not" in rej[58], rej[58]
        assert_consistent(rej)
        assert_no_resting_buy(c2, sym, "190.00")

    def test_reject_of_an_unsupported_side_echoes_the_side_that_was_sent(
        self, c1: FixClient, sym: str
    ) -> None:
        c1.new_order("short", sym, "5", 100, price="190.00")

        rej = check(c1.expect("8"), ClOrdID="short", ExecType="8", OrdRejReason="11")
        check(rej, Side="5")

    @pytest.mark.parametrize("case", list(BAD_INPUT))
    def test_bad_order_is_rejected_with_a_specific_reason_and_the_book_is_unchanged(
        self, c1: FixClient, c2: FixClient, sym: str, case: str
    ) -> None:
        symbol, qty, price, reason, words = BAD_INPUT[case]

        c1.new_order("bad", symbol or sym, BUY, qty, price=price)

        rej = check(c1.expect("8"), ClOrdID="bad", ExecType="8", OrdStatus="8")
        check(rej, OrdRejReason=reason)
        for word in words:
            assert word in rej[58], f"{word!r} not in Text {rej[58]!r}"
        assert rej[37] and rej[17]
        assert_no_resting_buy(c2, sym, "190.00")

    def test_duplicate_live_cl_ord_id_is_rejected_and_the_first_order_is_untouched(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        first = rest(c1, "dup", sym, BUY, 100, "185.00")

        c1.new_order("dup", sym, BUY, 100, price="190.00")

        rej = check(c1.expect("8"), ClOrdID="dup", ExecType="8", OrdStatus="8", OrdRejReason="6")
        assert "dup" in rej[58] and "already used" in rej[58]
        assert rej[37] != first[37]
        assert_no_resting_buy(c2, sym, "190.00")  # the duplicate's price would have traded
        check(state(c1, "dup", sym, BUY), OrderID=first[37], OrdStatus="0", LeavesQty="100")
        c1.cancel("dup-x", "dup", sym, BUY)
        check(c1.expect("8"), OrderID=first[37], ExecType="4")

    @pytest.mark.parametrize("case", list(MALFORMED))
    def test_malformed_fix_gets_a_session_reject_and_the_session_stays_up(
        self, c1: FixClient, c2: FixClient, sym: str, case: str
    ) -> None:
        changes, ref_tag, reason = MALFORMED[case]
        fields = {11: "m1", 55: sym, 54: BUY, 60: c1.utc_now(), 40: LIMIT, 38: "100"}
        fields |= {44: "190.00", 59: DAY}
        for tag, value in changes.items():
            if value is None:
                del fields[tag]
            else:
                fields[tag] = value

        seq = c1.send("D", fields)

        reject = c1.wait_for(lambda m: m.get(35) in ("3", "8", "9", "j"), 5, "the answer")
        check(reject, MsgType="3", RefSeqNum=str(seq), RefTagID=ref_tag)
        check(reject, SessionRejectReason=reason)
        assert_no_resting_buy(c2, sym, "190.00")
        rest(c1, "ok", sym, BUY, 1, "190.00")  # the same session still trades
        c2.new_order("s1", sym, SELL, 1, price="190.00")
        check(c1.expect("8"), ClOrdID="ok", ExecType="F", OrdStatus="2")

    @pytest.mark.parametrize("case", list(ODD_INPUT))
    def test_odd_but_well_formed_input_gets_an_answer_and_trading_goes_on(
        self, c1: FixClient, c2: FixClient, sym: str, case: str
    ) -> None:
        cl = "odd-" + "x" * 3000 if "ClOrdID" in case else "odd"
        fields = [(11, cl), (55, sym), (54, SELL), (60, c1.utc_now())]

        c1.send("D", [*fields, (40, LIMIT), *ODD_INPUT[case]])

        answer = c1.wait_for(lambda m: m.get(35) in ("3", "8", "j"), 5, "an answer")
        if answer[35] == "8":
            assert answer[11] == cl[:64]  # an id past the limit is echoed cut (fix/bounds.py)
            assert answer[150] in ("0", "8"), describe(answer)
            if answer[150] == "8":
                check(answer, OrdStatus="8")
                assert answer.get(58)
        # Both sessions still trade with each other (under the odd order, if it rests).
        rest(c1, "buy", sym, BUY, 7, "190.00")
        c2.new_order("sell", sym, SELL, 7, price="190.00")
        check(report(c2, "sell"), ExecType="0")
        check(report(c2, "sell"), ExecType="F", OrdStatus="2", LastQty="7")
        check(report(c1, "buy"), ExecType="F", OrdStatus="2", LastQty="7")

    def test_unsupported_message_type_gets_a_business_reject_and_the_session_stays_up(
        self, c1: FixClient, sym: str
    ) -> None:
        seq = c1.send("R", [(131, "q-1"), (146, "1"), (55, sym)])  # QuoteRequest

        answer = c1.wait_for(lambda m: m.get(35) in ("3", "j"), 5, "a reject")
        check(answer, MsgType="j", RefSeqNum=str(seq), RefMsgType="R", BusinessRejectReason="3")
        rest(c1, "ok", sym, BUY, 1, "190.00")

    def test_garbage_on_one_connection_does_not_disturb_another_session(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        with socket.create_connection(("127.0.0.1", c1.port), timeout=5) as junk:
            junk.sendall(b"8=FIX.4.4\x019=5\x0135=D\x01garbage\x00\xff\x01" * 3 + b"\x00" * 64)

        rest(c1, "b1", sym, BUY, 1, "190.00")
        c2.new_order("s1", sym, SELL, 1, price="190.00")

        check(report(c2, "s1"), ExecType="0")
        check(report(c2, "s1"), ExecType="F", OrdStatus="2")
        check(report(c1, "b1"), ExecType="F", OrdStatus="2")


# -- price-time priority, partial fills, both sides ------------------------------------------


class TestMatching:
    """Price-time priority, trades at the resting price, partial fills, both sides told."""

    def test_best_price_trades_first_then_the_earliest_order_at_that_price(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        a = rest(c2, "a", sym, SELL, 50, "190.02")
        b = rest(c2, "b", sym, SELL, 50, "190.01")
        c = rest(c2, "c", sym, SELL, 50, "190.01")

        c1.new_order("buy", sym, BUY, 120, price="190.02")

        check(c1.expect("8"), ClOrdID="buy", ExecType="0")
        fills = [check(c1.expect("8"), ExecType="F", LastLiquidityInd="2") for _ in range(3)]
        assert [(px(f, 31), f[32]) for f in fills] == [
            (Decimal("190.01"), "50"),  # b: best price, first in time
            (Decimal("190.01"), "50"),  # c: best price, second
            (Decimal("190.02"), "20"),  # a: worse price, last
        ]
        check(fills[-1], OrdStatus="2", CumQty="120", LeavesQty="0")
        assert px(fills[-1], 6) == Decimal("190.01166667")  # (100 x 190.01 + 20 x 190.02) / 120
        passive = [check(c2.expect("8"), ExecType="F", LastLiquidityInd="1") for _ in range(3)]
        assert [p[37] for p in passive] == [b[37], c[37], a[37]]
        check(passive[2], OrdStatus="1", CumQty="20", LeavesQty="30")

    def test_sell_aggressor_trades_at_the_resting_bid_not_its_own_limit(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        rest(c1, "bid", sym, BUY, 100, "190.50")

        c2.new_order("hit", sym, SELL, 30, price="189.00")

        check(c2.expect("8"), ExecType="0")
        fill = check(c2.expect("8"), ClOrdID="hit", ExecType="F", OrdStatus="2", LastQty="30")
        assert px(fill, 31) == px(fill, 6) == Decimal("190.50")
        other = check(c1.expect("8"), ClOrdID="bid", ExecType="F", OrdStatus="1", LastQty="30")
        check(other, CumQty="30", LeavesQty="70")
        assert px(other, 31) == Decimal("190.50")

    def test_partial_fills_accumulate_until_the_order_is_filled(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        rest(c1, "bid", sym, BUY, 100, "190.00")

        for n, (qty, cum) in enumerate([(30, 30), (45, 75), (25, 100)]):
            c2.new_order(f"s{n}", sym, SELL, qty, price="190.00")
            check(c2.expect("8"), ExecType="0")
            check(c2.expect("8"), ExecType="F", OrdStatus="2", LastQty=str(qty))
            fill = check(c1.expect("8"), ClOrdID="bid", ExecType="F", LastQty=str(qty))
            check(fill, CumQty=str(cum), LeavesQty=str(100 - cum))
            check(fill, OrdStatus="2" if cum == 100 else "1")
            assert_consistent(fill)

    def test_exec_ids_and_order_ids_are_unique_across_the_venue(
        self, c1: FixClient, c2: FixClient, c3: FixClient, sym: str
    ) -> None:
        rest(c2, "s1", sym, SELL, 100, "190.00")
        rest(c1, "b1", sym, BUY, 10, "189.00")
        c1.new_order("b2", sym, BUY, 40, price="190.00")  # 40 from s1
        check(c1.wait_for(lambda m: m.get(150) == "F", 5, "fill"), ClOrdID="b2", OrdStatus="2")
        c3.new_order("b3", sym, BUY, 40, price="190.00")  # 40 from s1 (FIX 4.2)
        check(c3.wait_for(lambda m: m.get(32) == "40", 5, "fill"), ClOrdID="b3", OrdStatus="2")
        c1.new_order("b4", sym, BUY, 40, price="190.00", tif=IOC)  # the last 20, 20 canceled
        c1.cancel("b1c", "b1", sym, BUY)

        state(c1, "b1c", sym, BUY)  # barriers: all reports have arrived
        state(c2, "s1", sym, SELL)
        state(c3, "b3", sym, BUY)

        reports = exec_reports(c1, c2, c3)
        # c1: 3 acks, 2 fills, IOC remainder, cancel, status; c2: ack, 3 fills, status; c3: 3.
        assert len(reports) == 8 + 5 + 3
        exec_ids = [m[17] for m in reports]
        assert len(set(exec_ids)) == len(exec_ids)
        assert len({m[37] for m in reports}) == 5  # s1, b1, b2, b3, b4
        assert len({m[37] for m in reports if m[11] in ("b1", "b1c")}) == 1
        for m in reports:
            assert_consistent(m)


# -- FIX 4.2 ---------------------------------------------------------------------------------


class TestFix42:
    """CLIENT3 speaks FIX 4.2: ExecType 1/2 for fills and ExecTransType on every report."""

    def test_fix42_session_gets_fills_as_exec_type_1_and_2_with_exec_trans_type_0(
        self, c2: FixClient, c3: FixClient, sym: str
    ) -> None:
        ack = check(rest(c3, "b", sym, BUY, 100, "190.00"), ExecTransType="0")
        assert ack[8] == "FIX.4.2"

        c2.new_order("s1", sym, SELL, 40, price="190.00")
        partial = check(c3.expect("8"), ClOrdID="b", ExecType="1", OrdStatus="1", ExecTransType="0")
        check(partial, LastShares="40", CumQty="40", LeavesQty="60")
        c2.new_order("s2", sym, SELL, 60, price="189.99")
        full = check(c3.expect("8"), ClOrdID="b", ExecType="2", OrdStatus="2", ExecTransType="0")
        check(full, LastShares="60", CumQty="100", LeavesQty="0")

        assert px(partial, 31) == px(full, 31) == px(full, 6) == Decimal("190.00")
        assert "F" not in {m.get(150) for m in c3.received}
        # The FIX 4.4 counterparty still gets ExecType F for the same trades.
        for cl in ("s1", "s2"):
            check(c2.expect("8"), ClOrdID=cl, ExecType="0")
            check(c2.expect("8"), ClOrdID=cl, ExecType="F", OrdStatus="2")

    def test_fix42_cancel_replace_and_status_carry_exec_trans_type(
        self, c3: FixClient, sym: str
    ) -> None:
        rest(c3, "b", sym, BUY, 100, "190.00")

        c3.replace("b2", "b", sym, BUY, 80, price="190.00")
        replaced = check(c3.expect("8"), ExecType="5", OrdStatus="5", ExecTransType="0")
        check(replaced, ClOrdID="b2", OrigClOrdID="b", OrderQty="80", LeavesQty="80")
        c3.status("b2", sym, BUY)
        check(c3.expect("8"), ClOrdID="b2", ExecTransType="3", OrdStatus="0", LeavesQty="80")
        c3.cancel("b3", "b2", sym, BUY)
        canceled = check(c3.expect("8"), ExecType="4", OrdStatus="4", ExecTransType="0")
        check(canceled, ClOrdID="b3", OrigClOrdID="b2", LeavesQty="0")


# -- cancel ----------------------------------------------------------------------------------


class TestCancel:
    """OrderCancelRequest: Canceled reports and OrderCancelRejects."""

    def test_cancel_reports_canceled_with_new_and_original_cl_ord_ids_and_empties_the_book(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        ack = rest(c1, "b", sym, BUY, 100, "190.00")

        c1.cancel("b-x", "b", sym, BUY)

        done = check(c1.expect("8"), ExecType="4", OrdStatus="4", ClOrdID="b-x", OrigClOrdID="b")
        check(done, OrderID=ack[37], CumQty="0", LeavesQty="0", OrderQty="100")
        assert done[17] != ack[17]
        c2.new_order("s", sym, SELL, 100, price="190.00")
        check(c2.expect("8"), ExecType="0")
        check(state(c2, "s", sym, SELL), OrdStatus="0", CumQty="0")  # nothing to trade with

    def test_cancel_of_a_partially_filled_order_cancels_the_remainder(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        rest(c1, "b", sym, BUY, 100, "190.00")
        c2.new_order("s", sym, SELL, 30, price="190.00")
        check(c1.expect("8"), ExecType="F", OrdStatus="1")

        c1.cancel("b-x", "b", sym, BUY)

        done = check(c1.expect("8"), ExecType="4", OrdStatus="4", CumQty="30", LeavesQty="0")
        assert px(done, 6) == Decimal("190.00")

    def test_cancel_of_an_unknown_order_is_rejected_as_unknown(
        self, c1: FixClient, sym: str
    ) -> None:
        c1.cancel("x1", "never", sym, BUY)

        rej = check(c1.expect("9"), ClOrdID="x1", OrigClOrdID="never")
        check(rej, CxlRejReason="1", CxlRejResponseTo="1")
        assert "unknown order never" in rej[58]

    @pytest.mark.parametrize("how", ["filled", "canceled"])
    def test_cancel_of_a_finished_order_is_rejected_as_too_late(
        self, c1: FixClient, c2: FixClient, how: str, sym: str
    ) -> None:
        ack = rest(c1, "b", sym, BUY, 10, "190.00")
        if how == "filled":
            c2.new_order("s", sym, SELL, 10, price="190.00")
            check(c1.expect("8"), ExecType="F", OrdStatus="2")
            cl, status = "b", "2"
        else:
            c1.cancel("b-x", "b", sym, BUY)
            check(c1.expect("8"), ExecType="4")
            cl, status = "b-x", "4"

        c1.cancel("late", cl, sym, BUY)

        rej = check(c1.expect("9"), ClOrdID="late", OrigClOrdID=cl, OrderID=ack[37])
        check(rej, CxlRejReason="0", CxlRejResponseTo="1", OrdStatus=status)
        assert how in rej[58]

    @pytest.mark.parametrize("by", ["ClOrdID", "OrderID"])
    def test_cancel_of_another_firms_order_is_rejected_and_the_order_lives_on(
        self, c1: FixClient, c2: FixClient, by: str, sym: str
    ) -> None:
        ack = rest(c1, "b", sym, BUY, 100, "190.00")
        order_id = ack[37] if by == "OrderID" else None

        c2.cancel("steal", "b", sym, BUY, order_id=order_id)

        rej = check(c2.expect("9"), ClOrdID="steal", CxlRejReason="1", CxlRejResponseTo="1")
        assert rej[37] != ack[37]  # tells FIRM2 nothing about FIRM1's order
        before = len(c1.received)
        answer = check(state(c1, "b", sym, BUY), OrdStatus="0", LeavesQty="100")
        assert [m for m in c1.received[before:] if m.get(35) in ("8", "9")] == [answer]

    def test_cancel_by_order_id_from_a_sibling_session_is_unknown_and_changes_nothing(
        self, c1: FixClient, c3: FixClient, sym: str
    ) -> None:
        first = rest(c1, "o1", sym, BUY, 100, "189.00")
        rest(c1, "o2", sym, BUY, 100, "188.00")

        # CLIENT3 is FIRM1 too; a session acts on its own orders only.
        c3.cancel("o2", "unknown-to-c3", sym, BUY, order_id=first[37])

        rej = check(c3.expect("9"), ClOrdID="o2", CxlRejReason="1", CxlRejResponseTo="1")
        assert rej[37] != first[37]
        for cl in ("o1", "o2"):  # both of CLIENT1's orders still answer to their ClOrdIDs
            c1.cancel(f"{cl}-x", cl, sym, BUY)
            check(c1.expect("8"), ClOrdID=f"{cl}-x", OrigClOrdID=cl, ExecType="4")


# -- cancel/replace --------------------------------------------------------------------------


class TestReplace:
    """OrderCancelReplaceRequest: priority kept or lost, crossing, finishing, rejects."""

    @pytest.mark.parametrize(
        ("qty", "tif"), [(50, DAY), (100, GTC)], ids=["quantity-down", "tif-change"]
    )
    def test_replace_with_lower_quantity_or_new_tif_keeps_time_priority(
        self, c1: FixClient, c2: FixClient, qty: int, tif: str, sym: str
    ) -> None:
        first = rest(c2, "a", sym, SELL, 100, "190.05")
        rest(c2, "b", sym, SELL, 100, "190.05")

        c2.replace("a2", "a", sym, SELL, qty, price="190.05", tif=tif)
        replaced = check(c2.expect("8"), ExecType="5", OrdStatus="0", ClOrdID="a2", OrigClOrdID="a")
        check(replaced, OrderID=first[37], OrderQty=str(qty), LeavesQty=str(qty), TimeInForce=tif)
        c1.new_order("hit", sym, BUY, qty, price="190.05")  # a third party takes the front

        check(c2.expect("8"), ClOrdID="a2", OrderID=first[37], ExecType="F", OrdStatus="2")
        check(state(c2, "b", sym, SELL), OrdStatus="0", LeavesQty="100")

    @pytest.mark.parametrize(
        ("was", "qty", "price"),
        [("190.04", 150, "190.04"), ("190.05", 100, "190.04")],
        ids=["quantity-up", "price-change"],
    )
    def test_replace_with_higher_quantity_or_new_price_loses_time_priority(
        self, c1: FixClient, c2: FixClient, was: str, qty: int, price: str, sym: str
    ) -> None:
        rest(c2, "a", sym, SELL, 100, was)  # a is older than b
        rest(c2, "b", sym, SELL, 100, "190.04")

        c2.replace("a2", "a", sym, SELL, qty, price=price)
        check(c2.expect("8"), ExecType="5", ClOrdID="a2", OrigClOrdID="a", OrderQty=str(qty))
        c1.new_order("hit", sym, BUY, 100, price="190.04")

        check(c2.expect("8"), ClOrdID="b", ExecType="F", OrdStatus="2")  # b is now first
        check(state(c2, "a2", sym, SELL), OrdStatus="0", CumQty="0", LeavesQty=str(qty))

    def test_replace_that_now_crosses_trades_at_once(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        ack = rest(c1, "b", sym, BUY, 100, "190.00")
        rest(c2, "s", sym, SELL, 60, "190.05")

        c1.replace("b2", "b", sym, BUY, 100, price="190.10")

        check(c1.expect("8"), ExecType="5", ClOrdID="b2", OrigClOrdID="b", OrderID=ack[37])
        fill = check(c1.expect("8"), ClOrdID="b2", ExecType="F", OrdStatus="1", LastQty="60")
        check(fill, CumQty="60", LeavesQty="40", LastLiquidityInd="2")
        assert px(fill, 31) == Decimal("190.05")  # the resting order's price
        check(c2.expect("8"), ClOrdID="s", ExecType="F", OrdStatus="2", LastLiquidityInd="1")
        now = check(state(c1, "b2", sym, BUY), OrdStatus="1", LeavesQty="40")
        assert px(now, 44) == Decimal("190.10")

    def test_replace_to_quantity_at_or_below_cum_qty_finishes_the_order(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        rest(c2, "s", sym, SELL, 100, "190.00")
        c1.new_order("b", sym, BUY, 60, price="190.00")
        check(c2.expect("8"), ClOrdID="s", ExecType="F", CumQty="60", LeavesQty="40")

        c2.replace("s2", "s", sym, SELL, 80, price="190.00")
        check(c2.expect("8"), ExecType="5", OrdStatus="1", OrderQty="80", LeavesQty="20")
        c2.replace("s3", "s2", sym, SELL, 50, price="190.00")

        done = check(c2.expect("8"), ExecType="5", OrdStatus="2", ClOrdID="s3", OrigClOrdID="s2")
        check(done, CumQty="60", LeavesQty="0")
        assert_consistent(done)
        c1.new_order("b2", sym, BUY, 10, price="190.00")
        check(state(c1, "b2", sym, BUY), OrdStatus="0", CumQty="0")  # nothing left to hit
        c2.cancel("s4", "s3", sym, SELL)
        check(c2.expect("9"), CxlRejReason="0", CxlRejResponseTo="1")

    def test_replaced_reports_chain_cl_ord_ids(self, c2: FixClient, sym: str) -> None:
        ack = rest(c2, "v1", sym, SELL, 100, "191.00")

        c2.replace("v2", "v1", sym, SELL, 90, price="191.00")
        c2.replace("v3", "v2", sym, SELL, 90, price="191.10")
        c2.cancel("v4", "v3", sym, SELL)

        chain = [c2.expect("8") for _ in range(3)]
        assert [(m[150], m[11], m[41]) for m in chain] == [
            ("5", "v2", "v1"),
            ("5", "v3", "v2"),
            ("4", "v4", "v3"),
        ]
        assert {m[37] for m in chain} == {ack[37]}
        assert len({m[17] for m in [ack, *chain]}) == 4
        c2.replace("v5", "v1", sym, SELL, 80, price="191.00")  # an old ClOrdID names nothing
        check(c2.expect("9"), ClOrdID="v5", CxlRejResponseTo="2")

    @pytest.mark.parametrize(
        ("change", "word"),
        [
            ({"side": BUY}, "Side"),
            ({"symbol": "MSFT"}, "Symbol"),
            ({"ord_type": MARKET}, "OrdType"),
        ],
        ids=["side", "symbol", "ord-type"],
    )
    def test_replace_changing_side_symbol_or_type_is_rejected_and_the_order_stays(
        self, c2: FixClient, change: dict[str, str], word: str, sym: str
    ) -> None:
        ack = rest(c2, "s", sym, SELL, 100, "190.00")
        terms = {"symbol": sym, "side": SELL, "ord_type": LIMIT} | change
        price = None if terms["ord_type"] == MARKET else "190.00"

        c2.replace("s2", "s", terms["symbol"], terms["side"], 100, price=price,
                   ord_type=terms["ord_type"])  # fmt: skip

        rej = check(c2.expect("9"), ClOrdID="s2", OrigClOrdID="s", CxlRejResponseTo="2")
        check(rej, OrderID=ack[37], OrdStatus="0")
        assert word in rej[58]
        now = check(state(c2, "s", sym, SELL), OrdStatus="0", OrderQty="100", Side=SELL)
        assert (now[55], px(now, 44)) == (sym, Decimal("190.00"))

    def test_replace_of_an_unknown_order_is_rejected_as_unknown(
        self, c1: FixClient, sym: str
    ) -> None:
        c1.replace("r1", "never", sym, BUY, 10, price="190.00")

        check(c1.expect("9"), ClOrdID="r1", CxlRejReason="1", CxlRejResponseTo="2")

    def test_replace_to_a_cl_ord_id_in_use_is_rejected_as_duplicate(
        self, c1: FixClient, sym: str
    ) -> None:
        rest(c1, "a", sym, BUY, 10, "190.00")
        rest(c1, "b", sym, BUY, 10, "189.00")

        c1.replace("b", "a", sym, BUY, 5, price="190.00")

        rej = check(c1.expect("9"), ClOrdID="b", OrigClOrdID="a", CxlRejReason="6")
        check(rej, CxlRejResponseTo="2")
        check(state(c1, "a", sym, BUY), OrderQty="10")


# -- order status ----------------------------------------------------------------------------


class TestStatus:
    """OrderStatusRequest answers."""

    def test_status_request_answers_with_the_orders_current_state(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        ack = rest(c1, "b", sym, BUY, 100, "190.00")
        c2.new_order("s", sym, SELL, 30, price="190.00")
        fill = check(c1.expect("8"), ExecType="F")

        answer = state(c1, "b", sym, BUY)

        check(answer, OrderID=ack[37], OrdStatus="1", CumQty="30", LeavesQty="70", OrderQty="100")
        assert px(answer, 6) == Decimal("190.00") and answer[17] not in (ack[17], fill[17])
        assert_consistent(answer)

    def test_status_request_for_a_finished_order_still_answers(
        self, c1: FixClient, sym: str
    ) -> None:
        rest(c1, "b", sym, BUY, 100, "190.00")
        c1.cancel("b-x", "b", sym, BUY)
        check(c1.expect("8"), ExecType="4")

        check(state(c1, "b-x", sym, BUY), OrdStatus="4", LeavesQty="0", OrigClOrdID="b")

    def test_status_request_for_an_unknown_order_gets_a_clear_answer(
        self, c1: FixClient, c2: FixClient, sym: str
    ) -> None:
        rest(c2, "theirs", sym, SELL, 10, "191.00")

        for cl in ("never", "theirs"):  # another firm's order is unknown here too
            answer = check(state(c1, cl, sym, BUY), OrdStatus="8", OrdRejReason="5")
            assert f"unknown order {cl}" in answer[58]
            assert answer[37] == "NONE"


# -- SQL: what landed there equals what the clients were told --------------------------------


_EXEC_TYPES = {"0": "new", "F": "trade", "4": "canceled", "5": "replaced", "8": "rejected"}
_EXEC_TYPES |= {"I": "status"}


def _exec_type(m: Message) -> str:
    if m[8] == "FIX.4.2":
        if m.get(20) == "3":
            return "status"
        if 32 in m:
            return "trade"
    return _EXEC_TYPES[m[150]]


def _ord_status(m: Message) -> str:
    """OrdStatus as SQL keeps it: FIX 4.2's 5 (Replaced) is the live order's real status."""
    if m[39] == "5":
        return "1" if int(m[14]) else "0"
    return m[39]


def _trading_session(c1: FixClient, c2: FixClient, c3: FixClient) -> dict[str, str]:
    """A morning on AAPL; returns ClOrdID -> OrderID of the orders that traded."""
    ids = {}
    ids["s1"] = rest(c2, "s1", "AAPL", SELL, 100, "190.02")[37]
    ids["s2"] = rest(c2, "s2", "AAPL", SELL, 50, "190.01")[37]
    c1.new_order("b1", "AAPL", BUY, 120, price="190.02")  # 50 @ 190.01 then 70 @ 190.02
    ids["b1"] = check(c1.expect("8"), ClOrdID="b1", ExecType="0")[37]
    check(c1.expect("8"), ExecType="F", LastQty="50")
    check(c1.expect("8"), ExecType="F", LastQty="70", OrdStatus="2")
    ids["b2"] = rest(c3, "b2", "AAPL", BUY, 10, "190.00")[37]
    c2.new_order("s3", "AAPL", SELL, 25, ord_type=MARKET)  # 10 @ 190.00 from CLIENT3
    ids["s3"] = check(report(c2, "s3"), ExecType="0")[37]
    check(c3.expect("8"), ClOrdID="b2", ExecType="2")
    c1.new_order("b3", "AAPL", BUY, 40, price="190.02", tif=IOC)  # 30 @ 190.02, 10 canceled
    ids["b3"] = check(c1.expect("8"), ClOrdID="b3", ExecType="0")[37]
    check(c1.expect("8"), ExecType="F", LastQty="30")
    check(c1.expect("8"), ExecType="4")
    rest(c2, "s4", "AAPL", SELL, 100, "190.10")
    c2.replace("s4b", "s4", "AAPL", SELL, 80, price="190.10")
    c2.cancel("s4c", "s4b", "AAPL", SELL)
    c1.new_order("r1", "AAPL", BUY, 10, price="190.001")  # off the tick
    check(c1.expect("8"), ClOrdID="r1", ExecType="8")
    c1.cancel("x1", "nope", "AAPL", BUY)
    check(c1.expect("9"), ClOrdID="x1")
    c1.new_order("k1", "AAPL", BUY, 100, price="190.10", tif=FOK)  # nothing offered: canceled
    check(c1.expect("8"), ClOrdID="k1", ExecType="0")
    check(c1.expect("8"), ClOrdID="k1", ExecType="4")
    state(c1, "b1", "AAPL", BUY)
    state(c3, "b2", "AAPL", BUY)
    state(c2, "s4c", "AAPL", SELL)
    return ids


def test_trading_session_lands_in_sql_exactly(
    venue: Venue, fix_client_factory: ClientFactory
) -> None:
    c1, c2 = fix_client_factory("CLIENT1"), fix_client_factory("CLIENT2")
    c3 = fix_client_factory("CLIENT3", begin_string="FIX.4.2")
    ids = _trading_session(c1, c2, c3)

    last = venue.wait_until_projected(timeout=10)

    with venue.db.connect() as conn:
        trades = conn.execute(select(Trade).order_by(Trade.trade_id)).all()
        executions = conn.execute(select(Execution).order_by(Execution.exec_id)).all()
        orders = {r.order_id: r for r in conn.execute(select(Order)).all()}
        seqs = conn.execute(select(OrderEvent.seq).order_by(OrderEvent.seq)).scalars().all()
        events = conn.execute(select(OrderEvent.event_type, OrderEvent.text)).all()
        projected = conn.execute(select(ProjectorState.last_seq)).scalar_one()
    reports = exec_reports(c1, c2, c3)

    # trades: exactly the four matches, as the clients were told.
    d = Decimal
    assert [
        (t.symbol, t.price, t.qty, t.notional, t.aggressor_side, t.buy_order_id, t.sell_order_id,
         t.buy_firm, t.sell_firm, t.buy_session, t.sell_session, t.status)
        for t in trades
    ] == [
        ("AAPL", d("190.01"), 50, d("9500.50"), BUY, int(ids["b1"]), int(ids["s2"]),
         "FIRM1", "FIRM2", "CLIENT1", "CLIENT2", "active"),
        ("AAPL", d("190.02"), 70, d("13301.40"), BUY, int(ids["b1"]), int(ids["s1"]),
         "FIRM1", "FIRM2", "CLIENT1", "CLIENT2", "active"),
        ("AAPL", d("190.00"), 10, d("1900.00"), SELL, int(ids["b2"]), int(ids["s3"]),
         "FIRM1", "FIRM2", "CLIENT3", "CLIENT2", "active"),
        ("AAPL", d("190.02"), 30, d("5700.60"), BUY, int(ids["b3"]), int(ids["s1"]),
         "FIRM1", "FIRM2", "CLIENT1", "CLIENT2", "active"),
    ]  # fmt: skip
    fills = [m for m in reports if _exec_type(m) == "trade"]
    told = sorted((int(m[37]), px(m, 31), int(m[32])) for m in fills)
    in_sql = sorted(
        [(t.buy_order_id, t.price, t.qty) for t in trades]
        + [(t.sell_order_id, t.price, t.qty) for t in trades]
    )
    assert told == in_sql
    aggressors = sorted((int(m[37]), m[54]) for m in fills if m.get(851) == "2")
    assert aggressors == sorted(
        (t.buy_order_id if t.aggressor_side == BUY else t.sell_order_id, t.aggressor_side)
        for t in trades
    )

    # executions: one row per ExecutionReport received, keyed by its ExecID.
    assert [e.exec_id for e in executions] == sorted(int(m[17]) for m in reports)
    by_exec = {e.exec_id: e for e in executions}
    for m in reports:
        e = by_exec[int(m[17])]
        assert (e.order_id, e.cl_ord_id, e.orig_cl_ord_id, e.session, e.exec_type) == (
            int(m[37]),
            m[11],
            m.get(41),
            m[56],
            _exec_type(m),
        ), describe(m)
        assert (e.ord_status, e.cum_qty, e.leaves_qty, e.qty, e.avg_px) == (
            _ord_status(m),
            int(m[14]),
            int(m[151]),
            int(m[38]),
            px(m, 6),
        ), describe(m)
        if e.exec_type == "trade":
            assert (e.last_px, e.last_qty) == (px(m, 31), int(m[32]))

    # orders: each order's row is its latest report.
    latest: dict[int, Message] = {}
    for m in sorted(reports, key=lambda m: int(m[17])):
        latest[int(m[37])] = m
    assert set(orders) == set(latest)
    for order_id, m in latest.items():
        o = orders[order_id]
        status = _ord_status(m)
        assert (o.cl_ord_id, o.status, o.qty, o.cum_qty, o.leaves_qty, o.avg_px) == (
            m[11],
            status,
            int(m[38]),
            int(m[14]),
            int(m[151]),
            px(m, 6),
        ), describe(m)
        assert o.price == (px(m, 44) if 44 in m else None)
    assert orders[int(ids["s1"])].status == "2" and orders[int(ids["b3"])].status == "4"

    # order_events: the whole audit trail, seq 1..N without a gap.
    assert seqs == list(range(1, last + 1)) and projected == last
    kinds = [kind for kind, _ in events]
    assert kinds.count("TradeExecuted") == 4
    assert kinds.count("CancelRejected") == 1
    assert ("CancelRejected", "unknown order nope") in events


def test_rejects_and_replaces_land_in_sql_with_their_texts(
    venue: Venue, fix_client_factory: ClientFactory
) -> None:
    c1 = fix_client_factory("CLIENT1")
    rest(c1, "a", "TSLA", BUY, 10, "250.00")
    c1.replace("a2", "a", "TSLA", BUY, 5, price="250.00")
    replaced = check(c1.expect("8"), ExecType="5")
    c1.new_order("bad", "TSLA", BUY, 10, price="250.00", tif="2")
    rejected = check(c1.expect("8"), ClOrdID="bad", ExecType="8")
    c1.replace("a3", "a2", "TSLA", SELL, 5, price="250.00")
    cxl_rej = check(c1.expect("9"), ClOrdID="a3")

    venue.wait_until_projected(timeout=10)

    with venue.db.connect() as conn:
        order = conn.execute(select(Order).where(Order.order_id == int(replaced[37]))).one()
        rej = conn.execute(select(Execution).where(Execution.exec_id == int(rejected[17]))).one()
        audit = conn.execute(
            select(OrderEvent).where(OrderEvent.event_type == "CancelRejected")
        ).one()
        history = conn.execute(
            select(OrderEvent.event_type, OrderEvent.cl_ord_id, OrderEvent.qty)
            .where(OrderEvent.order_id == int(replaced[37]))
            .order_by(OrderEvent.seq)
        ).all()
    assert (order.cl_ord_id, order.orig_cl_ord_id, order.qty, order.status) == ("a2", "a", 5, "0")
    assert (rej.exec_type, rej.ord_status, rej.cl_ord_id, rej.text) == (
        "rejected",
        "8",
        "bad",
        rejected[58],
    )
    assert rej.reject_code is not None
    assert (audit.cl_ord_id, audit.orig_cl_ord_id, audit.text) == ("a3", "a2", cxl_rej[58])
    assert '"2"' in (audit.detail or "")  # CxlRejResponseTo: replace
    assert [tuple(h) for h in history] == [
        ("OrderAccepted", "a", 10),
        ("OrderReplaced", "a2", 5),
        ("CancelRejected", "a3", 5),
    ]


def test_status_answer_for_an_unknown_order_has_its_executions_row(
    venue_factory: Callable[..., Venue], fix_client_factory: ClientFactory
) -> None:
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    answer = state(c1, "never", "AAPL", BUY)

    venue.wait_until_projected(timeout=10)

    with venue.db.connect() as conn:
        ids = conn.execute(select(Execution.exec_id)).scalars().all()
    assert int(answer[17]) in ids


# -- input that must not break the venue -----------------------------------------------------


def _stop_even_if_broken(venue: Venue) -> None:
    """Stop a venue whose stop() may raise, without leaving its processes behind."""
    try:
        venue.stop()
    except Exception:
        if venue.journal is not None:
            venue.journal.close()
        venue.projection.stop(timeout=10)
        venue.gateway.close()
        venue.db.dispose()
        raise


def test_cl_ord_id_that_is_not_utf8_gets_an_answer_and_does_not_wedge_the_venue(
    tmp_path: Path, free_port: int, fix_client_factory: ClientFactory
) -> None:
    venue = Venue(VenueSettings(port=free_port, data_dir=tmp_path / "data"))
    venue.start()
    try:
        c1 = fix_client_factory("CLIENT1")
        fields = [(55, "AAPL"), (54, BUY), (60, c1.utc_now()), (40, LIMIT), (38, "10")]

        c1.send("D", [(11, b"bad\xff"), *fields, (44, "190.00")])

        answer = c1.wait_for(lambda m: m.get(35) in ("3", "8", "j"), 2, "an answer")
        assert answer[35] == "j", describe(answer)
        assert "not valid UTF-8" in answer[58] and answer[372] == "D"
        rest(c1, "fine", "AAPL", BUY, 10, "190.00")
        venue.wait_until_projected(timeout=5)
    finally:
        fix_client_factory.close_all()
        _stop_even_if_broken(venue)
