"""Input past the edge bounds is rejected, named, and changes nothing (issue 16).

The real venue on a free port (SQLite), a FIX client over TCP. Each test rests an order of
its own first, sends the bad message, checks the answer (what kind, which reason code, a
Text that names the field), and then shows that the order did not change: a status request
answers it as it was, and it can still be canceled with a well-formed request.

The limits themselves are in venue/fix/bounds.py and spec/limits.md.
"""

from __future__ import annotations

import itertools
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fix_fixtures import ClientFactory, find_free_port
from fixclient import FixClient, Message, describe

from venue.app import Venue
from venue.config import VenueSettings
from venue.fix import bounds

BUY, SELL = "1", "2"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def shared_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    home: Path = tmp_path_factory.mktemp("malformed")
    venue = Venue(VenueSettings(port=find_free_port(), data_dir=home / "data"))
    venue.start()
    yield venue
    venue.stop()


@pytest.fixture
def c1(shared_venue: Venue) -> Iterator[FixClient]:
    factory = ClientFactory(shared_venue.settings.port)
    client = factory("CLIENT1")
    yield client
    client.logout()
    factory.close_all()


def fresh(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def answer(client: FixClient, cl_ord_id: str, timeout: float = 10.0) -> Message:
    """The next ExecutionReport / OrderCancelReject for cl_ord_id, or a reject (3 or j)."""
    return client.wait_for(
        lambda m: (m.get(35) in ("8", "9") and m.get(11) == cl_ord_id) or m.get(35) in ("3", "j"),
        timeout,
        f"an answer to {cl_ord_id}",
    )


def rest(client: FixClient, price: str = "189.00") -> tuple[str, str]:
    """A resting buy of 10 AAPL; returns (ClOrdID, OrderID)."""
    cl = fresh("r")
    client.new_order(cl, "AAPL", BUY, 10, price=price)
    ack = answer(client, cl)
    assert ack[35] == "8" and ack[150] == "0", describe(ack)
    return cl, ack[37]


def assert_untouched(client: FixClient, cl: str, order_id: str, qty: str = "10") -> None:
    """The order is live with its original terms, and a proper cancel still works."""
    client.status(cl, "AAPL", BUY)
    now = client.wait_for(lambda m: m.get(35) == "8" and m.get(150) == "I", 10, "status")
    assert (now[37], now[39], now[38], now[11]) == (order_id, "0", qty, cl), describe(now)
    done = fresh("x")
    client.cancel(done, cl, "AAPL", BUY)
    canceled = answer(client, done)
    assert canceled[35] == "8" and canceled[150] == "4", describe(canceled)


def assert_cancel_rejected(msg: Message, text: str, reason: str | None = None) -> None:
    assert msg[35] == "9", describe(msg)
    assert msg[58] == text, describe(msg)
    if reason is not None:
        assert msg[102] == reason, describe(msg)
    assert len(msg[58]) <= bounds.MAX_OUT_TEXT


def order_fields(client: FixClient, cl: str | bytes, qty: str = "10") -> list:
    return [
        (11, cl), (55, "AAPL"), (54, BUY), (60, client.utc_now()), (40, "2"), (38, qty),
        (44, "189.00"), (59, "0"),
    ]  # fmt: skip


# -- accepted though they should be rejected ------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        (58, b"free\x00text", "Text(58) contains a control character (0x00)"),
        (11, b"two\x0blines", "ClOrdID(11) contains a control character (0x0B)"),
        (11, b"tab\there", "ClOrdID(11) contains a control character (0x09)"),
        (1, b"acc\x7f", "Account(1) contains a control character (0x7F)"),
        (11, "c" * 65, "ClOrdID(11) too long: 65 characters, at most 64"),
        (58, "t" * 513, "Text(58) too long: 513 characters, at most 512"),
    ],
)
def test_new_order_with_control_characters_or_too_long_fields_is_rejected(
    c1: FixClient, field: int, value: str | bytes, text: str
) -> None:
    cl = fresh("n")
    fields = order_fields(c1, cl)
    if field == 11:
        fields[0] = (11, value)
    else:
        fields.append((field, value))
    c1.send("D", fields)
    echoed = bounds.echo(value.decode()) if isinstance(value, bytes) else value[:64]
    echoed = echoed if field == 11 else cl
    got = answer(c1, echoed)
    assert (got[35], got[150], got[39], got[103]) == ("8", "8", "8", "99"), describe(got)
    assert got[58] == text
    # The answer echoes a cleaned ClOrdID: no control character leaves the venue.
    assert got[11] == echoed and not any(ch < " " for ch in got[11])


