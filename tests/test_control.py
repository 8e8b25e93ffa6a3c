"""The operator's controls end to end: `venue ctl` and the control channel of a running
venue, with FIX sessions watching what each action does to their orders.

The actions' logic runs on the in-process harness (its own control server, the real CLI
and socket code, SQL through the projection's own loop); live (real QuickFIX and TCP):
halt and resume through the installed `venue` command, the audit trail on SQLite and
PostgreSQL, state across a restart, the socket's permissions, a deep data directory.

Halt and resume, kill switch and release, cancel-all, limit changes while orders rest and
busts; every action lands in the audit trail (order_events, OperatorActionApplied) with
the operator's name. The channel itself: only the token holder may act, the socket and the
token are private to the owner, bad requests are answered and change nothing.

Demo reference data (fix_config/venue.toml): AAPL reference 190.00 with a 10% collar;
CLIENT1 (FIX 4.4) and CLIENT3 (FIX 4.2) are FIRM1, CLIENT2 is FIRM2.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fixclient import FixClient, Message
from harness_fixtures import HarnessClient
from sqlalchemy import text

from venue import control
from venue.app import Venue
from venue.cli import main as venue_cli
from venue.config import VenueSettings
from venue.domain.commands import SessionDisconnected
from venue.testing.harness import Harness

BUY, SELL = "1", "2"
SESSION_LEVEL = ("0", "1", "2", "4")  # heartbeats, test requests, resend and gap fill
VENUE_CLI = Path(sys.executable).with_name("venue")


# -- helpers ----------------------------------------------------------------------------------


def ctl(
    venue: Venue | Harness, *args: str, operator: str = "alice", process: bool = False
) -> subprocess.CompletedProcess:
    """Run `venue ctl` against the running venue: the CLI in this process (CliRunner, the
    real control socket), or with process=True the installed `venue` command as a separate
    process, as an operator types it."""
    command = ["ctl", "--data-dir", str(data_dir_of(venue)), "--operator", operator, *args]
    if not process:
        result = CliRunner().invoke(venue_cli, command)
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)
    return subprocess.run([str(VENUE_CLI), *command], capture_output=True, text=True, timeout=30)


def ctl_ok(venue: Venue | Harness, *args: str, process: bool = False) -> str:
    done = ctl(venue, *args, process=process)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def data_dir_of(venue: Venue | Harness) -> Path:
    """The venue's data directory, its control socket serving (the harness starts its own)."""
    if isinstance(venue, Harness):
        venue.serve_control()
        return venue.venue.data_dir
    return venue.data_dir


def request(venue: Venue | Harness, operator: str = "alice", **command: Any) -> dict:
    """One request through the control channel (in-process client, the real socket)."""
    return control.send(data_dir_of(venue), operator, command)


def raw_request(venue: Venue | Harness, line: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(data_dir_of(venue) / control.SOCKET_NAME))
        sock.sendall(line)
        with sock.makefile("rb") as f:
            return json.loads(f.readline())


def sql(venue: Venue | Harness, query: str) -> list[tuple[Any, ...]]:
    if isinstance(venue, Harness):
        return venue.sql(query)
    venue.wait_until_projected()
    with venue.db.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query))]


def operator_actions(venue: Venue | Harness) -> list[tuple[str, dict]]:
    """(text, detail) of every OperatorActionApplied in the audit trail, in order."""
    rows = sql(
        venue,
        "SELECT text, detail FROM order_events "
        "WHERE event_type = 'OperatorActionApplied' ORDER BY seq",
    )
    return [(row[0], json.loads(row[1])) for row in rows]


def action(operator: str, name: str, scope: str, key: str, ok: bool = True, **limit: Any):
    return {
        "operator": operator, "action": name, "scope": scope, "key": key,
        "field": limit.get("field", ""), "value": limit.get("value"), "ok": ok,
    }  # fmt: skip


def quiet(*clients: FixClient, venue: Venue | None = None) -> None:
    """None of these clients receives any more application messages.

    A positive signal, not a silence: each client's TestRequest is answered (the venue has
    every message the client sent before it), the kernel has released every report of those
    (a no-op command through Venue.execute), and each client's second TestRequest is
    answered (it has every message handed over for it). On the harness everything is
    delivered once a call returns."""
    live = [c.sender for c in clients if not isinstance(c, HarnessClient)]
    if live and venue is None:
        raise TypeError(f"quiet() of live clients {live} needs their venue")
    seen = {client.sender: client.sync() for client in clients}
    if venue is not None:
        venue.execute(SessionDisconnected("NOBODY"))  # an unknown session: a no-op
        for client in clients:
            seen[client.sender] += client.sync()
    for sender, messages in seen.items():
        extra = [m for m in messages if m.get(35) not in SESSION_LEVEL]
        assert extra == [], f"{sender} received {extra}"


