"""Pre-trade risk, compliance and access control end to end, from FIX text in to reports out.

Checks that are the kernel's logic run on the in-process harness (harness_factory: the
live venue's decode -> kernel -> journal -> report code, SQL through the projection's own
loop); each behaviour class keeps at least one test on the live venue (venue_factory: real
QuickFIX, real TCP), and what only QuickFIX or the gatekeeper does (logons, passwords, a
second connection, disconnects and the resend after them, a clean stop) is live only.

Each check has an order just inside the limit (accepted) and one just outside (rejected
with the exact OrdRejReason/CxlRejReason and Text), and shows that the reject changed
nothing else: no report to anybody else, no trade, the resting orders as they were. Also:
firm and session isolation, logon credentials, drop-copy sessions' order messages,
self-trade prevention in every mode, mass cancel and cancel on disconnect, with the
reports each side receives. The kernel-level versions of the checks are in test_risk.py;
operator actions through the control channel are in test_control.py.

Demo reference data (fix_config/venue.toml): AAPL reference 190.00 with a 10% collar;
CLIENT1 (FIX 4.4) and CLIENT3 (FIX 4.2) are both FIRM1, CLIENT2 is FIRM2, DROPCOPY is a
drop-copy session. Tests that need small limits write their own reference file.
"""

from __future__ import annotations

import json
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixclient import FixClient, Message
from harness_fixtures import HarnessClient
from sqlalchemy import text
from venue_fixtures import fresh_front_door, shared_venue

from venue import control
from venue.app import Venue
from venue.config import FIX_CONFIG_DIR, VenueSettings
from venue.domain.commands import SessionDisconnected
from venue.fix.auth import hash_password
from venue.testing.harness import Harness

BUY, SELL = "1", "2"
DAY, GTC = "0", "1"
SESSION_LEVEL = ("0", "1", "2", "4")  # heartbeats, test requests, resend and gap fill
COLLAR_TEXT = "price {} outside collar 171-209 (reference 190 +/-10%)"


# -- helpers ----------------------------------------------------------------------------------


def write_reference(path: Path, **tables: dict[str, dict[str, Any]]) -> Path:
    """The demo venue.toml with some entries changed, e.g. instruments={"AAPL": {...}}."""
    data = tomllib.loads((FIX_CONFIG_DIR / "venue.toml").read_text())
    for table, entries in tables.items():
        for name, values in entries.items():
            data[table].setdefault(name, {}).update(values)
    lines = []
    for table, entries in data.items():
        for name, values in entries.items():
            lines.append(f"[{table}.{name}]")
            lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
            lines.append("")
    path.write_text("\n".join(lines))
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


def small_limits(tmp_path: Path, **tables: dict[str, dict[str, Any]]) -> Path:
    """AAPL at reference 100.00 (collar 90.00-110.00) plus the given changes."""
    instruments = {"AAPL": {"reference_price": "100.00", **tables.pop("aapl", {})}}
    return write_reference(tmp_path / "venue.toml", instruments=instruments, **tables)