@pytest.mark.parametrize(
    ("field", "size"),
    [(11, 10_000), (58, 1_000_000)],
)
def test_message_past_the_maximum_size_is_rejected(c1: FixClient, field: int, size: int) -> None:
    cl = fresh("big")
    fields = order_fields(c1, cl)
    if field == 11:
        fields[0] = (11, "c" * size)
        cl = "c" * bounds.MAX_ID_LENGTH
    else:
        fields.append((58, "t" * size))
    c1.send("D", fields)
    got = answer(c1, cl, timeout=20)
    assert (got[35], got[150]) == ("8", "8"), describe(got)
    assert got[58].startswith("message too large: ") and got[58].endswith(
        f"bytes, at most {bounds.MAX_MESSAGE_BYTES}"
    )
    assert int(got[58].split()[3]) > size


def test_cancel_with_negative_quantity_is_rejected_and_the_order_stays(c1: FixClient) -> None:
    cl, order_id = rest(c1)
    bad = fresh("c")
    c1.cancel(bad, cl, "AAPL", BUY, qty="-5")
    assert_cancel_rejected(answer(c1, bad), "OrderQty(38)=-5 on a cancel request must be positive")
    assert_untouched(c1, cl, order_id)


@pytest.mark.parametrize("order_id", ["abc", "-1", "0", "9" * 40])
@pytest.mark.parametrize("kind", ["cancel", "replace"])
def test_cancel_or_replace_with_malformed_order_id_is_rejected(
    c1: FixClient, order_id: str, kind: str
) -> None:
    cl, real = rest(c1)
    bad = fresh("m")
    if kind == "cancel":
        c1.cancel(bad, cl, "AAPL", BUY, order_id=order_id)
    else:
        c1.replace(bad, cl, "AAPL", BUY, 5, price="189.00", order_id=order_id)
    shown = bounds.short(order_id)
    assert_cancel_rejected(
        answer(c1, bad),
        f"OrderID(37)={shown} is not an OrderID of this venue: "
        f"a whole number from 1 to {bounds.MAX_ORDER_ID}",
        reason="1",
    )
    assert_untouched(c1, cl, real)


@pytest.mark.parametrize("kind", ["cancel", "replace"])
def test_cancel_or_replace_whose_order_id_names_another_order_is_rejected(
    c1: FixClient, kind: str
) -> None:
    cl, real = rest(c1)
    other_cl, other = rest(c1, price="188.00")
    missing = str(int(other) + 1_000_000)
    for wrong in (other, missing):
        bad = fresh("w")
        if kind == "cancel":
            c1.cancel(bad, cl, "AAPL", BUY, order_id=wrong)
        else:
            c1.replace(bad, cl, "AAPL", BUY, 5, price="189.00", order_id=wrong)
        assert_cancel_rejected(
            answer(c1, bad), f"OrderID(37) {wrong} is not the order of ClOrdID {cl}", reason="1"
        )
    assert_untouched(c1, cl, real)
    assert_untouched(c1, other_cl, other)


def test_cancel_with_the_matching_order_id_works(c1: FixClient) -> None:
    cl, real = rest(c1)
    done = fresh("ok")
    c1.cancel(done, cl, "AAPL", BUY, order_id=real)
    got = answer(c1, done)
    assert (got[35], got[150], got[37]) == ("8", "4", real), describe(got)


# -- answered vaguely -----------------------------------------------------------------------


Q = f"quantity out of range: OrderQty(38)={{}}, at most {bounds.MAX_QTY}"
P = f"price out of range: Price(44)={{}}, at most {bounds.MAX_PRICE}"