def rests(client: FixClient, cl: str, symbol: str, side: str, qty: int, price: str) -> Message:
    client.new_order(cl, symbol, side, qty, price)
    return client.expect("8", ClOrdID=cl, ExecType="0", OrdStatus="0", LeavesQty=str(qty))


def rejected(client: FixClient, cl: str, reason: str, why: str) -> Message:
    return client.expect(
        "8", ClOrdID=cl, ExecType="8", OrdStatus="8", OrdRejReason=reason, Text=why
    )


def canceled(client: FixClient, cl: str, why: str) -> Message:
    return client.expect("8", ClOrdID=cl, ExecType="4", OrdStatus="4", LeavesQty="0", Text=why)


# -- halt and resume --------------------------------------------------------------------------


def test_halt_rejects_new_orders_and_replaces_keeps_resting_orders_until_resume(
    venue_factory, fix_client_factory
):
    venue = venue_factory()
    c1 = fix_client_factory("CLIENT1")
    c2 = fix_client_factory("CLIENT2")
    rests(c1, "rest", "AAPL", BUY, 100, "189.00")
    rests(c1, "rest2", "AAPL", BUY, 100, "188.00")

    assert ctl_ok(venue, "halt", "AAPL", process=True) == (
        "ok: AAPL halted: new orders and replaces rejected, resting orders stay\n"
    )
    books = json.loads(ctl_ok(venue, "status", "books", process=True))  # read-only
    assert books["AAPL"]["halted"] and not books["MSFT"]["halted"]
    assert books["AAPL"]["bids"] == [["189", 100, 1], ["188", 100, 1]]
    snapshots = json.loads(ctl_ok(venue, "status", "snapshots"))
    assert snapshots["by"] == "replica" and snapshots["journal_record"] >= 2
    wrong = ctl(venue, "status", "nosuch")
    assert wrong.returncode == 1 and "no section 'nosuch'; there are: " in wrong.stderr
    quiet(c1, c2, venue=venue)  # resting orders stay, nobody is told anything
    c2.new_order("hit", "AAPL", SELL, 100, "189.00")
    rejected(c2, "hit", "2", "AAPL is halted")
    c1.replace("rest-up", "rest", "AAPL", BUY, 100, "189.50")
    c1.expect(
        "9", ClOrdID="rest-up", OrigClOrdID="rest", OrdStatus="0", CxlRejResponseTo="2",
        CxlRejReason="2", Text="AAPL is halted",
    )  # fmt: skip
    c1.cancel("rest2-x", "rest2", "AAPL", BUY)  # cancels are allowed during a halt
    canceled(c1, "rest2-x", "canceled at request")
    rests(c2, "msft", "MSFT", SELL, 100, "420.00")  # other instruments trade on

    assert ctl_ok(venue, "resume", "AAPL") == "ok: AAPL resumed\n"
    c2.new_order("hit2", "AAPL", SELL, 100, "189.00")
    c2.expect("8", ClOrdID="hit2", ExecType="0")
    c2.expect("8", ClOrdID="hit2", ExecType="F", OrdStatus="2", LastPx="189")
    c1.expect("8", ClOrdID="rest", ExecType="F", OrdStatus="2", LastPx="189")
    quiet(c1, c2, venue=venue)
    assert operator_actions(venue) == [
        (
            "AAPL halted: new orders and replaces rejected, resting orders stay",
            action("alice", "halt", "instrument", "AAPL"),
        ),
        ("AAPL resumed", action("alice", "resume", "instrument", "AAPL")),
    ]