def sql(venue: Venue | Harness, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query, once SQL holds every event so far."""
    if isinstance(venue, Harness):
        return venue.sql(query, **params)
    venue.wait_until_projected()
    with venue.db.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query), params)]


def eventually(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting until {what}")
        time.sleep(0.02)


def quiet(*clients: FixClient, venue: Venue | None = None) -> None:
    """None of these clients receives any more application messages.

    A positive signal, not a silence: each client's TestRequest is answered (the venue has
    every message the client sent before it), the kernel has released every report of those
    (reports_handed_over), and each client's second TestRequest is answered (it has every
    message handed over for it). On the harness everything is delivered once a call returns.
    """
    live = [c.sender for c in clients if not isinstance(c, HarnessClient)]
    if live and venue is None:
        raise TypeError(f"quiet() of live clients {live} needs their venue")
    seen = {client.sender: client.sync() for client in clients}
    if venue is not None:
        reports_handed_over(venue)
        for client in clients:
            seen[client.sender] += client.sync()
    for sender, messages in seen.items():
        extra = [m for m in messages if m.get(35) not in SESSION_LEVEL]
        assert extra == [], f"{sender} received {extra}"


def rests(client: FixClient, cl: str, symbol: str, side: str, qty: int, price: str, **extra):
    """Enter a limit order that must be accepted and rest untouched; returns its ack."""
    client.new_order(cl, symbol, side, qty, price, **extra)
    return client.expect("8", ClOrdID=cl, ExecType="0", OrdStatus="0", LeavesQty=str(qty))


def new_order_stp(
    client: FixClient, cl: str, symbol: str, side: str, qty: int, price: str, stp: str
) -> None:
    """A limit Day order carrying SelfTradePrevention(7928)."""
    fields = [(11, cl), (55, symbol), (54, side), (60, client.utc_now()), (40, "2")]
    if client.begin_string == "FIX.4.2":
        fields.append((21, "1"))
    fields += [(38, str(qty)), (44, price), (59, DAY), (7928, stp)]
    client.send("D", fields)


def accepted(client: FixClient, cl: str) -> Message:
    return client.expect("8", ClOrdID=cl, ExecType="0", OrdStatus="0")


def rejected(client: FixClient, cl: str, reason: str, why: str) -> Message:
    report = client.expect(
        "8", ClOrdID=cl, ExecType="8", OrdStatus="8", OrdRejReason=reason, Text=why
    )
    assert (report[14], report[151]) == ("0", "0")
    return report


def reports_handed_over(venue: Venue | Harness) -> None:
    """Wait until every report of the commands queued so far is in QuickFIX's hands.

    Venue.execute returns once its command's batch is journaled and its reports released,
    and the kernel takes commands in order; a disconnect of an unknown session is a no-op.
    """
    venue.execute(SessionDisconnected("NOBODY"))


def live_order_ids(venue: Venue | Harness) -> set[int]:
    return set(venue.kernel.live)


def operator(venue: Venue | Harness, action: str, scope: str, key: str = "", **fields: Any) -> dict:
    if isinstance(venue, Harness):
        venue.serve_control()
        venue = venue.venue
    reply = control.send(
        venue.data_dir, "alice", {"action": action, "scope": scope, "key": key, **fields}
    )
    assert reply["ok"], reply
    return reply


class CredentialClient(FixClient):
    """A FixClient whose Logon carries extra fields (Username 553, Password 554)."""

    logon_fields: list[tuple[int, str]] = []

    def send(self, msg_type: str, fields: Any = (), **kwargs: Any) -> int:
        if msg_type == "A":
            fields = list(fields) + self.logon_fields
        return super().send(msg_type, fields, **kwargs)

    @classmethod
    def logon(cls, port: int, sender: str, fields: list[tuple[int, str]]) -> CredentialClient:
        client = cls(port, sender, "FIX.4.4", "VENUE", 30)
        client.logon_fields = fields
        client.reconnect(reset=True)
        return client


# -- price collar -----------------------------------------------------------------------------


def test_collar_accepts_the_band_edges_and_rejects_one_tick_outside(
    venue_factory, fix_client_factory
):
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")

    c1.new_order("low-out", "AAPL", BUY, 100, "170.99")
    rejected(c1, "low-out", "99", COLLAR_TEXT.format("170.99"))
    rests(c1, "low-in", "AAPL", BUY, 100, "171.00")
    c1.new_order("high-out", "AAPL", SELL, 100, "209.01")
    rejected(c1, "high-out", "99", COLLAR_TEXT.format("209.01"))
    rests(c1, "high-in", "AAPL", SELL, 100, "209.00")

    quiet(c1, c2, venue=venue)
    assert len(live_order_ids(venue)) == 2
    assert sql(
        venue, "SELECT cl_ord_id, ord_status, reject_code FROM executions ORDER BY exec_id"
    ) == [
        ("low-out", "8", 2002),
        ("low-in", "0", None),
        ("high-out", "8", 2002),
        ("high-in", "0", None),
    ]
    assert sql(venue, "SELECT count(*) FROM trades") == [(0,)]


def test_collar_reject_on_fix42_carries_ord_rej_reason_0(harness_factory, harness_client_factory):
    harness_factory()
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")

    c3.new_order("out", "AAPL", SELL, 100, "209.01")

    report = rejected(c3, "out", "0", COLLAR_TEXT.format("209.01"))
    assert report[20] == "0"


def test_collar_moves_with_the_last_trade(harness_factory, harness_client_factory):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")
    rests(c1, "s", "AAPL", SELL, 100, "200.00")
    c2.new_order("b", "AAPL", BUY, 100, "200.00")
    accepted(c2, "b")
    c2.expect("8", ClOrdID="b", ExecType="F", LastPx="200", OrdStatus="2")
    c1.expect("8", ClOrdID="s", ExecType="F", LastPx="200", OrdStatus="2")
    band = "price {} outside collar 180-220 (reference 200 +/-10%)"

    # 209.01 was outside the band around the configured 190.00; 171.00 was inside.
    rests(c2, "high-in", "AAPL", SELL, 10, "220.00")
    c2.new_order("high-out", "AAPL", SELL, 10, "220.01")
    rejected(c2, "high-out", "99", band.format("220.01"))
    rests(c2, "low-in", "AAPL", BUY, 10, "180.00")
    c2.new_order("low-out", "AAPL", BUY, 10, "179.99")
    rejected(c2, "low-out", "99", band.format("179.99"))

    quiet(c1, c2)
    assert len(live_order_ids(venue)) == 2


def test_replace_outside_the_collar_is_rejected_and_the_order_keeps_its_terms(
    harness_factory, harness_client_factory
):
    harness_factory()
    c1 = harness_client_factory("CLIENT1")
    ack = rests(c1, "a", "AAPL", BUY, 100, "180.00")

    c1.replace("a2", "a", "AAPL", BUY, 100, "170.99")

    c1.expect(
        "9", ClOrdID="a2", OrigClOrdID="a", OrderID=ack[37], OrdStatus="0",
        CxlRejResponseTo="2", CxlRejReason="99", Text=COLLAR_TEXT.format("170.99"),
    )  # fmt: skip
    c1.status("a", "AAPL", BUY)
    c1.expect("8", ClOrdID="a", ExecType="I", OrdStatus="0", Price="180", LeavesQty="100")


# -- instrument limits ------------------------------------------------------------------------


def test_max_order_quantity_and_notional_at_and_one_step_over(
    tmp_path, harness_factory, harness_client_factory
):
    reference = small_limits(tmp_path, aapl={"max_order_qty": 1000, "max_order_notional": "100000"})
    venue = harness_factory(reference_config=reference)
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")

    rests(c1, "qty-in", "AAPL", BUY, 1000, "90.00")
    c1.new_order("qty-out", "AAPL", BUY, 1001, "90.00")
    rejected(c1, "qty-out", "3", "OrderQty 1001 exceeds the maximum 1000 for AAPL")
    rests(c1, "notional-in", "AAPL", BUY, 1000, "100.00")
    c1.new_order("notional-out", "AAPL", BUY, 1000, "100.01")
    rejected(
        c1, "notional-out", "3",
        "order notional 100,010.00 exceeds the maximum 100,000.00 for AAPL",
    )  # fmt: skip
    c1.replace("qty-up", "qty-in", "AAPL", BUY, 1001, "90.00")
    c1.expect(
        "9", ClOrdID="qty-up", OrigClOrdID="qty-in", OrdStatus="0", CxlRejResponseTo="2",
        CxlRejReason="99", Text="OrderQty 1001 exceeds the maximum 1000 for AAPL",
    )  # fmt: skip

    quiet(c1, c2)
    assert sql(venue, "SELECT cl_ord_id, qty, status FROM orders ORDER BY order_id") == [
        ("qty-in", 1000, "0"),
        ("qty-out", 1001, "8"),
        ("notional-in", 1000, "0"),
        ("notional-out", 1000, "8"),
    ]


def test_restricted_instrument_rejects_orders_until_the_restriction_is_lifted(
    tmp_path, venue_factory, fix_client_factory
):
    reference = write_reference(tmp_path / "venue.toml", instruments={"IBM": {"restricted": True}})
    venue = venue_factory(reference_config=reference)
    c1 = fix_client_factory("CLIENT1")
    c3 = fix_client_factory("CLIENT3", begin_string="FIX.4.2")
    why = "IBM is restricted: no new orders accepted"

    c1.new_order("r1", "IBM", BUY, 100, "180.00")
    rejected(c1, "r1", "0", why)
    c3.new_order("r3", "IBM", SELL, 100, "180.00")
    rejected(c3, "r3", "0", why)
    rests(c1, "other", "AAPL", BUY, 100, "180.00")  # other instruments trade as usual

    operator(venue, "set_limit", "instrument", "IBM", field="restricted", value="no")
    rests(c1, "r1-again", "IBM", BUY, 100, "180.00")
    operator(venue, "set_limit", "instrument", "IBM", field="restricted", value="yes")
    c1.replace("r1-up", "r1-again", "IBM", BUY, 200, "180.00")
    c1.expect("9", ClOrdID="r1-up", OrdStatus="0", CxlRejReason="2", Text=why)
    c1.status("r1-again", "IBM", BUY)  # the resting order stays
    c1.expect("8", ClOrdID="r1-again", OrdStatus="0", LeavesQty="100")
    quiet(c1, c3, venue=venue)


# -- firm credit ------------------------------------------------------------------------------


def test_credit_limit_counts_open_and_executed_notional_of_the_firm(
    tmp_path, harness_factory, harness_client_factory
):
    reference = small_limits(tmp_path, firms={"FIRM2": {"credit_limit": "100000"}})
    venue = harness_factory(reference_config=reference)
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")
    rests(c2, "b1", "AAPL", BUY, 400, "100.00")  # open 40,000
    c1.new_order("s1", "AAPL", SELL, 400, "100.00")  # now executed 40,000, open 0
    accepted(c1, "s1")
    c1.expect("8", ClOrdID="s1", ExecType="F", OrdStatus="2")
    c2.expect("8", ClOrdID="b1", ExecType="F", OrdStatus="2")

    rests(c2, "b2", "AAPL", BUY, 600, "100.00")  # 40,000 + 60,000 = the limit exactly
    c2.new_order("b3", "AAPL", BUY, 1, "99.00")
    rejected(
        c2, "b3", "3",
        "credit limit of FIRM2 exceeded: used 100,000.00 + order 99.00 > limit 100,000.00",
    )  # fmt: skip
    rests(c1, "other-firm", "AAPL", BUY, 1, "99.00")  # FIRM1's credit is its own

    # Canceling releases the open notional; the executed notional stays for the day.
    c2.cancel("b2-x", "b2", "AAPL", BUY)
    c2.expect("8", ClOrdID="b2-x", ExecType="4", OrdStatus="4")
    rests(c2, "b4", "AAPL", BUY, 600, "100.00")
    c2.new_order("b5", "AAPL", BUY, 1, "99.00")
    rejected(
        c2, "b5", "3",
        "credit limit of FIRM2 exceeded: used 100,000.00 + order 99.00 > limit 100,000.00",
    )  # fmt: skip
    quiet(c1)
    assert sql(venue, "SELECT count(*) FROM trades") == [(1,)]

    # A new trading day: the Day order expires and the traded notional counts from zero.
    venue.end_of_day()
    c2.expect("8", ClOrdID="b4", ExecType="C", OrdStatus="C")
    c1.expect("8", ClOrdID="other-firm", ExecType="C", OrdStatus="C")
    rests(c2, "next-day", "AAPL", BUY, 1000, "100.00")
    quiet(c1, c2)


# -- throttle ---------------------------------------------------------------------------------


def test_throttle_rejects_the_order_over_the_per_session_limit(
    tmp_path, harness_factory, harness_client_factory
):
    """On the harness: the window is a second of the injected clock, not of the test's."""
    reference = write_reference(
        tmp_path / "venue.toml", sessions={"CLIENT1": {"max_orders_per_second": 3}}
    )
    venue = harness_factory(reference_config=reference)
    c1 = harness_client_factory("CLIENT1")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")

    for n in range(4):  # one burst, well within a second
        c1.new_order(f"o{n}", "AAPL", BUY, 10, "180.00")
    for n in range(3):
        accepted(c1, f"o{n}")
    rejected(c1, "o3", "99", "throttle: more than 3 order messages per second")
    rests(c3, "same-firm", "AAPL", BUY, 10, "180.00")  # the limit is per session
    c1.cancel("o0-x", "o0", "AAPL", BUY)  # cancels are never throttled
    c1.expect("8", ClOrdID="o0-x", ExecType="4", OrdStatus="4")

    venue.clock.advance(0.999)
    c1.new_order("too-soon", "AAPL", BUY, 10, "180.00")
    rejected(c1, "too-soon", "99", "throttle: more than 3 order messages per second")
    venue.clock.advance(0.002)  # a second after the burst
    rests(c1, "later", "AAPL", BUY, 10, "180.00")
    quiet(c1, c3)