@pytest.mark.parametrize(
    ("tag", "value", "text"),
    [
        (38, "1" * 30, Q.format("111111111111111111111...")),
        (38, "7" * 400, Q.format("777777777777777777777...")),
        (44, "1" * 30, P.format("111111111111111111111...")),
        (44, "9" * 400 + ".5", P.format("999999999999999999999...")),
        (44, "-" + "9" * 20, P.format("-99999999999999999999")),
    ],
)
def test_absurd_price_or_quantity_is_out_of_range_not_notional(
    c1: FixClient, tag: int, value: str, text: str
) -> None:
    cl = fresh("a")
    fields = [(t, value if t == tag else v) for t, v in order_fields(c1, cl)]
    c1.send("D", fields)
    got = answer(c1, cl)
    assert (got[35], got[150]) == ("8", "8"), describe(got)
    assert got[58] == text
    assert got[103] == ("13" if tag == 38 else "99")


@pytest.mark.parametrize("tag", [38, 44])
def test_a_thousand_digit_number_is_out_of_range_in_a_short_text(c1: FixClient, tag: int) -> None:
    cl = fresh("k")
    fields = [(t, "1" * 1000 if t == tag else v) for t, v in order_fields(c1, cl)]
    c1.send("D", fields)
    got = answer(c1, cl)
    what = "quantity out of range: OrderQty(38)" if tag == 38 else "price out of range: Price(44)"
    assert got[58].startswith(what + "=111111111111111111111..., at most "), describe(got)
    assert len(got[58]) < 100
    if tag == 38:
        assert got[38] == "0"  # the reject does not echo a quantity it cannot hold


def test_replace_with_cl_ord_id_equal_to_orig_says_they_must_differ(c1: FixClient) -> None:
    cl, real = rest(c1)
    c1.replace(cl, cl, "AAPL", BUY, 5, price="189.00")
    assert_cancel_rejected(
        answer(c1, cl), f"ClOrdID(11) must differ from OrigClOrdID(41): both are {cl}", "6"
    )
    assert_untouched(c1, cl, real)


def status_answer(client: FixClient, cl: str) -> Message:
    return client.wait_for(
        lambda m: (m.get(35) == "8" and m.get(11) == cl) or m.get(35) in ("3", "j"), 10, cl
    )


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ([(54, BUY), (55, "AAPL"), (37, "abc")], "OrderID(37)=abc is not an OrderID"),
        ([(54, "9"), (55, "AAPL")], "Side(54)=9 (cross short) is not supported"),
        ([(54, BUY), (55, "AAPL"), (37, "9" * 40)], "OrderID(37)=999999999999999999999..."),
    ],
)
def test_status_request_that_cannot_be_read_names_the_field(
    c1: FixClient, fields: list, text: str
) -> None:
    cl, _ = rest(c1)
    c1.send("H", [(11, cl), *fields])
    got = status_answer(c1, cl)
    assert (got[35], got[150], got[39], got[37]) == ("8", "I", "8", "NONE"), describe(got)
    assert got[58].startswith(text), describe(got)
    assert got[103] == "99"


def test_status_request_without_symbol_names_the_field(c1: FixClient) -> None:
    cl, _ = rest(c1)
    c1.send("H", [(11, cl), (54, BUY)])
    got = status_answer(c1, cl)
    if got[35] == "3":  # QuickFIX's dictionary: required tag missing
        assert (got[371], got[373]) == ("55", "1"), describe(got)
    else:
        assert got[58] == "Symbol(55) is required", describe(got)
        assert got[55] == "[N/A]"  # a FIX field may not be empty


def test_mass_cancel_past_a_bound_is_rejected_and_cancels_nothing(c1: FixClient) -> None:
    cl, real = rest(c1)
    mass = fresh("q")
    c1.send("q", [(11, mass), (530, "1"), (55, b"AA\x00PL"), (60, c1.utc_now())])
    got = c1.wait_for(lambda m: m.get(35) in ("r", "3", "j"), 10, "the mass cancel report")
    assert (got[35], got[11], got[531], got[530]) == ("r", mass, "0", "1"), describe(got)
    assert got[58] == "Symbol(55) contains a control character (0x00)"
    assert_untouched(c1, cl, real)


def test_fix42_session_gets_the_same_bounds_with_fix42_reasons(shared_venue: Venue) -> None:
    factory = ClientFactory(shared_venue.settings.port)
    c3 = factory("CLIENT3", begin_string="FIX.4.2")
    try:
        c3.send("D", [*order_fields(c3, b"a\x00b"), (21, "1")])
        got = answer(c3, "a?b")
        assert (got[35], got[150], got[39], got[103]) == ("8", "8", "8", "0"), describe(got)
        assert got[58] == "ClOrdID(11) contains a control character (0x00)"
    finally:
        c3.logout()
        factory.close_all()


