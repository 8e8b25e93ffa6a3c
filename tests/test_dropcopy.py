"""Drop copy and trade busts over real FIX sessions: live, entitlement, offline catch-up."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import sqlalchemy as sa
from fixclient import FixClient

from venue import app
from venue.app import Venue
from venue.domain.commands import BustTrade, ExpireOrders
from venue.domain.events import report_session
from venue.dropcopy.catchup import CopyEncoder
from venue.fix.codec import encode_copy
from venue.journal import decode_record, read_records
from venue.testing.resources import missed_copies_backlog


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


# -- catch-up off the kernel thread, joined to the live stream by a fence ------------------


def missed_backlog(venue: Venue, pairs: int) -> None:
    """Orders entered and canceled by CLIENT3 and CLIENT6 (logged off, so their reports are
    only stored) while the drop copy is away: 2 copies a pair. Through the inbox, as the
    gateway puts commands; the last one waits until all are durable."""
    commands = missed_copies_backlog(pairs)
    for command in commands[:-1]:
        venue.inbox.put(command)
    venue.execute(commands[-1])


def copies_owed(venue: Venue, after: int, session: str = "DROPCOPY") -> list[str]:
    """ExecIDs of every copy the session is owed for journal records after `after`, in
    journal order (every copied event here is an ExecutionReport: ExecID = its seq)."""
    begin = venue.gateway.begin_string(session)
    owed = []
    for _, payload in read_records(venue.journal_dir, after=after):
        for event in decode_record(payload)[2]:
            origin = report_session(event)
            if origin is not None and encode_copy(event, begin, origin) is not None:
                owed.append(str(event.seq))
    return owed


def copies_by_seq(client: FixClient) -> list[str]:
    """The ExecIDs of the copies on the session, in MsgSeqNum order, each number once
    (a resend repeats a number with PossDupFlag=Y; it must carry the same copy)."""
    by_seq: dict[int, str] = {}
    for msg in client.received:
        if msg.get(35) not in ("8", "9"):
            continue
        seq = int(msg[34])
        assert msg[35] == "8", msg
        assert by_seq.setdefault(seq, msg[17]) == msg[17], f"seq {seq} carried two copies"
    return [by_seq[seq] for seq in sorted(by_seq)]


def collect(client: FixClient, want: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(set(copies_by_seq(client))) < want:
        client.drain(0.2)
    client.drain(0.3)  # and anything that would come twice


def synced_record(venue: Venue) -> int:
    """The last released record, once everything queued before now has been handled."""
    venue.execute(ExpireOrders())  # through the inbox: what came before it is done
    return venue._released_record


@pytest.mark.parametrize("reader", ["child process", "catch-up thread"])
def test_catch_up_copies_exactly_once_in_order_across_the_switch_to_live(
    venue_factory, monkeypatch, reader
):
    if reader == "catch-up thread":  # 6,000 records: the child process, unless raised
        monkeypatch.setattr(app, "CATCH_UP_CHILD_RECORDS", 1_000_000)
    venue = venue_factory()
    started = spy_encoders(monkeypatch)
    port = venue.settings.port
    copy = FixClient.connect(port, sender="DROPCOPY")
    copy.logout()
    start = synced_record(venue)
    missed_backlog(venue, pairs=3000)
    c1 = FixClient.connect(port, sender="CLIENT1")
    c2 = FixClient.connect(port, sender="CLIENT2")
    trade_between(c1, c2, "warm", qty=1)
    logged_on_at: list[int] = []
    trades = threading.Event()

    def trade() -> None:
        """Trade before, during and after the catch-up, until 20 trades after it is live."""
        after_live = 0
        for i in range(10_000):
            trade_between(c1, c2, f"tr{i}", qty=1)
            if i == 2:
                trades.set()
            job = venue._catch_ups.get("DROPCOPY")
            if job is not None and job.done:
                after_live += 1
                if after_live >= 20:
                    return

    trader = threading.Thread(target=trade)
    trader.start()
    trades.wait(10)
    logged_on_at.append(venue._released_record)
    copy.reconnect(reset=False)
    trader.join(60)
    assert not trader.is_alive()
    job = venue._catch_ups["DROPCOPY"]
    assert job.done
    assert job.upto > logged_on_at[0], "no trade was journaled during the catch-up"
    owed = copies_owed(venue, after=start)
    collect(copy, len(owed))
    got = copies_by_seq(copy)
    assert len(got) == len(set(got)), "a copy came twice"
    assert got == owed, "every copy once, in journal order"
    assert all(m[797] == "Y" for m in copy.received if m.get(35) == "8")
    assert len(started) == (1 if reader == "child process" else 0)


def spy_encoders(monkeypatch) -> list[CopyEncoder]:
    """The catch-up encoder processes started from now on."""
    started: list[CopyEncoder] = []
    real_start = CopyEncoder.start

    def start(self):
        started.append(self)
        real_start(self)

    monkeypatch.setattr(CopyEncoder, "start", start)
    return started


def test_a_killed_catch_up_encoder_leaves_the_rest_to_the_thread_every_copy_once(
    venue_factory, monkeypatch
):
    venue = venue_factory()
    port = venue.settings.port
    started = spy_encoders(monkeypatch)
    copy = FixClient.connect(port, sender="DROPCOPY")
    copy.logout()
    start = synced_record(venue)
    missed_backlog(venue, pairs=4000)
    owed = copies_owed(venue, after=start)
    handed = 0
    real_send = venue._send_copy_texts

    def send_then_kill(job, texts):
        nonlocal handed
        handed += len(texts)
        if handed == 300:
            os.kill(job.encoder.pid, signal.SIGKILL)
        real_send(job, texts)

    monkeypatch.setattr(venue, "_send_copy_texts", send_then_kill)
    copy.reconnect(reset=False)
    collect(copy, len(owed))
    job = venue._catch_ups["DROPCOPY"]
    assert job.done and job.encoder_failed, "the encoder was killed and the thread went on"
    assert len(started) == 1
    got = copies_by_seq(copy)
    assert len(got) == len(set(got)), "a copy came twice"
    assert got == owed, "every copy once, in journal order"


def test_logout_before_the_catch_up_starts_leaves_the_session_owed_not_live(
    venue_factory, monkeypatch
):
    """The kernel takes a logon's catch-up from its inbox; a logout may land first. The
    catch-up must then not make the gone session live (copies would go to QuickFIX's store
    and its mark pass them: a Logon with ResetSeqNumFlag=Y would never get them)."""
    venue = venue_factory()
    port = venue.settings.port
    logged_out = threading.Event()
    real_start = venue._start_catch_up

    def late_start(session):
        assert logged_out.wait(10), "the test never logged out"
        real_start(session)

    monkeypatch.setattr(venue, "_start_catch_up", late_start)
    start = synced_record(venue)
    copy = FixClient.connect(port, sender="DROPCOPY")
    copy.logout()
    deadline = time.monotonic() + 5
    while "DROPCOPY" in venue._logged_on_now and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "DROPCOPY" not in venue._logged_on_now
    logged_out.set()
    synced_record(venue)  # the catch-up was taken from the inbox
    job = venue._catch_ups["DROPCOPY"]
    assert job.thread is not None
    job.thread.join(5)
    assert not job.done and not venue._copy_live["DROPCOPY"]
    monkeypatch.undo()
    missed_backlog(venue, pairs=50)
    owed = copies_owed(venue, after=start)
    assert len(owed) == 100 and venue._copy_lag("DROPCOPY") == 100
    again = FixClient.connect(port, sender="DROPCOPY", reset=True)
    collect(again, len(owed))
    assert copies_by_seq(again) == owed, "every missed copy once, in order, after a reset"


def test_logout_mid_catch_up_then_logon_again_gets_the_rest_exactly_once(
    venue_factory, monkeypatch
):
    venue = venue_factory()
    port = venue.settings.port
    copy = FixClient.connect(port, sender="DROPCOPY")
    copy.logout()
    start = synced_record(venue)
    missed_backlog(venue, pairs=6000)
    owed = copies_owed(venue, after=start)
    # The first catch-up is held, on its own thread, after 300 copies until the logout has
    # landed: the logout comes mid catch-up on any box, however fast.
    reached, release = threading.Event(), threading.Event()
    handed = 0
    real_send = venue._send_copy_texts

    def held_send(job, texts):
        nonlocal handed
        if threading.current_thread().name.startswith("catch-up"):
            handed += len(texts)
            if handed >= 300 and not reached.is_set():
                reached.set()
                assert release.wait(30), "the test never let the catch-up go on"
        real_send(job, texts)

    monkeypatch.setattr(venue, "_send_copy_texts", held_send)
    copy.reconnect(reset=False)
    assert reached.wait(30), "the catch-up thread never sent 300 copies"
    while len(copies_by_seq(copy)) < 299:
        copy.receive(5)
    copy.logout()
    synced_record(venue)
    release.set()
    first = venue._catch_ups["DROPCOPY"]
    first.thread.join(10)
    assert not first.thread.is_alive()
    assert not first.done
    assert first.upto < venue._released_record
    assert venue._copy_marks["DROPCOPY"].read(default=0) == first.upto
    got_before = len(copies_by_seq(copy))
    assert 299 <= got_before < len(owed)
    monkeypatch.undo()
    # More is missed while it is away, then it logs on again.
    c1 = FixClient.connect(port, sender="CLIENT1")
    c2 = FixClient.connect(port, sender="CLIENT2")
    trade_between(c1, c2, "away", qty=1)
    owed = copies_owed(venue, after=start)
    copy.reconnect(reset=False)
    collect(copy, len(owed))
    assert venue._catch_ups["DROPCOPY"].done
    trade_between(c1, c2, "live", qty=1)
    owed = copies_owed(venue, after=start)
    collect(copy, len(owed))
    got = copies_by_seq(copy)
    assert len(got) == len(set(got)), "a copy came twice"
    assert got == owed, "every copy once, in journal order"