# -- firm isolation ---------------------------------------------------------------------------


def test_another_firm_cannot_cancel_replace_or_query_an_order_and_the_attempt_is_audited(
    venue_factory, fix_client_factory
):
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")
    order_id = rests(c1, "mine", "AAPL", BUY, 100, "180.00")[37]

    c2.cancel("x1", "mine", "AAPL", BUY)
    c2.expect(
        "9", ClOrdID="x1", OrigClOrdID="mine", OrderID="NONE", OrdStatus="8",
        CxlRejResponseTo="1", CxlRejReason="1", Text="unknown order mine",
    )  # fmt: skip
    c2.cancel("x2", "mine", "AAPL", BUY, order_id=order_id)
    c2.expect("9", ClOrdID="x2", OrderID="NONE", CxlRejReason="1", Text="unknown order mine")
    c2.replace("x3", "mine", "AAPL", BUY, 50, "181.00", order_id=order_id)
    c2.expect(
        "9", ClOrdID="x3", OrderID="NONE", CxlRejResponseTo="2", CxlRejReason="1",
        Text="unknown order mine",
    )  # fmt: skip
    c2.status("mine", "AAPL", BUY, order_id=order_id)
    c2.expect(
        "8", ClOrdID="mine", OrderID="NONE", ExecType="I", OrdStatus="8", OrdRejReason="5",
        Text="unknown order mine",
    )  # fmt: skip

    quiet(c1, c2, venue=venue)
    c1.status("mine", "AAPL", BUY)
    c1.expect("8", ClOrdID="mine", OrderID=order_id, OrdStatus="0", LeavesQty="100", Price="180")
    audit = sql(
        venue,
        "SELECT event_type, session, firm, order_id, cl_ord_id, orig_cl_ord_id, reject_code "
        "FROM order_events WHERE session = 'CLIENT2' ORDER BY seq",
    )
    assert audit == [
        ("CancelRejected", "CLIENT2", "FIRM2", None, "x1", "mine", 3001),
        ("CancelRejected", "CLIENT2", "FIRM2", None, "x2", "mine", 3001),
        ("CancelRejected", "CLIENT2", "FIRM2", None, "x3", "mine", 3001),
        ("OrderStatusReported", "CLIENT2", "FIRM2", None, "mine", None, None),
    ]