# -- framing damage after logon (the hop: venue/fix/gatekeeper.py) -----------------------


def raw_message(client: FixClient, msg_type: str, fields: list, extra_length: int = 0) -> bytes:
    """A message with the client's next MsgSeqNum, its BodyLength off by extra_length and a
    CheckSum right for the bytes as written (so only the length is wrong)."""
    number = client.next_out
    client.next_out += 1
    body = (
        f"35={msg_type}\x0149={client.sender}\x0156={client.target}\x0134={number}"
        f"\x0152={client.utc_now()}\x01"
    ).encode()
    for tag, value in fields:
        body += b"%d=%s\x01" % (tag, value if isinstance(value, bytes) else str(value).encode())
    head = b"8=%s\x019=%d\x01" % (client.begin_string.encode(), len(body) + extra_length)
    return head + body + b"10=%03d\x01" % (sum(head + body) % 256)


def resend_request(client: FixClient, seq: int, timeout: float) -> Message:
    return client.wait_for(
        lambda m: m.get(35) == "2" and m.get(7) == str(seq), timeout, f"ResendRequest from {seq}"
    )


def wedge(client: FixClient) -> int:
    """Send an order declaring 77 bytes more body than it has (as `9=232` on a 155-byte
    message), then a sound order at once; returns the garbled message's MsgSeqNum."""
    message = raw_message(client, "D", order_fields(client, fresh("wedge")), extra_length=77)
    seq = client.next_out - 1
    client.send_raw(message)
    client.new_order(fresh("after"), "AAPL", BUY, 10, price="189.00")
    return seq


def test_body_length_past_the_message_is_dropped_at_once(
    shared_venue: Venue, c1: FixClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The hop sees the next 8=FIX inside the declared body: the garbled message is dropped,
    the next one passed on, and QuickFIX asks for the gap at once (the test client
    gap-fills it, so the order after it is not processed; a real client resends it)."""
    rest(c1)
    with caplog.at_level(logging.WARNING, logger="venue.fix.gatekeeper"):
        started = time.monotonic()
        seq = wedge(c1)
        resend_request(c1, seq, timeout=3)
        assert time.monotonic() - started < 3
        assert "runs into the next message" in caplog.text
    cl, order_id = rest(c1)  # the session goes on
    assert_untouched(c1, cl, order_id)


def test_raw_newline_is_dropped_before_the_message_log(
    shared_venue: Venue, c1: FixClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A raw LF would forge a line in QuickFIX's FileLog: the hop drops the message."""
    rest(c1)
    cl = fresh("nl")
    with caplog.at_level(logging.WARNING, logger="venue.fix.gatekeeper"):
        message = raw_message(c1, "D", order_fields(c1, cl + "\n20990101-00:00:00.000 : 8=FIX"))
        c1.send_raw(message)
        c1.send("0", [])  # QuickFIX sees the gap at the next message
        resend_request(c1, c1.next_out - 2, timeout=5)
        assert "a raw CR or LF" in caplog.text
    later, order_id = rest(c1)
    assert_untouched(c1, later, order_id)
    logs = list(shared_venue.data_dir.rglob("*-CLIENT1.messages.current.log"))
    assert logs
    text = logs[0].read_bytes()
    assert cl.encode() not in text and b"\n20990101" not in text


def test_order_pipelined_behind_the_logon_is_answered(shared_venue: Venue) -> None:
    """QuickFIX reads a message that came in the same read as the Logon only when more
    bytes arrive; the hop holds it until QuickFIX has answered the Logon."""
    pipelined(shared_venue)


def pipelined(venue: Venue) -> None:
    client = FixClient(venue.settings.port, "CLIENT2", "FIX.4.4", "VENUE", 30)
    client._sock = socket.create_connection(("127.0.0.1", venue.settings.port), 10)
    try:
        logon = raw_message(client, "A", [(98, "0"), (108, "30"), (141, "Y")])
        cl = fresh("piped")
        client.send_raw(logon + raw_message(client, "D", order_fields(client, cl)))
        client.wait_for(lambda m: m.get(35) == "A", 10, "Logon")
        client.logged_on = True
        got = answer(client, cl, timeout=3)
        assert (got[35], got[150]) == ("8", "0"), describe(got)
    finally:
        client.logout()