def test_operator_cancel_all_cancels_the_scope_reports_to_each_owner_and_blocks_nothing(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")
    c3 = harness_client_factory("CLIENT3", begin_string="FIX.4.2")
    rests(c1, "c1-aapl", "AAPL", BUY, 100, "185.00")
    msft = int(rests(c1, "c1-msft", "MSFT", BUY, 100, "410.00")[37])
    rests(c2, "c2-aapl", "AAPL", SELL, 100, "195.00")
    rests(c3, "c3-aapl", "AAPL", BUY, 100, "184.00")

    assert ctl_ok(venue, "cancel-all", "--symbol", "AAPL") == (
        "ok: 3 orders of instrument AAPL canceled\n"
    )

    why = "canceled by the operator (instrument AAPL)"
    canceled(c1, "c1-aapl", why)
    canceled(c2, "c2-aapl", why)
    canceled(c3, "c3-aapl", why)
    quiet(c1, c2, c3)
    assert set(venue.kernel.live) == {msft}
    rests(c2, "again", "AAPL", SELL, 100, "195.00")  # nothing is blocked
    assert sql(
        venue,
        "SELECT cl_ord_id, cancel_reason, text FROM order_events "
        "WHERE event_type = 'OrderCanceled' ORDER BY seq",
    ) == [("c1-aapl", 9, why), ("c2-aapl", 9, why), ("c3-aapl", 9, why)]
    assert operator_actions(venue) == [
        (
            "3 orders of instrument AAPL canceled",
            action("alice", "cancel_all", "instrument", "AAPL"),
        )
    ]


# -- kill switch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "scope", "key", "where", "hit"),
    [
        (["--session", "CLIENT1"], "session", "CLIENT1", "session CLIENT1", {"CLIENT1"}),
        (["--firm", "FIRM1"], "firm", "FIRM1", "firm FIRM1", {"CLIENT1", "CLIENT3"}),
        (["--venue"], "venue", "", "the venue", {"CLIENT1", "CLIENT2", "CLIENT3"}),
    ],
    ids=["session", "firm", "venue"],
)
def test_kill_switch_cancels_the_scope_and_blocks_new_orders_until_released(
    harness_factory, harness_client_factory, flags, scope, key, where, hit
):
    venue = harness_factory()
    clients = {
        "CLIENT1": harness_client_factory("CLIENT1"),
        "CLIENT2": harness_client_factory("CLIENT2"),
        "CLIENT3": harness_client_factory("CLIENT3", begin_string="FIX.4.2"),
    }
    for name, client in clients.items():
        rests(client, f"{name}-resting", "AAPL", BUY, 100, "185.00")

    assert ctl_ok(venue, "kill", *flags) == (
        f"ok: kill switch engaged for {where}: {len(hit)} orders canceled, new orders blocked\n"
    )

    for name, client in clients.items():
        if name in hit:
            canceled(client, f"{name}-resting", f"kill switch engaged for {where}")
            client.new_order(f"{name}-blocked", "AAPL", BUY, 100, "185.00")
            rejected(
                client, f"{name}-blocked", "0", f"kill switch engaged for {where}: orders blocked"
            )
        else:
            rests(client, f"{name}-free", "AAPL", BUY, 100, "185.00")
    quiet(*clients.values())

    assert ctl_ok(venue, "release", *flags) == f"ok: kill switch released for {where}\n"
    for name in hit:
        rests(clients[name], f"{name}-after", "AAPL", BUY, 100, "185.00")
    quiet(*clients.values())
    assert sql(
        venue, "SELECT session FROM order_events WHERE cancel_reason = 8 ORDER BY session"
    ) == [(name,) for name in sorted(hit)]
    assert [detail for _, detail in operator_actions(venue)] == [
        action("alice", "kill", scope, key),
        action("alice", "release", scope, key),
    ]


# -- limits changed while orders rest ---------------------------------------------------------