def test_same_firm_session_cannot_cancel_replace_or_query_an_order_by_cl_ord_id_or_order_id(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")
    order_id = rests(c1, "mine", "AAPL", BUY, 100, "180.00")[37]

    c3.cancel("x1", "mine", "AAPL", BUY)
    c3.expect("9", ClOrdID="x1", OrderID="NONE", CxlRejReason="1", Text="unknown order mine")
    c3.cancel("x2", "mine", "AAPL", BUY, order_id=order_id)
    c3.expect("9", ClOrdID="x2", OrderID="NONE", CxlRejReason="1", Text="unknown order mine")
    c3.replace("x3", "mine", "AAPL", BUY, 50, "181.00", order_id=order_id)
    c3.expect(
        "9", ClOrdID="x3", OrderID="NONE", OrdStatus="8", CxlRejResponseTo="2",
        CxlRejReason="1", Text="unknown order mine",
    )  # fmt: skip
    c3.status("q1", "AAPL", BUY, order_id=order_id)
    c3.expect(
        "8", {20: "3"}, ClOrdID="q1", OrderID="NONE", ExecType="8", OrdStatus="8",
        OrdRejReason="5", Text="unknown order q1",
    )  # fmt: skip

    quiet(c1, c3)
    c1.status("mine", "AAPL", BUY)
    c1.expect("8", ClOrdID="mine", OrderID=order_id, OrdStatus="0", LeavesQty="100", Price="180")
    assert sql(
        venue, "SELECT event_type, session, reject_code FROM order_events WHERE session='CLIENT3'"
    ) == [
        ("CancelRejected", "CLIENT3", 3001),
        ("CancelRejected", "CLIENT3", 3001),
        ("CancelRejected", "CLIENT3", 3001),
        ("OrderStatusReported", "CLIENT3", None),
    ]


def test_same_firm_replace_by_order_id_leaves_the_owners_cl_ord_ids_alone(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")
    first = rests(c1, "a", "AAPL", BUY, 100, "180.00")[37]
    second = rests(c1, "b", "AAPL", BUY, 100, "181.00")[37]

    # CLIENT3 names CLIENT1's order "b" by OrderID and picks "a" as its new ClOrdID.
    c3.replace("a", "b", "AAPL", BUY, 50, "181.00", order_id=second)
    c3.expect("9", ClOrdID="a", OrderID="NONE", CxlRejReason="1")
    c1.cancel("a-x", "a", "AAPL", BUY)

    c1.expect("8", ClOrdID="a-x", OrigClOrdID="a", ExecType="4", OrderID=first)
    c1.status("b", "AAPL", BUY)
    c1.expect("8", ClOrdID="b", OrderID=second, OrdStatus="0", OrderQty="100", Price="181")
    quiet(c1, c3)
    venue.kernel.check_invariants()


# -- access control ---------------------------------------------------------------------------


@pytest.fixture(scope="class")
def password_venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """CLIENT2 must log on as trader2 with password s3cret. One venue for the class."""
    home = tmp_path_factory.mktemp("passwords")
    reference = write_reference(
        home / "venue.toml",
        sessions={"CLIENT2": {"username": "trader2", "password_hash": hash_password("s3cret")}},
    )
    yield from shared_venue(home, reference_config=reference)


def message_log_logons(venue: Venue, session: str) -> list[str]:
    """The Logon lines of the session's QuickFIX message log (none yet: [])."""
    logged = venue.data_dir / f"fix/log/FIX.4.4-VENUE-{session}.messages.current.log"
    if not logged.exists():
        return []
    return [line for line in logged.read_text().splitlines() if "\x0135=A\x01" in line]


class TestPasswords:
    """Logons of a session with credentials, on one venue (the refused ones change nothing
    in it; the accepted one leaves only a GTC order, which a disconnect does not cancel).
    Each test starts with no failed logons counted, as on a fresh venue (the backoff after
    repeated failures is tested in test_security.py)."""

    @pytest.fixture(autouse=True)
    def fresh(self, password_venue: Venue) -> None:
        fresh_front_door(password_venue)

    def test_session_with_a_password_logs_on_with_the_right_credentials(
        self, password_venue: Venue
    ) -> None:
        port = password_venue.settings.port
        client = CredentialClient.logon(port, "CLIENT2", [(553, "trader2"), (554, "s3cret")])
        try:
            rests(client, "o1", "AAPL", BUY, 100, "180.00", tif=GTC)
        finally:
            client.close()
        FixClient.connect(port, "CLIENT1").logout()  # sessions without a password need none

    @pytest.mark.parametrize(
        ("fields", "why"),
        [
            ([(553, "trader2"), (554, "wrong")], "wrong Username(553) or Password(554)"),
            ([(553, "someone"), (554, "s3cret")], "wrong Username(553) or Password(554)"),
            ([(553, "trader2")], "Username(553) and Password(554) are required for this session"),
            ([], "Username(553) and Password(554) are required for this session"),
        ],
        ids=["wrong-password", "wrong-username", "no-password", "no-credentials"],
    )
    def test_logon_with_bad_credentials_gets_a_logout_saying_why_and_is_disconnected(
        self, password_venue: Venue, fields: list[tuple[int, str]], why: str
    ) -> None:
        reports_handed_over(password_venue)
        seq = password_venue.kernel.counters.seq
        client = CredentialClient(password_venue.settings.port, "CLIENT2", "FIX.4.4", "VENUE", 30)
        client.logon_fields = fields
        try:
            with pytest.raises(ConnectionError, match="logon refused"):
                client.reconnect(reset=True)
            logout = next(m for m in client.received if m.get(35) == "5")
            assert logout[58] == f"Rejected Logon Attempt: {why}"  # QuickFIX adds the prefix
            assert not any(m.get(35) == "A" for m in client.received)
            with pytest.raises(ConnectionError, match="closed the connection"):
                client.receive(timeout=5)
        finally:
            client.close()
        reports_handed_over(password_venue)
        assert password_venue.kernel.counters.seq == seq  # nothing reached the kernel

    def test_passwords_are_never_written_to_the_data_directory_in_clear(
        self, password_venue: Venue
    ) -> None:
        port = password_venue.settings.port
        before = len(message_log_logons(password_venue, "CLIENT2"))
        CredentialClient.logon(port, "CLIENT2", [(553, "trader2"), (554, "s3cret")]).logout()
        intruder = CredentialClient(port, "CLIENT2", "FIX.4.4", "VENUE", 30)
        intruder.logon_fields = [(553, "trader2"), (554, "guessed")]
        try:
            with pytest.raises(ConnectionError):
                intruder.reconnect(reset=True)
        finally:
            intruder.close()

        leaks = [
            str(path.relative_to(password_venue.data_dir))
            for path in password_venue.data_dir.rglob("*")
            if path.is_file()
            and (b"s3cret" in path.read_bytes() or b"guessed" in path.read_bytes())
        ]
        assert leaks == []
        # the message log has the accepted Logon (in and out), with the password blanked
        # (the refused one never reached QuickFIX: the gatekeeper checks credentials and
        # logs the refusal)
        logons = message_log_logons(password_venue, "CLIENT2")[before:]
        assert [line.count("\x01554=***\x01") for line in logons if "553=trader2" in line] == [1]


def test_second_connection_for_a_logged_on_session_gets_a_logout_and_changes_nothing(
    venue_factory, fix_client_factory
):
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    day = int(rests(c1, "day", "AAPL", BUY, 100, "185.00")[37])

    for reset in (False, True):
        intruder = FixClient(venue.settings.port, "CLIENT1", "FIX.4.4", "VENUE", 30)
        intruder.next_out = 50
        try:
            with pytest.raises(ConnectionError, match="logon refused"):
                intruder.reconnect(reset=reset)
            assert [m[58] for m in intruder.received] == ["session CLIENT1 is already logged on"]
        finally:
            intruder.close()

    c1.status("day", "AAPL", BUY)  # the first connection is still up, its order still live
    c1.expect("8", ClOrdID="day", ExecType="I", OrdStatus="0", LeavesQty="100")
    quiet(c1, venue=venue)
    assert live_order_ids(venue) == {day}


def test_drop_copy_session_cannot_enter_cancel_replace_query_or_mass_cancel(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    dc = harness_client_factory("DROPCOPY")
    why = "session DROPCOPY is not authorized to enter orders"

    sent = {
        "D": dc.new_order("d1", "AAPL", BUY, 100, "180.00"),
        "F": dc.cancel("f1", "d1", "AAPL", BUY),
        "G": dc.replace("g1", "d1", "AAPL", BUY, 50, "180.00"),
        "H": dc.status("h1", "AAPL", BUY),
        "q": dc.send("q", [(11, "q1"), (530, "7"), (60, dc.utc_now())]),
    }

    for msg_type, seq in sent.items():
        dc.expect(
            "j", RefSeqNum=str(seq), RefMsgType=msg_type,
            BusinessRejectRefID=f"{msg_type.lower()}1", BusinessRejectReason="6", Text=why,
        )  # fmt: skip
    quiet(dc)
    assert venue.kernel.counters.seq == 0  # nothing reached the kernel


def test_market_data_session_cannot_enter_orders_and_gets_no_copies(
    tmp_path, harness_factory, harness_client_factory
):
    reference = write_reference(
        tmp_path / "venue.toml", sessions={"DROPCOPY1": {"role": "market_data"}}
    )
    venue = harness_factory(reference_config=reference)
    md = harness_client_factory("DROPCOPY1")
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")

    seq = md.new_order("m1", "AAPL", BUY, 100, "180.00")
    md.expect(
        "j", RefSeqNum=str(seq), RefMsgType="D", BusinessRejectReason="6",
        Text="session DROPCOPY1 is not authorized to enter orders",
    )  # fmt: skip
    rests(c1, "s1", "AAPL", SELL, 100, "190.00")  # FIRM1, which DROPCOPY1 saw as drop copy
    c2.new_order("b1", "AAPL", BUY, 100, "190.00")
    c2.expect("8", ClOrdID="b1", ExecType="0")
    c2.expect("8", ClOrdID="b1", ExecType="F", OrdStatus="2")
    c1.expect("8", ClOrdID="s1", ExecType="F", OrdStatus="2")
    quiet(md)  # a drop-copy session entitled to FIRM1 would have had both reports
    assert venue.venue.drop_copies.keys() == {"DROPCOPY", "DROPCOPY5"}


# -- self-trade prevention --------------------------------------------------------------------


def stp_text(mode: str) -> str:
    return f"self-trade prevented (FIRM1 on both sides, mode {mode})"


def test_stp_firm_default_cancels_the_resting_order_and_the_aggressor_trades_on(
    venue_factory, fix_client_factory
):
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")
    c3 = fix_client_factory("CLIENT3", begin_string="FIX.4.2")
    rests(c1, "own", "AAPL", SELL, 100, "190.00")
    rests(c2, "other", "AAPL", SELL, 100, "190.00")

    c3.new_order("agg", "AAPL", BUY, 100, "190.00")

    c3.expect("8", ClOrdID="agg", ExecType="0", OrdStatus="0")
    c1.expect(
        "8", ClOrdID="own", ExecType="4", OrdStatus="4", LeavesQty="0",
        Text=stp_text("cancel_resting"),
    )  # fmt: skip
    c3.expect("8", ClOrdID="agg", ExecType="2", OrdStatus="2", LastShares="100")
    c2.expect("8", ClOrdID="other", ExecType="F", OrdStatus="2", LastQty="100")
    quiet(c1, c2, c3, venue=venue)
    assert sql(venue, "SELECT buy_session, sell_session, qty FROM trades") == [
        ("CLIENT3", "CLIENT2", 100)
    ]
    assert sql(
        venue, "SELECT cl_ord_id, cancel_reason FROM order_events WHERE event_type='OrderCanceled'"
    ) == [("own", 5)]


def test_stp_cancel_aggressor_override_keeps_the_resting_order(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")
    rests(c3, "resting", "AAPL", SELL, 100, "190.00")

    new_order_stp(c1, "agg", "AAPL", BUY, 100, "190.00", "A")

    accepted(c1, "agg")
    c1.expect(
        "8", ClOrdID="agg", ExecType="4", OrdStatus="4", LeavesQty="0", CumQty="0",
        Text=stp_text("cancel_aggressor"),
    )  # fmt: skip
    quiet(c1, c3)
    c3.status("resting", "AAPL", SELL)
    c3.expect("8", ClOrdID="resting", OrdStatus="0", LeavesQty="100")
    assert sql(venue, "SELECT count(*) FROM trades") == [(0,)]


def test_stp_cancel_both_override_cancels_both_orders(harness_factory, harness_client_factory):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")
    rests(c3, "resting", "AAPL", SELL, 100, "190.00")

    new_order_stp(c1, "agg", "AAPL", BUY, 60, "190.00", "B")

    accepted(c1, "agg")
    c3.expect(
        "8", ClOrdID="resting", ExecType="4", OrdStatus="4", LeavesQty="0",
        Text=stp_text("cancel_both"),
    )  # fmt: skip
    c1.expect("8", ClOrdID="agg", ExecType="4", OrdStatus="4", Text=stp_text("cancel_both"))
    quiet(c1, c3)
    assert live_order_ids(venue) == set()
    assert sql(venue, "SELECT count(*) FROM trades") == [(0,)]


def test_stp_decrement_restates_the_larger_order_and_cancels_the_smaller(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")
    rests(c1, "big", "AAPL", SELL, 100, "190.00")
    rests(c1, "small", "MSFT", SELL, 30, "420.00")

    new_order_stp(c3, "agg", "AAPL", BUY, 60, "190.00", "D")
    accepted(c3, "agg")
    c1.expect(
        "8", {378: "8"}, ClOrdID="big", ExecType="D", OrdStatus="0", OrderQty="40",
        LeavesQty="40", CumQty="0", Text=stp_text("decrement") + ": quantity decremented by 60",
    )  # fmt: skip
    c3.expect(
        "8", ClOrdID="agg", ExecType="4", OrdStatus="4", LeavesQty="0",
        Text=stp_text("decrement"),
    )  # fmt: skip

    # The aggressor larger: the resting order is canceled, the aggressor restated and rests.
    new_order_stp(c3, "agg2", "MSFT", BUY, 50, "420.00", "D")
    accepted(c3, "agg2")
    c1.expect("8", ClOrdID="small", ExecType="4", OrdStatus="4", Text=stp_text("decrement"))
    c3.expect(
        "8", {378: "4"}, ClOrdID="agg2", ExecType="D", OrdStatus="0", OrderQty="20",
        LeavesQty="20", Text=stp_text("decrement") + ": quantity decremented by 30",
    )  # fmt: skip
    quiet(c1, c3)
    assert sql(venue, "SELECT count(*) FROM trades") == [(0,)]
    assert sql(venue, "SELECT cl_ord_id, qty, leaves_qty, status FROM orders ORDER BY 1") == [
        ("agg", 60, 0, "4"),
        ("agg2", 20, 20, "0"),
        ("big", 40, 40, "0"),
        ("small", 30, 0, "4"),
    ]


def test_stp_override_with_an_unknown_mode_is_rejected(harness_factory, harness_client_factory):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")

    new_order_stp(c1, "x", "AAPL", BUY, 100, "190.00", "X")

    rejected(
        c1, "x", "11",
        "SelfTradePrevention(7928)=X is not supported: use R (cancel resting), "
        "A (cancel aggressor), B (cancel both), D (decrement)",
    )  # fmt: skip
    assert live_order_ids(venue) == set()


def test_stp_firm_default_changed_by_the_operator_applies_to_the_next_order(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")
    rests(c3, "resting", "AAPL", SELL, 100, "190.00")

    operator(venue, "set_limit", "firm", "FIRM1", field="stp_mode", value="A")
    c1.new_order("agg", "AAPL", BUY, 100, "190.00")

    accepted(c1, "agg")
    c1.expect("8", ClOrdID="agg", ExecType="4", Text=stp_text("cancel_aggressor"))
    quiet(c1, c3)


# -- mass cancel ------------------------------------------------------------------------------


def mass_cancel(client: FixClient, cl: str, request_type: str, symbol: str | None = None) -> None:
    fields = [(11, cl), (530, request_type)]
    if symbol is not None:
        fields.append((55, symbol))
    client.send("q", fields + [(60, client.utc_now())])


def test_mass_cancel_by_symbol_then_all_cancels_the_firms_orders_only(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")
    rests(c1, "a-buy", "AAPL", BUY, 100, "185.00")
    rests(c1, "a-sell", "AAPL", SELL, 100, "195.00")
    rests(c1, "m-buy", "MSFT", BUY, 100, "410.00")
    rests(c3, "c3-a", "AAPL", BUY, 100, "184.00")
    other_firm = rests(c2, "c2-a", "AAPL", BUY, 100, "186.00")[37]

    mass_cancel(c1, "mc1", "1", "AAPL")

    text1 = "mass cancel mc1"
    c1.expect("8", ClOrdID="a-buy", ExecType="4", OrdStatus="4", Text=text1)
    c1.expect("8", ClOrdID="a-sell", ExecType="4", OrdStatus="4", Text=text1)
    c3.expect("8", ClOrdID="c3-a", ExecType="4", OrdStatus="4", Text=text1)
    report = c1.expect("r", {530: "1", 531: "1", 533: "3", 55: "AAPL"}, ClOrdID="mc1")
    assert 58 not in report

    mass_cancel(c1, "mc2", "7")
    c1.expect("8", ClOrdID="m-buy", ExecType="4", OrdStatus="4", Text="mass cancel mc2")
    c1.expect("r", {530: "7", 531: "7", 533: "1"}, ClOrdID="mc2")

    quiet(c1, c2, c3)
    assert live_order_ids(venue) == {int(other_firm)}


@pytest.mark.parametrize(
    ("request_type", "symbol", "why"),
    [
        ("1", "NOPE", "unknown symbol NOPE"),
        ("3", None, "MassCancelRequestType 3 is not supported: use 1 or 7"),
    ],
)
def test_mass_cancel_that_cannot_be_carried_out_is_rejected_and_cancels_nothing(
    harness_factory, harness_client_factory, request_type, symbol, why
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    order_id = rests(c1, "a", "AAPL", BUY, 100, "185.00")[37]

    mass_cancel(c1, "mc", request_type, symbol)

    report = c1.expect("r", {530: request_type, 531: "0", 532: "99", 58: why}, ClOrdID="mc")
    assert 533 not in report
    quiet(c1)
    assert live_order_ids(venue) == {int(order_id)}


# -- cancel on disconnect ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["dropped", "logout"])
def test_disconnect_cancels_day_orders_keeps_gtc_and_reports_on_the_next_logon(
    venue_factory, fix_client_factory, how
):
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")
    day = int(rests(c1, "day", "AAPL", BUY, 100, "185.00")[37])
    gtc = int(rests(c1, "gtc", "AAPL", BUY, 100, "185.00", tif=GTC)[37])
    other = int(rests(c2, "other", "AAPL", BUY, 100, "185.00")[37])

    if how == "dropped":
        c1.close()
    else:
        c1.logout()
    eventually(lambda: day not in venue.kernel.live, "the Day order is canceled")
    reports_handed_over(venue)  # see the xfail test below for a logon racing the report

    c1.reconnect(reset=False)
    report = c1.expect(
        "8", ClOrdID="day", ExecType="4", OrdStatus="4", LeavesQty="0",
        Text="canceled on disconnect",
    )  # fmt: skip
    assert report[43] == "Y"  # delivered by the resend after the new logon
    quiet(c1, c2, venue=venue)
    assert live_order_ids(venue) == {gtc, other}
    assert sql(
        venue, "SELECT order_id, cancel_reason FROM order_events WHERE event_type='OrderCanceled'"
    ) == [(day, 7)]


def test_cancel_on_disconnect_report_racing_the_next_logon_still_arrives(
    venue_factory, fix_client_factory
):
    """The window is microseconds wide. Hooks hold the report back until the venue is
    sending its Logon answer, so that it queues for the session lock right behind it; then
    the report wins the race in about one round out of three (measured). Sixty rounds; the
    first miss fails. Once fixed, every round passes (checked with a Heartbeat on logon)."""
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    gateway = venue.gateway
    answering_logon = threading.Event()
    real_to_admin, real_send = gateway._app.toAdmin, gateway.send

    def to_admin(message: Any, session_id: Any) -> None:
        real_to_admin(message, session_id)
        if "\x0135=A\x01" in message.toString() and not answering_logon.is_set():
            answering_logon.set()
            time.sleep(0.02)  # QuickFIX holds the session lock: the report queues behind it

    def send(session: str, text: str) -> None:
        if session == "CLIENT1" and "\x01150=4\x01" in text:
            answering_logon.wait(5)
        real_send(session, text)

    gateway._app.toAdmin, gateway.send = to_admin, send  # type: ignore[method-assign]
    for n in range(60):
        rests(c1, f"day{n}", "AAPL", BUY, 100, "185.00")
        answering_logon.clear()
        c1.close()
        c1.reconnect(reset=False)
        c1.expect("8", ClOrdID=f"day{n}", ExecType="4", timeout=2)


def test_disconnect_cancels_gtc_orders_too_once_the_operator_turns_it_on(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    rests(c1, "day", "AAPL", BUY, 100, "185.00")
    rests(c1, "gtc", "AAPL", BUY, 100, "185.00", tif=GTC)

    operator(
        venue, "set_limit", "session", "CLIENT1", field="cancel_gtc_on_disconnect", value="yes"
    )
    c1.close()  # the harness handles the disconnect before close() returns
    assert not venue.kernel.live  # both orders canceled

    c1.reconnect(reset=False)
    c1.expect("8", ClOrdID="day", ExecType="4", Text="canceled on disconnect")
    c1.expect("8", ClOrdID="gtc", ExecType="4", Text="canceled on disconnect")


def test_session_without_cancel_on_disconnect_keeps_its_orders(
    tmp_path, harness_factory, harness_client_factory
):
    reference = write_reference(
        tmp_path / "venue.toml", sessions={"CLIENT1": {"cancel_on_disconnect": False}}
    )
    venue = harness_factory(reference_config=reference)
    c1 = harness_client_factory("CLIENT1")
    day = int(rests(c1, "day", "AAPL", BUY, 100, "185.00")[37])

    c1.close()
    c1.reconnect(reset=False)  # the disconnect was handled before close() returned
    c1.status("day", "AAPL", BUY)

    c1.expect("8", ClOrdID="day", ExecType="I", OrdStatus="0", LeavesQty="100")
    quiet(c1)
    assert live_order_ids(venue) == {day}


def test_clean_venue_stop_cancels_nothing(tmp_path, free_port, venue_factory, fix_client_factory):
    first = Venue(VenueSettings(port=free_port, data_dir=tmp_path / "data"))
    first.start()
    stopping = threading.Thread(target=first.stop)
    try:
        c1 = fix_client_factory("CLIENT1")
        day = int(rests(c1, "day", "AAPL", BUY, 100, "185.00")[37])
        gtc = int(rests(c1, "gtc", "AAPL", BUY, 100, "185.00", tif=GTC)[37])
        stopping.start()  # the venue logs every session out; the client answers
        c1.expect("5", Text="the venue is shutting down")
    finally:
        if stopping.ident is None:
            first.stop()
        else:
            stopping.join()

    second = venue_factory()  # the same data directory and port

    assert live_order_ids(second) == {day, gtc}
    c1.reconnect(reset=False)
    c1.status("day", "AAPL", BUY)
    c1.expect("8", ClOrdID="day", ExecType="I", OrdStatus="0", LeavesQty="100")
    quiet(c1, venue=second)
    assert sql(second, "SELECT count(*) FROM order_events WHERE event_type='OrderCanceled'") == [
        (0,)
    ]
