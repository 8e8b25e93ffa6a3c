"""Drop copy and trade busts over real FIX sessions: live, entitlement, offline catch-up."""

from __future__ import annotations

import time

import sqlalchemy as sa
from fixclient import FixClient

from venue.domain.commands import BustTrade


def reports(client: FixClient, quiet: float = 0.5) -> list[dict[int, str]]:
    return [m for m in client.drain(quiet) if m.get(35) in ("8", "9")]


def trade_between(c1: FixClient, c2: FixClient, tag: str, qty: int = 100) -> None:
    c1.new_order(f"{tag}-b", "AAPL", "1", qty, price="190.00")
    c1.expect("8", ExecType="0")
    c2.new_order(f"{tag}-s", "AAPL", "2", qty, price="190.00")
    c2.expect("8", ExecType="0")
    c2.expect("8", ExecType="F")
    c1.expect("8", ExecType="F")


def test_drop_copy_receives_every_report_of_every_firm_with_copy_flag_and_origin(
    harness_factory, harness_client_factory
):
    harness_factory()
    copy = harness_client_factory("DROPCOPY")
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")
    trade_between(c1, c2, "t1", qty=100)
    c2.cancel("nope-c", "nope", "AAPL", "2")
    c2.expect("9")
    originals = {m[17]: m for m in c1.received + c2.received if m.get(35) == "8"}
    copies = reports(copy)
    exec_copies = {m[17]: m for m in copies if m[35] == "8"}
    assert set(exec_copies) == set(originals)
    for exec_id, original in originals.items():
        dup = exec_copies[exec_id]
        assert dup[797] == "Y"
        assert dup[115] == ("CLIENT1" if original[11].endswith("-b") else "CLIENT2")
        for tag in (11, 37, 39, 150, 14, 151, 31, 32, 6):
            assert dup.get(tag) == original.get(tag), (tag, dup, original)
    [reject_copy] = [m for m in copies if m[35] == "9"]
    assert (reject_copy[115], reject_copy[41]) == ("CLIENT2", "nope")
    # FIX 4.4 defines CopyMsgIndicator(797) on ExecutionReport only: 115 marks the copy.
    assert 797 not in reject_copy


def test_firm1_only_drop_copy_never_sees_firm2(harness_factory, harness_client_factory):
    harness_factory()
    copy1 = harness_client_factory("DROPCOPY1")
    c1 = harness_client_factory("CLIENT1")
    c2 = harness_client_factory("CLIENT2")
    trade_between(c1, c2, "t2")
    c3 = harness_client_factory("CLIENT3")
    c3.new_order("c3-o", "MSFT", "1", 10, price="420.00")
    c3.expect("8", ExecType="0")
    copies = reports(copy1)
    assert copies, "FIRM1's copy session received nothing"
    assert {m[115] for m in copies} == {"CLIENT1", "CLIENT3"}
    firm1_exec_ids = {m[17] for m in c1.received + c3.received if m.get(35) == "8"}
    assert {m[17] for m in copies} == firm1_exec_ids


def test_offline_drop_copy_gets_what_it_missed_in_order_on_logon(venue_factory):
    venue = venue_factory()
    port = venue.settings.port
    copy = FixClient.connect(port, sender="DROPCOPY")
    copy.logout()
    c1 = FixClient.connect(port, sender="CLIENT1")
    c2 = FixClient.connect(port, sender="CLIENT2")
    for i in range(3):
        trade_between(c1, c2, f"gap{i}", qty=10)
    executions = [m for m in c1.received + c2.received if m.get(35) == "8"]
    sent = [m[17] for m in sorted(executions, key=lambda m: int(m[17]))]
    copy.reconnect(reset=False)
    deadline = time.monotonic() + 10
    got: list[dict[int, str]] = []
    while time.monotonic() < deadline and len({m[17] for m in got}) < len(sent):
        got += reports(copy, quiet=0.3)
    # What it missed comes from the journal after its logon, in order, then live copies.
    # Copies racing the Logon answer come again through resend: de-duplicate on ExecID.
    first_seen = list(dict.fromkeys(m[17] for m in got if m[35] == "8"))
    assert first_seen == sent, "missed copies must come, in order"
    assert all(m[797] == "Y" for m in got)


def test_bust_reaches_both_sides_and_drop_copy_and_marks_the_trade_busted(
    venue, fix_client_factory
):
    port = venue.settings.port
    copy = FixClient.connect(port, sender="DROPCOPY")
    c1 = FixClient.connect(port, sender="CLIENT1")
    c2 = FixClient.connect(port, sender="CLIENT2")
    trade_between(c1, c2, "bust", qty=50)
    fill_1 = [m for m in c1.received if m.get(150) == "F"][-1]
    fill_2 = [m for m in c2.received if m.get(150) == "F"][-1]
    venue.wait_until_projected()
    with venue.db.connect() as conn:
        [trade_id] = conn.execute(sa.text("select trade_id from trades")).scalars().all()
    events = venue.execute(BustTrade("ops-alice", trade_id, "erroneous trade"))
    assert events[-1].ok
    bust_1 = c1.expect("8", ExecType="H")
    bust_2 = c2.expect("8", ExecType="H")
    assert bust_1[19] == fill_1[17] and bust_2[19] == fill_2[17]
    assert bust_1[32] == bust_2[32] == "50"
    assert bust_1[14] == "0" and "erroneous trade" in bust_1[58]
    copies = [m for m in reports(copy) if m.get(150) == "H"]
    assert sorted(m[19] for m in copies) == sorted([fill_1[17], fill_2[17]])
    venue.wait_until_projected()
    with venue.db.connect() as conn:
        status = conn.execute(sa.text("select status from trades")).scalar_one()
        busts = conn.execute(
            sa.text("select count(*) from executions where exec_type = 'trade_cancel'")
        ).scalar_one()
    assert status == "busted" and busts == 2