def test_limit_changes_apply_to_new_orders_and_leave_resting_orders_alone(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    resting = rests(c1, "rest", "AAPL", BUY, 100, "175.00")

    assert ctl_ok(venue, "set-limit", "instrument", "AAPL", "collar_pct", "5") == (
        "ok: instrument AAPL collar_pct = 5\n"
    )
    c1.new_order("out", "AAPL", BUY, 10, "180.49")
    rejected(c1, "out", "99", "price 180.49 outside collar 180.5-199.5 (reference 190 +/-5%)")
    rests(c1, "in", "AAPL", BUY, 10, "180.50")

    ctl_ok(venue, "set-limit", "instrument", "AAPL", "max_order_qty", "50")
    c1.new_order("big", "AAPL", BUY, 51, "185.00")
    rejected(c1, "big", "3", "OrderQty 51 exceeds the maximum 50 for AAPL")
    rests(c1, "max", "AAPL", BUY, 50, "185.00")
    assert ctl_ok(venue, "set-limit", "instrument", "AAPL", "max_order_qty", "none") == (
        "ok: instrument AAPL max_order_qty = none\n"
    )
    rests(c1, "big-again", "AAPL", BUY, 51, "185.00")

    quiet(c1)  # the resting order outside the new collar and over the new maximum stays
    c1.status("rest", "AAPL", BUY)
    c1.expect("8", ClOrdID="rest", OrderID=resting[37], OrdStatus="0", LeavesQty="100")
    assert [detail for _, detail in operator_actions(venue)] == [
        action("alice", "set_limit", "instrument", "AAPL", field="collar_pct", value="5"),
        action("alice", "set_limit", "instrument", "AAPL", field="max_order_qty", value="50"),
        action("alice", "set_limit", "instrument", "AAPL", field="max_order_qty", value=None),
    ]


def test_reference_price_change_before_the_first_trade_moves_the_collar(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")

    assert ctl_ok(venue, "set-limit", "instrument", "AAPL", "reference_price", "200") == (
        "ok: instrument AAPL reference_price = 200\n"
    )

    c1.new_order("out", "AAPL", BUY, 10, "179.99")
    rejected(c1, "out", "99", "price 179.99 outside collar 180-220 (reference 200 +/-10%)")
    rests(c1, "in", "AAPL", SELL, 10, "220.00")


def test_credit_limit_lowered_below_the_open_notional_blocks_the_next_order_only(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c2 = harness_client_factory("CLIENT2")
    rests(c2, "open", "AAPL", BUY, 100, "190.00")  # 19,000 open

    ctl_ok(venue, "set-limit", "firm", "FIRM2", "credit_limit", "19000")
    c2.new_order("more", "AAPL", BUY, 1, "190.00")

    rejected(
        c2, "more", "3",
        "credit limit of FIRM2 exceeded: used 19,000.00 + order 190.00 > limit 19,000.00",
    )  # fmt: skip
    c2.status("open", "AAPL", BUY)
    c2.expect("8", ClOrdID="open", OrdStatus="0", LeavesQty="100")


def test_bad_operator_requests_are_refused_recorded_and_change_nothing(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    order_id = int(rests(c1, "rest", "AAPL", BUY, 100, "185.00")[37])

    refused = ctl(venue, "halt", "NOPE")
    assert (refused.returncode, refused.stdout) == (1, "refused: unknown symbol NOPE\n")
    usage = ctl(venue, "kill", "--session", "CLIENT1", "--venue")
    assert usage.returncode == 2
    assert "give exactly one of --session, --firm, --symbol or --venue" in usage.stderr
    replies = [
        request(venue, action="kill", scope="instrument", key="AAPL"),
        request(venue, action="release", scope="session", key="CLIENT1"),
        request(venue, action="halt", scope="session", key="CLIENT1"),
        request(venue, action="kill", scope="session", key="CLIENT9"),
        request(venue, action="set_limit", scope="instrument", key="AAPL", field="colar_pct",
                value="5"),
        request(venue, action="set_limit", scope="instrument", key="AAPL",
                field="max_order_qty", value="-5"),
        request(venue, action="set_limit", scope="firm", key="FIRM1", field="stp_mode",
                value="Z"),
        request(venue, action="fly", scope="venue"),
    ]  # fmt: skip

    assert [(r["ok"], r["text"]) for r in replies] == [
        (False, "the kill switch applies to a session, a firm or the venue"),
        (False, "no kill switch engaged for session CLIENT1"),
        (False, "halt and resume apply to an instrument"),
        (False, "unknown session CLIENT9"),
        (
            False,
            "unknown instrument limit 'colar_pct' (allowed: reference_price, collar_pct, "
            "max_order_qty, max_order_notional, restricted, dynamic_band_pct, static_band_pct, "
            "interruption_secs, resume_call_secs, extension_pct, extension_secs)",
        ),
        (False, "max_order_qty must not be negative"),
        (False, "bad value 'Z' for stp_mode: 'Z' is not a valid StpMode"),
        (False, "unknown action fly"),
    ]
    quiet(c1)
    assert set(venue.kernel.live) == {order_id}
    assert not venue.kernel.halted and not venue.kernel.blocked
    rests(c1, "still-open", "AAPL", BUY, 50_000, "185.00")  # limits unchanged
    audit = operator_actions(venue)
    assert [(t, d["ok"]) for t, d in audit] == [("unknown symbol NOPE", False)] + [
        (r["text"], False) for r in replies
    ]


# -- busts ------------------------------------------------------------------------------------


def test_bust_through_ctl_takes_the_trade_back_from_both_sides(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")
    rests(c1, "s", "AAPL", SELL, 100, "190.00")
    c2.new_order("b", "AAPL", BUY, 60, "190.00")
    c2.expect("8", ClOrdID="b", ExecType="0")
    buy_fill = c2.expect("8", ClOrdID="b", ExecType="F", OrdStatus="2")
    sell_fill = c1.expect("8", ClOrdID="s", ExecType="F", OrdStatus="1")
    [(trade_id,)] = sql(venue, "SELECT trade_id FROM trades")

    out = ctl_ok(venue, "bust", str(trade_id), "--reason", "fat finger")

    why = f"trade {trade_id} busted by alice: fat finger"
    assert out == f"ok: {why}\n"
    c2.expect(
        "8", {19: buy_fill[17]}, ClOrdID="b", ExecType="H", LastQty="60", LastPx="190",
        CumQty="0", Text=why,
    )  # fmt: skip
    c1.expect(
        "8", {19: sell_fill[17]}, ClOrdID="s", ExecType="H", OrdStatus="0", LastQty="60",
        CumQty="0", LeavesQty="40", Text=why,
    )  # fmt: skip
    again = ctl(venue, "bust", str(trade_id))
    assert (again.returncode, again.stdout) == (1, f"refused: trade {trade_id} is already busted\n")
    quiet(c1, c2)
    assert sql(venue, "SELECT status FROM trades") == [("busted",)]
    assert [(t, d["operator"], d["ok"]) for t, d in operator_actions(venue)] == [
        (why, "alice", True),
        (f"trade {trade_id} is already busted", "alice", False),
    ]


# -- the audit trail, on both databases -------------------------------------------------------


def test_every_operator_action_is_in_the_audit_trail_with_the_operators_name(
    venue, fix_client_factory
):
    c1 = fix_client_factory("CLIENT1")
    rests(c1, "o1", "AAPL", BUY, 100, "185.00")

    requests = [
        dict(action="halt", scope="instrument", key="MSFT"),
        dict(action="resume", scope="instrument", key="MSFT"),
        dict(action="kill", scope="firm", key="FIRM1"),
        dict(action="release", scope="firm", key="FIRM1"),
        dict(action="cancel_all", scope="venue"),
        dict(action="set_limit", scope="session", key="CLIENT2", field="max_orders_per_second",
             value="5"),
        dict(action="halt", scope="instrument", key="NOPE"),
    ]  # fmt: skip
    texts = [request(venue, "bob", **r)["text"] for r in requests]

    assert texts == [
        "MSFT halted: new orders and replaces rejected, resting orders stay",
        "MSFT resumed",
        "kill switch engaged for firm FIRM1: 1 orders canceled, new orders blocked",
        "kill switch released for firm FIRM1",
        "0 orders of the venue canceled",
        "session CLIENT2 max_orders_per_second = 5",
        "unknown symbol NOPE",
    ]
    assert operator_actions(venue) == [
        (t, action("bob", r["action"], r["scope"], r.get("key", ""), ok=t != texts[-1],
                   field=r.get("field", ""), value=r.get("value")))
        for t, r in zip(texts, requests, strict=True)
    ]  # fmt: skip


# -- operator state survives a restart --------------------------------------------------------


def test_halt_kill_switch_and_limits_survive_a_restart(tmp_path, free_port, venue_factory):
    first = Venue(VenueSettings(port=free_port, data_dir=tmp_path / "data"))
    first.start()
    try:
        request(first, action="halt", scope="instrument", key="MSFT")
        request(first, action="kill", scope="session", key="CLIENT2")
        request(first, action="set_limit", scope="instrument", key="AAPL", field="max_order_qty",
                value="50")  # fmt: skip
    finally:
        first.stop()

    second = venue_factory()
    c1 = FixClient.connect(free_port, "CLIENT1")
    c2 = FixClient.connect(free_port, "CLIENT2")
    try:
        c1.new_order("m", "MSFT", BUY, 10, "420.00")
        rejected(c1, "m", "2", "MSFT is halted")
        c1.new_order("a", "AAPL", BUY, 51, "190.00")
        rejected(c1, "a", "3", "OrderQty 51 exceeds the maximum 50 for AAPL")
        c2.new_order("k", "AAPL", BUY, 10, "190.00")
        rejected(c2, "k", "0", "kill switch engaged for session CLIENT2: orders blocked")
    finally:
        c1.close()
        c2.close()
    assert second.kernel.halted == {"MSFT"}


# -- the control channel's security -----------------------------------------------------------


def test_request_with_a_wrong_or_missing_token_is_refused_and_changes_nothing(
    harness_factory, harness_client_factory
):
    venue = harness_factory()
    c1 = harness_client_factory("CLIENT1")
    rests(c1, "o1", "AAPL", BUY, 100, "185.00")
    seq = venue.kernel.counters.seq
    halt = {"action": "halt", "scope": "instrument", "key": "AAPL"}
    token = (data_dir_of(venue) / control.TOKEN_NAME).read_text().strip()

    answers = [
        raw_request(
            venue, json.dumps({"token": t, "operator": "mallory", "command": halt}).encode() + b"\n"
        )
        for t in ("0" * len(token), token[:-1], "")
    ] + [raw_request(venue, json.dumps({"operator": "mallory", "command": halt}).encode() + b"\n")]

    refusal = {"ok": False, "text": "not authorized: bad control token", "events": []}
    assert answers == [refusal] * 4
    assert venue.kernel.counters.seq == seq
    assert not venue.kernel.halted
    rests(c1, "o2", "AAPL", BUY, 100, "185.00")
    assert operator_actions(venue) == []


def test_control_socket_and_token_are_private_to_the_owner(venue_factory):
    venue = venue_factory()

    sock = os.stat(venue.data_dir / control.SOCKET_NAME)
    token = os.stat(venue.data_dir / control.TOKEN_NAME)

    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600
    assert stat.S_ISREG(token.st_mode) and stat.S_IMODE(token.st_mode) == 0o600
    assert sock.st_uid == token.st_uid == os.getuid()
    assert len((venue.data_dir / control.TOKEN_NAME).read_text().strip()) == 64


def test_token_file_left_readable_by_others_is_made_private_at_start(tmp_path, harness_factory):
    data_dir = tmp_path / "data"  # the harness's
    data_dir.mkdir()
    (data_dir / control.TOKEN_NAME).write_text("f" * 64)
    (data_dir / control.TOKEN_NAME).chmod(0o644)

    served = data_dir_of(harness_factory())  # the control server starts, as at a venue start

    assert served == data_dir.resolve()
    assert stat.S_IMODE(os.stat(served / control.TOKEN_NAME).st_mode) == 0o600


def test_venue_in_a_deep_data_directory_starts_and_serves_the_control_channel(tmp_path, free_port):
    venue = Venue(VenueSettings(port=free_port, data_dir=tmp_path / ("d" * 100)))
    try:
        venue.start()
        reply = request(venue, action="halt", scope="instrument", key="AAPL")
    finally:
        venue.stop()

    assert reply["ok"]


def test_malformed_requests_are_answered_and_the_channel_keeps_working(harness_factory):
    venue = harness_factory()
    token = (data_dir_of(venue) / control.TOKEN_NAME).read_text().strip()

    def send(body: dict) -> dict:
        return raw_request(venue, json.dumps({"token": token, **body}).encode() + b"\n")

    garbage = raw_request(venue, b"not json\n")
    no_operator = send({"command": {"action": "halt", "scope": "instrument", "key": "AAPL"}})
    no_scope = send({"operator": "alice", "command": {"action": "halt", "key": "AAPL"}})
    good = send({"operator": "alice", "command": {"action": "halt", "scope": "instrument",
                                                  "key": "AAPL"}})  # fmt: skip

    assert garbage["ok"] is False and garbage["text"].startswith("error: ")
    assert no_operator == {
        "ok": False, "text": "bad request: operator name is required", "events": []
    }  # fmt: skip
    assert no_scope == {"ok": False, "text": "bad request: missing scope", "events": []}
    assert good["ok"] is True
    assert [name for name, _ in good["events"]] == ["OperatorActionApplied"]
    assert venue.kernel.halted == {"AAPL"}
    assert len(operator_actions(venue)) == 1


def test_ctl_without_a_running_venue_says_so(tmp_path):
    done = subprocess.run(
        [str(VENUE_CLI), "ctl", "--data-dir", str(tmp_path), "halt", "AAPL"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: no venue running on {tmp_path.resolve()}")


def test_operator_requests_from_many_threads_are_all_applied_once(harness_factory):
    venue = harness_factory()
    symbols = ["AAPL", "MSFT", "IBM", "TSLA", "SPY"]
    replies: list[dict] = []

    def halt(symbol: str) -> None:
        replies.append(request(venue, action="halt", scope="instrument", key=symbol))

    threads = [threading.Thread(target=halt, args=(s,)) for s in symbols]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(r["text"].split()[0] for r in replies if r["ok"]) == sorted(symbols)
    assert venue.kernel.halted == set(symbols)
    assert len(operator_actions(venue)) == len(symbols)
